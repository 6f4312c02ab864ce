//! RFC 8555 §11.1 / security catalog #52: the public key of a CSR must not be an account key —
//! neither the requesting account's (checked by SPKI in `finalize`) nor any other account's
//! known to this server (checked here through the RFC 7638 thumbprint index of accounts).

use der::Decode;
use der::asn1::UintRef;
use x509_cert::spki::SubjectPublicKeyInfoRef;

use crate::jose::Jwk;
use crate::pki::ValidatedCsr;
use crate::pki::csr::KeyKind;

#[derive(der::Sequence)]
struct RsaPublicKey<'a> {
    modulus: UintRef<'a>,
    public_exponent: UintRef<'a>,
}

/// The CSR's public key as a JWK (so its thumbprint can be looked up), or None if the key
/// cannot be expressed as one of our account key types.
pub(crate) fn csr_key_as_jwk(csr: &ValidatedCsr) -> Option<Jwk> {
    let spki = SubjectPublicKeyInfoRef::from_der(csr.spki_der()).ok()?;
    let key = spki.subject_public_key.as_bytes()?;
    match csr.key_kind() {
        KeyKind::EcP256 => {
            let point = key.strip_prefix(&[0x04])?;
            let (x, y) = point.split_at_checked(32)?;
            Some(Jwk::P256 {
                x: x.try_into().ok()?,
                y: y.try_into().ok()?,
            })
        }
        KeyKind::EcP384 => {
            let point = key.strip_prefix(&[0x04])?;
            let (x, y) = point.split_at_checked(48)?;
            Some(Jwk::P384 {
                x: x.try_into().ok()?,
                y: y.try_into().ok()?,
            })
        }
        KeyKind::Ed25519 => Some(Jwk::Ed25519(key.try_into().ok()?)),
        KeyKind::Rsa(_) => {
            let rsa = RsaPublicKey::from_der(key).ok()?;
            Some(Jwk::Rsa {
                n: rsa.modulus.as_bytes().to_vec(),
                e: rsa.public_exponent.as_bytes().to_vec(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    // Catalog #52: the JWK rebuilt from each CSR fixture has exactly the CSR's SPKI, so its
    // thumbprint is the one the account index holds for that key.
    #[test]
    fn catalog_52_csr_key_round_trips_to_jwk() {
        for der in [
            &include_bytes!("../pki/testdata/p256.der")[..],
            &include_bytes!("../pki/testdata/p384.der")[..],
            &include_bytes!("../pki/testdata/ed25519.der")[..],
            &include_bytes!("../pki/testdata/rsa2048.der")[..],
        ] {
            let csr = ValidatedCsr::from_der(der).unwrap();
            let jwk = csr_key_as_jwk(&csr).unwrap();
            assert_eq!(jwk.spki_der(), csr.spki_der());
        }
    }
}
