//! Helpers shared by the security-catalog tests (`catalog_*.rs`, entries #32–#62 of
//! `security-catalog.md`): the exact problem check and a ready order. CSRs with any subject, subjectAltName entries and
//! extension requests come from `support::pki::CertKey::csr_with` (its key can also be an
//! account key: `CertKey::account_key`).

use der::asn1::Ia5String;
use serde_json::Value;
use x509_cert::ext::pkix::name::GeneralName;

use crate::support::Env;
use crate::support::client::Acme;
use crate::support::https::Response;
use crate::support::pki::Identifier;

pub(crate) const ACME_ERROR: &str = "urn:ietf:params:acme:error:";

/// An ACME error exactly: status, `application/problem+json` with `type` = `kind`, and (RFC 8555
/// §6.5, interop.md) a fresh `Replay-Nonce` when it answers a POST.
#[track_caller]
pub(crate) fn assert_problem(r: &Response, status: u16, kind: &str, what: &str) {
    assert_eq!(
        r.status, status,
        "{what}: expected {status} {kind}, got: {r}"
    );
    assert_eq!(
        r.problem_type().as_deref(),
        Some(format!("{ACME_ERROR}{kind}").as_str()),
        "{what}: expected problem type {kind}: {r}"
    );
    assert!(
        r.header("replay-nonce").is_some(),
        "{what}: error without Replay-Nonce: {r}"
    );
}

/// A registered account and an order for `ids` whose authorizations are all validated
/// (http-01); returns (order URL, order object in state `ready`).
pub(crate) fn ready_order(env: &Env, acme: &mut Acme, ids: &[Identifier]) -> (String, Value) {
    let (order_url, order) = acme.new_order(ids);
    acme.solve_http01(&order, &env.http01);
    let order = acme.poll(&order_url, &["ready"]);
    (order_url, order)
}

pub(crate) fn dns_name(name: &str) -> GeneralName {
    GeneralName::DnsName(Ia5String::new(name).unwrap())
}
