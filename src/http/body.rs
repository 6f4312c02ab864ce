//! Sans-IO message-body decoders: a fixed Content-Length and the chunked transfer coding.
//!
//! RFC 9112 §6.3 (message body length), §7.1 (chunked transfer coding: chunk-size,
//! chunk extensions §7.1.1, trailer section §7.1.2). Closes spec/security-catalog.md #3 (sum of
//! chunks above the limit), #7 (chunk-size overflow, unbounded extensions and trailers) and #9
//! (the decoder stops exactly at the end of the body, so pipelined bytes stay for the next
//! request).

use std::fmt;

use crate::http::parse::Framing;

/// At most this many hex digits in a chunk-size: 16 digits fit a u64, so the value can never
/// overflow (hyper RUSTSEC-2021-0079, catalog #7).
const MAX_CHUNK_SIZE_DIGITS: u8 = 16;
/// Total bytes of chunk extensions accepted over one body (httparse would accept any octets
/// there; we ignore extensions, so we bound them, #7).
const MAX_CHUNK_EXT_BYTES: usize = 1024;
/// Total bytes of trailer fields accepted over one body (#7 "endless trailers").
const MAX_TRAILER_BYTES: usize = 4096;

/// Why a body is refused; each one ends the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// #3: the decoded body would exceed the limit.
    BodyTooLarge,
    /// #7: chunk-size is not 1*HEXDIG (or has stray bytes after it).
    InvalidChunkSize,
    /// #7: chunk-size with more than 16 hex digits.
    ChunkSizeTooLong,
    /// #7: a control character in a chunk extension.
    InvalidChunkExtension,
    /// #7: chunk extensions longer than [`MAX_CHUNK_EXT_BYTES`] in total.
    ChunkExtensionTooLong,
    /// RFC 9112 §7.1: a chunk-size line, chunk data or trailer line not ended by CRLF.
    MissingCrlf,
    /// #7: trailer section longer than [`MAX_TRAILER_BYTES`].
    TrailersTooLarge,
    /// A trailer line with a control character or starting with whitespace.
    InvalidTrailer,
}

impl BodyError {
    /// The status code of the error response (always followed by closing the connection).
    pub(crate) fn status(&self) -> u16 {
        match self {
            BodyError::BodyTooLarge => 413,
            _ => 400,
        }
    }
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BodyError::BodyTooLarge => "request body too large",
            BodyError::InvalidChunkSize => "invalid chunk size",
            BodyError::ChunkSizeTooLong => "chunk size has too many digits",
            BodyError::InvalidChunkExtension => "invalid chunk extension",
            BodyError::ChunkExtensionTooLong => "chunk extensions too long",
            BodyError::MissingCrlf => "missing CRLF in chunked body",
            BodyError::TrailersTooLarge => "trailer section too large",
            BodyError::InvalidTrailer => "invalid trailer field",
        })
    }
}

/// What one call to [`BodyDecoder::decode`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decoded {
    /// Input bytes used; the caller drops them. Bytes after them belong to the next request.
    pub(crate) consumed: usize,
    /// The body is complete.
    pub(crate) done: bool,
}

/// Push decoder for one request body.
///
/// Invariant: the bytes appended to `out` never exceed the `max_body` given at creation.
#[derive(Debug)]
pub(crate) enum BodyDecoder {
    /// Content-Length (already checked against the limit by the head parser).
    Length {
        remaining: usize,
    },
    Chunked(ChunkedDecoder),
}

impl BodyDecoder {
    pub(crate) fn new(framing: Framing, max_body: usize) -> BodyDecoder {
        match framing {
            Framing::None => BodyDecoder::Length { remaining: 0 },
            Framing::Length(n) => BodyDecoder::Length { remaining: n },
            Framing::Chunked => BodyDecoder::Chunked(ChunkedDecoder::new(max_body)),
        }
    }

    /// Decodes as much of `input` as belongs to this body, appending the payload to `out`.
    pub(crate) fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<Decoded, BodyError> {
        match self {
            BodyDecoder::Length { remaining } => {
                let take = (*remaining).min(input.len());
                out.extend_from_slice(input.get(..take).unwrap_or_default());
                *remaining -= take;
                Ok(Decoded {
                    consumed: take,
                    done: *remaining == 0,
                })
            }
            BodyDecoder::Chunked(c) => c.decode(input, out),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading chunk-size hex digits.
    Size {
        digits: u8,
        value: u64,
    },
    /// BWS between chunk-size and ";" (RFC 9112 §7.1.1).
    SizeWs {
        value: u64,
    },
    /// Inside chunk extensions (ignored, bounded).
    Ext {
        value: u64,
    },
    /// Got CR after the chunk-size line.
    SizeLf {
        value: u64,
    },
    Data {
        remaining: u64,
    },
    DataCr,
    DataLf,
    /// At the start of a trailer line or of the final CRLF.
    TrailerStart,
    TrailerLine,
    TrailerLf,
    FinalLf,
    Done,
}

/// Decoder of the chunked transfer coding (RFC 9112 §7.1).
///
/// Invariant: `total <= max_body`; every chunk-size has ≤ 16 hex digits; extensions and
/// trailers are bounded in total.
#[derive(Debug)]
pub(crate) struct ChunkedDecoder {
    state: State,
    total: u64,
    max_body: u64,
    ext_bytes: usize,
    trailer_bytes: usize,
}

impl ChunkedDecoder {
    pub(crate) fn new(max_body: usize) -> ChunkedDecoder {
        ChunkedDecoder {
            state: State::Size {
                digits: 0,
                value: 0,
            },
            total: 0,
            max_body: u64::try_from(max_body).unwrap_or(u64::MAX),
            ext_bytes: 0,
            trailer_bytes: 0,
        }
    }

    pub(crate) fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<Decoded, BodyError> {
        let mut i = 0;
        while i < input.len() {
            if let State::Data { remaining } = self.state {
                let avail = input.len() - i;
                let take = usize::try_from(remaining).unwrap_or(usize::MAX).min(avail);
                out.extend_from_slice(input.get(i..i + take).unwrap_or_default());
                i += take;
                let left = remaining - take as u64;
                self.state = if left == 0 {
                    State::DataCr
                } else {
                    State::Data { remaining: left }
                };
                continue;
            }
            if self.state == State::Done {
                break;
            }
            let Some(&b) = input.get(i) else { break };
            i += 1;
            self.state = self.step(b)?;
        }
        Ok(Decoded {
            consumed: i,
            done: self.state == State::Done,
        })
    }

    fn step(&mut self, b: u8) -> Result<State, BodyError> {
        Ok(match self.state {
            State::Size { digits, value } => match (b, hex(b)) {
                (_, Some(d)) => {
                    if digits >= MAX_CHUNK_SIZE_DIGITS {
                        return Err(BodyError::ChunkSizeTooLong);
                    }
                    // ≤ 16 digits: at most 64 bits, so the shift cannot lose bits.
                    State::Size {
                        digits: digits + 1,
                        value: (value << 4) | u64::from(d),
                    }
                }
                (b';', None) if digits > 0 => self.ext_byte(State::Ext { value })?,
                (b' ' | b'\t', None) if digits > 0 => State::SizeWs { value },
                (b'\r', None) if digits > 0 => State::SizeLf { value },
                _ => return Err(BodyError::InvalidChunkSize),
            },
            State::SizeWs { value } => match b {
                b' ' | b'\t' => State::SizeWs { value },
                b';' => self.ext_byte(State::Ext { value })?,
                _ => return Err(BodyError::InvalidChunkSize),
            },
            State::Ext { value } => match b {
                b'\r' => State::SizeLf { value },
                b'\t' | 0x20..=0x7e | 0x80..=0xff => self.ext_byte(State::Ext { value })?,
                _ => return Err(BodyError::InvalidChunkExtension),
            },
            State::SizeLf { value } => {
                if b != b'\n' {
                    return Err(BodyError::MissingCrlf);
                }
                if value == 0 {
                    State::TrailerStart
                } else {
                    // #3: the sum of the chunks may not pass the limit; refuse before the data.
                    match self.total.checked_add(value) {
                        Some(t) if t <= self.max_body => self.total = t,
                        _ => return Err(BodyError::BodyTooLarge),
                    }
                    State::Data { remaining: value }
                }
            }
            State::DataCr => match b {
                b'\r' => State::DataLf,
                _ => return Err(BodyError::MissingCrlf),
            },
            State::DataLf => match b {
                b'\n' => State::Size {
                    digits: 0,
                    value: 0,
                },
                _ => return Err(BodyError::MissingCrlf),
            },
            State::TrailerStart => match b {
                b'\r' => State::FinalLf,
                // A trailer line starting with whitespace is obs-fold (RFC 9112 §5.2).
                b' ' | b'\t' => return Err(BodyError::InvalidTrailer),
                _ => self.trailer_byte(b)?,
            },
            State::TrailerLine => match b {
                b'\r' => State::TrailerLf,
                _ => self.trailer_byte(b)?,
            },
            State::TrailerLf | State::FinalLf => {
                if b != b'\n' {
                    return Err(BodyError::MissingCrlf);
                }
                if self.state == State::FinalLf {
                    State::Done
                } else {
                    State::TrailerStart
                }
            }
            // Handled in `decode`.
            State::Data { .. } | State::Done => self.state,
        })
    }

    fn ext_byte(&mut self, next: State) -> Result<State, BodyError> {
        self.ext_bytes += 1;
        if self.ext_bytes > MAX_CHUNK_EXT_BYTES {
            return Err(BodyError::ChunkExtensionTooLong);
        }
        Ok(next)
    }

    fn trailer_byte(&mut self, b: u8) -> Result<State, BodyError> {
        if b == b'\n' {
            return Err(BodyError::MissingCrlf);
        }
        if b.is_ascii_control() && b != b'\t' {
            return Err(BodyError::InvalidTrailer);
        }
        self.trailer_bytes += 1;
        if self.trailer_bytes > MAX_TRAILER_BYTES {
            return Err(BodyError::TrailersTooLarge);
        }
        Ok(State::TrailerLine)
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)] // tests may unwrap and panic
mod tests {
    use super::*;

    const LIMIT: usize = 64 * 1024;

    /// Decodes `input` in one call; returns (body, consumed) or the error.
    fn decode_all(input: &[u8]) -> Result<(Vec<u8>, usize), BodyError> {
        let mut d = BodyDecoder::new(Framing::Chunked, LIMIT);
        let mut out = Vec::new();
        let r = d.decode(input, &mut out)?;
        assert!(r.done, "incomplete body for {input:?}");
        Ok((out, r.consumed))
    }

    /// Decodes `input` fed one byte at a time.
    fn decode_bytewise(input: &[u8], limit: usize) -> Result<(Vec<u8>, usize), BodyError> {
        let mut d = BodyDecoder::new(Framing::Chunked, limit);
        let mut out = Vec::new();
        let mut consumed = 0;
        for chunk in input.chunks(1) {
            let r = d.decode(chunk, &mut out)?;
            consumed += r.consumed;
            if r.done {
                return Ok((out, consumed));
            }
        }
        panic!("incomplete body");
    }

    // RFC 9112 §7.1: chunks, an extension, a trailer, and what follows the body untouched.
    #[test]
    fn rfc9112_s7_1_chunked_decoding() {
        let input = b"4\r\nWiki\r\n5;name=val\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nExpires: never\r\n\r\nGET /next";
        let body_len = input.len() - b"GET /next".len();
        let (body, consumed) = decode_all(input).unwrap();
        assert_eq!(body, b"Wikipedia in\r\n\r\nchunks.");
        assert_eq!(consumed, body_len, "#9: pipelined bytes are not consumed");
        let (body2, consumed2) = decode_bytewise(input, LIMIT).unwrap();
        assert_eq!((body2, consumed2), (body, consumed));

        let (body, _) = decode_all(b"A \t; ext\r\n0123456789\r\n0\r\n\r\n").unwrap();
        assert_eq!(body, b"0123456789", "BWS before ';'");
        let (body, _) = decode_all(b"0\r\n\r\n").unwrap();
        assert!(body.is_empty());
        let (body, _) = decode_all(b"000000000000000a\r\n0123456789\r\n0\r\n\r\n").unwrap();
        assert_eq!(body.len(), 10, "16 digits are fine");
    }

    #[test]
    fn content_length_stops_at_the_declared_length() {
        let mut d = BodyDecoder::new(Framing::Length(5), LIMIT);
        let mut out = Vec::new();
        assert_eq!(
            d.decode(b"hel", &mut out),
            Ok(Decoded {
                consumed: 3,
                done: false
            })
        );
        assert_eq!(
            d.decode(b"loGET /", &mut out),
            Ok(Decoded {
                consumed: 2,
                done: true
            })
        );
        assert_eq!(out, b"hello");
        let mut d = BodyDecoder::new(Framing::None, LIMIT);
        assert_eq!(
            d.decode(b"GET /", &mut out),
            Ok(Decoded {
                consumed: 0,
                done: true
            })
        );
    }

    /// spec/security-catalog.md #3, #7 and CRLF checks, one row per case.
    #[test]
    fn catalog_7_chunked_rejections() {
        let long_ext = format!("1;{}\r\nx\r\n0\r\n\r\n", "e".repeat(MAX_CHUNK_EXT_BYTES));
        let many_ext: String = (0..200).map(|_| "1;abcdef\r\nx\r\n").collect();
        let long_trailer = format!("0\r\nX: {}\r\n\r\n", "t".repeat(MAX_TRAILER_BYTES));
        let endless_trailers: String = std::iter::once("0\r\n".to_owned())
            .chain((0..1000).map(|i| format!("T{i}: v\r\n")))
            .collect();
        let cases: Vec<(&str, Vec<u8>, BodyError)> = vec![
            (
                "#7 17 hex digits",
                b"00000000000000001\r\nx\r\n0\r\n\r\n".to_vec(),
                BodyError::ChunkSizeTooLong,
            ),
            (
                "#7 u64 overflow",
                b"fffffffffffffffff\r\n".to_vec(),
                BodyError::ChunkSizeTooLong,
            ),
            (
                "#3 chunk size above the limit",
                b"10001\r\n".to_vec(),
                BodyError::BodyTooLarge,
            ),
            (
                "#3 16 f's",
                b"ffffffffffffffff\r\n".to_vec(),
                BodyError::BodyTooLarge,
            ),
            (
                "#7 0x prefix",
                b"0x5\r\nhello\r\n0\r\n\r\n".to_vec(),
                BodyError::InvalidChunkSize,
            ),
            (
                "#7 sign",
                b"+5\r\nhello\r\n0\r\n\r\n".to_vec(),
                BodyError::InvalidChunkSize,
            ),
            (
                "#7 empty size",
                b"\r\nhello\r\n0\r\n\r\n".to_vec(),
                BodyError::InvalidChunkSize,
            ),
            (
                "#7 leading space",
                b" 5\r\nhello\r\n0\r\n\r\n".to_vec(),
                BodyError::InvalidChunkSize,
            ),
            (
                "#7 space then junk",
                b"5 x\r\nhello\r\n0\r\n\r\n".to_vec(),
                BodyError::InvalidChunkSize,
            ),
            (
                "#7 bare LF after size",
                b"5\nhello\r\n0\r\n\r\n".to_vec(),
                BodyError::InvalidChunkSize,
            ),
            (
                "#7 CR without LF after size",
                b"5\rhello\r\n0\r\n\r\n".to_vec(),
                BodyError::MissingCrlf,
            ),
            (
                "#7 extension too long",
                long_ext.into_bytes(),
                BodyError::ChunkExtensionTooLong,
            ),
            (
                "#7 extensions too long in total",
                many_ext.into_bytes(),
                BodyError::ChunkExtensionTooLong,
            ),
            (
                "#7 NUL in extension",
                b"1;a\0\r\nx\r\n0\r\n\r\n".to_vec(),
                BodyError::InvalidChunkExtension,
            ),
            (
                "#7 bare LF in extension",
                b"1;a\nx\r\n0\r\n\r\n".to_vec(),
                BodyError::InvalidChunkExtension,
            ),
            (
                "data longer than size",
                b"3\r\nhello\r\n0\r\n\r\n".to_vec(),
                BodyError::MissingCrlf,
            ),
            (
                "bare LF after data",
                b"5\r\nhello\n0\r\n\r\n".to_vec(),
                BodyError::MissingCrlf,
            ),
            (
                "#7 trailer too long",
                long_trailer.into_bytes(),
                BodyError::TrailersTooLarge,
            ),
            (
                "#7 endless trailers",
                endless_trailers.into_bytes(),
                BodyError::TrailersTooLarge,
            ),
            (
                "bare LF in trailer",
                b"0\r\nX: y\n\r\n".to_vec(),
                BodyError::MissingCrlf,
            ),
            (
                "bare LF ending the body",
                b"0\r\n\n".to_vec(),
                BodyError::MissingCrlf,
            ),
            (
                "obs-fold in trailer",
                b"0\r\nX: y\r\n z\r\n\r\n".to_vec(),
                BodyError::InvalidTrailer,
            ),
            (
                "NUL in trailer",
                b"0\r\nX: \0\r\n\r\n".to_vec(),
                BodyError::InvalidTrailer,
            ),
        ];
        for (name, input, want) in cases {
            let mut d = BodyDecoder::new(Framing::Chunked, LIMIT);
            let mut out = Vec::new();
            assert_eq!(
                d.decode(&input, &mut out).err(),
                Some(want.clone()),
                "{name}"
            );
            assert!(out.len() <= LIMIT, "{name}");
            assert_eq!(
                decode_bytewise(&input, LIMIT).err(),
                Some(want),
                "{name} (byte-wise)"
            );
        }
    }

    #[test]
    fn catalog_3_sum_of_chunks_above_the_limit() {
        // Each chunk is small, the sum is one byte over the limit.
        let limit = 100;
        let mut input = Vec::new();
        for _ in 0..10 {
            input.extend_from_slice(b"a\r\n0123456789\r\n");
        }
        input.extend_from_slice(b"1\r\nX\r\n0\r\n\r\n");
        let mut d = BodyDecoder::new(Framing::Chunked, limit);
        let mut out = Vec::new();
        assert_eq!(
            d.decode(&input, &mut out).err(),
            Some(BodyError::BodyTooLarge)
        );
        assert_eq!(out.len(), 100);
        // Exactly at the limit is fine.
        let exact = &input[..input.len() - b"1\r\nX\r\n0\r\n\r\n".len()];
        let mut exact = exact.to_vec();
        exact.extend_from_slice(b"0\r\n\r\n");
        let (body, _) = decode_bytewise(&exact, limit).unwrap();
        assert_eq!(body.len(), 100);
        assert_eq!(BodyError::BodyTooLarge.status(), 413);
        assert_eq!(BodyError::MissingCrlf.status(), 400);
    }
}
