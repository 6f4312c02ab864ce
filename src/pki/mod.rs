//! pki: X.509 and PKCS#10 for upki-ra.
//!
//! - [`csr`]: parse and verify a PKCS#10 CSR (RFC 2986) into a [`csr::ValidatedCsr`], the only
//!   thing finalize (RFC 8555 §7.4) accepts; also build the RA's own CSR.
//! - [`fermat`]: the Fermat factorisation check of RSA moduli (catalog #53, decision 7).
//! - [`cert`]: certificate facts (RFC 5280 §4.1), PEM helpers (RFC 7468), issuer signature check.
//! - [`issuer`]: the embedded CA's root key and certificate, leaf issuance and CRLs (RFC 5280 §5).
#![forbid(unsafe_code)]

pub(crate) mod cert;
pub(crate) mod csr;
pub(crate) mod fermat;
pub(crate) mod issuer;

#[allow(unused_imports)]
pub(crate) use cert::{CertError, CertInfo, cert_info, der_to_pem, pem_to_ders, verify_issued_by};
#[allow(unused_imports)]
pub(crate) use csr::{CsrError, ValidatedCsr, build_csr};
