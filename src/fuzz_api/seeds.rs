//! The seed corpus of the fuzz targets (`fuzz/corpus/<target>/`): the HTTP smuggling cases
//! (security catalog #1–#10), the JOSE cases (#13–#24), CSRs (#49–#54), identifiers (#35–#37)
//! and problem documents, each checked here against the verdict the catalog requires, through
//! the same `fuzz_api` wrappers the targets call.
//!
//! Regenerate (keys are random, so the JOSE/CSR seeds change on each run):
//! `UPKI_FUZZ_SEEDS=fuzz/corpus cargo test --features fuzzing --lib fuzz_api::seeds`.
//! Without `UPKI_FUZZ_SEEDS` the test only checks the verdicts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use serde_json::{Value, json};

use super::*;
use crate::jose::b64;

/// The private key of the account key the `jws_envelope` target resolves every `kid` to (its
/// public JWK is written out in fuzz/fuzz_targets/jws_envelope.rs).
const ACCOUNT_KEY: &[u8] = include_bytes!("account_p256.pk8.der");
const RSA_KEY: &[u8] = include_bytes!("../jose/testdata/rsa2048.pk8.der");
const URL: &str = "https://ra.lan/acme/new-order";

/// Writes one seed when `UPKI_FUZZ_SEEDS` names the corpus directory.
fn write(target: &str, name: &str, bytes: &[u8]) {
    if let Some(dir) = std::env::var_os("UPKI_FUZZ_SEEDS") {
        let dir = PathBuf::from(dir).join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

// ---- HTTP head (catalog #1–#6, #9, #10) ----

/// (seed name, request bytes, expected: None = accepted, Some(status) = refused).
fn http_cases() -> Vec<(&'static str, Vec<u8>, Option<u16>)> {
    let big = format!(
        "GET / HTTP/1.1\r\nHost: ra.lan\r\nX: {}\r\n\r\n",
        "a".repeat(17 * 1024)
    );
    let many: String = (0..70).map(|i| format!("X-{i}: v\r\n")).collect();
    let many = format!("GET / HTTP/1.1\r\nHost: ra.lan\r\n{many}\r\n");
    let post = |extra: &str, body: &str| {
        format!("POST /acme/new-order HTTP/1.1\r\nHost: ra.lan\r\nContent-Type: application/jose+json\r\n{extra}\r\n{body}")
            .into_bytes()
    };
    vec![
        (
            "ok_get",
            b"GET /directory HTTP/1.1\r\nHost: ra.lan\r\n\r\n".to_vec(),
            None,
        ),
        (
            "ok_get_leading_crlf",
            b"\r\nGET /directory HTTP/1.1\r\nHost: ra.lan:443\r\n\r\n".to_vec(),
            None,
        ),
        ("ok_http10", b"GET / HTTP/1.0\r\n\r\n".to_vec(), None),
        (
            "ok_post_cl_pipelined",
            post(
                "Content-Length: 2\r\n",
                "{}GET / HTTP/1.1\r\nHost: ra.lan\r\n\r\n",
            ),
            None,
        ),
        (
            "ok_post_chunked",
            post("Transfer-Encoding: chunked\r\n", "2\r\n{}\r\n0\r\n\r\n"),
            None,
        ),
        (
            "ok_expect_continue",
            post("Content-Length: 2\r\nExpect: 100-continue\r\n", ""),
            None,
        ),
        ("c01_head_too_large", big.into_bytes(), Some(431)),
        ("c02_too_many_headers", many.into_bytes(), Some(431)),
        (
            "c03_content_length_too_large",
            post("Content-Length: 65537\r\n", ""),
            Some(413),
        ),
        (
            "c04_cl_te",
            post(
                "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
                "0\r\n\r\n",
            ),
            Some(400),
        ),
        (
            "c04_te_cl",
            post(
                "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
                "0\r\n\r\n",
            ),
            Some(400),
        ),
        (
            "c05_te_gzip",
            post("Transfer-Encoding: gzip\r\n", ""),
            Some(400),
        ),
        (
            "c05_te_chunked_gzip",
            post("Transfer-Encoding: chunked, gzip\r\n", ""),
            Some(400),
        ),
        (
            "c05_te_gzip_chunked",
            post("Transfer-Encoding: gzip, chunked\r\n", ""),
            Some(400),
        ),
        (
            "c05_te_twice",
            post(
                "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
                "",
            ),
            Some(400),
        ),
        (
            "c05_te_xchunked",
            post("Transfer-Encoding: xchunked\r\n", ""),
            Some(400),
        ),
        (
            "c05_te_space_before_colon",
            post("Transfer-Encoding : chunked\r\n", ""),
            Some(400),
        ),
        (
            "c05_te_vertical_tab",
            post("Transfer-Encoding:\x0bchunked\r\n", ""),
            Some(400),
        ),
        (
            "c05_te_http10",
            b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(),
            Some(400),
        ),
        (
            "c06_cl_plus",
            post("Content-Length: +5\r\n", "hello"),
            Some(400),
        ),
        (
            "c06_cl_hex",
            post("Content-Length: 0x10\r\n", ""),
            Some(400),
        ),
        (
            "c06_cl_list",
            post("Content-Length: 5, 6\r\n", "hello"),
            Some(400),
        ),
        (
            "c06_cl_differ",
            post("Content-Length: 5\r\nContent-Length: 6\r\n", "hello"),
            Some(400),
        ),
        (
            "c06_cl_inner_space",
            post("Content-Length: 1 0\r\n", ""),
            Some(400),
        ),
        (
            "c06_cl_20_digits",
            post("Content-Length: 18446744073709551616\r\n", ""),
            Some(400),
        ),
        (
            "c06_cl_negative",
            post("Content-Length: -1\r\n", ""),
            Some(400),
        ),
        (
            "c09_pipelined_after_refusal",
            post(
                "Content-Length: 99999\r\n",
                "GET / HTTP/1.1\r\nHost: ra.lan\r\n\r\n",
            ),
            Some(413),
        ),
        ("c10_no_host", b"GET / HTTP/1.1\r\n\r\n".to_vec(), Some(400)),
        (
            "c10_two_hosts",
            b"GET / HTTP/1.1\r\nHost: a.lan\r\nHost: b.lan\r\n\r\n".to_vec(),
            Some(400),
        ),
        (
            "c10_bad_host",
            b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n".to_vec(),
            Some(400),
        ),
        (
            "c10_obs_fold",
            b"GET / HTTP/1.1\r\nHost: ra.lan\r\nX-A: 1\r\n  continued\r\n\r\n".to_vec(),
            Some(400),
        ),
        (
            "c10_obs_fold_te",
            post("X-A: 1\r\n Transfer-Encoding: chunked\r\n", ""),
            Some(400),
        ),
        (
            "c10_space_before_first_header",
            b"GET / HTTP/1.1\r\n Host: ra.lan\r\n\r\n".to_vec(),
            Some(400),
        ),
        (
            "c10_bare_lf",
            b"GET / HTTP/1.1\nHost: ra.lan\n\n".to_vec(),
            Some(400),
        ),
        (
            "c10_bare_lf_te",
            b"POST / HTTP/1.1\r\nHost: ra.lan\nTransfer-Encoding: chunked\r\n\r\n".to_vec(),
            Some(400),
        ),
        (
            "c10_bare_cr",
            b"GET / HTTP/1.1\rHost: ra.lan\r\n\r\n".to_vec(),
            Some(400),
        ),
        (
            "c10_absolute_form",
            b"GET http://ra.lan/ HTTP/1.1\r\nHost: ra.lan\r\n\r\n".to_vec(),
            Some(400),
        ),
        (
            "c10_asterisk_form",
            b"OPTIONS * HTTP/1.1\r\nHost: ra.lan\r\n\r\n".to_vec(),
            Some(400),
        ),
        (
            "c10_non_utf8_value",
            b"GET / HTTP/1.1\r\nHost: ra.lan\r\nX: \xff\r\n\r\n".to_vec(),
            Some(400),
        ),
        (
            "expect_other",
            b"GET / HTTP/1.1\r\nHost: ra.lan\r\nExpect: 200-ok\r\n\r\n".to_vec(),
            Some(417),
        ),
        (
            "http2_preface",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(),
            Some(400),
        ),
    ]
}

// ---- chunked bodies (catalog #3, #7, #9) ----

fn chunked_cases() -> Vec<(&'static str, Vec<u8>, Option<u16>)> {
    vec![
        ("ok_one_chunk", b"5\r\nhello\r\n0\r\n\r\n".to_vec(), None),
        (
            "ok_two_chunks_pipelined",
            b"2\r\nhe\r\n3\r\nllo\r\n0\r\n\r\nGET / HTTP/1.1\r\n".to_vec(),
            None,
        ),
        (
            "ok_extension_bws",
            b"5 ;name=\"v\"\r\nhello\r\n0;last\r\n\r\n".to_vec(),
            None,
        ),
        (
            "ok_trailer",
            b"5\r\nhello\r\n0\r\nX-Checksum: 1\r\n\r\n".to_vec(),
            None,
        ),
        (
            "ok_upper_hex",
            b"A\r\n0123456789\r\n0\r\n\r\n".to_vec(),
            None,
        ),
        (
            "c03_sum_over_limit",
            b"8000\r\n"
                .iter()
                .copied()
                .chain(vec![b'a'; 0x8000])
                .chain(*b"\r\n8001\r\n")
                .collect(),
            Some(413),
        ),
        ("c03_size_over_limit", b"10001\r\n".to_vec(), Some(413)),
        (
            "c07_17_digits",
            b"10000000000000000\r\n".to_vec(),
            Some(400),
        ),
        ("c07_u64_max", b"ffffffffffffffff\r\n".to_vec(), Some(413)),
        (
            "c07_leading_zeros_17",
            b"00000000000000005\r\nhello\r\n0\r\n\r\n".to_vec(),
            Some(400),
        ),
        (
            "c07_huge_extension",
            [
                b"5;".to_vec(),
                vec![b'x'; 2000],
                b"\r\nhello\r\n0\r\n\r\n".to_vec(),
            ]
            .concat(),
            Some(400),
        ),
        (
            "c07_endless_trailers",
            [b"0\r\n".to_vec(), b"X: y\r\n".repeat(2000)].concat(),
            Some(400),
        ),
        (
            "c07_plus_size",
            b"+5\r\nhello\r\n0\r\n\r\n".to_vec(),
            Some(400),
        ),
        (
            "c07_0x_size",
            b"0x5\r\nhello\r\n0\r\n\r\n".to_vec(),
            Some(400),
        ),
        ("c07_negative_size", b"-1\r\n".to_vec(), Some(400)),
        ("c07_empty_size", b"\r\nhello\r\n".to_vec(), Some(400)),
        ("c10_bare_lf", b"5\nhello\n0\n\n".to_vec(), Some(400)),
        (
            "c10_bare_lf_after_data",
            b"5\r\nhello\n0\r\n\r\n".to_vec(),
            Some(400),
        ),
        (
            "missing_crlf_after_data",
            b"5\r\nhelloX\r\n0\r\n\r\n".to_vec(),
            Some(400),
        ),
        (
            "c10_trailer_obs_fold",
            b"0\r\nX: a\r\n b\r\n\r\n".to_vec(),
            Some(400),
        ),
        (
            "ctl_in_extension",
            b"5;\x01\r\nhello\r\n0\r\n\r\n".to_vec(),
            Some(400),
        ),
    ]
}

// ---- JOSE (catalog #13–#24) ----

/// Signs a JWS signing input.
type SignFn = Box<dyn Fn(&[u8]) -> Vec<u8>>;
/// (seed name, JWS body, expected: Ok(()) = accepted and verified, Err(problem type)).
type JwsCase = (String, String, Result<(), &'static str>);

struct Signer {
    alg: &'static str,
    jwk: Value,
    sign: SignFn,
}

fn es256(pkcs8: &[u8]) -> Signer {
    let rng = SystemRandom::new();
    let kp =
        EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng).unwrap();
    let point = kp.public_key().as_ref().to_vec();
    let jwk = json!({"kty": "EC", "crv": "P-256", "x": b64::encode(&point[1..33]), "y": b64::encode(&point[33..])});
    Signer {
        alg: "ES256",
        jwk,
        sign: Box::new(move |m| kp.sign(&SystemRandom::new(), m).unwrap().as_ref().to_vec()),
    }
}

fn signers() -> (Signer, Vec<Signer>) {
    let rng = SystemRandom::new();
    let account = es256(ACCOUNT_KEY);
    let p256 =
        EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let p384 =
        EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, &rng).unwrap();
    let p384 = EcdsaKeyPair::from_pkcs8(
        &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
        p384.as_ref(),
        &rng,
    )
    .unwrap();
    let p384_point = p384.public_key().as_ref().to_vec();
    let ed = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let ed = Ed25519KeyPair::from_pkcs8(ed.as_ref()).unwrap();
    let ed_x = ed.public_key().as_ref().to_vec();
    let rsa = RsaKeyPair::from_pkcs8(RSA_KEY).unwrap();
    let comps = signature::RsaPublicKeyComponents::<Vec<u8>>::from(rsa.public());
    let others = vec![
        es256(p256.as_ref()),
        Signer {
            alg: "ES384",
            jwk: json!({"kty": "EC", "crv": "P-384", "x": b64::encode(&p384_point[1..49]), "y": b64::encode(&p384_point[49..])}),
            sign: Box::new(move |m| {
                p384.sign(&SystemRandom::new(), m)
                    .unwrap()
                    .as_ref()
                    .to_vec()
            }),
        },
        Signer {
            alg: "EdDSA",
            jwk: json!({"kty": "OKP", "crv": "Ed25519", "x": b64::encode(&ed_x)}),
            sign: Box::new(move |m| ed.sign(m).as_ref().to_vec()),
        },
        Signer {
            alg: "RS256",
            jwk: json!({"kty": "RSA", "n": b64::encode(&comps.n), "e": b64::encode(&comps.e)}),
            sign: Box::new(move |m| {
                let mut sig = vec![0; rsa.public().modulus_len()];
                rsa.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    m,
                    &mut sig,
                )
                .unwrap();
                sig
            }),
        },
    ];
    (account, others)
}

/// A flattened JWS over the protected header text `header` (used verbatim, so duplicate
/// members survive) and `payload`, signed by `signer` (or with `sig` when given).
fn jws(signer: &Signer, header: &str, payload: &[u8], sig: Option<Vec<u8>>) -> String {
    let protected = b64::encode(header.as_bytes());
    let payload = b64::encode(payload);
    let input = format!("{protected}.{payload}");
    let sig = sig.unwrap_or_else(|| (signer.sign)(input.as_bytes()));
    json!({"protected": protected, "payload": payload, "signature": b64::encode(&sig)}).to_string()
}

fn header(alg: &str, key: &str) -> String {
    format!(r#"{{"alg":"{alg}",{key},"nonce":"bm9uY2U","url":"{URL}"}}"#)
}

/// (seed name, JWS body, expected: Ok(()) = accepted and verified, Err(problem type)).
fn jws_cases() -> (Value, Vec<JwsCase>) {
    let (account, others) = signers();
    let payload = br#"{"identifiers":[{"type":"dns","value":"app1.lan"}]}"#;
    let kid = r#""kid":"https://ra.lan/acme/acct/1""#.to_owned();
    let jwk_of = |s: &Signer| format!(r#""jwk":{}"#, s.jwk);
    let mut cases = Vec::new();
    for s in &others {
        cases.push((
            format!("ok_{}_jwk", s.alg),
            jws(s, &header(s.alg, &jwk_of(s)), payload, None),
            Ok(()),
        ));
    }
    let es = &others[0];
    cases.push((
        "ok_es256_kid".into(),
        jws(&account, &header("ES256", &kid), payload, None),
        Ok(()),
    ));
    cases.push((
        "ok_post_as_get".into(),
        jws(&account, &header("ES256", &kid), b"", None),
        Ok(()),
    ));
    let good = jws(es, &header("ES256", &jwk_of(es)), payload, None);
    let env: Value = serde_json::from_str(&good).unwrap();
    let (p, pl, sg) = (
        env["protected"].as_str().unwrap(),
        env["payload"].as_str().unwrap(),
        env["signature"].as_str().unwrap(),
    );
    const M: &str = "malformed";
    const ALG: &str = "badSignatureAlgorithm";
    const KEY: &str = "badPublicKey";
    let mut add = |name: &str, body: String, want: Result<(), &'static str>| {
        cases.push((name.to_owned(), body, want));
    };
    // #13: compact serialization, general serialization, unprotected header.
    add("c13_compact", format!("{p}.{pl}.{sg}"), Err(M));
    add(
        "c13_compact_json_string",
        format!("\"{p}.{pl}.{sg}\""),
        Err(M),
    );
    add(
        "c13_general",
        json!({"payload": pl, "signatures": [{"protected": p, "signature": sg}]}).to_string(),
        Err(M),
    );
    add(
        "c13_unprotected_header",
        json!({"protected": p, "header": {"alg": "none"}, "payload": pl, "signature": sg})
            .to_string(),
        Err(M),
    );
    add("c13_array", json!([p, pl, sg]).to_string(), Err(M));
    add("c13_trailing_bytes", format!("{good} {{}}"), Err(M));
    // #14: non-canonical base64url.
    add(
        "c14_padding",
        json!({"protected": format!("{p}=="), "payload": pl, "signature": sg}).to_string(),
        Err(M),
    );
    add(
        "c14_std_alphabet",
        json!({"protected": p, "payload": pl, "signature": sg.replace('-', "+").replace('_', "/")})
            .to_string(),
        Err(M),
    );
    add(
        "c14_whitespace",
        json!({"protected": format!(" {p}"), "payload": pl, "signature": sg}).to_string(),
        Err(M),
    );
    // #15: duplicate members.
    add(
        "c15_duplicate_alg",
        jws(
            es,
            &format!(
                r#"{{"alg":"ES256","alg":"none",{},"url":"{URL}"}}"#,
                jwk_of(es)
            ),
            payload,
            None,
        ),
        Err(M),
    );
    add(
        "c15_duplicate_url",
        jws(
            es,
            &format!(
                r#"{{"alg":"ES256",{},"url":"{URL}","url":"https://x/"}}"#,
                jwk_of(es)
            ),
            payload,
            None,
        ),
        Err(M),
    );
    add(
        "c15_duplicate_protected",
        format!(r#"{{"protected":"{p}","protected":"{p}","payload":"{pl}","signature":"{sg}"}}"#),
        Err(M),
    );
    // #16, #17: alg none, MAC, unsupported algorithms.
    add(
        "c16_alg_none",
        jws(es, &header("none", &jwk_of(es)), payload, Some(vec![0])),
        Err(ALG),
    );
    add(
        "c16_alg_hs256",
        jws(es, &header("HS256", &jwk_of(es)), payload, None),
        Err(ALG),
    );
    for alg in ["RS512", "ES512", "PS256"] {
        add(
            &format!("c17_alg_{alg}"),
            jws(es, &header(alg, &jwk_of(es)), payload, None),
            Err(ALG),
        );
    }
    // #18: alg vs key.
    let ed = &others[2];
    add(
        "c18_es256_with_okp",
        jws(ed, &header("ES256", &jwk_of(ed)), payload, None),
        Err(M),
    );
    let mut jwk_alg = es.jwk.clone();
    jwk_alg["alg"] = json!("ES384");
    add(
        "c18_jwk_alg_mismatch",
        jws(
            es,
            &header("ES256", &format!(r#""jwk":{jwk_alg}"#)),
            payload,
            None,
        ),
        Err(M),
    );
    // #19: both jwk and kid, neither.
    add(
        "c19_jwk_and_kid",
        jws(
            es,
            &header("ES256", &format!("{},{kid}", jwk_of(es))),
            payload,
            None,
        ),
        Err(M),
    );
    add(
        "c19_neither",
        jws(
            es,
            &format!(r#"{{"alg":"ES256","url":"{URL}"}}"#),
            payload,
            None,
        ),
        Err(M),
    );
    add(
        "c19_empty_kid",
        jws(es, &header("ES256", r#""kid":"""#), payload, None),
        Err(M),
    );
    // #21: private members, x5c, jku.
    let mut private = es.jwk.clone();
    private["d"] = json!("AAAA");
    add(
        "c21_private_member",
        jws(
            es,
            &header("ES256", &format!(r#""jwk":{private}"#)),
            payload,
            None,
        ),
        Err(KEY),
    );
    let mut x5c = es.jwk.clone();
    x5c["x5c"] = json!(["AAAA"]);
    add(
        "c21_jwk_x5c",
        jws(
            es,
            &header("ES256", &format!(r#""jwk":{x5c}"#)),
            payload,
            None,
        ),
        Err(KEY),
    );
    add(
        "c21_header_jku",
        jws(
            es,
            &header("ES256", &format!(r#"{},"jku":"https://x/""#, jwk_of(es))),
            payload,
            None,
        ),
        Err(M),
    );
    // #22: point off the curve, short coordinate.
    let mut off = es.jwk.clone();
    off["y"] = off["x"].clone();
    add(
        "c22_off_curve",
        jws(
            es,
            &header("ES256", &format!(r#""jwk":{off}"#)),
            payload,
            None,
        ),
        Err(KEY),
    );
    let mut short = es.jwk.clone();
    short["x"] = json!(b64::encode(&[1; 31]));
    add(
        "c22_short_x",
        jws(
            es,
            &header("ES256", &format!(r#""jwk":{short}"#)),
            payload,
            None,
        ),
        Err(KEY),
    );
    // #23: r = s = 0, DER signature, wrong length.
    let h = header("ES256", &jwk_of(es));
    add(
        "c23_r_s_zero",
        jws(es, &h, payload, Some(vec![0; 64])),
        Err(M),
    );
    add(
        "c23_r_s_n",
        jws(es, &h, payload, Some([hex_n(), hex_n()].concat())),
        Err(M),
    );
    let raw =
        (es.sign)(format!("{}.{}", b64::encode(h.as_bytes()), b64::encode(payload)).as_bytes());
    add(
        "c23_der_signature",
        jws(es, &h, payload, Some(der_sig(&raw))),
        Err(M),
    );
    add(
        "c23_short_signature",
        jws(es, &h, payload, Some(raw[..63].to_vec())),
        Err(M),
    );
    add(
        "c23_empty_signature",
        jws(es, &h, payload, Some(Vec::new())),
        Err(M),
    );
    // #24: crit, b64:false.
    add(
        "c24_crit",
        jws(
            es,
            &header(
                "ES256",
                &format!(r#"{},"crit":["b64"],"b64":false"#, jwk_of(es)),
            ),
            payload,
            None,
        ),
        Err(M),
    );
    add(
        "c24_crit_only",
        jws(
            es,
            &header("ES256", &format!(r#"{},"crit":[]"#, jwk_of(es))),
            payload,
            None,
        ),
        Err(M),
    );
    add(
        "c24_b64_false",
        jws(
            es,
            &header("ES256", &format!(r#"{},"b64":false"#, jwk_of(es))),
            payload,
            None,
        ),
        Err(M),
    );
    add(
        "url_missing",
        jws(
            es,
            &format!(r#"{{"alg":"ES256",{}}}"#, jwk_of(es)),
            payload,
            None,
        ),
        Err(M),
    );
    (account.jwk, cases)
}

/// The P-256 group order n, big-endian (r = s = n must be refused like 0).
fn hex_n() -> Vec<u8> {
    let hex = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";
    (0..32)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

/// `r || s` as an ASN.1 DER ECDSA-Sig-Value (what a JOSE library must not send).
fn der_sig(raw: &[u8]) -> Vec<u8> {
    let int = |v: &[u8]| {
        let v: Vec<u8> = v.iter().copied().skip_while(|&b| b == 0).collect();
        let v = if v.first().is_some_and(|&b| b >= 0x80) {
            [vec![0], v].concat()
        } else {
            v
        };
        [vec![0x02, v.len() as u8], v].concat()
    };
    let body = [int(&raw[..32]), int(&raw[32..])].concat();
    [vec![0x30, body.len() as u8], body].concat()
}

#[test]
fn seeds() {
    let limits = HttpLimits::default();
    for (name, bytes, want) in http_cases() {
        let got = parse_head(&bytes, &[], limits);
        match want {
            None => assert!(matches!(got, Ok(Some(_))), "{name}: {got:?}"),
            Some(s) => assert_eq!(got.map_err(|e| e.0), Err(s), "{name}"),
        }
        write("http_head", name, &bytes);
    }
    for (name, bytes, want) in chunked_cases() {
        let got = decode_body(Framing::Chunked, limits.max_body, &bytes, &[]);
        match want {
            None => assert!(matches!(&got, Ok(b) if b.done), "{name}: {got:?}"),
            Some(s) => assert_eq!(got.map_err(|e| e.0), Err(s), "{name}"),
        }
        write("chunked", name, &bytes);
    }

    let (account_jwk, cases) = jws_cases();
    let account = FuzzJwk::from_json(&account_jwk).unwrap();
    for (name, body, want) in &cases {
        let got = check_jws(body.as_bytes(), &account);
        let verdict = got
            .and_then(|j| j.verified.map(|_| ()))
            .map_err(|(_, t, _)| t);
        let want = want.map_err(|t| format!("urn:ietf:params:acme:error:{t}"));
        assert_eq!(verdict, want, "{name}");
        write("jws_envelope", name, body.as_bytes());
    }
    write(
        "jwk_thumbprint",
        "account_p256",
        account_jwk.to_string().as_bytes(),
    );

    // JWKs: the keys of the accepted JWS, plus broken ones.
    let (_, others) = signers();
    for s in &others {
        let key = FuzzJwk::from_json(&s.jwk).unwrap();
        assert_eq!(key.alg(), s.alg);
        write(
            "jwk_thumbprint",
            &format!("ok_{}", s.alg),
            s.jwk.to_string().as_bytes(),
        );
    }
    let es = &others[0].jwk;
    let x = es["x"].as_str().unwrap();
    let y = es["y"].as_str().unwrap();
    let bad_jwks = [
        (
            "c15_duplicate_x",
            format!(r#"{{"kty":"EC","crv":"P-256","x":"{x}","x":"{y}","y":"{y}"}}"#),
        ),
        (
            "c18_alg_mismatch",
            format!(r#"{{"kty":"EC","crv":"P-256","x":"{x}","y":"{y}","alg":"RS256"}}"#),
        ),
        (
            "c21_private_d",
            format!(r#"{{"kty":"EC","crv":"P-256","x":"{x}","y":"{y}","d":"AAAA"}}"#),
        ),
        (
            "c21_use_enc",
            format!(r#"{{"kty":"EC","crv":"P-256","x":"{x}","y":"{y}","use":"enc"}}"#),
        ),
        (
            "c22_off_curve",
            format!(r#"{{"kty":"EC","crv":"P-256","x":"{x}","y":"{x}"}}"#),
        ),
        (
            "c22_padded",
            format!(r#"{{"kty":"EC","crv":"P-256","x":"{x}=","y":"{y}"}}"#),
        ),
        (
            "c22_null_y",
            format!(r#"{{"kty":"EC","crv":"P-256","x":"{x}","y":null}}"#),
        ),
        (
            "c22_ed25519_zero",
            format!(
                r#"{{"kty":"OKP","crv":"Ed25519","x":"{}"}}"#,
                b64::encode(&[0; 32])
            ),
        ),
        (
            "c22_rsa_e3",
            format!(
                r#"{{"kty":"RSA","n":"{}","e":"Aw"}}"#,
                others[3].jwk["n"].as_str().unwrap()
            ),
        ),
        (
            "c22_rsa_short",
            format!(
                r#"{{"kty":"RSA","n":"{}","e":"AQAB"}}"#,
                b64::encode(&[0xc5; 128])
            ),
        ),
        (
            "ec_p521",
            r#"{"kty":"EC","crv":"P-521","x":"AA","y":"AA"}"#.to_owned(),
        ),
        ("oct", r#"{"kty":"oct","k":"AAAA"}"#.to_owned()),
        ("array", format!(r#"["EC","P-256","{x}","{y}"]"#)),
    ];
    for (name, text) in bad_jwks {
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert!(FuzzJwk::from_json(&v).is_err(), "{name} accepted");
        write("jwk_thumbprint", name, text.as_bytes());
    }

    // CSRs: the pki test vectors, and fresh ones for the order the target checks against.
    let order: Vec<(String, String)> = [
        ("dns", "app1.lan"),
        ("dns", "www.app1.lan"),
        ("ip", "10.0.0.5"),
        ("ip", "fd00::5"),
    ]
    .iter()
    .map(|(t, v)| (t.to_string(), v.to_string()))
    .collect();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/pki/testdata");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let der = std::fs::read(&path).unwrap();
        let ok = matches!(
            name.as_str(),
            "p256" | "p384" | "ed25519" | "rsa2048" | "san_only" | "extra_ext"
        );
        assert_eq!(validate_csr(&der, &order).is_ok(), ok, "{name}");
        write("csr_validate", &format!("pki_{name}"), &der);
    }
    let rng = SystemRandom::new();
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
    let key = EcdsaKeyPair::from_pkcs8(
        &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        pkcs8.as_ref(),
        &rng,
    )
    .unwrap();
    let dns = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let ips: Vec<IpAddr> = vec!["10.0.0.5".parse().unwrap(), "fd00::5".parse().unwrap()];
    let exact = crate::pki::build_csr(&key, &dns(&["app1.lan", "www.app1.lan"]), &ips).unwrap();
    let csr = validate_csr(&exact, &order).unwrap();
    assert_eq!(csr.names, Ok(()));
    write("csr_validate", "c51_exact_names", &exact);
    let extra =
        crate::pki::build_csr(&key, &dns(&["app1.lan", "www.app1.lan", "evil.lan"]), &ips).unwrap();
    assert!(validate_csr(&extra, &order).unwrap().names.is_err());
    write("csr_validate", "c51_extra_name", &extra);
    let wildcard = crate::pki::build_csr(&key, &dns(&["*.app1.lan"]), &[]).unwrap();
    assert!(validate_csr(&wildcard, &order).unwrap().names.is_err());
    write("csr_validate", "c51_wildcard", &wildcard);
    let mut trailing = exact.clone();
    trailing.push(0);
    assert!(validate_csr(&trailing, &order).is_err());
    write("csr_validate", "c49_trailing_byte", &trailing);

    // Identifiers (#35–#37).
    let suffixes = vec!["app1.lan".to_string(), "example.test".to_string()];
    let idents: &[(&str, &str, bool)] = &[
        ("ok_dns", r#"{"type":"dns","value":"App1.LAN"}"#, true),
        (
            "ok_wildcard",
            r#"{"type":"dns","value":"*.app1.lan"}"#,
            true,
        ),
        ("ok_ipv4", r#"{"type":"ip","value":"10.0.0.5"}"#, true),
        ("ok_ipv6", r#"{"type":"ip","value":"fd00::5"}"#, true),
        (
            "ok_alabel",
            r#"{"type":"dns","value":"xn--bcher-kva.app1.lan"}"#,
            true,
        ),
        (
            "ok_extra_member",
            r#"{"type":"dns","value":"a.app1.lan","x":1}"#,
            true,
        ),
        ("c35_empty", r#"{"type":"dns","value":""}"#, false),
        (
            "c35_trailing_dot",
            r#"{"type":"dns","value":"app1.lan."}"#,
            false,
        ),
        (
            "c35_underscore",
            r#"{"type":"dns","value":"a_b.lan"}"#,
            false,
        ),
        (
            "c35_ulabel",
            r#"{"type":"dns","value":"bücher.lan"}"#,
            false,
        ),
        (
            "c35_long_label",
            &format!(r#"{{"type":"dns","value":"{}.lan"}}"#, "a".repeat(64)),
            false,
        ),
        (
            "c35_numeric_tld",
            r#"{"type":"dns","value":"a.123"}"#,
            false,
        ),
        (
            "c35_ip_as_dns",
            r#"{"type":"dns","value":"10.0.0.5"}"#,
            false,
        ),
        ("c35_bad_xn", r#"{"type":"dns","value":"ab--c.lan"}"#, false),
        (
            "c35_email",
            r#"{"type":"email","value":"a@app1.lan"}"#,
            false,
        ),
        (
            "c36_wildcard_tld",
            r#"{"type":"dns","value":"*.lan"}"#,
            false,
        ),
        (
            "c36_wildcard_inner",
            r#"{"type":"dns","value":"a.*.lan"}"#,
            false,
        ),
        (
            "c36_wildcard_partial",
            r#"{"type":"dns","value":"*a.lan"}"#,
            false,
        ),
        (
            "c36_double_wildcard",
            r#"{"type":"dns","value":"*.*.lan"}"#,
            false,
        ),
        (
            "c37_ipv4_leading_zero",
            r#"{"type":"ip","value":"010.0.0.5"}"#,
            false,
        ),
        (
            "c37_ipv6_upper",
            r#"{"type":"ip","value":"FD00::5"}"#,
            false,
        ),
        (
            "c37_ipv6_long",
            r#"{"type":"ip","value":"fd00:0:0:0:0:0:0:5"}"#,
            false,
        ),
        (
            "c37_mapped",
            r#"{"type":"ip","value":"::ffff:10.0.0.5"}"#,
            false,
        ),
        ("c37_zone", r#"{"type":"ip","value":"fe80::1%eth0"}"#, false),
        (
            "localhost",
            r#"{"type":"dns","value":"*.localhost.app1.lan"}"#,
            true,
        ),
    ];
    for (name, text, ok) in idents {
        let out = identifier(text.as_bytes(), &suffixes).unwrap();
        assert_eq!(out.normalized.is_ok(), *ok, "{name}");
        write("identifier_normalize", name, text.as_bytes());
    }

    // Problem documents: arbitrary bytes (the target decodes them with `arbitrary`).
    let problems: &[(&str, &[u8])] = &[
        ("fields", b"\x0fmalformed request\x00\x01\x90\x01"),
        ("bad_alg", b"\x07unsupported \"alg\"\x00"),
        (
            "subproblems",
            b"\x11x\x00\x00\x02\x11\x08no\x03dns\x08app1.lan\x0f\x05bad\x02ip\x0410.0",
        ),
        (
            "unicode",
            "\u{1}détail ✓ \"quoted\" \\ \u{7f}\u{2028}".as_bytes(),
        ),
    ];
    for (name, bytes) in problems {
        write("problem_roundtrip", name, bytes);
    }
}
