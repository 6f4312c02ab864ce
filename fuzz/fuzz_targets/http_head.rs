//! Request-head parser (RFC 9112 §2–§3, §5.2, §6; security catalog #1–#6, #10), then the body
//! framing it decided applied to the bytes after the head (#9: nothing past the body is used).
//!
//! Properties: feeding the bytes one at a time gives the same answer as feeding them at once
//! (the connection loop feeds a growing buffer); an accepted head ends with CRLFCRLF, has no
//! bare LF/CR, an origin-form target, lower-case names, trimmed values, a framing consistent
//! with its headers and within the limits; every refusal is 400/413/417/431.
#![no_main]

use libfuzzer_sys::fuzz_target;
use upki_ra::fuzz_api::{self, Framing, HeadSummary, HttpLimits};

fn check(data: &[u8], limits: HttpLimits) {
    let whole = fuzz_api::parse_head(data, &[], limits);
    let cuts: Vec<usize> = (0..data.len()).collect();
    let bytewise = fuzz_api::parse_head(data, &cuts, limits);
    assert_eq!(whole, bytewise, "split feeding changed the result");
    match whole {
        Ok(Some(h)) => accepted(data, &h, limits),
        Ok(None) => assert!(data.len() <= limits.max_head, "unbounded partial head"),
        Err((status, _)) => assert!(matches!(status, 400 | 413 | 417 | 431), "status {status}"),
    }
}

fn accepted(data: &[u8], h: &HeadSummary, limits: HttpLimits) {
    assert!(h.len <= data.len() && h.len <= limits.max_head);
    let head = &data[..h.len];
    assert!(head.ends_with(b"\r\n\r\n"));
    for (i, &b) in head.iter().enumerate() {
        if b == b'\n' {
            assert!(i > 0 && head[i - 1] == b'\r', "bare LF accepted");
        }
        if b == b'\r' {
            assert_eq!(head.get(i + 1), Some(&b'\n'), "bare CR accepted");
        }
    }
    // #10 obs-fold: no line of the head starts with whitespace.
    assert!(
        !head
            .windows(3)
            .any(|w| w[0] == b'\r' && w[1] == b'\n' && (w[2] == b' ' || w[2] == b'\t')),
        "obs-fold accepted"
    );
    assert!(h.target.starts_with('/') && h.target.bytes().all(|b| b.is_ascii_graphic()));
    assert!(h.version <= 1);
    for (name, value) in &h.headers {
        assert!(!name.is_empty() && !name.bytes().any(|b| b.is_ascii_uppercase()));
        assert_eq!(value.trim_matches([' ', '\t']), value, "untrimmed value");
    }
    let count = |n: &str| h.headers.iter().filter(|(k, _)| k == n).count();
    if h.version == 1 {
        assert_eq!(count("host"), 1, "HTTP/1.1 needs exactly one Host");
    } else {
        assert!(count("host") <= 1);
    }
    let cl = count("content-length");
    let te = count("transfer-encoding");
    match h.framing {
        Framing::None => assert!(cl == 0 && te == 0),
        Framing::Length(n) => {
            assert!(cl >= 1 && te == 0 && n <= limits.max_body);
            // #6: every Content-Length line is 1*DIGIT and they all agree.
            for (_, v) in h.headers.iter().filter(|(k, _)| k == "content-length") {
                assert!(
                    v.bytes().all(|b| b.is_ascii_digit()),
                    "Content-Length {v:?}"
                );
                assert_eq!(v.parse::<usize>().ok(), Some(n));
            }
        }
        Framing::Chunked => assert!(te == 1 && cl == 0 && h.version == 1),
    }
    if h.expect_continue {
        assert_eq!(h.version, 1);
    }
    // The body as framed, from the bytes after the head.
    let rest = &data[h.len..];
    if let Ok(b) = fuzz_api::decode_body(h.framing, limits.max_body, rest, &[]) {
        assert!(b.consumed <= rest.len() && b.body.len() <= limits.max_body);
        if let Framing::Length(n) = h.framing {
            assert_eq!(b.done, rest.len() >= n);
            assert_eq!(b.consumed, n.min(rest.len()));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    check(data, HttpLimits::default());
    check(
        data,
        HttpLimits {
            max_head: 256,
            max_headers: 4,
            max_body: 100,
        },
    );
});
