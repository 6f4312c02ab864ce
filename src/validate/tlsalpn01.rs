//! tls-alpn-01 validation (RFC 8737 §3, §6; RFC 8738 §6 for IP identifiers; security catalog
//! #42, #43).
//!
//! Owns one attempt: resolve the identifier with our resolver (or take the IP itself), keep only
//! the addresses the address policy permits, dial one of *those* on the configured port (443 in
//! production), and run a TLS ≥ 1.2 handshake offering only the ALPN protocol `acme-tls/1`
//! with SNI = the name (the reverse-DNS name for an IP, RFC 8738 §6). The handshake is judged
//! on its own: the certificate is accepted for inspection during the handshake (its handshake
//! signature is still verified with its own key), then [`check_certificate`] applies every rule
//! of RFC 8737 §3 to it. No application data is read and no clean shutdown is waited for
//! (certbot's responder resets the connection right after the handshake).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_io::Timer;
use async_net::TcpStream;
use der::Decode;
use der::asn1::{ObjectIdentifier, OctetString};
use futures_lite::FutureExt;
use futures_rustls::TlsConnector;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use x509_cert::Certificate;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::spki::SubjectPublicKeyInfoRef;

use super::{ValidationError, Validator};
use crate::pki::csr::{self, KeyKind, RawSigned};

/// RFC 8737 §6.2: the ALPN protocol name of the validation handshake.
pub(crate) const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";
/// RFC 8737 §6.1: `id-pe-acmeIdentifier` = { id-pe 31 }.
const OID_ACME_IDENTIFIER: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.1.31");
/// The draft OID (`id-pe 30 1`) that Let's Encrypt stopped accepting; named only to say so.
const OID_ACME_IDENTIFIER_OBSOLETE: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.1.30.1");
const OID_SAN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");
/// Deadline of one TCP connect (the attempt deadline bounds it too).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The identifier a validation certificate must name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Expected {
    /// A DNS name, compared case-insensitively (RFC 8737 §3, RFC 4343).
    Dns(String),
    /// An IP address (RFC 8738 §6): one iPAddress SAN of the same octets.
    Ip(IpAddr),
}

/// Why a validation certificate breaks RFC 8737; every variant is one rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum AlpnCertError {
    /// Not a DER X.509 certificate.
    Decode(&'static str),
    /// RFC 5280 §4.2: "A certificate MUST NOT include more than one instance of a particular
    /// extension."
    DuplicateExtension(String),
    /// RFC 8737 §3: no subjectAltName extension.
    NoSubjectAltName,
    /// RFC 8737 §3: the subjectAltName must hold the identifier "and no other entries".
    NotExactlyOneSan(usize),
    /// RFC 8737 §3 / RFC 8738 §6: the one SAN is not the identifier being validated.
    WrongSan(String),
    /// RFC 8737 §3: no `id-pe-acmeIdentifier` (1.3.6.1.5.5.7.1.31); `obsolete` when only the
    /// draft OID 1.3.6.1.5.5.7.1.30.1 is present.
    MissingAcmeIdentifier { obsolete: bool },
    /// RFC 8737 §3: "The acmeIdentifier extension MUST be critical".
    AcmeIdentifierNotCritical,
    /// RFC 8737 §3: extnValue is the DER of `Authorization ::= OCTET STRING (SIZE (32))`.
    AcmeIdentifierEncoding,
    /// RFC 8737 §3: the digest is not SHA-256 of this challenge's key authorization.
    DigestMismatch,
    /// RFC 8737 §3: the certificate must be self-signed; its issuer is not its subject.
    NotSelfSigned,
    /// The self-signature does not verify under the certificate's own key (or its key or
    /// algorithm is outside the allow-list).
    BadSelfSignature,
}

impl fmt::Display for AlpnCertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AlpnCertError::Decode(w) => write!(f, "not a DER X.509 certificate ({w})"),
            AlpnCertError::DuplicateExtension(oid) => write!(f, "extension {oid} appears twice"),
            AlpnCertError::NoSubjectAltName => f.write_str("no subjectAltName extension"),
            AlpnCertError::NotExactlyOneSan(n) => {
                write!(f, "subjectAltName has {n} entries; exactly one is required")
            }
            AlpnCertError::WrongSan(got) => {
                write!(
                    f,
                    "subjectAltName {got} is not the identifier being validated"
                )
            }
            AlpnCertError::MissingAcmeIdentifier { obsolete: true } => f.write_str(
                "only the obsolete acmeIdentifier OID 1.3.6.1.5.5.7.1.30.1 is present; \
                 RFC 8737 requires 1.3.6.1.5.5.7.1.31",
            ),
            AlpnCertError::MissingAcmeIdentifier { obsolete: false } => {
                f.write_str("no acmeIdentifier extension (1.3.6.1.5.5.7.1.31)")
            }
            AlpnCertError::AcmeIdentifierNotCritical => {
                f.write_str("the acmeIdentifier extension is not critical")
            }
            AlpnCertError::AcmeIdentifierEncoding => {
                f.write_str("the acmeIdentifier extension is not a DER OCTET STRING of 32 bytes")
            }
            AlpnCertError::DigestMismatch => f.write_str(
                "the acmeIdentifier digest is not SHA-256 of this challenge's key authorization",
            ),
            AlpnCertError::NotSelfSigned => f.write_str("the certificate is not self-signed"),
            AlpnCertError::BadSelfSignature => {
                f.write_str("the certificate's signature does not verify under its own key")
            }
        }
    }
}

/// RFC 8737 §3: the checks on the certificate presented in the `acme-tls/1` handshake.
///
/// `digest` is SHA-256 of the key authorization.
pub(crate) fn check_certificate(
    der: &[u8],
    expected: &Expected,
    digest: &[u8],
) -> Result<(), AlpnCertError> {
    let cert = Certificate::from_der(der).map_err(|_| AlpnCertError::Decode("Certificate"))?;
    let tbs = cert.tbs_certificate();
    let extensions: &[x509_cert::ext::Extension] = tbs.extensions().map_or(&[], |e| e.as_slice());
    // RFC 5280 §4.2: no extension twice (a second SAN or acmeIdentifier could be read
    // differently by another parser).
    for (i, ext) in extensions.iter().enumerate() {
        if extensions
            .iter()
            .skip(i + 1)
            .any(|other| other.extn_id == ext.extn_id)
        {
            return Err(AlpnCertError::DuplicateExtension(ext.extn_id.to_string()));
        }
    }
    // RFC 8737 §3: "a subjectAltName extension containing the dNSName being validated and no
    // other entries"; RFC 8738 §6: for an IP, "a subjectAltName extension containing the
    // iPAddress being validated and no other entries".
    let san_ext = extensions
        .iter()
        .find(|e| e.extn_id == OID_SAN)
        .ok_or(AlpnCertError::NoSubjectAltName)?;
    let san = SubjectAltName::from_der(san_ext.extn_value.as_bytes())
        .map_err(|_| AlpnCertError::Decode("subjectAltName"))?;
    let [only] = san.0.as_slice() else {
        return Err(AlpnCertError::NotExactlyOneSan(san.0.len()));
    };
    match (only, expected) {
        // "The comparison of dNSNames MUST be case insensitive [RFC4343]."
        (GeneralName::DnsName(name), Expected::Dns(want))
            if name.as_str().eq_ignore_ascii_case(want) => {}
        (GeneralName::IpAddress(octets), Expected::Ip(want))
            if octets.as_bytes() == ip_octets(*want).as_slice() => {}
        (GeneralName::DnsName(name), _) => {
            return Err(AlpnCertError::WrongSan(format!(
                "dNSName {:?}",
                name.as_str().chars().take(64).collect::<String>()
            )));
        }
        (GeneralName::IpAddress(octets), _) => {
            return Err(AlpnCertError::WrongSan(format!(
                "iPAddress of {} bytes",
                octets.as_bytes().len()
            )));
        }
        _ => return Err(AlpnCertError::WrongSan("of another type".into())),
    }
    // RFC 8737 §3: "a critical acmeIdentifier extension containing the expected SHA-256 digest".
    let Some(acme) = extensions.iter().find(|e| e.extn_id == OID_ACME_IDENTIFIER) else {
        let obsolete = extensions
            .iter()
            .any(|e| e.extn_id == OID_ACME_IDENTIFIER_OBSOLETE);
        return Err(AlpnCertError::MissingAcmeIdentifier { obsolete });
    };
    if !acme.critical {
        return Err(AlpnCertError::AcmeIdentifierNotCritical);
    }
    // "The extnValue of the id-pe-acmeIdentifier extension is the ASN.1 DER encoding of the
    // Authorization structure": exactly one OCTET STRING of 32 bytes, nothing after it.
    let authorization = OctetString::from_der(acme.extn_value.as_bytes())
        .map_err(|_| AlpnCertError::AcmeIdentifierEncoding)?;
    if authorization.as_bytes().len() != 32 {
        return Err(AlpnCertError::AcmeIdentifierEncoding);
    }
    if !constant_time_eq(authorization.as_bytes(), digest) {
        return Err(AlpnCertError::DigestMismatch);
    }
    // RFC 8737 §3: "a self-signed certificate": issuer = subject, and the signature verifies
    // under the certificate's own public key.
    if tbs.issuer() != tbs.subject() {
        return Err(AlpnCertError::NotSelfSigned);
    }
    let raw = RawSigned::from_der(der).map_err(|_| AlpnCertError::Decode("Certificate"))?;
    let signature = raw
        .signature
        .as_bytes()
        .ok_or(AlpnCertError::Decode("signature bit string"))?;
    let spki_der = der::Encode::to_der(tbs.subject_public_key_info())
        .map_err(|_| AlpnCertError::Decode("subjectPublicKeyInfo"))?;
    let spki = SubjectPublicKeyInfoRef::from_der(&spki_der)
        .map_err(|_| AlpnCertError::Decode("subjectPublicKeyInfo"))?;
    // The signed bytes are the whole TBSCertificate TLV, as received.
    let tbs_der =
        der::Encode::to_der(&raw.tbs).map_err(|_| AlpnCertError::Decode("tbsCertificate"))?;
    csr::verify_signature(&spki, &raw.algorithm, &tbs_der, signature)
        .map(|_| ())
        .map_err(|_| AlpnCertError::BadSelfSignature)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn ip_octets(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    }
}

/// RFC 8738 §6: the SNI for an IP identifier is its reverse-DNS name (RFC 1035 §3.5,
/// RFC 3596 §2.5).
pub(crate) fn reverse_dns_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{d}.{c}.{b}.{a}.in-addr.arpa")
        }
        IpAddr::V6(v6) => {
            let mut out = String::with_capacity(72);
            for byte in v6.octets().iter().rev() {
                out.push_str(&format!("{:x}.{:x}.", byte & 0x0f, byte >> 4));
            }
            out.push_str("ip6.arpa");
            out
        }
    }
}

/// Accepts the peer's certificate for inspection after the handshake (RFC 8737 certificates
/// are self-signed by design, so no chain can be built); the handshake signature is still
/// verified with the certificate's own key, so the responder proves it holds that key.
#[derive(Debug)]
struct InspectAfterHandshake;

impl ServerCertVerifier for InspectAfterHandshake {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // Judged by `check_certificate` once the handshake is complete.
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_handshake_signature(message, cert, dss, false)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_handshake_signature(message, cert, dss, true)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![
            SignatureScheme::ECDSA_NISTP256_SHA256,
            SignatureScheme::ECDSA_NISTP384_SHA384,
            SignatureScheme::ED25519,
            SignatureScheme::RSA_PSS_SHA256,
            SignatureScheme::RSA_PSS_SHA384,
            SignatureScheme::RSA_PSS_SHA512,
            SignatureScheme::RSA_PKCS1_SHA256,
            SignatureScheme::RSA_PKCS1_SHA384,
            SignatureScheme::RSA_PKCS1_SHA512,
        ]
    }
}

/// The handshake signature under the certificate's key, with ring. In TLS 1.3 an ECDSA scheme
/// names its curve (RFC 8446 §4.2.3) and PKCS#1 v1.5 is not allowed.
fn verify_handshake_signature(
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
    tls13: bool,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    use ring::signature as sig;
    let bad = || rustls::Error::InvalidCertificate(rustls::CertificateError::BadSignature);
    let parsed = Certificate::from_der(cert.as_ref())
        .map_err(|_| rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding))?;
    let spki_der = der::Encode::to_der(parsed.tbs_certificate().subject_public_key_info())
        .map_err(|_| bad())?;
    let spki = SubjectPublicKeyInfoRef::from_der(&spki_der).map_err(|_| bad())?;
    let (kind, key) = csr::check_key(&spki).map_err(|_| bad())?;
    let alg: &dyn sig::VerificationAlgorithm = match (kind, dss.scheme) {
        (KeyKind::EcP256, SignatureScheme::ECDSA_NISTP256_SHA256) => &sig::ECDSA_P256_SHA256_ASN1,
        (KeyKind::EcP384, SignatureScheme::ECDSA_NISTP384_SHA384) => &sig::ECDSA_P384_SHA384_ASN1,
        (KeyKind::EcP256, SignatureScheme::ECDSA_NISTP384_SHA384) if !tls13 => {
            &sig::ECDSA_P256_SHA384_ASN1
        }
        (KeyKind::EcP384, SignatureScheme::ECDSA_NISTP256_SHA256) if !tls13 => {
            &sig::ECDSA_P384_SHA256_ASN1
        }
        (KeyKind::Ed25519, SignatureScheme::ED25519) => &sig::ED25519,
        (KeyKind::Rsa(_), SignatureScheme::RSA_PSS_SHA256) => &sig::RSA_PSS_2048_8192_SHA256,
        (KeyKind::Rsa(_), SignatureScheme::RSA_PSS_SHA384) => &sig::RSA_PSS_2048_8192_SHA384,
        (KeyKind::Rsa(_), SignatureScheme::RSA_PSS_SHA512) => &sig::RSA_PSS_2048_8192_SHA512,
        (KeyKind::Rsa(_), SignatureScheme::RSA_PKCS1_SHA256) if !tls13 => {
            &sig::RSA_PKCS1_2048_8192_SHA256
        }
        (KeyKind::Rsa(_), SignatureScheme::RSA_PKCS1_SHA384) if !tls13 => {
            &sig::RSA_PKCS1_2048_8192_SHA384
        }
        (KeyKind::Rsa(_), SignatureScheme::RSA_PKCS1_SHA512) if !tls13 => {
            &sig::RSA_PKCS1_2048_8192_SHA512
        }
        _ => {
            return Err(rustls::Error::PeerMisbehaved(
                rustls::PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme,
            ));
        }
    };
    sig::UnparsedPublicKey::new(alg, key)
        .verify(message, dss.signature())
        .map_err(|_| bad())?;
    Ok(HandshakeSignatureValid::assertion())
}

/// The client configuration of the validation handshake: ring, TLS 1.2 and 1.3 only
/// (RFC 8737 §4: "ACME servers ... MUST NOT use TLS versions lower than 1.2"), ALPN exactly
/// `acme-tls/1` (§3: "an ALPN extension with the single protocol name").
fn client_config() -> Result<rustls::ClientConfig, ValidationError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| ValidationError::Connection(format!("TLS client setup: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(InspectAfterHandshake))
        .with_no_client_auth();
    config.alpn_protocols = vec![ACME_TLS_ALPN.to_vec()];
    config.enable_sni = true;
    Ok(config)
}

impl Validator {
    /// One tls-alpn-01 attempt (RFC 8737 §3) for identifier `kind`/`value` ("dns" with a
    /// lower-case name, or "ip" with canonical IP text).
    pub(crate) async fn tlsalpn01(
        &self,
        kind: &str,
        value: &str,
        key_authorization: &str,
    ) -> Result<(), ValidationError> {
        let attempt = self.tlsalpn01_attempt(kind, value, key_authorization);
        let deadline = async {
            Timer::after(self.attempt_timeout).await;
            Err(ValidationError::Connection(format!(
                "no complete TLS handshake with {value} within {} ms",
                self.attempt_timeout.as_millis()
            )))
        };
        attempt.or(deadline).await
    }

    async fn tlsalpn01_attempt(
        &self,
        kind: &str,
        value: &str,
        key_authorization: &str,
    ) -> Result<(), ValidationError> {
        let (expected, sni, addrs) = match kind {
            "dns" => {
                let name = value.to_ascii_lowercase();
                let addrs = self
                    .resolvers
                    .for_name(&name)
                    .lookup_ip(&name)
                    .await
                    .map_err(|e| ValidationError::Dns(format!("{name}: {e}")))?;
                (Expected::Dns(name.clone()), name, addrs)
            }
            "ip" => {
                let ip: IpAddr = value
                    .parse()
                    .map_err(|_| ValidationError::Connection("invalid IP identifier".to_owned()))?;
                // RFC 8738 §6: SNI is the reverse mapping name of the address.
                (Expected::Ip(ip), reverse_dns_name(ip), vec![ip])
            }
            _ => {
                return Err(ValidationError::Connection(format!(
                    "unsupported identifier type {kind:?}"
                )));
            }
        };
        let server_name = ServerName::try_from(sni.clone())
            .map_err(|_| ValidationError::Connection(format!("invalid SNI name {sni:?}")))?;
        // RFC 8555 §10.4 / catalog #42: only permitted addresses are dialled, and the address
        // dialled is the one checked.
        let permitted: Vec<IpAddr> = addrs
            .iter()
            .copied()
            .filter(|ip| self.policy.permits(*ip))
            .collect();
        if permitted.is_empty() {
            let list: Vec<String> = addrs.iter().take(4).map(IpAddr::to_string).collect();
            return Err(ValidationError::Connection(format!(
                "{value} ({}) is not in the validation allow-list",
                list.join(", ")
            )));
        }
        let mut stream = None;
        let mut last_error = String::new();
        for ip in permitted {
            let addr = SocketAddr::new(ip, self.tlsalpn01_port);
            let connect = async { TcpStream::connect(addr).await.map_err(|e| e.to_string()) };
            let timeout = async {
                Timer::after(CONNECT_TIMEOUT).await;
                Err("connect timed out".to_owned())
            };
            match connect.or(timeout).await {
                Ok(s) => {
                    stream = Some((addr, s));
                    break;
                }
                Err(e) => last_error = format!("{addr}: {e}"),
            }
        }
        let Some((addr, stream)) = stream else {
            return Err(ValidationError::Connection(format!(
                "cannot connect to {value}: {last_error}"
            )));
        };
        let connector = TlsConnector::from(Arc::new(client_config()?));
        let tls = connector.connect(server_name, stream).await.map_err(|e| {
            ValidationError::Connection(format!("TLS handshake with {addr} ({sni}) failed: {e}"))
        })?;
        let (_, conn) = tls.get_ref();
        // RFC 8737 §3: "the application-layer protocol "acme-tls/1" was successfully negotiated".
        if conn.alpn_protocol() != Some(ACME_TLS_ALPN) {
            return Err(ValidationError::Unauthorized(format!(
                "{addr} did not negotiate the ALPN protocol \"acme-tls/1\""
            )));
        }
        // RFC 8737 §4: TLS 1.2 or later (the configuration offers nothing else; checked again).
        if !matches!(
            conn.protocol_version(),
            Some(rustls::ProtocolVersion::TLSv1_2 | rustls::ProtocolVersion::TLSv1_3)
        ) {
            return Err(ValidationError::Connection(format!(
                "{addr} did not use TLS 1.2 or later"
            )));
        }
        let leaf = conn
            .peer_certificates()
            .and_then(|c| c.first())
            .ok_or_else(|| {
                ValidationError::Unauthorized(format!("{addr} presented no certificate"))
            })?;
        let digest = ring::digest::digest(&ring::digest::SHA256, key_authorization.as_bytes());
        check_certificate(leaf.as_ref(), &expected, digest.as_ref()).map_err(|e| {
            ValidationError::Unauthorized(format!(
                "Incorrect validation certificate for tls-alpn-01 challenge from {addr}: {e}"
            ))
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use std::collections::HashMap;
    use std::io::{Read, Write};
    use std::net::{Ipv4Addr, TcpListener};
    use std::sync::Mutex;

    use der::Encode;
    use der::asn1::{Any, BitString, Uint, UtcTime};
    use der::{DateTime, Sequence};
    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
    use rustls::pki_types::PrivateKeyDer;
    use rustls::server::{ClientHello, ResolvesServerCert};
    use rustls::sign::CertifiedKey;
    use x509_cert::certificate::Version;
    use x509_cert::ext::Extension;
    use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
    use x509_cert::time::{Time, Validity};

    use super::*;
    use crate::pki::csr::{OID_EC_PUBLIC_KEY, OID_ECDSA_SHA256, OID_P256, cn_name, san_extension};
    use crate::validate::mock_dns::MockDns;
    use crate::validate::{AddressPolicy, Cidr, Resolver};

    const KEY_AUTH: &str =
        "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.nP1qzpXGymHBrUEepNY9HCsQk7K8KhOypzEt62jcerQ";
    const NAME: &str = "app.example.test";

    #[derive(Sequence)]
    struct Tbs {
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

    fn digest() -> Vec<u8> {
        ring::digest::digest(&ring::digest::SHA256, KEY_AUTH.as_bytes())
            .as_ref()
            .to_vec()
    }

    /// The acmeIdentifier extension with `value` as extnValue.
    fn acme_ext(oid: ObjectIdentifier, critical: bool, value: Vec<u8>) -> Extension {
        Extension {
            extn_id: oid,
            critical,
            extn_value: OctetString::new(value).unwrap(),
        }
    }

    fn good_acme_ext() -> Extension {
        acme_ext(
            OID_ACME_IDENTIFIER,
            true,
            OctetString::new(digest()).unwrap().to_der().unwrap(),
        )
    }

    fn dns_san(names: &[&str]) -> Extension {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        san_extension(&names, &[], false).unwrap()
    }

    /// A validation certificate: what the tests vary.
    struct Spec {
        extensions: Vec<Extension>,
        issuer_cn: &'static str,
        corrupt_signature: bool,
    }

    impl Spec {
        fn good() -> Spec {
            Spec {
                extensions: vec![dns_san(&[NAME]), good_acme_ext()],
                issuer_cn: "acme",
                corrupt_signature: false,
            }
        }
    }

    /// A P-256 key (PKCS#8) and a certificate for it built from `spec` (subject CN "acme").
    fn build(spec: &Spec) -> (Vec<u8>, Vec<u8>) {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let spki = SubjectPublicKeyInfoOwned {
            algorithm: AlgorithmIdentifierOwned {
                oid: OID_EC_PUBLIC_KEY,
                parameters: Some(Any::encode_from(&OID_P256).unwrap()),
            },
            subject_public_key: BitString::from_bytes(key.public_key().as_ref()).unwrap(),
        };
        let alg = AlgorithmIdentifierOwned {
            oid: OID_ECDSA_SHA256,
            parameters: None,
        };
        let time = |y| {
            Time::UtcTime(
                UtcTime::from_date_time(DateTime::new(y, 1, 1, 0, 0, 0).unwrap()).unwrap(),
            )
        };
        let tbs = Tbs {
            version: Version::V3,
            serial_number: Uint::new(&[1, 2, 3]).unwrap(),
            signature: alg.clone(),
            issuer: Any::encode_from(&cn_name(spec.issuer_cn).unwrap()).unwrap(),
            validity: Validity::new(time(2020), time(2040)),
            subject: Any::encode_from(&cn_name("acme").unwrap()).unwrap(),
            subject_public_key_info: Any::encode_from(&spki).unwrap(),
            extensions: spec.extensions.clone(),
        };
        let tbs_der = tbs.to_der().unwrap();
        let mut signature = key.sign(&rng, &tbs_der).unwrap().as_ref().to_vec();
        if spec.corrupt_signature {
            let last = signature.len() - 1;
            signature[last] ^= 1;
        }
        let cert = Signed {
            tbs: Any::from_der(&tbs_der).unwrap(),
            algorithm: alg,
            signature: BitString::from_bytes(&signature).unwrap(),
        };
        (pkcs8.as_ref().to_vec(), cert.to_der().unwrap())
    }

    fn check(spec: &Spec) -> Result<(), AlpnCertError> {
        let (_, cert) = build(spec);
        check_certificate(&cert, &Expected::Dns(NAME.into()), &digest())
    }

    // RFC 8737 §3: a conforming certificate passes; dNSName compared case-insensitively.
    #[test]
    fn rfc8737_s3_conforming_certificate_accepted() {
        assert_eq!(check(&Spec::good()), Ok(()));
        let mut upper = Spec::good();
        upper.extensions[0] = dns_san(&["App.EXAMPLE.test"]);
        assert_eq!(check(&upper), Ok(()));
    }

    // RFC 8738 §6: an IP identifier needs one iPAddress SAN with its octets.
    #[test]
    fn rfc8738_s6_ip_san() {
        let ip = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 10));
        let mut spec = Spec::good();
        spec.extensions[0] = san_extension(&[], &[ip], false).unwrap();
        let (_, cert) = build(&spec);
        assert_eq!(
            check_certificate(&cert, &Expected::Ip(ip), &digest()),
            Ok(())
        );
        let other = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 11));
        assert!(matches!(
            check_certificate(&cert, &Expected::Ip(other), &digest()),
            Err(AlpnCertError::WrongSan(_))
        ));
        // A dNSName holding the address text is not an iPAddress SAN.
        let mut spec = Spec::good();
        spec.extensions[0] = dns_san(&["192.168.1.10"]);
        let (_, cert) = build(&spec);
        assert!(matches!(
            check_certificate(&cert, &Expected::Ip(ip), &digest()),
            Err(AlpnCertError::WrongSan(_))
        ));
    }

    // RFC 8737 §3: a subjectAltName extension is required.
    #[test]
    fn rfc8737_s3_missing_san_rejected() {
        let mut spec = Spec::good();
        spec.extensions.remove(0);
        assert_eq!(check(&spec), Err(AlpnCertError::NoSubjectAltName));
    }

    // RFC 8737 §3: the identifier "and no other entries".
    #[test]
    fn rfc8737_s3_extra_san_rejected() {
        let mut spec = Spec::good();
        spec.extensions[0] = dns_san(&[NAME, "other.example.test"]);
        assert_eq!(check(&spec), Err(AlpnCertError::NotExactlyOneSan(2)));
    }

    // RFC 8737 §3: the one SAN must be the identifier being validated.
    #[test]
    fn rfc8737_s3_wrong_san_rejected() {
        let mut spec = Spec::good();
        spec.extensions[0] = dns_san(&["evil.example.test"]);
        assert!(matches!(check(&spec), Err(AlpnCertError::WrongSan(_))));
        let mut spec = Spec::good();
        spec.extensions[0] = san_extension(&[], &[IpAddr::V4(Ipv4Addr::LOCALHOST)], false).unwrap();
        assert!(matches!(check(&spec), Err(AlpnCertError::WrongSan(_))));
    }

    // RFC 8737 §3: the acmeIdentifier extension (1.3.6.1.5.5.7.1.31) is required.
    #[test]
    fn rfc8737_s3_missing_acme_identifier_rejected() {
        let mut spec = Spec::good();
        spec.extensions.remove(1);
        assert_eq!(
            check(&spec),
            Err(AlpnCertError::MissingAcmeIdentifier { obsolete: false })
        );
    }

    // RFC 8737 §6.1 / catalog #43: the obsolete draft OID 1.3.6.1.5.5.7.1.30.1 is refused.
    #[test]
    fn rfc8737_s6_1_obsolete_oid_rejected() {
        let mut spec = Spec::good();
        spec.extensions[1] = acme_ext(
            OID_ACME_IDENTIFIER_OBSOLETE,
            true,
            OctetString::new(digest()).unwrap().to_der().unwrap(),
        );
        assert_eq!(
            check(&spec),
            Err(AlpnCertError::MissingAcmeIdentifier { obsolete: true })
        );
    }

    // RFC 8737 §3: "The acmeIdentifier extension MUST be critical".
    #[test]
    fn rfc8737_s3_non_critical_acme_identifier_rejected() {
        let mut spec = Spec::good();
        spec.extensions[1] = acme_ext(
            OID_ACME_IDENTIFIER,
            false,
            OctetString::new(digest()).unwrap().to_der().unwrap(),
        );
        assert_eq!(check(&spec), Err(AlpnCertError::AcmeIdentifierNotCritical));
    }

    // RFC 8737 §3: extnValue is the DER of an OCTET STRING of exactly 32 bytes.
    #[test]
    fn rfc8737_s3_acme_identifier_encoding_rejected() {
        let raw_digest = digest(); // the digest without the OCTET STRING wrapper
        let mut trailing = OctetString::new(digest()).unwrap().to_der().unwrap();
        trailing.push(0);
        let short = OctetString::new(&digest()[..31]).unwrap().to_der().unwrap();
        let mut long_digest = digest();
        long_digest.push(0);
        let long = OctetString::new(long_digest).unwrap().to_der().unwrap();
        let mut wrong_tag = OctetString::new(digest()).unwrap().to_der().unwrap();
        wrong_tag[0] = 0x0c; // UTF8String
        for value in [raw_digest, trailing, short, long, wrong_tag] {
            let mut spec = Spec::good();
            spec.extensions[1] = acme_ext(OID_ACME_IDENTIFIER, true, value);
            assert_eq!(check(&spec), Err(AlpnCertError::AcmeIdentifierEncoding));
        }
    }

    // RFC 8737 §3: the digest must be SHA-256 of this challenge's key authorization.
    #[test]
    fn rfc8737_s3_wrong_digest_rejected() {
        let mut spec = Spec::good();
        let other = ring::digest::digest(&ring::digest::SHA256, b"another.key-authorization");
        spec.extensions[1] = acme_ext(
            OID_ACME_IDENTIFIER,
            true,
            OctetString::new(other.as_ref()).unwrap().to_der().unwrap(),
        );
        assert_eq!(check(&spec), Err(AlpnCertError::DigestMismatch));
    }

    // RFC 5280 §4.2 / catalog #43: no extension may appear twice (SAN or acmeIdentifier).
    #[test]
    fn rfc5280_duplicate_extension_rejected() {
        let mut spec = Spec::good();
        spec.extensions.push(good_acme_ext());
        assert!(matches!(
            check(&spec),
            Err(AlpnCertError::DuplicateExtension(_))
        ));
        let mut spec = Spec::good();
        spec.extensions.push(dns_san(&["evil.example.test"]));
        assert!(matches!(
            check(&spec),
            Err(AlpnCertError::DuplicateExtension(_))
        ));
    }

    // RFC 8737 §3: self-signed — issuer equals subject ...
    #[test]
    fn rfc8737_s3_issuer_not_subject_rejected() {
        let mut spec = Spec::good();
        spec.issuer_cn = "some CA";
        assert_eq!(check(&spec), Err(AlpnCertError::NotSelfSigned));
    }

    // ... and the signature verifies under the certificate's own key.
    #[test]
    fn rfc8737_s3_bad_self_signature_rejected() {
        let mut spec = Spec::good();
        spec.corrupt_signature = true;
        assert_eq!(check(&spec), Err(AlpnCertError::BadSelfSignature));
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert!(matches!(
            check_certificate(
                b"\x30\x03\x02\x01\x01",
                &Expected::Dns(NAME.into()),
                &digest()
            ),
            Err(AlpnCertError::Decode(_))
        ));
    }

    // RFC 8738 §6: reverse-DNS SNI names (RFC 1035 §3.5, RFC 3596 §2.5).
    #[test]
    fn rfc8738_s6_reverse_names() {
        assert_eq!(
            reverse_dns_name("192.0.2.5".parse().unwrap()),
            "5.2.0.192.in-addr.arpa"
        );
        assert_eq!(
            reverse_dns_name("2001:db8::567:89ab".parse().unwrap()),
            "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"
        );
    }

    /// Records what the validator sent in its ClientHello and serves one certificate.
    #[derive(Debug)]
    struct Recorder {
        key: Arc<CertifiedKey>,
        seen: Seen,
    }

    impl ResolvesServerCert for Recorder {
        fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
            let alpn = hello
                .alpn()
                .map(|a| a.map(<[u8]>::to_vec).collect())
                .unwrap_or_default();
            self.seen
                .lock()
                .unwrap()
                .push((hello.server_name().map(str::to_owned), alpn));
            Some(self.key.clone())
        }
    }

    type Seen = Arc<Mutex<Vec<(Option<String>, Vec<Vec<u8>>)>>>;

    /// An in-process TLS responder on 127.0.0.1 serving `spec`'s certificate; `alpn` is what it
    /// negotiates (empty: no ALPN). It completes the handshake and resets, like certbot's.
    fn responder(spec: &Spec, alpn: Vec<Vec<u8>>) -> (u16, Seen) {
        responder_with(spec, alpn, false)
    }

    /// `foreign_key`: sign the handshake with a key other than the certificate's.
    fn responder_with(spec: &Spec, alpn: Vec<Vec<u8>>, foreign_key: bool) -> (u16, Seen) {
        let (pkcs8, cert) = build(spec);
        let pkcs8 = if foreign_key { build(spec).0 } else { pkcs8 };
        let signing =
            rustls::crypto::ring::sign::any_supported_type(&PrivateKeyDer::Pkcs8(pkcs8.into()))
                .unwrap();
        let seen: Seen = Arc::default();
        let recorder = Recorder {
            key: Arc::new(CertifiedKey::new(vec![cert.into()], signing)),
            seen: seen.clone(),
        };
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(recorder));
        config.alpn_protocols = alpn;
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let Ok(mut conn) = rustls::ServerConnection::new(config.clone()) else {
                    return;
                };
                while conn.is_handshaking() {
                    if conn.complete_io(&mut stream).is_err() {
                        break;
                    }
                }
                let _ = conn.complete_io(&mut stream); // flush the last flight
                drop(stream); // no close_notify
            }
        });
        (port, seen)
    }

    fn validator(port: u16, dns: Option<&MockDns>, allow: &str) -> Validator {
        let servers = dns.map(|d| vec![d.addr]).unwrap_or_default();
        Validator::new(
            Resolver::new(servers, Duration::from_secs(2)),
            AddressPolicy::new(vec![allow.parse::<Cidr>().unwrap()]),
            80,
            Duration::from_secs(5),
        )
        .with_tlsalpn01_port(port)
    }

    fn loopback_dns() -> MockDns {
        MockDns::start(HashMap::new(), Some(IpAddr::V4(Ipv4Addr::LOCALHOST)))
    }

    // RFC 8737 §3: SNI = the name, ALPN offered = exactly "acme-tls/1", and a conforming
    // responder validates (after a reset instead of close_notify).
    #[test]
    fn rfc8737_s3_handshake_validates_and_sends_sni_and_alpn() {
        let (port, seen) = responder(&Spec::good(), vec![ACME_TLS_ALPN.to_vec()]);
        let dns = loopback_dns();
        let v = validator(port, Some(&dns), "127.0.0.0/8");
        smol::block_on(v.tlsalpn01("dns", NAME, KEY_AUTH)).unwrap();
        let seen = seen.lock().unwrap();
        assert_eq!(
            seen.as_slice(),
            &[(Some(NAME.to_owned()), vec![ACME_TLS_ALPN.to_vec()])]
        );
    }

    // RFC 8738 §6: for an IP identifier the SNI is the reverse-DNS name.
    #[test]
    fn rfc8738_s6_ip_identifier_sni_is_reverse_name() {
        let mut spec = Spec::good();
        spec.extensions[0] = san_extension(&[], &[IpAddr::V4(Ipv4Addr::LOCALHOST)], false).unwrap();
        let (port, seen) = responder(&spec, vec![ACME_TLS_ALPN.to_vec()]);
        let v = validator(port, None, "127.0.0.0/8");
        smol::block_on(v.tlsalpn01("ip", "127.0.0.1", KEY_AUTH)).unwrap();
        assert_eq!(
            seen.lock().unwrap()[0].0.as_deref(),
            Some("1.0.0.127.in-addr.arpa")
        );
    }

    // RFC 8737 §3: "acme-tls/1" must be negotiated; a responder without ALPN fails.
    #[test]
    fn rfc8737_s3_alpn_not_negotiated_rejected() {
        let (port, _) = responder(&Spec::good(), vec![]);
        let dns = loopback_dns();
        let v = validator(port, Some(&dns), "127.0.0.0/8");
        let e = smol::block_on(v.tlsalpn01("dns", NAME, KEY_AUTH)).unwrap_err();
        assert!(
            matches!(&e, ValidationError::Unauthorized(d) if d.contains("acme-tls/1")),
            "{e:?}"
        );
    }

    // RFC 8737 §3 over the wire: a certificate breaking a rule fails the attempt.
    #[test]
    fn rfc8737_s3_bad_certificate_over_tls_rejected() {
        let mut spec = Spec::good();
        spec.extensions[0] = dns_san(&["evil.example.test"]);
        let (port, _) = responder(&spec, vec![ACME_TLS_ALPN.to_vec()]);
        let dns = loopback_dns();
        let v = validator(port, Some(&dns), "127.0.0.0/8");
        let e = smol::block_on(v.tlsalpn01("dns", NAME, KEY_AUTH)).unwrap_err();
        assert!(
            matches!(&e, ValidationError::Unauthorized(d) if d.contains("subjectAltName")),
            "{e:?}"
        );
    }

    // The handshake signature must verify under the certificate's key: a responder replaying
    // someone else's certificate without its private key fails.
    #[test]
    fn handshake_signed_with_another_key_rejected() {
        let (port, _) = responder_with(&Spec::good(), vec![ACME_TLS_ALPN.to_vec()], true);
        let dns = loopback_dns();
        let v = validator(port, Some(&dns), "127.0.0.0/8");
        let e = smol::block_on(v.tlsalpn01("dns", NAME, KEY_AUTH)).unwrap_err();
        assert!(
            matches!(&e, ValidationError::Connection(d) if d.contains("TLS handshake")),
            "{e:?}"
        );
    }

    // RFC 8737 §4: TLS 1.2 at least — a server answering with TLS 1.1 fails the handshake.
    #[test]
    fn rfc8737_s4_tls_below_1_2_rejected() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let Ok((mut s, _)) = listener.accept() else {
                return;
            };
            let mut buf = [0u8; 2048];
            let _ = s.read(&mut buf);
            // ServerHello, legacy version 3.2 (TLS 1.1), TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256.
            let mut hello = vec![0x03, 0x02];
            hello.extend_from_slice(&[7u8; 32]);
            hello.extend_from_slice(&[0x00, 0xc0, 0x2f, 0x00]);
            let mut hs = vec![0x02, 0x00, 0x00, hello.len() as u8];
            hs.extend_from_slice(&hello);
            let mut record = vec![0x16, 0x03, 0x02, 0x00, hs.len() as u8];
            record.extend_from_slice(&hs);
            let _ = s.write_all(&record);
            let _ = s.read(&mut buf);
        });
        let v = validator(port, None, "127.0.0.0/8");
        let e = smol::block_on(v.tlsalpn01("ip", "127.0.0.1", KEY_AUTH)).unwrap_err();
        assert!(
            matches!(&e, ValidationError::Connection(d) if d.contains("ServerDoesNotSupportTls12Or13")),
            "{e:?}"
        );
    }

    // RFC 8555 §10.4 / catalog #42: an address outside the allow-list is never dialled.
    #[test]
    fn address_policy_applies_to_tls_alpn() {
        let (port, seen) = responder(&Spec::good(), vec![ACME_TLS_ALPN.to_vec()]);
        let dns = loopback_dns();
        let v = validator(port, Some(&dns), "10.0.0.0/8");
        let e = smol::block_on(v.tlsalpn01("dns", NAME, KEY_AUTH)).unwrap_err();
        assert!(matches!(e, ValidationError::Connection(_)), "{e:?}");
        let e = smol::block_on(v.tlsalpn01("ip", "127.0.0.1", KEY_AUTH)).unwrap_err();
        assert!(matches!(e, ValidationError::Connection(_)), "{e:?}");
        assert!(
            seen.lock().unwrap().is_empty(),
            "a refused address was dialled"
        );
    }
}
