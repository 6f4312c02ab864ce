//! JWK parse → key policy → RFC 7638 thumbprint (RFC 7517, RFC 7518 §6, RFC 8037 §2; security
//! catalog #15, #18, #22, #40).
//!
//! Properties: every refusal is a 400 problem; for an accepted key, the thumbprint equals
//! base64url(SHA-256) of the canonical JWK serialised by serde_json (sorted members, no
//! whitespace: RFC 7638 §3.3), the canonical JWK parses back to the same key and thumbprint,
//! and members the key does not use (`kid`) do not change it.
#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use upki_ra::fuzz_api::FuzzJwk;

fuzz_target!(|data: &[u8]| {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let key = match FuzzJwk::from_json(&v) {
        Ok(k) => k,
        Err((status, kind, _)) => {
            assert_eq!(status, 400);
            assert!(kind.starts_with("urn:ietf:params:acme:error:"));
            return;
        }
    };
    let thumbprint = key.thumbprint();
    let canonical = key.to_json();
    let text = serde_json::to_string(&canonical).expect("a Value serialises");
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    assert_eq!(
        thumbprint,
        URL_SAFE_NO_PAD.encode(digest.as_ref()),
        "{text}"
    );

    let reparsed: serde_json::Value = serde_json::from_str(&text).expect("canonical JSON parses");
    let again = FuzzJwk::from_json(&reparsed).expect("canonical JWK refused");
    assert_eq!(again, key);
    assert_eq!(again.thumbprint(), thumbprint);
    assert_eq!(again.to_json(), canonical);

    let mut with_kid = v.clone();
    if let Some(obj) = with_kid.as_object_mut() {
        obj.insert("kid".into(), serde_json::Value::String("fuzz".into()));
    }
    let k2 = FuzzJwk::from_json(&with_kid).expect("an extra kid member changed the verdict");
    assert_eq!(k2.thumbprint(), thumbprint);

    let spki = key.spki_der();
    assert_eq!(spki.first(), Some(&0x30));
});
