//! PKCS#10 certificate requests (RFC 2986) for one DNS name: a fresh P-256 key (ring), the name
//! as CN and as a subjectAltName extension request (RFC 5280 §4.2.1.6, RFC 2985 §5.4.2), signed
//! with ECDSA-SHA256. The DER is written by hand: the structure is fixed and tiny.

use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};

const OID_EC_PUBLIC_KEY: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01];
const OID_PRIME256V1: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
const OID_ECDSA_SHA256: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02];
const OID_EXTENSION_REQUEST: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x0E];
const OID_SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1D, 0x11];
const OID_COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];

/// One DER TLV with a definite length (X.690 §8.1.3).
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 4);
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let significant = bytes.get(skip..).unwrap_or_default();
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
    out.extend_from_slice(content);
    out
}

fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

fn bit_string(bytes: &[u8]) -> Vec<u8> {
    let mut content = vec![0u8];
    content.extend_from_slice(bytes);
    tlv(0x03, &content)
}

/// A DER CSR for `name` with a new P-256 key (the key itself is not kept: the generator never
/// uses the certificate).
pub(crate) fn new_csr(name: &str, rng: &SystemRandom) -> Result<Vec<u8>, String> {
    let alg = &ECDSA_P256_SHA256_ASN1_SIGNING;
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, rng).map_err(|_| "P-256 key generation")?;
    let key = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), rng).map_err(|_| "P-256 key load")?;
    let spki = seq(&[
        &seq(&[&tlv(0x06, OID_EC_PUBLIC_KEY), &tlv(0x06, OID_PRIME256V1)]),
        &bit_string(key.public_key().as_ref()),
    ]);
    let subject = seq(&[&tlv(
        0x31,
        &seq(&[&tlv(0x06, OID_COMMON_NAME), &tlv(0x0C, name.as_bytes())]),
    )]);
    // GeneralNames ::= SEQUENCE OF GeneralName; dNSName is [2] IMPLICIT IA5String.
    let san = seq(&[&tlv(0x82, name.as_bytes())]);
    let extension = seq(&[&tlv(0x06, OID_SUBJECT_ALT_NAME), &tlv(0x04, &san)]);
    let attribute = seq(&[
        &tlv(0x06, OID_EXTENSION_REQUEST),
        &tlv(0x31, &seq(&[&extension])),
    ]);
    let info = seq(&[
        &[0x02, 0x01, 0x00],
        &subject,
        &spki,
        // attributes [0] IMPLICIT SET OF Attribute
        &tlv(0xA0, &attribute),
    ]);
    let signature = key.sign(rng, &info).map_err(|_| "CSR signature")?;
    Ok(seq(&[
        &info,
        &seq(&[&tlv(0x06, OID_ECDSA_SHA256)]),
        &bit_string(signature.as_ref()),
    ]))
}

#[cfg(test)]
mod tests {
    use der::{Decode, Encode};
    use x509_cert::ext::pkix::SubjectAltName;
    use x509_cert::ext::pkix::name::GeneralName;
    use x509_cert::request::{CertReq, ExtensionReq};

    use super::*;

    #[test]
    fn long_lengths() {
        assert_eq!(tlv(0x04, &[0; 5])[..2], [0x04, 5]);
        assert_eq!(tlv(0x04, &[0; 200])[..3], [0x04, 0x81, 200]);
        assert_eq!(tlv(0x04, &[0; 300])[..4], [0x04, 0x82, 0x01, 0x2C]);
    }

    /// RFC 2986 §4: an independent parser reads the request back, finds the name in the
    /// extension request, and the signature verifies with the request's own key.
    #[test]
    fn rfc2986_request_parses_and_verifies() {
        let der = new_csr("w3-17.loadgen.test", &SystemRandom::new()).unwrap();
        let req = CertReq::from_der(&der).unwrap();
        assert_eq!(req.info.subject.to_string(), "CN=w3-17.loadgen.test");
        let attr = req.info.attributes.iter().next().unwrap();
        let ext_req = ExtensionReq::from_der(&attr.values.get(0).unwrap().to_der().unwrap());
        let ext_req = ext_req.unwrap();
        let san = SubjectAltName::from_der(ext_req.0[0].extn_value.as_bytes()).unwrap();
        match &san.0[..] {
            [GeneralName::DnsName(n)] => assert_eq!(n.as_str(), "w3-17.loadgen.test"),
            other => panic!("SANs {other:?}"),
        }
        let info = req.info.to_der().unwrap();
        let point = req.info.public_key.subject_public_key.raw_bytes();
        ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_ASN1, point)
            .verify(&info, req.signature.raw_bytes())
            .unwrap();
    }
}
