//! Integration tests: the real `upki-ra` binary on loopback, driven by a small independent ACME
//! client (RFC 8555), a mock DNS server and an http-01 responder. One test binary with
//! submodules (CONVENTIONS #9); the real-client interop tests live in `tests/interop.rs`.

// Tests may unwrap and panic: a panic is how a test fails.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

// A crate root's submodules resolve next to it, hence the explicit paths into `tests/it/`.
#[path = "it/acme_flow.rs"]
mod acme_flow;
#[path = "it/appliance.rs"]
mod appliance;
#[path = "it/catalog_accounts.rs"]
mod catalog_accounts;
#[path = "it/catalog_common.rs"]
mod catalog_common;
#[path = "it/catalog_finalize.rs"]
mod catalog_finalize;
#[path = "it/catalog_http.rs"]
mod catalog_http;
#[path = "it/catalog_jws.rs"]
mod catalog_jws;
#[path = "it/catalog_orders.rs"]
mod catalog_orders;
#[path = "it/catalog_validation.rs"]
mod catalog_validation;
#[path = "it/challenges.rs"]
mod challenges;
#[path = "it/chaos.rs"]
mod chaos;
#[path = "it/cli.rs"]
mod cli;
#[path = "it/crash.rs"]
mod crash;
#[path = "it/legacy_ip.rs"]
mod legacy_ip;
#[path = "it/lifecycle.rs"]
mod lifecycle;
#[path = "it/outage.rs"]
mod outage;
#[path = "it/panic.rs"]
mod panic;
#[path = "it/request_log.rs"]
mod request_log;
#[path = "it/restart.rs"]
mod restart;
#[path = "it/support/mod.rs"]
mod support;
#[path = "it/sync_outbox.rs"]
mod sync_outbox;
