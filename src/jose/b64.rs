//! Strict base64url without padding, as RFC 8555 §6.1 and RFC 7515 §2 require.
//!
//! RFC 8555 §6.1: "Encoded values that include trailing '=' characters MUST be rejected as
//! improperly encoded." We also reject the standard alphabet's `+` and `/`, whitespace, lengths
//! of 1 mod 4 and non-zero trailing bits, so every byte string has exactly one accepted encoding.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::jose::JwsError;

/// URL-safe alphabet, no padding on output, padding refused on input, canonical trailing bits.
const STRICT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(false),
);

/// Encodes `b` as unpadded base64url.
pub(crate) fn encode(b: &[u8]) -> String {
    STRICT.encode(b)
}

/// Decodes canonical unpadded base64url; anything else is `Malformed`.
pub(crate) fn decode(s: &str) -> Result<Vec<u8>, JwsError> {
    STRICT
        .decode(s)
        .map_err(|_| JwsError::Malformed("invalid base64url"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    // RFC 4648 §10 test vectors, unpadded, and RFC 7515 §2 (base64url without padding).
    #[test]
    fn rfc4648_vectors_round_trip() {
        for (raw, enc) in [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(encode(raw.as_bytes()), enc);
            assert_eq!(decode(enc).unwrap(), raw.as_bytes());
        }
        // URL-safe alphabet: 0xfb 0xff encodes with '-' and '_'.
        assert_eq!(encode(&[0xfb, 0xff, 0xbf]), "-_-_");
        assert_eq!(decode("-_-_").unwrap(), [0xfb, 0xff, 0xbf]);
    }

    // Security catalog #14; RFC 8555 §6.1: trailing '=' MUST be rejected.
    #[test]
    fn catalog_14_padding_rejected() {
        assert!(decode("Zg==").is_err());
        assert!(decode("Zm8=").is_err());
        assert!(decode("Zm9v=").is_err());
    }

    // Security catalog #14: the standard alphabet's '+' and '/' are not base64url.
    #[test]
    fn catalog_14_standard_alphabet_rejected() {
        assert!(decode("+/+/").is_err());
        assert!(decode("ab+c").is_err());
        assert!(decode("ab/c").is_err());
    }

    // Security catalog #14: whitespace and impossible lengths.
    #[test]
    fn catalog_14_whitespace_and_length_rejected() {
        for bad in ["Zm9v Yg", " Zm9v", "Zm9v\n", "Zm9\tv", "Zm9vY", "a"] {
            assert!(decode(bad).is_err(), "{bad:?} accepted");
        }
    }

    // Security catalog #14: non-zero trailing bits ("Zh" and "Zg" would both decode to "f").
    #[test]
    fn catalog_14_non_canonical_trailing_bits_rejected() {
        assert!(decode("Zh").is_err());
        assert!(decode("Zm9").is_err());
        assert_eq!(decode("Zm8").unwrap(), b"fo");
    }
}
