//! `upki-ra`: the uPKI Registration Authority, an ACME v2 (RFC 8555) server for private networks.
//!
//! The crate is a library only so that the binary (`src/main.rs`), the fuzz targets and the
//! benchmarks can share it; its public surface is [`cli::run`] and nothing else. Everything else
//! is `pub(crate)`.

mod acme;
mod admin;
mod ca;
mod chaos;
pub mod cli;
mod cli_eab;
mod config;
mod daemon;
#[cfg(feature = "fuzzing")]
pub mod fuzz_api;
mod http;
mod jose;
mod metrics;
mod pki;
mod store;
mod validate;
