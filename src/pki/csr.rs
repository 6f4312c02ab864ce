//! PKCS#10 certificate signing requests (RFC 2986): parsing, self-signature verification, key
//! policy and name extraction for finalize (RFC 8555 §7.4, §11.1; security catalog #49–#54),
//! plus building the RA's own CSR. Also owns the signature/key policy shared with `cert.rs`.
//!
//! CSR extensions are never copied into a certificate: only the subjectAltName entries (and the
//! subject CN) are read from the CSR; the issued certificate's other extensions come from the
//! profile (security catalog #54).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use der::asn1::{
    Any, AnyRef, BitString, BitStringRef, ObjectIdentifier, OctetString, SetOfVec, UintRef,
};
use der::{Decode, Encode, Sequence, Tag, Tagged};
use ring::signature::{self as sig, EcdsaKeyPair, KeyPair};
use x509_cert::attr::{Attribute, AttributeTypeAndValue};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, SubjectAltName};
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::request::{CertReq, CertReqInfo, Version};
use x509_cert::spki::{
    AlgorithmIdentifierOwned, AlgorithmIdentifierRef, SubjectPublicKeyInfoOwned,
    SubjectPublicKeyInfoRef,
};

use crate::pki::cert::der_to_pem;

pub(crate) const OID_EC_PUBLIC_KEY: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
pub(crate) const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
pub(crate) const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
pub(crate) const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
pub(crate) const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
pub(crate) const OID_ECDSA_SHA256: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
pub(crate) const OID_ECDSA_SHA384: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
pub(crate) const OID_RSA_SHA256: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
pub(crate) const OID_RSA_SHA384: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
pub(crate) const OID_RSA_SHA512: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
pub(crate) const OID_CN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
pub(crate) const OID_EXTENSION_REQ: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.14");
pub(crate) const OID_SAN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");
pub(crate) const OID_BASIC_CONSTRAINTS: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.5.29.19");

/// Why a CSR was refused; every variant becomes `badCSR` (RFC 8555 §7.4) in `acme/problem.rs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CsrError {
    /// Not a DER PKCS#10 CertificationRequest (truncated, trailing bytes, bad field, ...).
    Decode(&'static str),
    /// The self-signature does not verify against the CSR's own public key (catalog #50).
    Signature,
    /// SHA-1, MD5, DSA, RSA-PSS or any algorithm outside the allow-list (catalog #53).
    UnsupportedSignatureAlgorithm,
    /// A key type or curve outside P-256, P-384, Ed25519, RSA (catalog #53).
    UnsupportedKey(&'static str),
    /// An allowed key type with a weak size/exponent/encoding (catalog #53).
    WeakKey(&'static str),
    /// A subjectAltName entry other than dNSName / iPAddress (catalog #51).
    UnsupportedSan(&'static str),
    /// An extension request we refuse outright (basicConstraints cA=TRUE, catalog #54).
    UnsupportedExtension(String),
}

impl fmt::Display for CsrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CsrError::Decode(what) => write!(f, "CSR is not valid DER PKCS#10: {what}"),
            CsrError::Signature => f.write_str("CSR signature does not verify"),
            CsrError::UnsupportedSignatureAlgorithm => f.write_str(
                "CSR signature algorithm not supported (use ECDSA P-256/P-384, Ed25519 or RSA PKCS#1 v1.5 with SHA-256/384/512)",
            ),
            CsrError::UnsupportedKey(what) => write!(f, "CSR public key not supported: {what}"),
            CsrError::WeakKey(what) => write!(f, "CSR public key too weak: {what}"),
            CsrError::UnsupportedSan(what) => write!(f, "CSR subjectAltName type not supported: {what}"),
            CsrError::UnsupportedExtension(what) => write!(f, "CSR requests an extension we refuse: {what}"),
        }
    }
}

impl From<der::Error> for CsrError {
    fn from(_: der::Error) -> CsrError {
        CsrError::Decode("DER")
    }
}

/// The key types of the policy (catalog #53); anything else is refused before verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    EcP256,
    EcP384,
    Ed25519,
    /// RSA with e = 65537 and a modulus of exactly this many bits (2048, 3072 or 4096).
    Rsa(usize),
}

/// Any signed X.509/PKCS#10 structure: the exact bytes that were signed plus the signature.
#[derive(Sequence)]
pub(crate) struct RawSigned<'a> {
    pub(crate) tbs: AnyRef<'a>,
    pub(crate) algorithm: AlgorithmIdentifierRef<'a>,
    pub(crate) signature: BitStringRef<'a>,
}

#[derive(Sequence)]
struct RsaPublicKey<'a> {
    modulus: UintRef<'a>,
    public_exponent: UintRef<'a>,
}

/// Applies the key policy of catalog #53 to a SubjectPublicKeyInfo and returns its kind and
/// the raw public key bytes that ring / ed25519-dalek take.
pub(crate) fn check_key<'a>(
    spki: &SubjectPublicKeyInfoRef<'a>,
) -> Result<(KeyKind, &'a [u8]), CsrError> {
    let key = spki
        .subject_public_key
        .as_bytes()
        .ok_or(CsrError::Decode("public key bit string"))?;
    let oid = spki.algorithm.oid;
    if oid == OID_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .ok_or(CsrError::UnsupportedKey("EC key without named curve"))?
            .decode_as::<ObjectIdentifier>()
            .map_err(|_| CsrError::UnsupportedKey("EC key without named curve"))?;
        let (kind, len) = if curve == OID_P256 {
            (KeyKind::EcP256, 65)
        } else if curve == OID_P384 {
            (KeyKind::EcP384, 97)
        } else {
            return Err(CsrError::UnsupportedKey("curve (P-256 and P-384 only)"));
        };
        // Only the uncompressed form (SEC 1 §2.3.3, 0x04 || X || Y); ring checks the point is on
        // the curve when it verifies.
        if key.len() != len || key.first() != Some(&0x04) {
            return Err(CsrError::WeakKey("EC point not in uncompressed form"));
        }
        Ok((kind, key))
    } else if oid == OID_ED25519 {
        // RFC 8410 §3: "the parameters MUST be absent".
        if spki.algorithm.parameters.is_some() {
            return Err(CsrError::Decode("Ed25519 key with parameters"));
        }
        let bytes: [u8; 32] = key
            .try_into()
            .map_err(|_| CsrError::WeakKey("Ed25519 key length"))?;
        let vk = ed25519_dalek::VerifyingKey::from_bytes(&bytes)
            .map_err(|_| CsrError::WeakKey("Ed25519 point invalid"))?;
        if vk.is_weak() {
            return Err(CsrError::WeakKey("Ed25519 small-order point"));
        }
        Ok((KeyKind::Ed25519, key))
    } else if oid == OID_RSA {
        // RFC 3279 §2.3.1: parameters NULL.
        match spki.algorithm.parameters {
            Some(p) if p.tag() == Tag::Null && p.value().is_empty() => {}
            None => {}
            Some(_) => return Err(CsrError::Decode("RSA key parameters")),
        }
        let rsa = RsaPublicKey::from_der(key).map_err(|_| CsrError::Decode("RSAPublicKey"))?;
        let n = rsa.modulus.as_bytes();
        let bits = match n.first() {
            Some(&top) => (n.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
            None => 0,
        };
        if rsa.public_exponent.as_bytes() != [0x01, 0x00, 0x01] {
            return Err(CsrError::WeakKey("RSA public exponent must be 65537"));
        }
        if !matches!(bits, 2048 | 3072 | 4096) {
            return Err(CsrError::WeakKey(
                "RSA modulus must be 2048, 3072 or 4096 bits",
            ));
        }
        if crate::pki::fermat::has_small_prime_factor(n) {
            return Err(CsrError::WeakKey("RSA modulus has a small prime factor"));
        }
        // Catalog #53 / decision 7: primes close enough for Fermat's method to factor n.
        if crate::pki::fermat::factors_too_close(n, crate::pki::fermat::FERMAT_ROUNDS) {
            return Err(CsrError::WeakKey(
                "RSA modulus factors are too close together (Fermat)",
            ));
        }
        Ok((KeyKind::Rsa(bits), key))
    } else {
        Err(CsrError::UnsupportedKey(
            "key type (P-256, P-384, Ed25519, RSA only)",
        ))
    }
}

/// Verifies `signature` over `message` with the key in `spki` under `algorithm`, applying the
/// algorithm allow-list (catalog #53) and the key policy; returns the key kind.
pub(crate) fn verify_signature(
    spki: &SubjectPublicKeyInfoRef<'_>,
    algorithm: &AlgorithmIdentifierRef<'_>,
    message: &[u8],
    signature: &[u8],
) -> Result<KeyKind, CsrError> {
    let (kind, key) = check_key(spki)?;
    let oid = algorithm.oid;
    let ring_alg: &dyn sig::VerificationAlgorithm = match kind {
        KeyKind::EcP256 | KeyKind::EcP384 => {
            // RFC 5758 §3.2: for ecdsa-with-SHA*, "the parameters field MUST be absent".
            if algorithm.parameters.is_some()
                && (oid == OID_ECDSA_SHA256 || oid == OID_ECDSA_SHA384)
            {
                return Err(CsrError::Decode(
                    "ECDSA signature algorithm with parameters",
                ));
            }
            match (kind == KeyKind::EcP256, oid) {
                (true, o) if o == OID_ECDSA_SHA256 => &sig::ECDSA_P256_SHA256_ASN1,
                (true, o) if o == OID_ECDSA_SHA384 => &sig::ECDSA_P256_SHA384_ASN1,
                (false, o) if o == OID_ECDSA_SHA256 => &sig::ECDSA_P384_SHA256_ASN1,
                (false, o) if o == OID_ECDSA_SHA384 => &sig::ECDSA_P384_SHA384_ASN1,
                _ => return Err(CsrError::UnsupportedSignatureAlgorithm),
            }
        }
        KeyKind::Rsa(_) => {
            let alg: &dyn sig::VerificationAlgorithm = if oid == OID_RSA_SHA256 {
                &sig::RSA_PKCS1_2048_8192_SHA256
            } else if oid == OID_RSA_SHA384 {
                &sig::RSA_PKCS1_2048_8192_SHA384
            } else if oid == OID_RSA_SHA512 {
                &sig::RSA_PKCS1_2048_8192_SHA512
            } else {
                return Err(CsrError::UnsupportedSignatureAlgorithm);
            };
            match algorithm.parameters {
                Some(p) if p.tag() == Tag::Null && p.value().is_empty() => {}
                None => {}
                Some(_) => return Err(CsrError::Decode("RSA signature algorithm parameters")),
            }
            alg
        }
        KeyKind::Ed25519 => {
            if oid != OID_ED25519 {
                return Err(CsrError::UnsupportedSignatureAlgorithm);
            }
            if algorithm.parameters.is_some() {
                return Err(CsrError::Decode(
                    "Ed25519 signature algorithm with parameters",
                ));
            }
            let key: [u8; 32] = key
                .try_into()
                .map_err(|_| CsrError::WeakKey("Ed25519 key length"))?;
            let vk =
                ed25519_dalek::VerifyingKey::from_bytes(&key).map_err(|_| CsrError::Signature)?;
            let sig =
                ed25519_dalek::Signature::from_slice(signature).map_err(|_| CsrError::Signature)?;
            vk.verify_strict(message, &sig)
                .map_err(|_| CsrError::Signature)?;
            return Ok(kind);
        }
    };
    sig::UnparsedPublicKey::new(ring_alg, key)
        .verify(message, signature)
        .map_err(|_| CsrError::Signature)?;
    Ok(kind)
}

/// Proof that the self-signature was checked; only this module can build it.
#[derive(Debug, Clone)]
struct SignatureVerified(());

/// The trust boundary between the RA and an embedded CA in the same process (issue 7: verify
/// each CSR signature once). Holding it means: every CSR that reaches the holder was accepted by
/// [`ValidatedCsr::from_der`] (self-signature verified, catalog #50) in this process before it
/// was stored as an issuance intent, and it crossed only an in-process channel, so the CA may
/// skip verifying that same signature again ([`ValidatedCsr::from_der_verified_by_ra`]).
///
/// Only [`VerifiedByRa::for_in_process_link`] builds it, and only for a ZMQ `inproc://`
/// endpoint, which nothing outside this process's ZMQ context can reach. A CA reached over
/// `tcp://` or `ipc://` (upki-ca, `upki-ra ca serve`) is a separate trust domain: it never
/// holds this and verifies every CSR itself.
#[derive(Debug, Clone, Copy)]
pub(crate) struct VerifiedByRa(());

impl VerifiedByRa {
    /// The token for a CA serving the RA on `endpoint`, if that endpoint is in-process.
    pub(crate) fn for_in_process_link(endpoint: &str) -> Option<VerifiedByRa> {
        endpoint
            .starts_with("inproc://")
            .then_some(VerifiedByRa(()))
    }
}

/// Whether [`ValidatedCsr::parse`] verifies the self-signature.
enum SignatureCheck<'a> {
    Verify,
    /// Already verified by this process's RA (see [`VerifiedByRa`]).
    TrustRa(&'a VerifiedByRa),
}

/// Only `ValidatedCsr::from_der` builds this: parsed, self-signature verified, key policy passed.
///
/// Invariant: `der` is the exact CSR whose signature verified under `spki_der`; the names are
/// those of its subject CN and subjectAltName extension, as written.
#[derive(Debug, Clone)]
pub(crate) struct ValidatedCsr {
    der: Vec<u8>,
    spki_der: Vec<u8>,
    key_kind: KeyKind,
    common_name: Option<String>,
    dns_names: Vec<String>,
    ip_addrs: Vec<IpAddr>,
    _verified: SignatureVerified,
}

impl ValidatedCsr {
    /// Parses (strict DER, no trailing bytes: catalog #49), verifies the self-signature against
    /// the CSR's own key (catalog #50), applies the key and algorithm policy (catalog #53) and
    /// collects the requested names (catalog #51, #54).
    pub(crate) fn from_der(der: &[u8]) -> Result<ValidatedCsr, CsrError> {
        ValidatedCsr::parse(der, SignatureCheck::Verify)
    }

    /// Like [`ValidatedCsr::from_der`] (strict DER, key and algorithm policy, names) for a CSR
    /// whose self-signature this process's RA has already verified: the embedded CA on its
    /// in-process link (see [`VerifiedByRa`] for the boundary).
    pub(crate) fn from_der_verified_by_ra(
        der: &[u8],
        trust: &VerifiedByRa,
    ) -> Result<ValidatedCsr, CsrError> {
        ValidatedCsr::parse(der, SignatureCheck::TrustRa(trust))
    }

    fn parse(der: &[u8], check: SignatureCheck<'_>) -> Result<ValidatedCsr, CsrError> {
        // `from_der` rejects trailing data after the outer SEQUENCE.
        let req = CertReq::from_der(der).map_err(|_| CsrError::Decode("CertificationRequest"))?;
        let raw = RawSigned::from_der(der).map_err(|_| CsrError::Decode("CertificationRequest"))?;
        let spki_der = req.info.public_key.to_der()?;
        let spki = SubjectPublicKeyInfoRef::from_der(&spki_der)?;
        let key_kind = match check {
            SignatureCheck::Verify => {
                // The signature covers the DER of certificationRequestInfo exactly as received
                // (RFC 2986 §4.2).
                let signed = raw.tbs.to_der()?;
                let signature = raw
                    .signature
                    .as_bytes()
                    .ok_or(CsrError::Decode("signature bit string"))?;
                verify_signature(&spki, &raw.algorithm, &signed, signature)?
            }
            // The key policy still applies; only the signature was checked by the RA.
            SignatureCheck::TrustRa(VerifiedByRa(())) => check_key(&spki)?.0,
        };
        let verified = SignatureVerified(());

        let common_name = common_name(&req.info.subject)?;
        let (dns_names, ip_addrs) = requested_sans(&req.info)?;
        Ok(ValidatedCsr {
            der: der.to_vec(),
            spki_der,
            key_kind,
            common_name,
            dns_names,
            ip_addrs,
            _verified: verified,
        })
    }

    pub(crate) fn der(&self) -> &[u8] {
        &self.der
    }

    pub(crate) fn to_pem(&self) -> String {
        der_to_pem("CERTIFICATE REQUEST", &self.der)
    }

    /// The SubjectPublicKeyInfo DER (compare with the account key, RFC 8555 §11.1).
    pub(crate) fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    pub(crate) fn key_kind(&self) -> KeyKind {
        self.key_kind
    }

    pub(crate) fn common_name(&self) -> Option<&str> {
        self.common_name.as_deref()
    }

    /// dNSName entries of the subjectAltName extension, as written (no case folding).
    pub(crate) fn dns_names(&self) -> &[String] {
        &self.dns_names
    }

    pub(crate) fn ip_addrs(&self) -> &[IpAddr] {
        &self.ip_addrs
    }
}

/// The SubjectPublicKeyInfo DER of a CSR, parsed without checking its signature: for the RA's
/// own issuance intents, whose CSR [`ValidatedCsr::from_der`] accepted before the intent was
/// stored (compared with the issued certificate's key, catalog #57).
pub(crate) fn stored_csr_spki(der: &[u8]) -> Result<Vec<u8>, CsrError> {
    let req = CertReq::from_der(der).map_err(|_| CsrError::Decode("CertificationRequest"))?;
    Ok(req.info.public_key.to_der()?)
}

/// The subject CN (UTF8String or PrintableString); at most one.
fn common_name(subject: &Name) -> Result<Option<String>, CsrError> {
    let mut found = None;
    for atv in subject.iter() {
        if atv.oid != OID_CN {
            continue;
        }
        if found.is_some() {
            return Err(CsrError::Decode("more than one subject CN"));
        }
        let text = match atv.value.tag() {
            Tag::Utf8String | Tag::PrintableString => std::str::from_utf8(atv.value.value())
                .map_err(|_| CsrError::Decode("subject CN not UTF-8"))?,
            _ => {
                return Err(CsrError::Decode(
                    "subject CN must be UTF8String or PrintableString",
                ));
            }
        };
        if atv.value.tag() == Tag::PrintableString {
            der::asn1::PrintableStringRef::new(text)
                .map_err(|_| CsrError::Decode("subject CN PrintableString"))?;
        }
        if text.is_empty() {
            return Err(CsrError::Decode("empty subject CN"));
        }
        found = Some(text.to_owned());
    }
    Ok(found)
}

/// dNSName and iPAddress entries of the subjectAltName in the extensionRequest attribute
/// (RFC 2985 §5.4.2). Other extensions are read only to refuse basicConstraints cA=TRUE; none
/// is ever copied into a certificate (catalog #54).
fn requested_sans(info: &CertReqInfo) -> Result<(Vec<String>, Vec<IpAddr>), CsrError> {
    let mut extensions: Option<Vec<Extension>> = None;
    for attr in info.attributes.iter() {
        if attr.oid != OID_EXTENSION_REQ {
            continue; // challengePassword etc.: irrelevant to us.
        }
        if extensions.is_some() {
            return Err(CsrError::Decode("more than one extensionRequest attribute"));
        }
        let mut values = attr.values.iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            return Err(CsrError::Decode(
                "extensionRequest must have exactly one value",
            ));
        };
        let exts = Vec::<Extension>::from_der(&value.to_der()?)
            .map_err(|_| CsrError::Decode("extensionRequest"))?;
        extensions = Some(exts);
    }
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    let mut seen: Vec<ObjectIdentifier> = Vec::new();
    for ext in extensions.unwrap_or_default() {
        // RFC 5280 §4.2: "A certificate MUST NOT include more than one instance of a particular extension."
        if seen.contains(&ext.extn_id) {
            return Err(CsrError::Decode("duplicate extension in extensionRequest"));
        }
        seen.push(ext.extn_id);
        if ext.extn_id == OID_SAN {
            let san = SubjectAltName::from_der(ext.extn_value.as_bytes())
                .map_err(|_| CsrError::Decode("subjectAltName"))?;
            if san.0.is_empty() {
                return Err(CsrError::Decode("empty subjectAltName"));
            }
            for name in san.0 {
                match name {
                    GeneralName::DnsName(n) => dns.push(n.to_string()),
                    GeneralName::IpAddress(o) => ips.push(ip_from_octets(o.as_bytes())?),
                    GeneralName::Rfc822Name(_) => {
                        return Err(CsrError::UnsupportedSan("rfc822Name (email)"));
                    }
                    GeneralName::UniformResourceIdentifier(_) => {
                        return Err(CsrError::UnsupportedSan("URI"));
                    }
                    GeneralName::OtherName(_) => return Err(CsrError::UnsupportedSan("otherName")),
                    GeneralName::DirectoryName(_) => {
                        return Err(CsrError::UnsupportedSan("directoryName"));
                    }
                    GeneralName::EdiPartyName(_) => {
                        return Err(CsrError::UnsupportedSan("ediPartyName"));
                    }
                    GeneralName::RegisteredId(_) => {
                        return Err(CsrError::UnsupportedSan("registeredID"));
                    }
                }
            }
        } else if ext.extn_id == OID_BASIC_CONSTRAINTS {
            let bc = BasicConstraints::from_der(ext.extn_value.as_bytes())
                .map_err(|_| CsrError::Decode("basicConstraints"))?;
            // RFC 8555 §7.4: the CA may refuse extensions it is not willing to include.
            if bc.ca {
                return Err(CsrError::UnsupportedExtension(
                    "basicConstraints cA=TRUE".to_owned(),
                ));
            }
        }
        // keyUsage, extendedKeyUsage and any other extension: ignored, never copied.
    }
    Ok((dns, ips))
}

fn ip_from_octets(o: &[u8]) -> Result<IpAddr, CsrError> {
    if let Ok(v4) = <[u8; 4]>::try_from(o) {
        Ok(IpAddr::V4(Ipv4Addr::from(v4)))
    } else if let Ok(v6) = <[u8; 16]>::try_from(o) {
        Ok(IpAddr::V6(Ipv6Addr::from(v6)))
    } else {
        Err(CsrError::UnsupportedSan("iPAddress must be 4 or 16 bytes"))
    }
}

/// A subjectAltName extension value (GeneralNames) for these names, DER.
pub(crate) fn san_extension(
    dns: &[String],
    ips: &[IpAddr],
    critical: bool,
) -> Result<Extension, der::Error> {
    let mut names = Vec::with_capacity(dns.len() + ips.len());
    for d in dns {
        names.push(GeneralName::DnsName(der::asn1::Ia5String::new(d)?));
    }
    for ip in ips {
        names.push(GeneralName::from(*ip));
    }
    Ok(Extension {
        extn_id: OID_SAN,
        critical,
        extn_value: OctetString::new(SubjectAltName(names).to_der()?)?,
    })
}

/// A Name with a single CN attribute (UTF8String).
pub(crate) fn cn_name(cn: &str) -> Result<Name, der::Error> {
    let atv = AttributeTypeAndValue {
        oid: OID_CN,
        value: Any::new(Tag::Utf8String, cn.as_bytes())?,
    };
    let mut seq = RdnSequence::default();
    seq.push(RelativeDistinguishedName::try_from(vec![atv])?);
    Name::from_der(&seq.to_der()?)
}

/// Builds a PKCS#10 CSR for the RA's own TLS key: P-256, CN = first name, subjectAltName with
/// every name. `key` must have been created with `ECDSA_P256_SHA256_ASN1_SIGNING` (the result is
/// re-verified with [`ValidatedCsr::from_der`] before it is returned).
pub(crate) fn build_csr(
    key: &EcdsaKeyPair,
    dns: &[String],
    ips: &[IpAddr],
) -> Result<Vec<u8>, CsrError> {
    let cn = match (dns.first(), ips.first()) {
        (Some(d), _) => d.clone(),
        (None, Some(ip)) => ip.to_string(),
        (None, None) => return Err(CsrError::Decode("no name to put in the CSR")),
    };
    let public_key = SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned {
            oid: OID_EC_PUBLIC_KEY,
            parameters: Some(Any::encode_from(&OID_P256)?),
        },
        subject_public_key: BitString::from_bytes(key.public_key().as_ref())?,
    };
    let exts = vec![san_extension(dns, ips, false)?];
    let mut values = SetOfVec::new();
    values.insert(Any::encode_from(&exts)?)?;
    let mut attributes = SetOfVec::new();
    attributes.insert(Attribute {
        oid: OID_EXTENSION_REQ,
        values,
    })?;
    let info = CertReqInfo {
        version: Version::V1,
        subject: cn_name(&cn)?,
        public_key,
        attributes,
    };
    let tbs = info.to_der()?;
    let rng = ring::rand::SystemRandom::new();
    let signature = key.sign(&rng, &tbs).map_err(|_| CsrError::Signature)?;
    let req = CertReq {
        info,
        algorithm: AlgorithmIdentifierOwned {
            oid: OID_ECDSA_SHA256,
            parameters: None,
        },
        signature: BitString::from_bytes(signature.as_ref())?,
    };
    let der = req.to_der()?;
    ValidatedCsr::from_der(&der)?;
    Ok(der)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const P256: &[u8] = include_bytes!("testdata/p256.der");
    const P384: &[u8] = include_bytes!("testdata/p384.der");
    const RSA2048: &[u8] = include_bytes!("testdata/rsa2048.der");
    const ED25519: &[u8] = include_bytes!("testdata/ed25519.der");
    const SAN_ONLY: &[u8] = include_bytes!("testdata/san_only.der");

    fn app1_names(csr: &ValidatedCsr) {
        assert_eq!(csr.common_name(), Some("app1.lan"));
        assert_eq!(
            csr.dns_names(),
            ["app1.lan".to_owned(), "www.app1.lan".to_owned()]
        );
        assert_eq!(
            csr.ip_addrs(),
            [
                "10.0.0.5".parse::<IpAddr>().unwrap(),
                "fd00::5".parse().unwrap()
            ]
        );
    }

    // RFC 2986 §4 + catalog #50/#53: each allowed key type verifies and yields its names.
    #[test]
    fn accepts_allowed_key_types() {
        for (der, kind) in [
            (P256, KeyKind::EcP256),
            (P384, KeyKind::EcP384),
            (RSA2048, KeyKind::Rsa(2048)),
            (ED25519, KeyKind::Ed25519),
        ] {
            let csr = ValidatedCsr::from_der(der).unwrap();
            assert_eq!(csr.key_kind(), kind);
            app1_names(&csr);
            assert_eq!(csr.der(), der);
        }
    }

    // The SPKI handed to finalize is the CSR's exact SubjectPublicKeyInfo (RFC 8555 §11.1 compare).
    #[test]
    fn spki_is_the_csr_key() {
        let csr = ValidatedCsr::from_der(P256).unwrap();
        let req = CertReq::from_der(P256).unwrap();
        assert_eq!(csr.spki_der(), req.info.public_key.to_der().unwrap());
        assert!(
            csr.to_pem()
                .starts_with("-----BEGIN CERTIFICATE REQUEST-----\n")
        );
    }

    // Catalog #51 / upki-protocol note 4: a CSR with an empty subject and only SANs is valid.
    #[test]
    fn san_only_csr() {
        let csr = ValidatedCsr::from_der(SAN_ONLY).unwrap();
        assert_eq!(csr.common_name(), None);
        assert_eq!(csr.dns_names(), ["app2.lan".to_owned()]);
        assert_eq!(csr.ip_addrs(), ["192.168.1.7".parse::<IpAddr>().unwrap()]);
    }

    // Catalog #51: email SANs are refused.
    #[test]
    fn catalog_51_email_san_refused() {
        let err = ValidatedCsr::from_der(include_bytes!("testdata/email_san.der")).unwrap_err();
        assert!(matches!(err, CsrError::UnsupportedSan(_)), "{err:?}");
    }

    // Catalog #50: a corrupted signature is refused.
    #[test]
    fn catalog_50_bad_signature() {
        let err = ValidatedCsr::from_der(include_bytes!("testdata/bad_sig.der")).unwrap_err();
        assert_eq!(err, CsrError::Signature);
        // A signature made by another key over the same request info.
        let mut raw = P256.to_vec();
        let tail = raw.len() - 3;
        raw[tail] ^= 0x40;
        assert!(ValidatedCsr::from_der(&raw).is_err());
    }

    // Catalog #53: SHA-1 and RSA-PSS signature algorithms are refused.
    #[test]
    fn catalog_53_signature_algorithms() {
        let err = ValidatedCsr::from_der(include_bytes!("testdata/sha1.der")).unwrap_err();
        assert_eq!(err, CsrError::UnsupportedSignatureAlgorithm);
        let err = ValidatedCsr::from_der(include_bytes!("testdata/rsa_pss.der")).unwrap_err();
        assert_eq!(err, CsrError::UnsupportedSignatureAlgorithm);
    }

    // Catalog #53: weak or unsupported keys.
    #[test]
    fn catalog_53_key_policy() {
        let err = ValidatedCsr::from_der(include_bytes!("testdata/rsa1024.der")).unwrap_err();
        assert!(matches!(err, CsrError::WeakKey(_)), "{err:?}");
        let err = ValidatedCsr::from_der(include_bytes!("testdata/rsa_e3.der")).unwrap_err();
        assert_eq!(err, CsrError::WeakKey("RSA public exponent must be 65537"));
        let err = ValidatedCsr::from_der(include_bytes!("testdata/p521.der")).unwrap_err();
        assert!(matches!(err, CsrError::UnsupportedKey(_)), "{err:?}");
        let err = ValidatedCsr::from_der(include_bytes!("testdata/secp256k1.der")).unwrap_err();
        assert!(matches!(err, CsrError::UnsupportedKey(_)), "{err:?}");
    }

    // Catalog #53 / decision 7: an RSA-2048 key whose primes differ by < 2^500 (made by
    // testdata/fermat.py), correctly self-signed, is refused for its key alone.
    #[test]
    fn catalog_53_fermat_close_factors() {
        let err = ValidatedCsr::from_der(include_bytes!("testdata/fermat.der")).unwrap_err();
        assert_eq!(
            err,
            CsrError::WeakKey("RSA modulus factors are too close together (Fermat)")
        );
        // An honest RSA-2048 key passes the same check.
        assert!(ValidatedCsr::from_der(RSA2048).is_ok());
    }

    // Catalog #53: the RSA-2048 fixture with its modulus replaced by a multiple of 3 of the
    // same length is refused for its key (before its now-broken signature is looked at).
    #[test]
    fn catalog_53_small_prime_factor() {
        let csr = CertReq::from_der(RSA2048).unwrap();
        let key = csr.info.public_key.subject_public_key.raw_bytes();
        let rsa = RsaPublicKey::from_der(key).unwrap();
        let n = rsa.modulus.as_bytes().to_vec();
        // n − (n mod 3) − 3·k, odd and divisible by 3, same bit length.
        let mut m = n.clone();
        let rem = n.iter().fold(0u32, |r, &b| (r * 256 + u32::from(b)) % 3);
        let mut sub = rem
            + if (u32::from(n[n.len() - 1]) + 3 - rem) % 2 == 0 {
                3
            } else {
                0
            };
        for byte in m.iter_mut().rev() {
            let v = i32::from(*byte) - (sub % 256) as i32;
            sub /= 256;
            if v < 0 {
                *byte = (v + 256) as u8;
                sub += 1;
            } else {
                *byte = v as u8;
            }
        }
        assert!(crate::pki::fermat::has_small_prime_factor(&m));
        let mut der = RSA2048.to_vec();
        let at = der
            .windows(n.len())
            .position(|w| w == n.as_slice())
            .unwrap();
        der[at..at + n.len()].copy_from_slice(&m);
        assert_eq!(
            ValidatedCsr::from_der(&der).unwrap_err(),
            CsrError::WeakKey("RSA modulus has a small prime factor")
        );
    }

    // Catalog #49: trailing bytes, truncation, PEM instead of DER, empty input.
    #[test]
    fn catalog_49_undecodable() {
        let mut trailing = P256.to_vec();
        trailing.push(0);
        assert!(matches!(
            ValidatedCsr::from_der(&trailing),
            Err(CsrError::Decode(_))
        ));
        assert!(matches!(
            ValidatedCsr::from_der(&P256[..P256.len() - 1]),
            Err(CsrError::Decode(_))
        ));
        let pem = ValidatedCsr::from_der(P256).unwrap().to_pem();
        assert!(matches!(
            ValidatedCsr::from_der(pem.as_bytes()),
            Err(CsrError::Decode(_))
        ));
        assert!(matches!(
            ValidatedCsr::from_der(&[]),
            Err(CsrError::Decode(_))
        ));
    }

    // Catalog #54: basicConstraints cA=TRUE is refused; harmless extensions are ignored.
    #[test]
    fn catalog_54_extensions() {
        let err = ValidatedCsr::from_der(include_bytes!("testdata/ca_true.der")).unwrap_err();
        assert!(matches!(err, CsrError::UnsupportedExtension(_)), "{err:?}");
        let csr = ValidatedCsr::from_der(include_bytes!("testdata/extra_ext.der")).unwrap();
        app1_names(&csr);
    }

    // build_csr output is a valid CSR that openssl accepts too.
    #[test]
    fn build_csr_round_trip() {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&sig::ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let key =
            EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
                .unwrap();
        let dns = vec!["ra.lan".to_owned(), "acme.lan".to_owned()];
        let ips = vec!["10.1.2.3".parse().unwrap()];
        let der = build_csr(&key, &dns, &ips).unwrap();
        let csr = ValidatedCsr::from_der(&der).unwrap();
        assert_eq!(csr.common_name(), Some("ra.lan"));
        assert_eq!(csr.dns_names(), dns.as_slice());
        assert_eq!(csr.ip_addrs(), ips.as_slice());
        let dir = std::env::temp_dir().join(format!("upki-ra-csr-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ra.csr");
        std::fs::write(&path, &der).unwrap();
        let out = std::process::Command::new("openssl")
            .args(["req", "-inform", "DER", "-noout", "-verify", "-in"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
