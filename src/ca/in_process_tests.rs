//! Tests of the trust boundary between the RA and its own embedded CA (issue 7: each CSR
//! signature verified once): `EmbeddedCa::start_for_ra`, `VerifiedByRa`, `SignedInProcess`.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::time::Duration;

use crate::ca::client::CaClient;
use crate::ca::embedded::EmbeddedCa;
use crate::ca::embedded::tests::{csr_pem, temp_dir};
use crate::ca::proto::CaError;
use crate::pki::cert::{CertError, check_issued_in_process, pem_to_ders};
use crate::pki::issuer::{Issuer, profile};
use crate::pki::{CsrError, ValidatedCsr};

// The RA's own CA exists only on an in-process endpoint: over tcp/ipc it would be reachable by
// another trust domain, which must never skip a CSR signature check.
#[test]
fn start_for_ra_needs_an_in_process_endpoint() {
    let dir = temp_dir("for-ra-tcp");
    let ctx = zmq::Context::new();
    assert!(EmbeddedCa::start_for_ra(&ctx, "tcp://127.0.0.1:*", &dir).is_err());
    let ca = EmbeddedCa::start(&ctx, "inproc://for-ra-plain", &dir).unwrap();
    assert!(ca.signed_in_process().is_none());
    drop(ca);
    let ca = EmbeddedCa::start_for_ra(&ctx, "inproc://for-ra", &dir).unwrap();
    assert!(ca.signed_in_process().is_some());
    drop(ca);
    fs::remove_dir_all(&dir).unwrap();
}

// Catalog #50 is enforced once, by the RA's finalize; the in-process CA leaves the signature to
// it but still applies the key policy (catalog #53), while a CA started for any other client
// (same inproc transport) verifies the signature itself.
#[test]
fn catalog_50_53_in_process_ca_checks_key_policy_not_signature() {
    let dir = temp_dir("for-ra-sign");
    let ctx = zmq::Context::new();
    let bad_sig = csr_pem(include_bytes!("../pki/testdata/bad_sig.der"));
    let weak = csr_pem(include_bytes!("../pki/testdata/rsa1024.der"));
    let good = csr_pem(include_bytes!("../pki/testdata/p256.der"));
    // The RA refuses the bad signature before anything reaches the CA.
    assert_eq!(
        ValidatedCsr::from_der(include_bytes!("../pki/testdata/bad_sig.der")).unwrap_err(),
        CsrError::Signature
    );
    {
        let ca = EmbeddedCa::start_for_ra(&ctx, "inproc://for-ra-sign", &dir).unwrap();
        let client = CaClient::connect(ctx.clone(), "inproc://for-ra-sign", Duration::from_secs(5));
        smol::block_on(async {
            client.sign(&good, "server").await.unwrap();
            client.sign(&bad_sig, "server").await.unwrap();
            let err = client.sign(&weak, "server").await.unwrap_err();
            assert!(
                matches!(
                    err,
                    CaError::Remote {
                        code: Some(300),
                        ..
                    }
                ),
                "{err:?}"
            );
        });
        drop(ca);
    }
    let ca = EmbeddedCa::start(&ctx, "inproc://plain-sign", &dir).unwrap();
    let client = CaClient::connect(ctx.clone(), "inproc://plain-sign", Duration::from_secs(5));
    smol::block_on(async {
        client.sign(&good, "server").await.unwrap();
        let err = client.sign(&bad_sig, "server").await.unwrap_err();
        assert!(
            matches!(
                err,
                CaError::Remote {
                    code: Some(300),
                    ..
                }
            ),
            "{err:?}"
        );
    });
    drop(ca);
    fs::remove_dir_all(&dir).unwrap();
}

// Catalog #57 with the in-process CA: a certificate that names another issuer, or whose issuer
// is not a CA, is still refused; only the signature check is left out.
#[test]
fn catalog_57_in_process_check_refuses_other_issuer() {
    let dir = temp_dir("in-process-57");
    let ctx = zmq::Context::new();
    let ca = EmbeddedCa::start_for_ra(&ctx, "inproc://in-process-57", &dir).unwrap();
    let signed = ca.signed_in_process().unwrap();
    let client = CaClient::connect(
        ctx.clone(),
        "inproc://in-process-57",
        Duration::from_secs(5),
    );
    let (root, leaf) = smol::block_on(async {
        let root = client.get_ca().await.unwrap();
        let leaf = client
            .sign(
                &csr_pem(include_bytes!("../pki/testdata/p256.der")),
                "server",
            )
            .await
            .unwrap();
        (root, leaf)
    });
    let root = pem_to_ders(&root).unwrap().remove(0);
    let leaf = pem_to_ders(&leaf.certificate_pem).unwrap().remove(0);
    check_issued_in_process(&leaf, &root, &signed).unwrap();
    let other = Issuer::load_or_create(&dir.join("other")).unwrap();
    assert_eq!(
        check_issued_in_process(&leaf, other.cert_der(), &signed),
        Err(CertError::IssuerMismatch)
    );
    let csr = ValidatedCsr::from_der(include_bytes!("../pki/testdata/p256.der")).unwrap();
    let (leaf2, _) = other.issue(&csr, profile("server").unwrap()).unwrap();
    let (leaf3, _) = other.issue(&csr, profile("server").unwrap()).unwrap();
    assert!(check_issued_in_process(&leaf3, &leaf2, &signed).is_err());
    drop(ca);
    fs::remove_dir_all(&dir).unwrap();
}
