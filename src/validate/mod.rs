//! Challenge validation (RFC 8555 §8): the DNS client, the address policy, http-01,
//! tls-alpn-01, dns-01 and the retry state.
//!
//! Owns everything the server does on the network on behalf of a challenge: resolving the
//! identifier with our own non-blocking resolver ([`dns`], per zone: [`zones`]), deciding which
//! addresses may be dialled ([`policy`], RFC 8555 §10.4), fetching the http-01 resource
//! ([`http01`], §8.3, RFC 8738 for IP identifiers), the tls-alpn-01 handshake ([`tlsalpn01`],
//! RFC 8737), the dns-01 TXT lookup ([`dns01`], §8.4) and the retry schedule of running
//! validations ([`retry`], §8.2). It knows nothing of storage: the caller records outcomes.
#![forbid(unsafe_code)]

use std::fmt;

pub(crate) mod dns;
pub(crate) mod dns01;
pub(crate) mod http01;
/// The integration tests' mock DNS server, shared with the unit tests.
#[cfg(test)]
#[path = "../../tests/support/dns.rs"]
mod mock_dns;
pub(crate) mod policy;
pub(crate) mod retry;
pub(crate) mod tlsalpn01;
pub(crate) mod zones;

pub(crate) use dns::{DnsError, Resolver};
pub(crate) use http01::Validator;
#[allow(unused_imports)]
pub(crate) use policy::{AddressPolicy, Cidr, CidrError, IdentifierPolicy};
pub(crate) use retry::RetryBoard;
pub(crate) use zones::Resolvers;

impl Validator {
    /// One validation attempt of a challenge of type `challenge` for identifier
    /// `kind`/`value` (the authorization's: the base name for a wildcard).
    pub(crate) async fn run_attempt(
        &self,
        challenge: &str,
        kind: &str,
        value: &str,
        token: &str,
        key_authorization: &str,
    ) -> Result<(), ValidationError> {
        match challenge {
            "http-01" => self.http01(kind, value, token, key_authorization).await,
            "tls-alpn-01" => self.tlsalpn01(kind, value, key_authorization).await,
            "dns-01" => self.dns01(kind, value, key_authorization).await,
            other => Err(ValidationError::Connection(format!(
                "challenge type {other} cannot be validated by this server"
            ))),
        }
    }
}

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
