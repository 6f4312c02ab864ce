//! Punycode decoding (RFC 3492 §6.2) to validate `xn--` A-labels: RFC 8555 §7.1.4 says
//! servers "MUST ... validate" them (security catalog #35, "bad `xn--` punycode").
//!
//! Only the decoder is needed: an A-label is accepted when its part after `xn--` decodes
//! without error into a label holding at least one non-ASCII character (an all-ASCII result
//! would be an LDH label in disguise) and no control, white-space or upper-case character.
//! IDNA2008's full per-code-point tables are not applied; the CA only ever sees the A-label.

const BASE: u32 = 36;
const TMIN: u32 = 1;
const TMAX: u32 = 26;
const SKEW: u32 = 38;
const DAMP: u32 = 700;
const INITIAL_BIAS: u32 = 72;
const INITIAL_N: u32 = 128;

/// RFC 3492 §6.1 bias adaptation.
fn adapt(delta: u32, num_points: u32, first_time: bool) -> u32 {
    let mut delta = if first_time { delta / DAMP } else { delta / 2 };
    delta += delta / num_points.max(1);
    let mut k = 0;
    while delta > ((BASE - TMIN) * TMAX) / 2 {
        delta /= BASE - TMIN;
        k += BASE;
    }
    k + (((BASE - TMIN + 1) * delta) / (delta + SKEW))
}

fn digit(c: u8) -> Option<u32> {
    match c {
        b'a'..=b'z' => Some(u32::from(c - b'a')),
        b'A'..=b'Z' => Some(u32::from(c - b'A')),
        b'0'..=b'9' => Some(u32::from(c - b'0') + 26),
        _ => None,
    }
}

/// Decodes the Punycode text after `xn--`; None when it is not valid Punycode (RFC 3492 §6.2
/// "fail" cases: bad digit, overflow, a basic code point encoded as a delta).
pub(crate) fn decode(input: &str) -> Option<String> {
    let bytes = input.as_bytes();
    let (basic, encoded) = match bytes.iter().rposition(|&b| b == b'-') {
        Some(pos) => (bytes.get(..pos)?, bytes.get(pos + 1..)?),
        None => (&[][..], bytes),
    };
    if !basic.is_ascii() {
        return None;
    }
    let mut output: Vec<char> = basic.iter().map(|&b| char::from(b)).collect();
    let mut n = INITIAL_N;
    let mut i: u32 = 0;
    let mut bias = INITIAL_BIAS;
    let mut rest = encoded.iter();
    while rest.len() > 0 {
        let old_i = i;
        let mut w: u32 = 1;
        let mut k = BASE;
        loop {
            let d = digit(*rest.next()?)?;
            i = i.checked_add(d.checked_mul(w)?)?;
            let t = if k <= bias {
                TMIN
            } else if k >= bias + TMAX {
                TMAX
            } else {
                k - bias
            };
            if d < t {
                break;
            }
            w = w.checked_mul(BASE - t)?;
            k += BASE;
        }
        let len = u32::try_from(output.len()).ok()?.checked_add(1)?;
        bias = adapt(i - old_i, len, old_i == 0);
        n = n.checked_add(i / len)?;
        i %= len;
        // RFC 3492 §6.2: "if n is a basic code point then fail".
        if n < INITIAL_N {
            return None;
        }
        let c = char::from_u32(n)?;
        let at = usize::try_from(i).ok()?;
        if at > output.len() {
            return None;
        }
        output.insert(at, c);
        i += 1;
    }
    Some(output.into_iter().collect())
}

/// Whether `label` (lower case, starting with `xn--`) is a valid A-label in the sense above;
/// control characters, white space and upper-case letters (never valid in a U-label) are
/// refused as well.
pub(crate) fn is_valid_a_label(label: &str) -> bool {
    label
        .strip_prefix("xn--")
        .and_then(decode)
        .is_some_and(|u| {
            !u.is_ascii()
                && !u
                    .chars()
                    .any(|c| c.is_control() || c.is_whitespace() || c.is_uppercase())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 3492 §7.1 sample strings and common IDNs.
    #[test]
    fn rfc3492_samples() {
        assert_eq!(decode("bcher-kva").as_deref(), Some("bücher"));
        assert_eq!(decode("mnchen-3ya").as_deref(), Some("münchen"));
        // (A) Arabic (Egyptian).
        assert_eq!(
            decode("egbpdaj6bu4bxfgehfvwxn").as_deref(),
            Some(
                "\u{644}\u{64A}\u{647}\u{645}\u{627}\u{628}\u{62A}\u{643}\u{644}\u{645}\u{648}\u{634}\u{639}\u{631}\u{628}\u{64A}\u{61F}"
            )
        );
        // (L) 3<nen>B<gumi><kinpachi><sensei>.
        assert_eq!(
            decode("3B-ww4c5e180e575a65lsy2b").as_deref(),
            Some("3\u{5E74}B\u{7D44}\u{91D1}\u{516B}\u{5148}\u{751F}")
        );
    }

    // Catalog #35: invalid Punycode and all-ASCII results are not A-labels.
    #[test]
    fn catalog_35_bad_a_labels() {
        assert!(is_valid_a_label("xn--bcher-kva"));
        for bad in [
            "xn--",            // nothing encoded
            "xn--abc-",        // ASCII only
            "xn--a",           // decodes to U+0080, a control character
            "xn--6a",          // decodes to U+00A0, white space
            "xn--3ba",         // decodes to U+00C0, upper case
            "xn--zzzzzzzzzzz", // overflow
            "xn--bcher-kv_a",  // not a base-36 digit
            "xn--99999999",    // code point out of range
        ] {
            assert!(!is_valid_a_label(bad), "{bad:?} accepted");
        }
    }
}
