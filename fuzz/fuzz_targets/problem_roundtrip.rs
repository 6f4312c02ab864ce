//! Problem documents (RFC 7807; RFC 8555 §6.7, §6.7.1 subproblems) built from fuzzed fields or
//! subproblems, serialised as the server sends them, parsed back as JSON and compared.
//!
//! Properties: `application/problem+json`; `type`, `detail`, `status` and every subproblem's
//! `type`, `detail` and `identifier` come back exactly (any Unicode, quotes, control
//! characters); `algorithms` is present exactly for badSignatureAlgorithm; one subproblem is
//! reported as itself, several as compound unless they share one type.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use upki_ra::fuzz_api;

#[derive(Debug, Arbitrary)]
struct Input {
    kind: u8,
    detail: String,
    status: Option<u16>,
    subs: Vec<(u8, String, String, String)>,
}

fn build(u: &mut Unstructured<'_>) -> arbitrary::Result<()> {
    let mut input = Input::arbitrary(u)?;
    input.subs.truncate(16);
    let subs: Vec<(usize, String, String, String)> = input
        .subs
        .iter()
        .map(|(k, d, t, v)| (usize::from(*k), d.clone(), t.clone(), v.clone()))
        .collect();
    let kind = usize::from(input.kind);
    let r = fuzz_api::problem_document(kind, &input.detail, input.status, &subs);
    assert_eq!(r.content_type.as_deref(), Some("application/problem+json"));
    assert!(!r.body.contains(&b'\n'), "problem document not compact");
    let doc: Value = serde_json::from_slice(&r.body).expect("problem body is JSON");
    let obj = doc.as_object().expect("problem body is an object");
    let ty = obj["type"].as_str().expect("type is a string");
    assert!(ty.starts_with("urn:ietf:params:acme:error:"));
    assert_eq!(obj["status"].as_u64(), Some(u64::from(r.status)));
    let detail = obj["detail"].as_str().expect("detail is a string");
    let bad_alg = "urn:ietf:params:acme:error:badSignatureAlgorithm";
    assert_eq!(obj.contains_key("algorithms"), ty == bad_alg);
    if subs.is_empty() {
        assert_eq!(ty, fuzz_api::problem_urn(kind));
        assert_eq!(detail, input.detail);
        let status = input
            .status
            .unwrap_or(fuzz_api::problem_default_status(kind));
        assert_eq!(r.status, status);
        assert!(!obj.contains_key("subproblems"));
        return Ok(());
    }
    let list = obj["subproblems"].as_array().expect("subproblems listed");
    assert_eq!(list.len(), subs.len());
    for (got, (k, d, t, v)) in list.iter().zip(&subs) {
        assert_eq!(
            got["type"].as_str(),
            Some(fuzz_api::problem_urn(*k).as_str())
        );
        assert_eq!(got["detail"].as_str(), Some(d.as_str()));
        assert_eq!(
            got["identifier"],
            serde_json::json!({ "type": t, "value": v })
        );
    }
    let first = fuzz_api::problem_urn(subs[0].0);
    if subs.len() == 1 {
        assert_eq!(ty, first);
        assert_eq!(detail, format!("{}: {}", subs[0].3, subs[0].1));
    } else {
        let same = subs.iter().all(|s| fuzz_api::problem_urn(s.0) == first);
        let expected = if same {
            first
        } else {
            "urn:ietf:params:acme:error:compound".to_owned()
        };
        assert_eq!(ty, expected);
        assert!(detail.starts_with(&subs.len().to_string()));
    }
    assert_eq!(r.status, fuzz_api::problem_default_status(index_of(ty)));
    Ok(())
}

/// The index of a problem type URN.
fn index_of(urn: &str) -> usize {
    (0..fuzz_api::problem_type_count())
        .find(|&i| fuzz_api::problem_urn(i) == urn)
        .expect("a known problem type")
}

fuzz_target!(|data: &[u8]| {
    let _ = build(&mut Unstructured::new(data));
});
