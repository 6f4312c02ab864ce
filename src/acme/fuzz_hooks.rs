//! Crate-internal entry points of the ACME module for the fuzz targets (`crate::fuzz_api`, Cargo
//! feature `fuzzing` only): identifier normalisation and the identifier policy (RFC 8555
//! §7.1.3, §7.1.4; RFC 8738), the CSR names check of finalize (RFC 8555 §7.4, catalog #51) and
//! problem documents (RFC 7807, RFC 8555 §6.7). Each function calls the real code; nothing here
//! re-implements a check.

use std::collections::BTreeSet;

use crate::acme::finalize;
pub(crate) use crate::acme::identifier::Normalized;
use crate::acme::identifier::{self, IdentifierError};
use crate::acme::problem::{Problem, ProblemType, Subproblem};
use crate::http::Response;
use crate::pki::ValidatedCsr;
use crate::store::records::Identifier;
use crate::validate::policy::IdentifierPolicy;

/// Every problem type, so that a fuzzer can pick one by index.
pub(crate) const PROBLEM_TYPES: &[ProblemType] = &[
    ProblemType::AccountDoesNotExist,
    ProblemType::AlreadyReplaced,
    ProblemType::AlreadyRevoked,
    ProblemType::BadCsr,
    ProblemType::BadNonce,
    ProblemType::BadPublicKey,
    ProblemType::BadRevocationReason,
    ProblemType::BadSignatureAlgorithm,
    ProblemType::Compound,
    ProblemType::Connection,
    ProblemType::Dns,
    ProblemType::ExternalAccountRequired,
    ProblemType::IncorrectResponse,
    ProblemType::InvalidContact,
    ProblemType::InvalidProfile,
    ProblemType::Malformed,
    ProblemType::OrderNotReady,
    ProblemType::RejectedIdentifier,
    ProblemType::ServerInternal,
    ProblemType::Unauthorized,
    ProblemType::UnsupportedContact,
    ProblemType::UnsupportedIdentifier,
    ProblemType::UserActionRequired,
];

/// Parses one identifier object as a newOrder payload carries it (the same serde type) and
/// re-serialises it as orders echo it.
pub(crate) fn identifier_from_json(json: &[u8]) -> Result<(String, String, String), String> {
    let ident: Identifier = serde_json::from_slice(json).map_err(|e| e.to_string())?;
    let echo = serde_json::to_string(&ident).map_err(|e| e.to_string())?;
    Ok((ident.kind, ident.value, echo))
}

/// [`identifier::normalize`]; a refusal is given as the problem type newOrder would use.
pub(crate) fn normalize(kind: &str, value: &str) -> Result<Normalized, (String, String)> {
    identifier::normalize(kind, value).map_err(|e| {
        let t = match e {
            IdentifierError::UnsupportedType(_) => ProblemType::UnsupportedIdentifier,
            IdentifierError::Malformed(_) => ProblemType::Malformed,
        };
        (t.urn(), e.to_string())
    })
}

/// The identifier policy of newOrder (catalog #35, #42) for a normalised DNS name, with and
/// without wildcards allowed, under the suffixes given.
pub(crate) fn dns_policy(
    suffixes: &[String],
    name: &str,
    wildcard: bool,
) -> (Result<(), String>, Result<(), String>) {
    let without = IdentifierPolicy::new(suffixes, Vec::new(), false);
    let with = IdentifierPolicy::new(suffixes, Vec::new(), true);
    (
        without.check_dns(name, wildcard),
        with.check_dns(name, wildcard),
    )
}

fn to_identifiers(identifiers: &[(String, String)]) -> Vec<Identifier> {
    identifiers
        .iter()
        .map(|(kind, value)| Identifier {
            kind: kind.clone(),
            value: value.clone(),
        })
        .collect()
}

/// The names a certificate for these order identifiers must carry (finalize's own function).
pub(crate) fn wanted_names(identifiers: &[(String, String)]) -> Result<BTreeSet<String>, String> {
    finalize::wanted_names_of(&to_identifiers(identifiers)).map_err(|p| p.detail)
}

/// Finalize's check that the CSR names are exactly the order identifiers (catalog #51), with
/// `identifiers.legacy_ip_identifiers` off (the default).
pub(crate) fn check_csr_names(
    csr: &ValidatedCsr,
    identifiers: &[(String, String)],
) -> Result<(), String> {
    finalize::check_csr_names(csr, &to_identifiers(identifiers), false)
        .map_err(|p| format!("{}: {}", p.kind.urn(), p.detail))
}

/// A problem document built the way handlers build them: from subproblems when there are any
/// (`Problem::from_subproblems`), else `Problem::new` with an optional status override. Each
/// subproblem is (type index, detail, identifier type, identifier value).
pub(crate) fn problem_response(
    kind: usize,
    detail: &str,
    status: Option<u16>,
    subs: &[(usize, String, String, String)],
) -> Response {
    let pick = |i: usize| {
        PROBLEM_TYPES
            .get(i % PROBLEM_TYPES.len())
            .copied()
            .unwrap_or(ProblemType::Malformed)
    };
    let problem = if subs.is_empty() {
        let p = Problem::new(pick(kind), detail);
        match status {
            Some(s) => p.with_status(s),
            None => p,
        }
    } else {
        Problem::from_subproblems(
            subs.iter()
                .map(|(k, d, t, v)| Subproblem {
                    kind: pick(*k),
                    detail: d.clone(),
                    identifier: Identifier {
                        kind: t.clone(),
                        value: v.clone(),
                    },
                })
                .collect(),
        )
    };
    problem.into_response()
}

/// The URN of the problem type with this index (modulo the number of types).
pub(crate) fn problem_urn(kind: usize) -> String {
    PROBLEM_TYPES
        .get(kind % PROBLEM_TYPES.len())
        .map(|t| t.urn())
        .unwrap_or_default()
}

/// The problem document a JWS/JWK error becomes (`From<JwsError> for Problem`).
pub(crate) fn jws_problem(e: crate::jose::JwsError) -> (u16, String, String) {
    let p = Problem::from(e);
    (p.status, p.kind.urn(), p.detail)
}

/// The problem document a CSR error becomes (`From<CsrError> for Problem`).
pub(crate) fn csr_problem(e: crate::pki::CsrError) -> (u16, String, String) {
    let p = Problem::from(e);
    (p.status, p.kind.urn(), p.detail)
}
