//! ca: the link to a uPKI CA over ZeroMQ (shared/spec/upki-ca-protocol.md).
//!
//! - [`proto`]: message shapes, exact big-integer serials, revocation reason names.
//! - [`client`]: [`CaClient`], a REQ socket on its own thread behind an async channel.
//! - [`embedded`]: [`EmbeddedCa`], a uPKI-compatible CA server over `pki::issuer`.
//! - [`lookup`]: `view`, what the CA holds for a name (before signing an order's CSR again).
//! - [`state_log`]: the embedded CA's durable state (snapshot + append-only journal).
#![forbid(unsafe_code)]

pub(crate) mod acme_store;
pub(crate) mod client;
pub(crate) mod embedded;
#[cfg(test)]
mod in_process_tests;
pub(crate) mod lookup;
pub(crate) mod proto;
pub(crate) mod rebuild;
pub(crate) mod register;
pub(crate) mod revocation;
pub(crate) mod standalone;
pub(crate) mod state_log;
pub(crate) mod sync;

#[allow(unused_imports)]
pub(crate) use client::CaClient;
#[allow(unused_imports)]
pub(crate) use embedded::EmbeddedCa;
#[allow(unused_imports)]
pub(crate) use proto::{CaError, RevocationReason, Signed};
