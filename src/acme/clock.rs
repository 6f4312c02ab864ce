//! Catalog #62: the issuance clock check. An appliance without a real-time clock boots with a
//! time far in the past until NTP answers; a certificate signed then would be dated before its
//! own issuer (and, with the CA's back-dating, possibly in 1970). So before an order moves to
//! `processing`, the server's clock is compared with the CA certificate's `notBefore`
//! (RFC 5280 §4.1.2.5): a clock behind it cannot be right, and issuance is refused with a
//! `serverInternal` problem naming the clock and an error line in the log, rather than minting
//! a certificate dated in the past. Sans-IO: the time and the issuer come in as arguments.

use crate::acme::rfc3339;
use crate::pki;

/// The server clock is earlier than the CA certificate's `notBefore`: issuance must wait until
/// the clock is set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ClockBehind {
    /// The server's time (Unix seconds).
    pub(crate) now: i64,
    /// The CA certificate's `notBefore` (Unix seconds).
    pub(crate) ca_not_before: i64,
}

impl std::fmt::Display for ClockBehind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the server clock ({}) is before the CA certificate's notBefore ({}); refusing to \
             issue certificates until the clock is set (NTP)",
            rfc3339(self.now),
            rfc3339(self.ca_not_before)
        )
    }
}

/// `Err` when `now` is before the `notBefore` of the CA certificate `issuer_der`. An issuer
/// that does not parse is not this check's business (the issued-certificate check reports it),
/// so it passes.
pub(crate) fn check_issuance_clock(now: i64, issuer_der: &[u8]) -> Result<(), ClockBehind> {
    let Ok(info) = pki::cert_info(issuer_der) else {
        return Ok(());
    };
    if now < info.not_before {
        return Err(ClockBehind {
            now,
            ca_not_before: info.not_before,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A CA certificate of the test data (any parseable certificate will do).
    fn issuer() -> (Vec<u8>, i64) {
        let pem = include_str!("../http/testdata/cert.pem");
        let (_, der) = der::pem::decode_vec(pem.as_bytes()).unwrap();
        let nb = pki::cert_info(&der).unwrap().not_before;
        (der, nb)
    }

    // Catalog #62: time set back before the issuer's notBefore → refused, with both times.
    #[test]
    fn catalog_62_clock_before_ca_not_before_refuses() {
        let (der, nb) = issuer();
        let e = check_issuance_clock(nb - 1, &der).unwrap_err();
        assert_eq!(
            e,
            ClockBehind {
                now: nb - 1,
                ca_not_before: nb
            }
        );
        let text = e.to_string();
        assert!(text.contains("server clock"), "{text}");
        assert!(text.contains(&rfc3339(nb)), "{text}");
        // "1970": a board without RTC before NTP.
        assert!(check_issuance_clock(0, &der).is_err());
    }

    #[test]
    fn catalog_62_clock_at_or_after_not_before_issues() {
        let (der, nb) = issuer();
        assert_eq!(check_issuance_clock(nb, &der), Ok(()));
        assert_eq!(check_issuance_clock(nb + 86_400 * 365, &der), Ok(()));
    }

    #[test]
    fn unparseable_issuer_is_not_this_checks_business() {
        assert_eq!(check_issuance_clock(0, b"not a certificate"), Ok(()));
    }
}
