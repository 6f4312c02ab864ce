//! `upki-ra`: the uPKI Registration Authority, an ACME v2 (RFC 8555) server for private networks.

mod acme;
mod ca;
mod config;
mod http;
mod jose;
mod pki;
mod store;
mod validate;

fn main() {}
