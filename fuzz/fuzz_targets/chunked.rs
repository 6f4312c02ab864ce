//! Chunked body decoder with its limits (RFC 9112 §7.1; security catalog #3, #7, #9).
//!
//! Properties: byte-at-a-time feeding equals one-shot feeding; the decoded body never exceeds
//! `max_body`; a finished body ends with CRLF and leaves the bytes after it unconsumed; the body
//! re-encoded as chunks (with extensions and a trailer) decodes to itself; the input used as
//! payload, encoded in chunks of varying size, decodes to itself or to 413 over the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use upki_ra::fuzz_api::{self, Framing};

fn decode(input: &[u8], max_body: usize) -> Result<fuzz_api::BodyOutcome, (u16, String)> {
    let whole = fuzz_api::decode_body(Framing::Chunked, max_body, input, &[]);
    let cuts: Vec<usize> = (0..input.len()).collect();
    let bytewise = fuzz_api::decode_body(Framing::Chunked, max_body, input, &cuts);
    assert_eq!(whole, bytewise, "split feeding changed the result");
    whole
}

/// `payload` as a chunked body: chunk sizes cycle through 1..=`step`, every other one of the
/// first 16 chunks carries an extension (extensions are bounded to 1 KiB per body, #7), and
/// one trailer field ends it; then a pipelined next request.
fn encode(payload: &[u8], step: usize) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    let mut i = 0;
    let mut n = 0;
    while i < payload.len() {
        let len = (n % step + 1).min(payload.len() - i);
        if n % 2 == 1 && n < 16 {
            out.extend_from_slice(format!("{len:X};ext=\"v\"\r\n").as_bytes());
        } else {
            out.extend_from_slice(format!("{len:x}\r\n").as_bytes());
        }
        out.extend_from_slice(&payload[i..i + len]);
        out.extend_from_slice(b"\r\n");
        i += len;
        n += 1;
    }
    out.extend_from_slice(b"0\r\nx-trailer: t\r\n\r\n");
    let end = out.len();
    out.extend_from_slice(b"GET / HTTP/1.1\r\n");
    (out, end)
}

fn check(data: &[u8], max_body: usize) {
    match decode(data, max_body) {
        Ok(b) => {
            assert!(b.body.len() <= max_body, "body above the limit");
            assert!(b.consumed <= data.len());
            if b.done {
                assert!(data[..b.consumed].ends_with(b"\r\n"));
                // Round trip: the decoded body, encoded again, decodes to itself.
                let (enc, end) = encode(&b.body, 5);
                let again = decode(&enc, max_body).expect("re-encoded body refused");
                assert!(again.done && again.consumed == end && again.body == b.body);
            } else {
                assert_eq!(b.consumed, data.len());
            }
        }
        Err((status, _)) => assert!(status == 400 || status == 413, "status {status}"),
    }
    // The input as payload.
    let step = 1 + data.first().map_or(0, |&b| usize::from(b) % 64);
    let (enc, end) = encode(data, step);
    match decode(&enc, max_body) {
        Ok(b) => {
            assert!(data.len() <= max_body);
            assert!(b.done && b.consumed == end && b.body == data);
        }
        Err((status, _)) => {
            assert!(
                status == 413 && data.len() > max_body,
                "{status} for a valid body"
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    check(data, 64 * 1024);
    check(data, 64);
});
