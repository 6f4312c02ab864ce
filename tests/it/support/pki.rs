//! Test-side PKI helpers, independent from the server's `pki` module: P-256 certificate keys,
//! PKCS#10 CSRs (RFC 2986) with a subjectAltName extension request (RFC 5280 §4.2.1.6) signed
//! with ring, certificate parsing with x509-cert, and chain validation with webpki (through
//! rustls' `WebPkiServerVerifier`) against the server's `ca/ca.crt`.

use std::net::IpAddr;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use der::asn1::{BitString, Ia5String, ObjectIdentifier, OctetString, SetOfVec};
use der::{Any, Decode, Encode};
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
};
use rustls::RootCertStore;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use x509_cert::Certificate;
use x509_cert::attr::Attribute;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::name::Name;
use x509_cert::request::{CertReq, CertReqInfo, ExtensionReq, Version};
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ID_CE_SUBJECT_ALT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");

/// An ACME identifier (RFC 8555 §9.7.7 "dns", RFC 8738 "ip").
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Identifier {
    Dns(String),
    Ip(IpAddr),
}

impl Identifier {
    pub(crate) fn dns(name: &str) -> Identifier {
        Identifier::Dns(name.to_owned())
    }

    pub(crate) fn to_json(&self) -> serde_json::Value {
        match self {
            Identifier::Dns(n) => serde_json::json!({"type": "dns", "value": n}),
            Identifier::Ip(ip) => serde_json::json!({"type": "ip", "value": ip.to_string()}),
        }
    }
}

/// A P-256 key pair for a certificate (not the account key).
pub(crate) struct CertKey {
    pkcs8: Vec<u8>,
}

impl CertKey {
    pub(crate) fn generate() -> CertKey {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        CertKey {
            pkcs8: pkcs8.as_ref().to_vec(),
        }
    }

    fn pair(&self, alg: &'static ring::signature::EcdsaSigningAlgorithm) -> EcdsaKeyPair {
        EcdsaKeyPair::from_pkcs8(alg, &self.pkcs8, &SystemRandom::new()).unwrap()
    }

    /// The JWS signer for this key (RFC 8555 §7.6 revocation signed with the certificate key).
    pub(crate) fn jws_key(&self) -> EcdsaKeyPair {
        self.pair(&ECDSA_P256_SHA256_FIXED_SIGNING)
    }

    pub(crate) fn spki(&self) -> SubjectPublicKeyInfoOwned {
        let pair = self.pair(&ECDSA_P256_SHA256_ASN1_SIGNING);
        SubjectPublicKeyInfoOwned {
            algorithm: AlgorithmIdentifierOwned {
                oid: ID_EC_PUBLIC_KEY,
                parameters: Some(Any::encode_from(&SECP256R1).unwrap()),
            },
            subject_public_key: BitString::from_bytes(pair.public_key().as_ref()).unwrap(),
        }
    }

    pub(crate) fn spki_der(&self) -> Vec<u8> {
        self.spki().to_der().unwrap()
    }

    /// A PKCS#10 CSR for `ids` (as SANs), with `CN=cn` when given, signed ECDSA-SHA256.
    pub(crate) fn csr(&self, cn: Option<&str>, ids: &[Identifier]) -> Vec<u8> {
        let names: Vec<GeneralName> = ids
            .iter()
            .map(|id| match id {
                Identifier::Dns(n) => GeneralName::DnsName(Ia5String::new(n).unwrap()),
                Identifier::Ip(ip) => GeneralName::from(*ip),
            })
            .collect();
        self.csr_with(cn, names, vec![])
    }

    /// A CSR (ECDSA-SHA256) with subject `CN=cn` if given, a subjectAltName holding `sans` if
    /// not empty, and `extra` extension requests.
    pub(crate) fn csr_with(
        &self,
        cn: Option<&str>,
        sans: Vec<GeneralName>,
        extra: Vec<Extension>,
    ) -> Vec<u8> {
        let subject = match cn {
            Some(cn) => Name::from_str(&format!("CN={cn}")).unwrap(),
            None => Name::default(),
        };
        let mut extensions = extra;
        if !sans.is_empty() {
            extensions.insert(
                0,
                Extension {
                    extn_id: ID_CE_SUBJECT_ALT_NAME,
                    critical: false,
                    extn_value: OctetString::new(SubjectAltName(sans).to_der().unwrap()).unwrap(),
                },
            );
        }
        let mut attributes = SetOfVec::new();
        if !extensions.is_empty() {
            attributes
                .insert(Attribute::try_from(ExtensionReq(extensions)).unwrap())
                .unwrap();
        }
        let info = CertReqInfo {
            version: Version::V1,
            subject,
            public_key: self.spki(),
            attributes,
        };
        let tbs = info.to_der().unwrap();
        let sig = self
            .pair(&ECDSA_P256_SHA256_ASN1_SIGNING)
            .sign(&SystemRandom::new(), &tbs)
            .unwrap();
        CertReq {
            info,
            algorithm: AlgorithmIdentifierOwned {
                oid: ECDSA_WITH_SHA256,
                parameters: None,
            },
            signature: BitString::from_bytes(sig.as_ref()).unwrap(),
        }
        .to_der()
        .unwrap()
    }

    /// The usual CSR: dNSName SANs `names`, no subject.
    pub(crate) fn csr_for(&self, names: &[&str]) -> Vec<u8> {
        let sans = names
            .iter()
            .map(|n| GeneralName::DnsName(Ia5String::new(n).unwrap()))
            .collect();
        self.csr_with(None, sans, vec![])
    }

    /// The same key as an ACME account key (catalog #52: a CSR carrying an account key).
    pub(crate) fn account_key(&self) -> super::client::AccountKey {
        super::client::AccountKey::from_pair(self.jws_key())
    }
}

/// All certificates of a PEM chain, in order; panics on anything that is not PEM certificates.
pub(crate) fn pem_to_ders(pem: &str) -> Vec<Vec<u8>> {
    let ders: Vec<Vec<u8>> = CertificateDer::pem_slice_iter(pem.as_bytes())
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("bad PEM certificate chain ({e}):\n{pem}"));
    assert!(!ders.is_empty(), "no certificate in PEM chain:\n{pem}");
    ders
}

/// The parts of a certificate the tests look at.
#[derive(Debug, Clone)]
pub(crate) struct CertSummary {
    pub(crate) serial: Vec<u8>,
    pub(crate) dns_names: Vec<String>,
    pub(crate) ip_addrs: Vec<IpAddr>,
    pub(crate) spki_der: Vec<u8>,
    pub(crate) not_after_unix: u64,
}

pub(crate) fn summarize(der: &[u8]) -> CertSummary {
    let cert = Certificate::from_der(der).unwrap_or_else(|e| panic!("unparsable certificate: {e}"));
    let tbs = cert.tbs_certificate();
    let mut dns_names = Vec::new();
    let mut ip_addrs = Vec::new();
    for ext in tbs.extensions().into_iter().flatten() {
        if ext.extn_id != ID_CE_SUBJECT_ALT_NAME {
            continue;
        }
        let san = SubjectAltName::from_der(ext.extn_value.as_bytes()).unwrap();
        for name in san.0 {
            match name {
                GeneralName::DnsName(n) => dns_names.push(n.to_string()),
                GeneralName::IpAddress(o) => {
                    let b = o.as_bytes();
                    let ip = match b.len() {
                        4 => IpAddr::from(<[u8; 4]>::try_from(b).unwrap()),
                        16 => IpAddr::from(<[u8; 16]>::try_from(b).unwrap()),
                        n => panic!("iPAddress SAN of {n} bytes"),
                    };
                    ip_addrs.push(ip);
                }
                other => panic!("unexpected SAN entry {other:?}"),
            }
        }
    }
    CertSummary {
        serial: tbs.serial_number().as_bytes().to_vec(),
        dns_names,
        ip_addrs,
        spki_der: tbs.subject_public_key_info().to_der().unwrap(),
        not_after_unix: tbs.validity().not_after.to_unix_duration().as_secs(),
    }
}

/// Validate `chain` (leaf first) for `name` up to the root(s) in `ca_file` with webpki:
/// signatures, validity, basic constraints, serverAuth EKU and the name.
pub(crate) fn verify_chain(ca_file: &Path, chain: &[Vec<u8>], name: &str) {
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca_file).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let verifier = WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::new(rustls::crypto::ring::default_provider()),
    )
    .build()
    .unwrap();
    let (leaf, rest) = chain.split_first().expect("empty chain");
    let intermediates: Vec<CertificateDer<'_>> = rest
        .iter()
        .map(|c| CertificateDer::from(c.as_slice()))
        .collect();
    let server_name = match name.parse::<IpAddr>() {
        Ok(ip) => ServerName::IpAddress(ip.into()),
        Err(_) => ServerName::try_from(name.to_owned()).unwrap(),
    };
    verifier
        .verify_server_cert(
            &CertificateDer::from(leaf.as_slice()),
            &intermediates,
            &server_name,
            &[],
            UnixTime::now(),
        )
        .unwrap_or_else(|e| {
            panic!(
                "certificate chain for {name} does not validate against {}: {e:?}",
                ca_file.display()
            )
        });
}
