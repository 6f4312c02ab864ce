//! Helpers shared by the security-catalog tests (`catalog_*.rs`, entries #32–#62 of
//! `security-catalog.md`): the exact problem check, a ready order, and a PKCS#10 builder that
//! can write any subject, subjectAltName entries and extension requests (RFC 2986, RFC 5280
//! §4.2.1.6), signed by a P-256 key the test controls (so it can also be an account key).

use der::asn1::{BitString, Ia5String, ObjectIdentifier, OctetString, SetOfVec};
use der::{Any, Encode};
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
};
use serde_json::Value;
use x509_cert::attr::Attribute;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::name::Name;
use x509_cert::request::{CertReq, CertReqInfo, ExtensionReq, Version};
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

use crate::support::Env;
use crate::support::client::{AccountKey, Acme};
use crate::support::https::Response;
use crate::support::pki::Identifier;

pub(crate) const ACME_ERROR: &str = "urn:ietf:params:acme:error:";
const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
pub(crate) const ID_CE_SUBJECT_ALT_NAME: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.5.29.17");

/// An ACME error exactly: status, `application/problem+json` with `type` = `kind`, and (RFC 8555
/// §6.5, interop.md) a fresh `Replay-Nonce` when it answers a POST.
#[track_caller]
pub(crate) fn assert_problem(r: &Response, status: u16, kind: &str, what: &str) {
    assert_eq!(
        r.status, status,
        "{what}: expected {status} {kind}, got: {r}"
    );
    assert_eq!(
        r.problem_type().as_deref(),
        Some(format!("{ACME_ERROR}{kind}").as_str()),
        "{what}: expected problem type {kind}: {r}"
    );
    assert!(
        r.header("replay-nonce").is_some(),
        "{what}: error without Replay-Nonce: {r}"
    );
}

/// A registered account and an order for `ids` whose authorizations are all validated
/// (http-01); returns (order URL, order object in state `ready`).
pub(crate) fn ready_order(env: &Env, acme: &mut Acme, ids: &[Identifier]) -> (String, Value) {
    let (order_url, order) = acme.new_order(ids);
    acme.solve_http01(&order, &env.http01);
    let order = acme.poll(&order_url, &["ready"]);
    (order_url, order)
}

/// A P-256 key usable both for CSRs (ASN.1 ECDSA) and as an ACME account key (fixed ECDSA).
pub(crate) struct P256Key {
    pkcs8: Vec<u8>,
}

impl P256Key {
    pub(crate) fn generate() -> P256Key {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &SystemRandom::new())
                .unwrap();
        P256Key {
            pkcs8: pkcs8.as_ref().to_vec(),
        }
    }

    fn pair(&self, alg: &'static ring::signature::EcdsaSigningAlgorithm) -> EcdsaKeyPair {
        EcdsaKeyPair::from_pkcs8(alg, &self.pkcs8, &SystemRandom::new()).unwrap()
    }

    /// The same key as an ACME account key.
    pub(crate) fn account_key(&self) -> AccountKey {
        AccountKey::from_pair(self.pair(&ECDSA_P256_SHA256_FIXED_SIGNING))
    }

    fn spki(&self) -> SubjectPublicKeyInfoOwned {
        let pair = self.pair(&ECDSA_P256_SHA256_ASN1_SIGNING);
        SubjectPublicKeyInfoOwned {
            algorithm: AlgorithmIdentifierOwned {
                oid: ID_EC_PUBLIC_KEY,
                parameters: Some(Any::encode_from(&SECP256R1).unwrap()),
            },
            subject_public_key: BitString::from_bytes(pair.public_key().as_ref()).unwrap(),
        }
    }

    /// A CSR (ECDSA-SHA256) with subject `CN=cn` if given, a subjectAltName holding `sans` if
    /// not empty, and `extra` extension requests.
    pub(crate) fn csr(
        &self,
        cn: Option<&str>,
        sans: Vec<GeneralName>,
        extra: Vec<Extension>,
    ) -> Vec<u8> {
        let subject = match cn {
            Some(cn) => cn_name(cn),
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
        self.csr(None, names.iter().map(|n| dns_name(n)).collect(), vec![])
    }
}

/// A subject with one CN (UTF8String), built through DER so any text fits (even an IP).
fn cn_name(cn: &str) -> Name {
    use std::str::FromStr;
    Name::from_str(&format!("CN={cn}")).unwrap()
}

pub(crate) fn dns_name(name: &str) -> GeneralName {
    GeneralName::DnsName(Ia5String::new(name).unwrap())
}
