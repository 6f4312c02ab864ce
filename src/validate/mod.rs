//! Challenge validation (RFC 8555 §8): the DNS client, the address policy and http-01.
//!
//! Owns everything the server does on the network on behalf of a challenge: resolving the
//! identifier with our own non-blocking resolver ([`dns`]), deciding which addresses may be
//! dialled ([`policy`], RFC 8555 §10.4) and fetching the http-01 resource ([`http01`], §8.3,
//! RFC 8738 for IP identifiers). It knows nothing of storage: the caller records the outcome.
#![forbid(unsafe_code)]

use std::fmt;

pub(crate) mod dns;
pub(crate) mod http01;
/// The integration tests' mock DNS server, shared with the unit tests.
#[cfg(test)]
#[path = "../../tests/support/dns.rs"]
mod mock_dns;
pub(crate) mod policy;

// Re-exported for the acme module and main.rs (not wired yet in this build).
#[allow(unused_imports)]
pub(crate) use dns::{DnsError, Resolver};
#[allow(unused_imports)]
pub(crate) use http01::Validator;
#[allow(unused_imports)]
pub(crate) use policy::{AddressPolicy, Cidr, CidrError};

/// Why a validation attempt failed. Each variant maps to the ACME problem type of the same
/// name (RFC 8555 §6.7) in `acme/problem.rs`; the `String` is the detail shown to the client:
/// short, built by us, with at most a sanitised excerpt of what the target sent (catalog #42).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ValidationError {
    /// `dns`: the identifier could not be resolved.
    Dns(String),
    /// `connection`: no permitted address, connect failure, timeout, or a refused redirect.
    Connection(String),
    /// `incorrectResponse`: the resource was fetched but is not the key authorization.
    IncorrectResponse(String),
    /// `unauthorized`: the target answered with an error status or an oversized body.
    Unauthorized(String),
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValidationError::Dns(d) => write!(f, "dns: {d}"),
            ValidationError::Connection(d) => write!(f, "connection: {d}"),
            ValidationError::IncorrectResponse(d) => write!(f, "incorrectResponse: {d}"),
            ValidationError::Unauthorized(d) => write!(f, "unauthorized: {d}"),
        }
    }
}
