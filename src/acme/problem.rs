//! Problem documents (RFC 7807) with the ACME error types of RFC 8555 §6.7: the one place where
//! every typed error of the other modules becomes a status code and a wire `type`.
//!
//! Internal details (LMDB, ZMQ, file errors) are logged here and never sent to the client.

use serde::Serialize;

use crate::acme::clock::ClockBehind;
use crate::ca::CaError;
use crate::ca::revocation::RevokeError;
use crate::http::Response;
use crate::jose::{JwsError, SUPPORTED_ALGS};
use crate::pki::CsrError;
use crate::store::StoreError;
use crate::validate::ValidationError;

/// RFC 8555 §6.7 error types used by this server (`urn:ietf:params:acme:error:<name>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ProblemType {
    AccountDoesNotExist,
    AlreadyReplaced,
    AlreadyRevoked,
    BadCsr,
    BadNonce,
    BadPublicKey,
    BadRevocationReason,
    BadSignatureAlgorithm,
    Compound,
    Connection,
    Dns,
    ExternalAccountRequired,
    IncorrectResponse,
    InvalidContact,
    InvalidProfile,
    Malformed,
    OrderNotReady,
    RejectedIdentifier,
    ServerInternal,
    Unauthorized,
    UnsupportedContact,
    UnsupportedIdentifier,
    UserActionRequired,
}

impl ProblemType {
    fn name(self) -> &'static str {
        match self {
            Self::AccountDoesNotExist => "accountDoesNotExist",
            Self::AlreadyReplaced => "alreadyReplaced",
            Self::AlreadyRevoked => "alreadyRevoked",
            Self::BadCsr => "badCSR",
            Self::BadNonce => "badNonce",
            Self::BadPublicKey => "badPublicKey",
            Self::BadRevocationReason => "badRevocationReason",
            Self::BadSignatureAlgorithm => "badSignatureAlgorithm",
            Self::Compound => "compound",
            Self::Connection => "connection",
            Self::Dns => "dns",
            Self::ExternalAccountRequired => "externalAccountRequired",
            Self::IncorrectResponse => "incorrectResponse",
            Self::InvalidContact => "invalidContact",
            Self::InvalidProfile => "invalidProfile",
            Self::Malformed => "malformed",
            Self::OrderNotReady => "orderNotReady",
            Self::RejectedIdentifier => "rejectedIdentifier",
            Self::ServerInternal => "serverInternal",
            Self::Unauthorized => "unauthorized",
            Self::UnsupportedContact => "unsupportedContact",
            Self::UnsupportedIdentifier => "unsupportedIdentifier",
            Self::UserActionRequired => "userActionRequired",
        }
    }

    /// HTTP status for a top-level problem of this type (Boulder's choices, see the catalog).
    fn status(self) -> u16 {
        match self {
            Self::Unauthorized | Self::OrderNotReady | Self::UserActionRequired => 403,
            Self::AlreadyReplaced => 409,
            Self::ServerInternal => 500,
            _ => 400,
        }
    }

    pub(crate) fn urn(self) -> String {
        format!("urn:ietf:params:acme:error:{}", self.name())
    }
}

impl Serialize for ProblemType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.urn())
    }
}

/// A problem about one identifier of a request (RFC 8555 §6.7.1).
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Subproblem {
    #[serde(rename = "type")]
    pub(crate) kind: ProblemType,
    pub(crate) detail: String,
    pub(crate) identifier: crate::store::records::Identifier,
}

/// An RFC 7807 problem document about to be sent.
#[derive(Clone, Debug)]
pub(crate) struct Problem {
    pub(crate) kind: ProblemType,
    pub(crate) detail: String,
    pub(crate) status: u16,
    pub(crate) subproblems: Vec<Subproblem>,
    /// RFC 8555 §6.2: a badSignatureAlgorithm problem MUST list the accepted algorithms.
    algorithms: bool,
}

#[derive(Serialize)]
struct ProblemDoc<'a> {
    #[serde(rename = "type")]
    kind: String,
    detail: &'a str,
    status: u16,
    #[serde(skip_serializing_if = "<[Subproblem]>::is_empty")]
    subproblems: &'a [Subproblem],
    #[serde(skip_serializing_if = "Option::is_none")]
    algorithms: Option<&'static [&'static str]>,
}

impl Problem {
    pub(crate) fn new(kind: ProblemType, detail: impl Into<String>) -> Problem {
        Problem {
            kind,
            detail: detail.into(),
            status: kind.status(),
            subproblems: Vec::new(),
            algorithms: kind == ProblemType::BadSignatureAlgorithm,
        }
    }

    pub(crate) fn with_status(mut self, status: u16) -> Problem {
        self.status = status;
        self
    }

    pub(crate) fn malformed(detail: impl Into<String>) -> Problem {
        Problem::new(ProblemType::Malformed, detail)
    }

    pub(crate) fn unauthorized(detail: impl Into<String>) -> Problem {
        Problem::new(ProblemType::Unauthorized, detail)
    }

    pub(crate) fn not_found() -> Problem {
        Problem::malformed("no such resource").with_status(404)
    }

    /// A failure whose cause must stay in the log: the client only learns that it happened.
    pub(crate) fn internal(context: &str, cause: &dyn std::fmt::Display) -> Problem {
        log::error!("{context}: {cause}");
        Problem::new(
            ProblemType::ServerInternal,
            format!("{context}; see the server log"),
        )
    }

    /// RFC 8555 §6.7.1: one subproblem per bad identifier; a single one is reported as itself.
    pub(crate) fn from_subproblems(mut subs: Vec<Subproblem>) -> Problem {
        if subs.len() == 1
            && let Some(sub) = subs.pop()
        {
            let mut p = Problem::new(
                sub.kind,
                format!("{}: {}", sub.identifier.value, sub.detail),
            );
            p.subproblems = vec![sub];
            return p;
        }
        let detail = format!("{} identifiers were refused; see subproblems", subs.len());
        let mut p = Problem::new(ProblemType::Compound, detail);
        // Use the common type when all subproblems agree, as Boulder does.
        if let Some(first) = subs.first()
            && subs.iter().all(|s| s.kind == first.kind)
        {
            p.kind = first.kind;
            p.status = first.kind.status();
            // RFC 8555 §6.2: a badSignatureAlgorithm problem "MUST include an 'algorithms'
            // field", whichever way it was built (found by fuzz/problem_roundtrip).
            p.algorithms = first.kind == ProblemType::BadSignatureAlgorithm;
        }
        p.subproblems = subs;
        p
    }

    /// The JSON document (compact, `type` first), as stored in an order or challenge `error`.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self.doc()).unwrap_or(serde_json::Value::Null)
    }

    fn doc(&self) -> ProblemDoc<'_> {
        ProblemDoc {
            kind: self.kind.urn(),
            detail: &self.detail,
            status: self.status,
            subproblems: &self.subproblems,
            algorithms: self.algorithms.then_some(SUPPORTED_ALGS),
        }
    }

    /// The HTTP response: `application/problem+json`, always a JSON body.
    pub(crate) fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.doc()).unwrap_or_default();
        Response::new(self.status).with_body("application/problem+json", body)
    }
}

impl From<JwsError> for Problem {
    fn from(e: JwsError) -> Problem {
        match e {
            JwsError::Malformed(d) => Problem::malformed(format!("invalid JWS: {d}")),
            JwsError::BadSignatureAlgorithm(alg) => Problem::new(
                ProblemType::BadSignatureAlgorithm,
                format!("JWS algorithm {alg:?} is not accepted"),
            ),
            JwsError::BadPublicKey(d) => {
                Problem::new(ProblemType::BadPublicKey, format!("unacceptable key: {d}"))
            }
            JwsError::AlgKeyMismatch => {
                Problem::malformed("JWS algorithm does not match the type of the key")
            }
            JwsError::BadSignature => Problem::malformed("JWS verification error"),
        }
    }
}

impl From<CsrError> for Problem {
    fn from(e: CsrError) -> Problem {
        Problem::new(ProblemType::BadCsr, format!("CSR refused: {e}"))
    }
}

// Catalog #62: the clock is named in the detail (an operator problem, not a client one) and
// logged at error level, since every issuance fails until it is fixed.
impl From<ClockBehind> for Problem {
    fn from(e: ClockBehind) -> Problem {
        log::error!("issuance refused: {e}");
        Problem::new(
            ProblemType::ServerInternal,
            format!("issuance refused: {e}"),
        )
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Problem {
        Problem::internal("storage error", &e)
    }
}

impl From<ValidationError> for Problem {
    fn from(e: ValidationError) -> Problem {
        let (kind, detail) = match e {
            ValidationError::Dns(d) => (ProblemType::Dns, d),
            ValidationError::Connection(d) => (ProblemType::Connection, d),
            ValidationError::IncorrectResponse(d) => (ProblemType::IncorrectResponse, d),
            ValidationError::Unauthorized(d) => (ProblemType::Unauthorized, d),
        };
        Problem::new(kind, detail)
    }
}

impl From<RevokeError> for Problem {
    fn from(e: RevokeError) -> Problem {
        match e {
            // Whatever the CA answered, the revocation did not happen; never a CSR problem.
            RevokeError::Ca(e) => {
                log::error!("revocation refused or failed at the CA: {e}");
                Problem::new(
                    ProblemType::ServerInternal,
                    format!("the certificate was not revoked: {e}"),
                )
            }
            // The CA cannot (or did not verifiably) revoke: say so rather than claim success.
            other => {
                log::warn!("revocation not done by the CA: {other}");
                Problem::new(
                    ProblemType::ServerInternal,
                    format!("the certificate was not revoked: {other}"),
                )
            }
        }
    }
}

impl From<CaError> for Problem {
    fn from(e: CaError) -> Problem {
        match e {
            // upki-ca's [300] family are certificate problems the client can fix in its CSR.
            CaError::Remote {
                code: Some(300),
                message,
            } if message.contains("Common Name") => Problem::new(
                ProblemType::BadCsr,
                format!(
                    "the CA refused the CSR: {message}; this uPKI CA needs a subject common \
                     name, so put the first identifier in the CSR's CN"
                ),
            ),
            CaError::Remote {
                code: Some(300),
                message,
            } => Problem::new(
                ProblemType::BadCsr,
                format!("the CA refused the CSR: {message}"),
            ),
            // upki-ca's [200] validation family refuses names it considers reserved.
            CaError::Remote {
                code: Some(200),
                message,
            } => Problem::new(
                ProblemType::RejectedIdentifier,
                format!("the CA refused the request: {message}"),
            ),
            CaError::Remote {
                code: Some(500),
                message,
            } => Problem::malformed(format!("the CA refused the profile: {message}")),
            other => {
                log::error!("CA request failed: {other}");
                Problem::new(
                    ProblemType::ServerInternal,
                    format!("the certificate authority could not complete the request: {other}"),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 8555 §6.7: problem documents carry the ACME URN type, detail and status.
    #[test]
    fn problem_document_shape() {
        let p = Problem::new(
            ProblemType::BadNonce,
            "JWS has an invalid anti-replay nonce",
        );
        let r = p.into_response();
        assert_eq!(r.status, 400);
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["type"], "urn:ietf:params:acme:error:badNonce");
        assert_eq!(v["status"], 400);
        assert!(v.get("subproblems").is_none());
    }

    // RFC 8555 §6.2: badSignatureAlgorithm MUST include the "algorithms" field.
    #[test]
    fn bad_signature_algorithm_lists_algorithms() {
        let p: Problem = JwsError::BadSignatureAlgorithm("HS256".into()).into();
        let v = p.to_json();
        assert_eq!(
            v["type"],
            "urn:ietf:params:acme:error:badSignatureAlgorithm"
        );
        assert!(
            v["algorithms"]
                .as_array()
                .is_some_and(|a| a.len() == SUPPORTED_ALGS.len())
        );
    }

    // RFC 8555 §6.2: subproblems that all are badSignatureAlgorithm lift that type to the top,
    // and with it the MUST-have "algorithms" field (regression: fuzz/problem_roundtrip).
    #[test]
    fn bad_signature_algorithm_from_subproblems_lists_algorithms() {
        let sub = |v: &str| Subproblem {
            kind: ProblemType::BadSignatureAlgorithm,
            detail: "x".into(),
            identifier: crate::store::records::Identifier {
                kind: "dns".into(),
                value: v.into(),
            },
        };
        let v = Problem::from_subproblems(vec![sub("a.lan"), sub("b.lan")]).to_json();
        assert_eq!(
            v["type"],
            "urn:ietf:params:acme:error:badSignatureAlgorithm"
        );
        assert!(v["algorithms"].as_array().is_some());
        let mixed = Problem::from_subproblems(vec![
            sub("a.lan"),
            Subproblem {
                kind: ProblemType::Malformed,
                ..sub("b.lan")
            },
        ]);
        assert!(mixed.to_json().get("algorithms").is_none());
    }

    // RFC 8555 §6.7.1: subproblems carry their identifier; agreeing types lift to the top.
    #[test]
    fn subproblems() {
        let id = |v: &str| crate::store::records::Identifier {
            kind: "dns".into(),
            value: v.into(),
        };
        let sub = |v: &str| Subproblem {
            kind: ProblemType::RejectedIdentifier,
            detail: "not allowed".into(),
            identifier: id(v),
        };
        let p = Problem::from_subproblems(vec![sub("a.lan"), sub("b.lan")]);
        assert_eq!(p.kind, ProblemType::RejectedIdentifier);
        assert_eq!(p.to_json()["subproblems"].as_array().map(Vec::len), Some(2));
        let one = Problem::from_subproblems(vec![sub("a.lan")]);
        assert_eq!(one.kind, ProblemType::RejectedIdentifier);
        assert!(one.detail.contains("a.lan"));
    }
}
