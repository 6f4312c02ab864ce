//! Certificates (RFC 5280 §4.1): the facts the RA checks on a certificate the CA returns
//! (security catalog #57), PEM encoding (RFC 7468), the issuer signature check, and exact
//! serial-number conversions between DER integers and decimal text (the uPKI wire form).

use std::fmt;
use std::net::IpAddr;

use base64::Engine as _;
use der::{Decode, Encode};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use x509_cert::Certificate;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, SubjectAltName};
use x509_cert::spki::SubjectPublicKeyInfoRef;

use crate::pki::csr::{self, CsrError, RawSigned};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CertError {
    /// Not a DER X.509 certificate (or a field we cannot use).
    Decode(&'static str),
    /// No PEM CERTIFICATE block, or a broken one.
    Pem(&'static str),
    /// The leaf's issuer name is not the issuer certificate's subject.
    IssuerMismatch,
    /// The issuer certificate says it is not a CA (basicConstraints cA=FALSE).
    NotACa,
    /// The signature does not verify under the issuer key.
    Signature,
    /// The signature algorithm or issuer key is outside the allow-list.
    UnsupportedAlgorithm,
}

impl fmt::Display for CertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CertError::Decode(w) => write!(f, "certificate is not valid DER X.509: {w}"),
            CertError::Pem(w) => write!(f, "PEM: {w}"),
            CertError::IssuerMismatch => {
                f.write_str("certificate issuer name is not the issuer's subject")
            }
            CertError::NotACa => f.write_str("issuer certificate is not a CA"),
            CertError::Signature => {
                f.write_str("certificate signature does not verify under the issuer key")
            }
            CertError::UnsupportedAlgorithm => {
                f.write_str("certificate signature algorithm or issuer key not supported")
            }
        }
    }
}

/// What the RA needs to know about a certificate (catalog #57 checks, storage, revocation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CertInfo {
    /// Serial number as an exact decimal big integer (uPKI's form).
    pub(crate) serial: String,
    /// Serial number as lower-case hex of its minimal unsigned big-endian bytes.
    pub(crate) serial_hex: String,
    pub(crate) not_before: i64,
    pub(crate) not_after: i64,
    pub(crate) dns_names: Vec<String>,
    pub(crate) ip_addrs: Vec<IpAddr>,
    pub(crate) spki_der: Vec<u8>,
    pub(crate) issuer_der: Vec<u8>,
    pub(crate) subject_der: Vec<u8>,
}

fn decode_cert(der: &[u8]) -> Result<Certificate, CertError> {
    Certificate::from_der(der).map_err(|_| CertError::Decode("Certificate"))
}

fn unix_secs(t: x509_cert::time::Time) -> Result<i64, CertError> {
    i64::try_from(t.to_unix_duration().as_secs()).map_err(|_| CertError::Decode("validity time"))
}

pub(crate) fn cert_info(der: &[u8]) -> Result<CertInfo, CertError> {
    let cert = decode_cert(der)?;
    let tbs = cert.tbs_certificate();
    let serial_bytes = tbs.serial_number().as_bytes();
    // RFC 5280 §4.1.2.2: "The serial number MUST be a positive integer".
    if serial_bytes.first().is_some_and(|b| b & 0x80 != 0) {
        return Err(CertError::Decode("negative serial number"));
    }
    let mut dns_names = Vec::new();
    let mut ip_addrs = Vec::new();
    if let Some((_, san)) = tbs
        .get_extension::<SubjectAltName>()
        .map_err(|_| CertError::Decode("subjectAltName"))?
    {
        for name in san.0 {
            match name {
                GeneralName::DnsName(n) => dns_names.push(n.to_string()),
                GeneralName::IpAddress(o) => match o.as_bytes().len() {
                    4 | 16 => {
                        let b = o.as_bytes();
                        let ip = if let Ok(v4) = <[u8; 4]>::try_from(b) {
                            IpAddr::from(v4)
                        } else {
                            let v6: [u8; 16] =
                                b.try_into().map_err(|_| CertError::Decode("iPAddress"))?;
                            IpAddr::from(v6)
                        };
                        ip_addrs.push(ip);
                    }
                    _ => return Err(CertError::Decode("iPAddress length")),
                },
                _ => {} // other SAN types are reported by their absence from both lists
            }
        }
    }
    let enc = |r: der::Result<Vec<u8>>| r.map_err(|_| CertError::Decode("re-encoding"));
    Ok(CertInfo {
        serial: serial_to_decimal(serial_bytes),
        serial_hex: serial_bytes.iter().map(|b| format!("{b:02x}")).collect(),
        not_before: unix_secs(tbs.validity().not_before)?,
        not_after: unix_secs(tbs.validity().not_after)?,
        dns_names,
        ip_addrs,
        spki_der: enc(tbs.subject_public_key_info().to_der())?,
        issuer_der: enc(tbs.issuer().to_der())?,
        subject_der: enc(tbs.subject().to_der())?,
    })
}

/// Every `CERTIFICATE` block of a PEM text, in order (other block types are skipped).
pub(crate) fn pem_to_ders(pem: &str) -> Result<Vec<Vec<u8>>, CertError> {
    let mut out = Vec::new();
    for item in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        let der = item.map_err(|_| CertError::Pem("malformed PEM block"))?;
        out.push(der.as_ref().to_vec());
    }
    if out.is_empty() {
        return Err(CertError::Pem("no CERTIFICATE block"));
    }
    Ok(out)
}

/// RFC 7468 §2 strict encoding: 64-column base64 lines, LF line endings, trailing newline.
pub(crate) fn der_to_pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 2 * label.len() + 40);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    let mut rest = b64.as_str();
    while !rest.is_empty() {
        let (line, tail) = rest.split_at(rest.len().min(64));
        out.push_str(line);
        out.push('\n');
        rest = tail;
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

/// The RA's side of the in-process link to its own embedded CA (issue 7: one signature check
/// per signature): the certificates come from this process's `pki::issuer`, which signed them
/// a moment ago with the key behind the issuer certificate the RA loaded from the same data
/// folder. Built only by `EmbeddedCa::signed_in_process` for a CA started with
/// `EmbeddedCa::start_for_ra`; a remote CA (a separate trust domain) never yields it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SignedInProcess(());

impl SignedInProcess {
    /// Only for `EmbeddedCa::signed_in_process`.
    pub(crate) fn embedded_ca() -> SignedInProcess {
        SignedInProcess(())
    }
}

/// Catalog #57 for a certificate from the in-process CA: `leaf_der` names `issuer_der`'s
/// subject as its issuer and the issuer is a CA, as [`verify_issued_by`] checks, without
/// verifying the signature this process itself made (see [`SignedInProcess`]).
pub(crate) fn check_issued_in_process(
    leaf_der: &[u8],
    issuer_der: &[u8],
    _signed: &SignedInProcess,
) -> Result<(), CertError> {
    check_issuer_name(&decode_cert(leaf_der)?, &decode_cert(issuer_der)?)
}

fn check_issuer_name(leaf: &Certificate, issuer: &Certificate) -> Result<(), CertError> {
    if leaf.tbs_certificate().issuer() != issuer.tbs_certificate().subject() {
        return Err(CertError::IssuerMismatch);
    }
    let bc = issuer
        .tbs_certificate()
        .get_extension::<BasicConstraints>()
        .map_err(|_| CertError::Decode("basicConstraints"))?;
    if bc.is_some_and(|(_, bc)| !bc.ca) {
        return Err(CertError::NotACa);
    }
    Ok(())
}

/// Checks that `leaf_der` names `issuer_der`'s subject as its issuer and that its signature
/// verifies under the issuer's key (catalog #57: "not chained to the configured issuer").
pub(crate) fn verify_issued_by(leaf_der: &[u8], issuer_der: &[u8]) -> Result<(), CertError> {
    let leaf = decode_cert(leaf_der)?;
    let issuer = decode_cert(issuer_der)?;
    check_issuer_name(&leaf, &issuer)?;
    let raw = RawSigned::from_der(leaf_der).map_err(|_| CertError::Decode("Certificate"))?;
    let tbs = raw
        .tbs
        .to_der()
        .map_err(|_| CertError::Decode("tbsCertificate"))?;
    let signature = raw
        .signature
        .as_bytes()
        .ok_or(CertError::Decode("signature bit string"))?;
    let spki_der = issuer
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|_| CertError::Decode("issuer key"))?;
    let spki = SubjectPublicKeyInfoRef::from_der(&spki_der)
        .map_err(|_| CertError::Decode("issuer key"))?;
    match csr::verify_signature(&spki, &raw.algorithm, &tbs, signature) {
        Ok(_) => Ok(()),
        Err(CsrError::Signature) => Err(CertError::Signature),
        Err(_) => Err(CertError::UnsupportedAlgorithm),
    }
}

/// Big-endian unsigned bytes → exact decimal text ("0" for empty/zero). Repeated division of
/// the base-256 digits by 10; no floating point, no width limit.
pub(crate) fn serial_to_decimal(bytes: &[u8]) -> String {
    let mut digits: Vec<u8> = bytes.iter().copied().skip_while(|&b| b == 0).collect();
    let mut out = Vec::new();
    while !digits.is_empty() {
        let mut rem: u32 = 0;
        for d in digits.iter_mut() {
            let cur = (rem << 8) | u32::from(*d);
            *d = (cur / 10) as u8;
            rem = cur % 10;
        }
        out.push(b'0' + rem as u8);
        let zeros = digits.iter().take_while(|&&b| b == 0).count();
        digits.drain(..zeros);
    }
    if out.is_empty() {
        return "0".to_owned();
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// Decimal text (ASCII digits only, non-empty) → minimal big-endian unsigned bytes
/// (empty for zero). `None` if the text is not a plain decimal integer.
pub(crate) fn decimal_to_serial(dec: &str) -> Option<Vec<u8>> {
    if dec.is_empty() || !dec.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut bytes: Vec<u8> = Vec::new(); // little-endian while building
    for c in dec.bytes() {
        let mut carry = u32::from(c - b'0');
        for b in bytes.iter_mut() {
            let cur = u32::from(*b) * 10 + carry;
            *b = (cur & 0xff) as u8;
            carry = cur >> 8;
        }
        while carry > 0 {
            bytes.push((carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    bytes.reverse();
    Some(bytes)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    // The uPKI wire example (upki-ca-protocol.md "Wire details" 1): 159-bit serial, exact.
    #[test]
    fn serial_decimal_round_trip() {
        let dec = "199395909292849525405881971845381064302563015898";
        let bytes = decimal_to_serial(dec).unwrap();
        assert_eq!(bytes.len(), 20);
        assert_eq!(serial_to_decimal(&bytes), dec);
        assert_eq!(serial_to_decimal(&[]), "0");
        assert_eq!(serial_to_decimal(&[0, 0]), "0");
        assert_eq!(serial_to_decimal(&[0x01, 0x00]), "256");
        assert_eq!(
            serial_to_decimal(&u128::MAX.to_be_bytes()),
            u128::MAX.to_string()
        );
        assert_eq!(decimal_to_serial("0").unwrap(), Vec::<u8>::new());
        assert_eq!(decimal_to_serial("65537").unwrap(), vec![1, 0, 1]);
        assert_eq!(decimal_to_serial("-1"), None);
        assert_eq!(decimal_to_serial("1e5"), None);
        assert_eq!(decimal_to_serial(""), None);
        // Cross-check against u128 arithmetic on many values.
        let mut x: u128 = 1;
        for _ in 0..200 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let bytes = x.to_be_bytes();
            assert_eq!(serial_to_decimal(&bytes), x.to_string());
            let back = decimal_to_serial(&x.to_string()).unwrap();
            let first = bytes.iter().position(|&b| b != 0).unwrap_or(16);
            assert_eq!(back, bytes[first..].to_vec());
        }
    }

    // RFC 7468 §2: 64-character lines; pem_to_ders inverts der_to_pem and keeps order.
    #[test]
    fn pem_round_trip() {
        let a: Vec<u8> = (0..=255u8).collect();
        let b = vec![1u8, 2, 3];
        let pem = der_to_pem("CERTIFICATE", &a) + &der_to_pem("CERTIFICATE", &b);
        assert!(pem.lines().all(|l| l.len() <= 64));
        assert_eq!(pem_to_ders(&pem).unwrap(), vec![a, b]);
        assert!(matches!(
            pem_to_ders("nothing here"),
            Err(CertError::Pem(_))
        ));
        assert!(matches!(
            pem_to_ders("-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n"),
            Err(CertError::Pem(_))
        ));
    }
}
