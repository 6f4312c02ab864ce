//! Flattened JWS envelope and protected header (RFC 7515 §7.2.2, RFC 8555 §6.2; security catalog
//! #13–#24), through signature verification, up to but not including the nonce store.
//!
//! Properties: every refusal is a 400 problem of type malformed, badSignatureAlgorithm or
//! badPublicKey; an accepted JWS has an allow-listed `alg`, exactly one of `jwk`/`kid`, a `url`;
//! a signature verifies only when `alg` matches the key; the embedded `jwk` survives its
//! canonical round trip; the envelope re-serialised by serde_json (whitespace, member order)
//! gives the same answer when the original was accepted.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use upki_ra::fuzz_api::{self, FuzzJwk};

/// The account key a `kid` resolves to: the P-256 key of src/fuzz_api/account_p256.pk8.der,
/// whose private half signs the `kid` seeds.
fn account_key() -> &'static FuzzJwk {
    static KEY: OnceLock<FuzzJwk> = OnceLock::new();
    KEY.get_or_init(|| {
        let v = serde_json::json!({
            "kty": "EC",
            "crv": "P-256",
            "x": "20h5HDTGh5x6VjKXoy2eepanJxmOXOl2vZOGHHHSYb8",
            "y": "K1D92swuZfDZbFrh5PWPSq1LycGczWpqd-SicBkg1jw"
        });
        FuzzJwk::from_json(&v).expect("the account key is valid")
    })
}

const PROBLEM_TYPES: &[&str] = &[
    "urn:ietf:params:acme:error:malformed",
    "urn:ietf:params:acme:error:badSignatureAlgorithm",
    "urn:ietf:params:acme:error:badPublicKey",
];

fuzz_target!(|data: &[u8]| {
    let result = fuzz_api::check_jws(data, account_key());
    match &result {
        Err((status, kind, _)) => {
            assert_eq!(*status, 400);
            assert!(PROBLEM_TYPES.contains(&kind.as_str()), "{kind}");
        }
        Ok(j) => {
            assert!(["ES256", "ES384", "EdDSA", "RS256"].contains(&j.alg));
            assert!(
                j.jwk.is_some() != j.kid.is_some(),
                "exactly one of jwk and kid"
            );
            assert!(j.kid.as_ref().is_none_or(|k| !k.is_empty()));
            let key = j.jwk.as_ref().unwrap_or(account_key());
            if j.verified.is_ok() {
                assert_eq!(j.alg, key.alg(), "verified with a mismatched algorithm");
            }
            if let Err((status, kind, _)) = &j.verified {
                assert_eq!(*status, 400);
                assert!(PROBLEM_TYPES.contains(&kind.as_str()), "{kind}");
            }
            if let Some(jwk) = &j.jwk {
                let again = FuzzJwk::from_json(&jwk.to_json()).expect("canonical JWK refused");
                assert_eq!(&again, jwk);
                assert_eq!(again.thumbprint(), jwk.thumbprint());
            }
        }
    }
    if let (Ok(j), Ok(v)) = (&result, serde_json::from_slice::<serde_json::Value>(data)) {
        let re = serde_json::to_vec(&v).expect("a Value serialises");
        let again = fuzz_api::check_jws(&re, account_key()).expect("re-serialised JWS refused");
        assert_eq!(&again, j, "re-serialising the envelope changed the result");
    }
});
