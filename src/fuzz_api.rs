//! The fuzzing surface (Cargo feature `fuzzing`, used only by the `fuzz/` crate): thin public
//! wrappers that call the real parsers and return plain data the targets can assert on.
//!
//! - HTTP request head (RFC 9112 §2–§3, §5.2, §6; catalog #1–#6, #10): [`parse_head`].
//! - Message bodies, chunked coding (RFC 9112 §6.3, §7.1; catalog #3, #7, #9): [`decode_body`].
//! - Flattened JWS (RFC 7515 §7.2.2, RFC 8555 §6.2; catalog #13–#24): [`check_jws`].
//! - JWK and RFC 7638 thumbprint (catalog #15, #18, #22, #40): [`FuzzJwk`].
//! - CSR (RFC 2986, RFC 8555 §7.4; catalog #49–#54): [`validate_csr`].
//! - Identifiers (RFC 8555 §7.1.3–§7.1.4, RFC 8738; catalog #35–#37, #42): [`identifier`].
//! - Problem documents (RFC 7807, RFC 8555 §6.7): [`problem_document`].
//!
//! Nothing here parses anything itself: a bug found through these wrappers is a bug of the
//! module they call, and is fixed there.

use std::collections::BTreeSet;
use std::net::IpAddr;

use crate::acme::fuzz_hooks;
use crate::http::body::BodyDecoder;
use crate::http::parse::{self, HeadParser, Status};
use crate::http::{Limits, Method};
use crate::jose::{Jwk, KeyRef, ParsedJws};
use crate::pki::ValidatedCsr;

#[cfg(test)]
mod seeds;

/// The limits of the HTTP layer that the parsers enforce.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    pub max_head: usize,
    pub max_headers: usize,
    pub max_body: usize,
}

impl Default for HttpLimits {
    /// The server's defaults.
    fn default() -> HttpLimits {
        let l = Limits::default();
        HttpLimits {
            max_head: l.max_head,
            max_headers: l.max_headers,
            max_body: l.max_body,
        }
    }
}

impl HttpLimits {
    fn limits(&self) -> Limits {
        Limits {
            max_head: self.max_head,
            max_headers: self.max_headers,
            max_body: self.max_body,
            ..Limits::default()
        }
    }
}

/// Body framing decided from the head (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    None,
    Length(usize),
    Chunked,
}

impl From<parse::Framing> for Framing {
    fn from(f: parse::Framing) -> Framing {
        match f {
            parse::Framing::None => Framing::None,
            parse::Framing::Length(n) => Framing::Length(n),
            parse::Framing::Chunked => Framing::Chunked,
        }
    }
}

impl From<Framing> for parse::Framing {
    fn from(f: Framing) -> parse::Framing {
        match f {
            Framing::None => parse::Framing::None,
            Framing::Length(n) => parse::Framing::Length(n),
            Framing::Chunked => parse::Framing::Chunked,
        }
    }
}

/// A request head the parser accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadSummary {
    pub method: String,
    pub target: String,
    pub version: u8,
    pub headers: Vec<(String, String)>,
    pub framing: Framing,
    pub keep_alive: bool,
    pub expect_continue: bool,
    /// Bytes of the head (including leading empty lines); the body starts here.
    pub len: usize,
}

/// Feeds `buf` to one [`HeadParser`] the way the connection loop does: the buffer read so far,
/// growing, first cut at each offset of `cuts` (ascending offsets, clamped), then whole.
/// `Ok(None)` is "incomplete"; `Err` is (status, message) of the refusal.
pub fn parse_head(
    buf: &[u8],
    cuts: &[usize],
    limits: HttpLimits,
) -> Result<Option<HeadSummary>, (u16, String)> {
    let mut parser = HeadParser::new(&limits.limits());
    let mut last = 0;
    let ends = cuts
        .iter()
        .map(|&c| c.min(buf.len()))
        .chain(std::iter::once(buf.len()));
    for end in ends {
        if end < last || (end == last && end != buf.len()) {
            continue;
        }
        last = end;
        let seen = buf.get(..end).unwrap_or_default();
        match parser.parse(seen) {
            Ok(Status::Partial) => {}
            Ok(Status::Complete { head, len }) => {
                let method = match head.method {
                    Method::Get => "GET".to_owned(),
                    Method::Head => "HEAD".to_owned(),
                    Method::Post => "POST".to_owned(),
                    Method::Other(m) => m,
                };
                return Ok(Some(HeadSummary {
                    method,
                    target: head.target,
                    version: head.version,
                    headers: head.headers,
                    framing: head.framing.into(),
                    keep_alive: head.keep_alive,
                    expect_continue: head.expect_continue,
                    len,
                }));
            }
            Err(e) => return Err((e.status(), e.to_string())),
        }
    }
    Ok(None)
}

/// A body the decoder finished or is still waiting on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyOutcome {
    pub body: Vec<u8>,
    /// Input bytes the decoder used; the rest belongs to the next request.
    pub consumed: usize,
    pub done: bool,
}

/// Feeds `input` to one [`BodyDecoder`] the way the connection loop does, in pieces cut at the
/// offsets of `cuts`; stops at the end of the body.
pub fn decode_body(
    framing: Framing,
    max_body: usize,
    input: &[u8],
    cuts: &[usize],
) -> Result<BodyOutcome, (u16, String)> {
    let mut decoder = BodyDecoder::new(framing.into(), max_body);
    let mut body = Vec::new();
    let mut start = 0;
    let ends = cuts
        .iter()
        .map(|&c| c.min(input.len()))
        .chain(std::iter::once(input.len()));
    for end in ends {
        if end < start {
            continue;
        }
        let piece = input.get(start..end).unwrap_or_default();
        let step = decoder
            .decode(piece, &mut body)
            .map_err(|e| (e.status(), e.to_string()))?;
        if step.done {
            return Ok(BodyOutcome {
                body,
                consumed: start + step.consumed,
                done: true,
            });
        }
        if step.consumed != piece.len() {
            // The decoder may keep bytes back only once the body is complete.
            return Err((0, "decoder left input unconsumed before the end".into()));
        }
        start = end;
    }
    Ok(BodyOutcome {
        body,
        consumed: start,
        done: false,
    })
}

/// A parsed public JWK (validated: on the curve, allowed size, public members only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuzzJwk(Jwk);

impl FuzzJwk {
    /// `Jwk::from_json`: parse and key policy; `Err` is the problem (status, type, detail).
    pub fn from_json(v: &serde_json::Value) -> Result<FuzzJwk, (u16, String, String)> {
        Jwk::from_json(v)
            .map(FuzzJwk)
            .map_err(fuzz_hooks::jws_problem)
    }

    /// RFC 7638 thumbprint.
    pub fn thumbprint(&self) -> String {
        self.0.thumbprint()
    }

    /// The canonical JWK (public members only), as stored with an account.
    pub fn to_json(&self) -> serde_json::Value {
        self.0.to_json()
    }

    /// DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> Vec<u8> {
        self.0.spki_der()
    }

    /// The one JWS algorithm usable with this key.
    pub fn alg(&self) -> &'static str {
        self.0.alg().name()
    }
}

/// A JWS that passed the envelope and protected-header rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwsSummary {
    pub alg: &'static str,
    /// The embedded key (`jwk`), or None for `kid`.
    pub jwk: Option<FuzzJwk>,
    pub kid: Option<String>,
    pub url: String,
    pub nonce: Option<String>,
    /// Signature check with the embedded key, or with `account_key` for `kid`: Ok(payload), or
    /// the problem (status, type, detail).
    pub verified: Result<Vec<u8>, (u16, String, String)>,
}

/// The request path up to (not including) the nonce store: `ParsedJws::parse`, then
/// verification with the embedded `jwk` or, for a `kid`, with `account_key` (as if the account
/// lookup found it). `Err` is the problem document (status, type, detail) the client would get.
pub fn check_jws(body: &[u8], account_key: &FuzzJwk) -> Result<JwsSummary, (u16, String, String)> {
    let parsed = ParsedJws::parse(body).map_err(fuzz_hooks::jws_problem)?;
    let alg = parsed.alg().name();
    let url = parsed.url().to_owned();
    let nonce = parsed.nonce().map(str::to_owned);
    let (key, jwk, kid) = match parsed.key() {
        KeyRef::Jwk(k) => (k.clone(), Some(FuzzJwk(k.clone())), None),
        KeyRef::Kid(kid) => (account_key.0.clone(), None, Some(kid.clone())),
    };
    let verified = parsed
        .verify(&key)
        .map(|v| v.payload().to_vec())
        .map_err(fuzz_hooks::jws_problem);
    Ok(JwsSummary {
        alg,
        jwk,
        kid,
        url,
        nonce,
        verified,
    })
}

/// A CSR that passed parsing, its self-signature and the key policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsrSummary {
    pub der: Vec<u8>,
    pub pem: String,
    pub spki_der: Vec<u8>,
    pub key_kind: String,
    pub common_name: Option<String>,
    pub dns_names: Vec<String>,
    pub ip_addrs: Vec<IpAddr>,
    /// Finalize's names check against the order identifiers given.
    pub names: Result<(), String>,
}

/// `ValidatedCsr::from_der`, then finalize's check of its names against the order
/// `identifiers` (type, value). `Err` is the problem (status, type, detail).
pub fn validate_csr(
    der: &[u8],
    identifiers: &[(String, String)],
) -> Result<CsrSummary, (u16, String, String)> {
    let csr = ValidatedCsr::from_der(der).map_err(fuzz_hooks::csr_problem)?;
    let names = fuzz_hooks::wanted_names(identifiers)
        .and_then(|_| fuzz_hooks::check_csr_names(&csr, identifiers));
    Ok(CsrSummary {
        der: csr.der().to_vec(),
        pem: csr.to_pem(),
        spki_der: csr.spki_der().to_vec(),
        key_kind: format!("{:?}", csr.key_kind()),
        common_name: csr.common_name().map(str::to_owned),
        dns_names: csr.dns_names().to_vec(),
        ip_addrs: csr.ip_addrs().to_vec(),
        names,
    })
}

/// A stored CSR PEM read back the way finalize resumes an issuance intent
/// (`der::pem::decode_vec`): (label, DER).
pub fn csr_pem_to_der(pem: &str) -> Result<(String, Vec<u8>), String> {
    der::pem::decode_vec(pem.as_bytes())
        .map(|(label, der)| (label.to_owned(), der))
        .map_err(|e| e.to_string())
}

/// The names a certificate for these order identifiers must carry.
pub fn wanted_names(identifiers: &[(String, String)]) -> Result<BTreeSet<String>, String> {
    fuzz_hooks::wanted_names(identifiers)
}

/// An identifier in normal form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalizedId {
    /// `dns` or `ip`.
    pub kind: &'static str,
    /// The value an authorization is for (the base name of a wildcard).
    pub authz_value: String,
    /// The name as the certificate carries it (`*.` kept).
    pub cert_name: String,
    pub wildcard: bool,
    pub ip: Option<IpAddr>,
}

/// `identifier::normalize`; `Err` is (problem type, detail) of the subproblem.
pub fn normalize(kind: &str, value: &str) -> Result<NormalizedId, (String, String)> {
    let n = fuzz_hooks::normalize(kind, value)?;
    let (wildcard, ip) = match &n {
        fuzz_hooks::Normalized::Dns { wildcard, .. } => (*wildcard, None),
        fuzz_hooks::Normalized::Ip(ip) => (false, Some(*ip)),
    };
    Ok(NormalizedId {
        kind: n.kind(),
        authz_value: n.authz_value(),
        cert_name: n.cert_name(),
        wildcard,
        ip,
    })
}

/// One identifier object of a newOrder payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentifierOutcome {
    pub kind: String,
    pub value: String,
    /// The identifier re-serialised as an order echoes it.
    pub echo: String,
    pub normalized: Result<NormalizedId, (String, String)>,
    /// For DNS names: the identifier policy under `suffixes`, wildcards refused / allowed.
    pub policy: Option<(Result<(), String>, Result<(), String>)>,
}

/// Parses one identifier object (the newOrder serde type), normalises it and, for DNS names,
/// applies the identifier policy under `suffixes`. `Err` is a JSON error.
pub fn identifier(json: &[u8], suffixes: &[String]) -> Result<IdentifierOutcome, String> {
    let (kind, value, echo) = fuzz_hooks::identifier_from_json(json)?;
    let normalized = normalize(&kind, &value);
    let policy = match &normalized {
        Ok(n) if n.kind == "dns" => {
            Some(fuzz_hooks::dns_policy(suffixes, &n.authz_value, n.wildcard))
        }
        _ => None,
    };
    Ok(IdentifierOutcome {
        kind,
        value,
        echo,
        normalized,
        policy,
    })
}

/// A problem response: status, content type and body.
#[derive(Debug, Clone)]
pub struct ProblemResponse {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// Builds a problem document from fields (no subproblems) or from subproblems (type index,
/// detail, identifier type, identifier value) as handlers do, and renders the response.
pub fn problem_document(
    kind: usize,
    detail: &str,
    status: Option<u16>,
    subs: &[(usize, String, String, String)],
) -> ProblemResponse {
    let r = fuzz_hooks::problem_response(kind, detail, status, subs);
    let content_type = r
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.clone());
    ProblemResponse {
        status: r.status,
        content_type,
        body: r.body,
    }
}

/// The URN of the problem type with this index (modulo the number of types).
pub fn problem_urn(kind: usize) -> String {
    fuzz_hooks::problem_urn(kind)
}

/// Number of problem types.
pub fn problem_type_count() -> usize {
    fuzz_hooks::PROBLEM_TYPES.len()
}

/// The HTTP status of a top-level problem of this type index (without override).
pub fn problem_default_status(kind: usize) -> u16 {
    problem_document(kind, "", None, &[]).status
}
