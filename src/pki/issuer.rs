//! The embedded CA's signing side: its P-256 root key and self-signed root certificate (created
//! once, stored durably), leaf issuance from a [`ValidatedCsr`] and a profile (RFC 5280 §4.1,
//! §4.2), and CRLs (RFC 5280 §5). Profiles follow upki-ca's built-in table.
//!
//! A leaf is built from the CSR public key, the CSR's dNSName/iPAddress SANs and subject CN, and
//! the profile only; no other CSR extension is ever copied (security catalog #54).

use std::fmt;
use std::fs;
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use der::asn1::{Any, BitString, GeneralizedTime, ObjectIdentifier, OctetString, Uint, UtcTime};
use der::{DateTime, Decode, Encode, Sequence, Tag};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use x509_cert::Certificate;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::certificate::Version;
use x509_cert::crl::{RevokedCert, TbsCertList};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::crl::CrlNumber;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, CrlReason, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectKeyIdentifier,
};
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_cert::time::{Time, Validity};

use crate::pki::cert::{decimal_to_serial, der_to_pem, serial_to_decimal};
use crate::pki::csr::{KeyKind, OID_CN, OID_ECDSA_SHA256, ValidatedCsr, san_extension};

const OID_O: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.10");
const OID_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
const OID_EKU: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
const OID_SKI: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");
const OID_AKI: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.35");
const OID_BC: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
const OID_CRL_NUMBER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.20");
const OID_CRL_REASON: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.21");
const OID_SERVER_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.1");
const OID_CLIENT_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.2");
const OID_EMAIL_PROTECTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.4");

const KEY_FILE: &str = "ca.key";
const CERT_FILE: &str = "ca.crt";
const ROOT_DAYS: u64 = 3650;
const CRL_NEXT_UPDATE: u64 = 7 * 86_400;
/// RFC 5280 §4.1.2.5: leaves start a minute in the past to absorb small clock skew.
const BACKDATE_SECS: u64 = 60;

#[derive(Debug)]
pub(crate) enum IssueError {
    Io(String),
    /// The stored key or certificate is unreadable or they do not belong together.
    BadStore(&'static str),
    Encode(String),
    Rng,
    Sign,
    /// The CSR names nothing to certify (no CN, no SAN).
    NoIdentity,
}

impl fmt::Display for IssueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IssueError::Io(e) => write!(f, "CA storage: {e}"),
            IssueError::BadStore(w) => write!(f, "CA storage: {w}"),
            IssueError::Encode(e) => write!(f, "DER encoding: {e}"),
            IssueError::Rng => f.write_str("random generator failed"),
            IssueError::Sign => f.write_str("signing failed"),
            IssueError::NoIdentity => {
                f.write_str("CSR has neither a Common Name nor a subjectAltName")
            }
        }
    }
}

impl From<der::Error> for IssueError {
    fn from(e: der::Error) -> IssueError {
        IssueError::Encode(e.to_string())
    }
}

fn io_err(what: &Path, e: std::io::Error) -> IssueError {
    IssueError::Io(format!("{}: {e}", what.display()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Usage {
    DigitalSignature,
    NonRepudiation,
    KeyEncipherment,
}

impl Usage {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Usage::DigitalSignature => "digitalSignature",
            Usage::NonRepudiation => "nonRepudiation",
            Usage::KeyEncipherment => "keyEncipherment",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Eku {
    ServerAuth,
    ClientAuth,
    EmailProtection,
}

impl Eku {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Eku::ServerAuth => "serverAuth",
            Eku::ClientAuth => "clientAuth",
            Eku::EmailProtection => "emailProtection",
        }
    }

    fn oid(self) -> ObjectIdentifier {
        match self {
            Eku::ServerAuth => OID_SERVER_AUTH,
            Eku::ClientAuth => OID_CLIENT_AUTH,
            Eku::EmailProtection => OID_EMAIL_PROTECTION,
        }
    }
}

/// A leaf certificate profile (upki-ca's built-in table, `ca` excluded: the embedded CA never
/// signs a subordinate CA from a CSR).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Profile {
    pub(crate) name: &'static str,
    pub(crate) days: u32,
    pub(crate) key_usage: &'static [Usage],
    pub(crate) eku: &'static [Eku],
}

pub(crate) const PROFILES: &[Profile] = &[
    Profile {
        name: "ra",
        days: 365,
        key_usage: &[Usage::DigitalSignature, Usage::KeyEncipherment],
        eku: &[Eku::ServerAuth, Eku::ClientAuth],
    },
    Profile {
        name: "server",
        days: 60,
        key_usage: &[Usage::DigitalSignature, Usage::KeyEncipherment],
        eku: &[Eku::ServerAuth],
    },
    Profile {
        name: "webapp",
        days: 60,
        key_usage: &[Usage::DigitalSignature, Usage::KeyEncipherment],
        eku: &[Eku::ServerAuth, Eku::ClientAuth],
    },
    Profile {
        name: "laptop",
        days: 30,
        key_usage: &[Usage::DigitalSignature, Usage::NonRepudiation],
        eku: &[Eku::ClientAuth, Eku::EmailProtection],
    },
    Profile {
        name: "user",
        days: 30,
        key_usage: &[Usage::DigitalSignature, Usage::NonRepudiation],
        eku: &[Eku::ClientAuth],
    },
    Profile {
        name: "admin",
        days: 365,
        key_usage: &[Usage::DigitalSignature, Usage::NonRepudiation],
        eku: &[Eku::ClientAuth],
    },
];

pub(crate) fn profile(name: &str) -> Option<&'static Profile> {
    PROFILES.iter().find(|p| p.name == name)
}

/// One revoked certificate for a CRL entry (RFC 5280 §5.1.2.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Revoked {
    /// Decimal serial number.
    pub(crate) serial: String,
    /// Unix seconds.
    pub(crate) revoked_at: i64,
    /// RFC 5280 §5.3.1 CRLReason code (0–10 except 7).
    pub(crate) reason: u8,
}

#[derive(Sequence)]
struct TbsCertificate {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    version: Version,
    serial_number: Uint,
    signature: AlgorithmIdentifierOwned,
    issuer: Any,
    validity: Validity,
    subject: Any,
    subject_public_key_info: Any,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT")]
    extensions: Vec<Extension>,
}

#[derive(Sequence)]
struct Signed {
    tbs: Any,
    algorithm: AlgorithmIdentifierOwned,
    signature: BitString,
}

/// The embedded CA's key and root certificate.
///
/// Invariant: `cert_der` is a self-signed CA certificate whose public key is `key`'s.
pub(crate) struct Issuer {
    key: EcdsaKeyPair,
    rng: SystemRandom,
    cert_der: Vec<u8>,
    cert_path: PathBuf,
    subject_der: Vec<u8>,
    key_id: Vec<u8>,
}

impl fmt::Debug for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issuer")
            .field("cert_path", &self.cert_path)
            .finish_non_exhaustive()
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
fn time_at(unix: u64) -> Result<Time, IssueError> {
    let dt = DateTime::from_unix_duration(Duration::from_secs(unix))?;
    Ok(if dt.year() < 2050 {
        Time::UtcTime(UtcTime::from_date_time(dt)?)
    } else {
        Time::GeneralTime(GeneralizedTime::from_date_time(dt))
    })
}

/// RFC 7093 §2 method 1: the leftmost 160 bits of the SHA-256 of the subjectPublicKey bits.
fn key_identifier(public_key: &[u8]) -> Vec<u8> {
    let digest = ring::digest::digest(&ring::digest::SHA256, public_key);
    digest.as_ref().iter().take(20).copied().collect()
}

fn extension<T: Encode>(
    oid: ObjectIdentifier,
    critical: bool,
    value: &T,
) -> Result<Extension, IssueError> {
    Ok(Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(value.to_der()?)?,
    })
}

fn utf8_atv(oid: ObjectIdentifier, s: &str) -> Result<AttributeTypeAndValue, IssueError> {
    Ok(AttributeTypeAndValue {
        oid,
        value: Any::new(Tag::Utf8String, s.as_bytes())?,
    })
}

/// Writes `bytes` to `path` durably: temp file (mode `mode`) + fsync + rename + directory fsync.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp_name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    let _ = fs::remove_file(&tmp);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, path)?;
    fs::File::open(dir)?.sync_all()
}

fn read_pem(path: &Path, label: &str) -> Result<Vec<u8>, IssueError> {
    let text = fs::read_to_string(path).map_err(|e| io_err(path, e))?;
    let (found, der) = der::pem::decode_vec(text.as_bytes())
        .map_err(|_| IssueError::BadStore("unreadable PEM file"))?;
    if found != label {
        return Err(IssueError::BadStore("unexpected PEM label"));
    }
    Ok(der)
}

impl Issuer {
    /// Loads the root key and certificate from `dir` (`ca.key`, PKCS#8 PEM, mode 0600; `ca.crt`),
    /// creating them on first start. A key without a certificate gets a new root certificate;
    /// a certificate without its key is an error (never silently replaced).
    pub(crate) fn load_or_create(dir: &Path) -> Result<Issuer, IssueError> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| io_err(dir, e))?;
        let rng = SystemRandom::new();
        let key_path = dir.join(KEY_FILE);
        let cert_path = dir.join(CERT_FILE);
        let pkcs8 = if key_path.exists() {
            let mode = fs::metadata(&key_path)
                .map(|m| m.permissions().mode())
                .unwrap_or(0);
            if mode & 0o077 != 0 {
                log::warn!(
                    "{} is readable by group/others; it should be mode 0600",
                    key_path.display()
                );
            }
            read_pem(&key_path, "PRIVATE KEY")?
        } else {
            if cert_path.exists() {
                return Err(IssueError::BadStore(
                    "CA certificate present but its key is missing",
                ));
            }
            let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
                .map_err(|_| IssueError::Rng)?;
            let pem = der_to_pem("PRIVATE KEY", doc.as_ref());
            write_atomic(&key_path, pem.as_bytes(), 0o600).map_err(|e| io_err(&key_path, e))?;
            doc.as_ref().to_vec()
        };
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &pkcs8, &rng)
            .map_err(|_| IssueError::BadStore("CA key is not a P-256 PKCS#8 key"))?;
        let key_id = key_identifier(key.public_key().as_ref());
        let mut issuer = Issuer {
            key,
            rng,
            cert_der: Vec::new(),
            cert_path,
            subject_der: Vec::new(),
            key_id,
        };
        if issuer.cert_path.exists() {
            let der = read_pem(&issuer.cert_path, "CERTIFICATE")?;
            let cert = Certificate::from_der(&der)
                .map_err(|_| IssueError::BadStore("CA certificate unreadable"))?;
            let spki = cert.tbs_certificate().subject_public_key_info();
            if spki.subject_public_key.as_bytes() != Some(issuer.key.public_key().as_ref()) {
                return Err(IssueError::BadStore(
                    "CA certificate does not match the CA key",
                ));
            }
            issuer.subject_der = cert.tbs_certificate().subject().to_der()?;
            issuer.cert_der = der;
        } else {
            issuer.create_root()?;
            let pem = der_to_pem("CERTIFICATE", &issuer.cert_der);
            write_atomic(&issuer.cert_path, pem.as_bytes(), 0o644)
                .map_err(|e| io_err(&issuer.cert_path, e))?;
        }
        Ok(issuer)
    }

    fn create_root(&mut self) -> Result<(), IssueError> {
        let mut suffix = [0u8; 4];
        self.rng.fill(&mut suffix).map_err(|_| IssueError::Rng)?;
        let suffix: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
        let mut rdns = RdnSequence::default();
        rdns.push(RelativeDistinguishedName::try_from(vec![utf8_atv(
            OID_O, "uPKI",
        )?])?);
        rdns.push(RelativeDistinguishedName::try_from(vec![utf8_atv(
            OID_CN,
            &format!("upki-ra embedded CA {suffix}"),
        )?])?);
        let subject_der = rdns.to_der()?;
        let spki = x509_cert::spki::SubjectPublicKeyInfoOwned {
            algorithm: AlgorithmIdentifierOwned {
                oid: crate::pki::csr::OID_EC_PUBLIC_KEY,
                parameters: Some(Any::encode_from(&crate::pki::csr::OID_P256)?),
            },
            subject_public_key: BitString::from_bytes(self.key.public_key().as_ref())?,
        };
        let now = now_secs();
        let extensions = vec![
            // RFC 5280 §4.2.1.9: "Conforming CAs MUST include this extension in all CA
            // certificates that contain public keys used to validate digital signatures on
            // certificates and MUST mark the extension as critical".
            extension(
                OID_BC,
                true,
                &BasicConstraints {
                    ca: true,
                    path_len_constraint: None,
                },
            )?,
            extension(
                OID_KEY_USAGE,
                true,
                &KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign),
            )?,
            // RFC 5280 §4.2.1.2: CA certificates MUST include the subject key identifier.
            extension(
                OID_SKI,
                false,
                &SubjectKeyIdentifier(OctetString::new(self.key_id.clone())?),
            )?,
        ];
        let tbs = TbsCertificate {
            version: Version::V3,
            serial_number: Uint::new(&self.random_serial()?)?,
            signature: AlgorithmIdentifierOwned {
                oid: OID_ECDSA_SHA256,
                parameters: None,
            },
            issuer: Any::from_der(&subject_der)?,
            validity: Validity::new(
                time_at(now.saturating_sub(BACKDATE_SECS))?,
                time_at(now + ROOT_DAYS * 86_400)?,
            ),
            subject: Any::from_der(&subject_der)?,
            subject_public_key_info: Any::encode_from(&spki)?,
            extensions,
        };
        self.cert_der = self.sign(&tbs.to_der()?)?;
        self.subject_der = subject_der;
        Ok(())
    }

    /// `SEQUENCE { tbs, ecdsa-with-SHA256, BIT STRING signature }` over `tbs_der`.
    fn sign(&self, tbs_der: &[u8]) -> Result<Vec<u8>, IssueError> {
        let signature = self
            .key
            .sign(&self.rng, tbs_der)
            .map_err(|_| IssueError::Sign)?;
        let signed = Signed {
            tbs: Any::from_der(tbs_der)?,
            algorithm: AlgorithmIdentifierOwned {
                oid: OID_ECDSA_SHA256,
                parameters: None,
            },
            signature: BitString::from_bytes(signature.as_ref())?,
        };
        Ok(signed.to_der()?)
    }

    /// 159 random bits, positive, non-zero (RFC 5280 §4.1.2.2: at most 20 octets; CA/B BR §7.1:
    /// at least 64 bits from a CSPRNG).
    fn random_serial(&self) -> Result<[u8; 20], IssueError> {
        loop {
            let mut serial = [0u8; 20];
            self.rng.fill(&mut serial).map_err(|_| IssueError::Rng)?;
            serial[0] &= 0x7f;
            if serial.iter().any(|&b| b != 0) {
                return Ok(serial);
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    pub(crate) fn cert_pem(&self) -> String {
        der_to_pem("CERTIFICATE", &self.cert_der)
    }

    pub(crate) fn cert_path(&self) -> &Path {
        &self.cert_path
    }

    /// Issues a leaf for `csr` under `profile`; returns (leaf DER, decimal serial).
    pub(crate) fn issue(
        &self,
        csr: &ValidatedCsr,
        profile: &Profile,
    ) -> Result<(Vec<u8>, String), IssueError> {
        let mut ips: Vec<IpAddr> = csr.ip_addrs().to_vec();
        // RFC 8738 §3 / RFC 5280 §4.2.1.6: an IP address is certified as an iPAddress, never as
        // a dNSName — also when a pre-RFC 8738 client (lego 4.9.1) listed it as a dNSName.
        let mut dns: Vec<String> = Vec::with_capacity(csr.dns_names().len());
        for name in csr.dns_names() {
            match name.parse::<IpAddr>() {
                Ok(ip) if !ips.contains(&ip) => ips.push(ip),
                Ok(_) => {}
                Err(_) => dns.push(name.clone()),
            }
        }
        if dns.is_empty() && ips.is_empty() {
            // A CN-only CSR: certify the CN as a SAN too (clients match SANs only, RFC 6125 §6.4.4).
            match csr.common_name() {
                Some(cn) => match cn.parse::<IpAddr>() {
                    Ok(ip) => ips.push(ip),
                    Err(_) => dns.push(cn.to_owned()),
                },
                None => return Err(IssueError::NoIdentity),
            }
        }
        let subject_der = match csr.common_name() {
            Some(cn) => crate::pki::csr::cn_name(cn)?.to_der()?,
            None => Name::default().to_der()?,
        };
        let mut usages = KeyUsages::DigitalSignature.into();
        for u in profile.key_usage {
            usages |= match u {
                Usage::DigitalSignature => KeyUsages::DigitalSignature,
                Usage::NonRepudiation => KeyUsages::NonRepudiation,
                // keyEncipherment only makes sense for RSA keys (RFC 8813 §3 forbids it for ECDSA).
                Usage::KeyEncipherment if matches!(csr.key_kind(), KeyKind::Rsa(_)) => {
                    KeyUsages::KeyEncipherment
                }
                Usage::KeyEncipherment => KeyUsages::DigitalSignature,
            };
        }
        let spki_bits = x509_cert::spki::SubjectPublicKeyInfoRef::from_der(csr.spki_der())?;
        let leaf_key_id = key_identifier(spki_bits.subject_public_key.raw_bytes());
        let eku = ExtendedKeyUsage(profile.eku.iter().map(|e| e.oid()).collect());
        let mut extensions = vec![
            extension(
                OID_BC,
                true,
                &BasicConstraints {
                    ca: false,
                    path_len_constraint: None,
                },
            )?,
            extension(OID_KEY_USAGE, true, &KeyUsage(usages))?,
        ];
        if !eku.0.is_empty() {
            extensions.push(extension(OID_EKU, false, &eku)?);
        }
        extensions.push(extension(
            OID_SKI,
            false,
            &SubjectKeyIdentifier(OctetString::new(leaf_key_id)?),
        )?);
        extensions.push(extension(
            OID_AKI,
            false,
            &AuthorityKeyIdentifier {
                key_identifier: Some(OctetString::new(self.key_id.clone())?),
                ..Default::default()
            },
        )?);
        // RFC 5280 §4.2.1.6: "If the subject field contains an empty sequence, then the issuing CA
        // MUST include a subjectAltName extension that is marked as critical."
        extensions.push(san_extension(&dns, &ips, csr.common_name().is_none())?);

        let serial = self.random_serial()?;
        let now = now_secs();
        let tbs = TbsCertificate {
            version: Version::V3,
            serial_number: Uint::new(&serial)?,
            signature: AlgorithmIdentifierOwned {
                oid: OID_ECDSA_SHA256,
                parameters: None,
            },
            issuer: Any::from_der(&self.subject_der)?,
            validity: Validity::new(
                time_at(now.saturating_sub(BACKDATE_SECS))?,
                time_at(now + u64::from(profile.days) * 86_400)?,
            ),
            subject: Any::from_der(&subject_der)?,
            subject_public_key_info: Any::from_der(csr.spki_der())?,
            extensions,
        };
        let der = self.sign(&tbs.to_der()?)?;
        Ok((der, serial_to_decimal(&serial)))
    }

    /// A v2 CRL (RFC 5280 §5.1) listing `revoked`, valid for 7 days, CRL number = issue time.
    pub(crate) fn crl_der(&self, revoked: &[Revoked]) -> Result<Vec<u8>, IssueError> {
        let now = now_secs();
        let mut entries: Vec<RevokedCert> = Vec::with_capacity(revoked.len());
        for r in revoked {
            let bytes = decimal_to_serial(&r.serial)
                .ok_or(IssueError::BadStore("revoked serial not decimal"))?;
            let mut crl_entry_extensions = None;
            // RFC 5280 §5.3.1: "the reason code CRL entry extension SHOULD be absent instead of
            // using the unspecified (0) reasonCode value".
            if r.reason != 0 {
                let reason =
                    crl_reason(r.reason).ok_or(IssueError::BadStore("revocation reason code"))?;
                crl_entry_extensions = Some(vec![extension(OID_CRL_REASON, false, &reason)?]);
            }
            entries.push(RevokedCert {
                serial_number: SerialNumber::new(&bytes)?,
                revocation_date: time_at(u64::try_from(r.revoked_at).unwrap_or(0))?,
                crl_entry_extensions,
            });
        }
        let tbs = TbsCertList {
            version: Version::V2,
            signature: AlgorithmIdentifierOwned {
                oid: OID_ECDSA_SHA256,
                parameters: None,
            },
            issuer: Name::from_der(&self.subject_der)?,
            this_update: time_at(now)?,
            next_update: Some(time_at(now + CRL_NEXT_UPDATE)?),
            revoked_certificates: if entries.is_empty() {
                None
            } else {
                Some(entries)
            },
            // RFC 5280 §5.2.1 and §5.2.3: conforming CAs MUST include AKI and the CRL number.
            crl_extensions: Some(vec![
                extension(
                    OID_AKI,
                    false,
                    &AuthorityKeyIdentifier {
                        key_identifier: Some(OctetString::new(self.key_id.clone())?),
                        ..Default::default()
                    },
                )?,
                extension(
                    OID_CRL_NUMBER,
                    false,
                    &CrlNumber(Uint::new(&now.to_be_bytes())?),
                )?,
            ]),
        };
        self.sign(&tbs.to_der()?)
    }
}

fn crl_reason(code: u8) -> Option<CrlReason> {
    Some(match code {
        0 => CrlReason::Unspecified,
        1 => CrlReason::KeyCompromise,
        2 => CrlReason::CaCompromise,
        3 => CrlReason::AffiliationChanged,
        4 => CrlReason::Superseded,
        5 => CrlReason::CessationOfOperation,
        6 => CrlReason::CertificateHold,
        8 => CrlReason::RemoveFromCRL,
        9 => CrlReason::PrivilegeWithdrawn,
        10 => CrlReason::AaCompromise,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::process::Command;

    use super::*;
    use crate::pki::cert::{cert_info, verify_issued_by};

    pub(crate) fn temp_dir(tag: &str) -> PathBuf {
        let mut r = [0u8; 8];
        SystemRandom::new().fill(&mut r).unwrap();
        let name: String = r.iter().map(|b| format!("{b:02x}")).collect();
        let dir = std::env::temp_dir().join(format!("upki-ra-{tag}-{name}"));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn openssl(args: &[&str], dir: &Path) -> String {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    // The root is created once with a 0600 key, and reloaded unchanged on the next start.
    #[test]
    fn root_created_then_reloaded() {
        let dir = temp_dir("issuer");
        let a = Issuer::load_or_create(&dir.join("ca")).unwrap();
        let mode = fs::metadata(dir.join("ca").join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let b = Issuer::load_or_create(&dir.join("ca")).unwrap();
        assert_eq!(a.cert_der(), b.cert_der());
        // The root is self-signed and a CA.
        verify_issued_by(a.cert_der(), a.cert_der()).unwrap();
        fs::write(dir.join("root.pem"), a.cert_pem()).unwrap();
        let text = openssl(&["x509", "-in", "root.pem", "-noout", "-text"], &dir);
        assert!(text.contains("CA:TRUE"), "{text}");
        assert!(text.contains("Certificate Sign, CRL Sign"), "{text}");
        assert!(
            text.contains("O = uPKI, CN = upki-ra embedded CA "),
            "{text}"
        );
        // A certificate without its key is refused, never replaced.
        fs::remove_file(dir.join("ca").join(KEY_FILE)).unwrap();
        assert!(matches!(
            Issuer::load_or_create(&dir.join("ca")),
            Err(IssueError::BadStore(_))
        ));
        fs::remove_dir_all(&dir).unwrap();
    }

    // RFC 8738 §3: an IP address a CSR lists as a dNSName (lego 4.9.1 puts every name there)
    // is certified as an iPAddress, never as a dNSName; real DNS names stay dNSNames.
    #[test]
    fn rfc8738_s3_ip_dns_name_issued_as_ip_address() {
        let dir = temp_dir("ipdns");
        let issuer = Issuer::load_or_create(&dir.join("ca")).unwrap();
        let key = [
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "k.pem",
        ];
        openssl(&key, &dir);
        let san = "subjectAltName=DNS:127.0.0.1,DNS:a.lan,IP:10.0.0.1,DNS:10.0.0.1";
        let req = [
            "req",
            "-new",
            "-key",
            "k.pem",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            san,
            "-outform",
            "DER",
            "-out",
            "c.der",
        ];
        openssl(&req, &dir);
        let csr = ValidatedCsr::from_der(&fs::read(dir.join("c.der")).unwrap()).unwrap();
        assert_eq!(csr.dns_names(), ["127.0.0.1", "a.lan", "10.0.0.1"]);
        let (leaf, _) = issuer.issue(&csr, profile("server").unwrap()).unwrap();
        let info = cert_info(&leaf).unwrap();
        assert_eq!(info.dns_names, ["a.lan"]);
        let ips: Vec<IpAddr> = ["10.0.0.1", "127.0.0.1"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(info.ip_addrs, ips);
        fs::remove_dir_all(&dir).unwrap();
    }

    // RFC 5280 §4.1 leaf profile, checked by an independent implementation (openssl) and by
    // verify_issued_by; every fixture key type, CN + SANs copied, nothing else.
    #[test]
    fn issue_leaf_verified_by_openssl() {
        let dir = temp_dir("leaf");
        let issuer = Issuer::load_or_create(&dir.join("ca")).unwrap();
        fs::write(dir.join("root.pem"), issuer.cert_pem()).unwrap();
        let fixtures: [(&str, &[u8]); 5] = [
            ("p256", include_bytes!("testdata/p256.der")),
            ("p384", include_bytes!("testdata/p384.der")),
            ("rsa2048", include_bytes!("testdata/rsa2048.der")),
            ("ed25519", include_bytes!("testdata/ed25519.der")),
            ("extra_ext", include_bytes!("testdata/extra_ext.der")),
        ];
        for (name, der) in fixtures {
            let csr = ValidatedCsr::from_der(der).unwrap();
            let (leaf, serial) = issuer.issue(&csr, profile("server").unwrap()).unwrap();
            verify_issued_by(&leaf, issuer.cert_der()).unwrap();
            let info = cert_info(&leaf).unwrap();
            assert_eq!(info.serial, serial);
            assert_eq!(info.spki_der, csr.spki_der());
            assert_eq!(info.dns_names, csr.dns_names());
            assert_eq!(info.ip_addrs, csr.ip_addrs());
            let days = (info.not_after - info.not_before - BACKDATE_SECS as i64) / 86_400;
            assert_eq!(days, 60);
            let file = format!("{name}.pem");
            fs::write(dir.join(&file), der_to_pem("CERTIFICATE", &leaf)).unwrap();
            let out = openssl(
                &[
                    "verify",
                    "-CAfile",
                    "root.pem",
                    "-purpose",
                    "sslserver",
                    &file,
                ],
                &dir,
            );
            assert!(out.contains(": OK"), "{out}");
            let text = openssl(&["x509", "-in", &file, "-noout", "-text"], &dir);
            assert!(text.contains("Subject: CN = app1.lan"), "{text}");
            assert!(text.contains("CA:FALSE"), "{text}");
            assert!(text.contains("TLS Web Server Authentication"), "{text}");
            assert!(!text.contains("Client Authentication"), "{text}");
            assert!(
                text.contains("DNS:app1.lan, DNS:www.app1.lan, IP Address:10.0.0.5"),
                "{text}"
            );
            // Catalog #54: the CSR's own extension (1.2.3.4) is not copied.
            assert!(!text.contains("1.2.3.4"), "{text}");
            let serial_hex = openssl(&["x509", "-in", &file, "-noout", "-serial"], &dir);
            assert_eq!(
                serial_hex
                    .trim()
                    .trim_start_matches("serial=")
                    .to_lowercase(),
                {
                    let h = info.serial_hex.clone();
                    if h.len() % 2 == 1 { format!("0{h}") } else { h }
                }
            );
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    // RFC 5280 §4.2.1.6: an empty subject needs a critical SAN; profile `ra` adds clientAuth.
    #[test]
    fn san_only_leaf_and_ra_profile() {
        let dir = temp_dir("sanonly");
        let issuer = Issuer::load_or_create(&dir.join("ca")).unwrap();
        fs::write(dir.join("root.pem"), issuer.cert_pem()).unwrap();
        let csr = ValidatedCsr::from_der(include_bytes!("testdata/san_only.der")).unwrap();
        let (leaf, _) = issuer.issue(&csr, profile("ra").unwrap()).unwrap();
        verify_issued_by(&leaf, issuer.cert_der()).unwrap();
        fs::write(dir.join("leaf.pem"), der_to_pem("CERTIFICATE", &leaf)).unwrap();
        let out = openssl(
            &[
                "verify",
                "-CAfile",
                "root.pem",
                "-purpose",
                "sslclient",
                "leaf.pem",
            ],
            &dir,
        );
        assert!(out.contains(": OK"), "{out}");
        let text = openssl(&["x509", "-in", "leaf.pem", "-noout", "-text"], &dir);
        assert!(
            text.contains("X509v3 Subject Alternative Name: critical"),
            "{text}"
        );
        assert!(
            text.contains("TLS Web Server Authentication, TLS Web Client Authentication"),
            "{text}"
        );
        let days = {
            let info = cert_info(&leaf).unwrap();
            (info.not_after - info.not_before - BACKDATE_SECS as i64) / 86_400
        };
        assert_eq!(days, 365);
        fs::remove_dir_all(&dir).unwrap();
    }

    // A leaf from another issuer fails verify_issued_by (catalog #57).
    #[test]
    fn catalog_57_other_issuer_rejected() {
        let dir = temp_dir("other");
        let a = Issuer::load_or_create(&dir.join("a")).unwrap();
        let b = Issuer::load_or_create(&dir.join("b")).unwrap();
        let csr = ValidatedCsr::from_der(include_bytes!("testdata/p256.der")).unwrap();
        let (leaf, _) = a.issue(&csr, profile("server").unwrap()).unwrap();
        assert_eq!(
            verify_issued_by(&leaf, b.cert_der()),
            Err(crate::pki::CertError::IssuerMismatch)
        );
        // Same name, wrong key: forge b's subject into a's leaf by signing with b under a's name.
        let mut forged = b;
        forged.subject_der = a.subject_der.clone();
        let (leaf, _) = forged.issue(&csr, profile("server").unwrap()).unwrap();
        assert_eq!(
            verify_issued_by(&leaf, a.cert_der()),
            Err(crate::pki::CertError::Signature)
        );
        // A leaf is not a CA.
        let (leaf, _) = a.issue(&csr, profile("server").unwrap()).unwrap();
        let (leaf2, _) = a.issue(&csr, profile("server").unwrap()).unwrap();
        assert!(verify_issued_by(&leaf2, &leaf).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    // RFC 5280 §5: the CRL verifies under the root and lists the revoked serial with its reason.
    #[test]
    fn crl_lists_revoked() {
        let dir = temp_dir("crl");
        let issuer = Issuer::load_or_create(&dir.join("ca")).unwrap();
        fs::write(dir.join("root.pem"), issuer.cert_pem()).unwrap();
        let serial = "199395909292849525405881971845381064302563015898";
        let crl = issuer
            .crl_der(&[Revoked {
                serial: serial.to_owned(),
                revoked_at: 1_700_000_000,
                reason: 1,
            }])
            .unwrap();
        fs::write(dir.join("crl.der"), &crl).unwrap();
        let text = openssl(
            &[
                "crl", "-inform", "DER", "-in", "crl.der", "-CAfile", "root.pem", "-noout", "-text",
            ],
            &dir,
        );
        let hex: String = decimal_to_serial(serial)
            .unwrap()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        assert!(text.contains(&hex), "{text}");
        assert!(text.contains("Key Compromise"), "{text}");
        let empty = issuer.crl_der(&[]).unwrap();
        fs::write(dir.join("empty.der"), &empty).unwrap();
        let out = Command::new("openssl")
            .args([
                "crl",
                "-inform",
                "DER",
                "-in",
                "empty.der",
                "-CAfile",
                "root.pem",
                "-noout",
            ])
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("verify OK"),
            "{out:?}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
