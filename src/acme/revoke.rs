//! Certificate revocation (RFC 8555 §7.6), signed by the account that ordered the certificate,
//! by an account holding valid authorizations for every identifier in it, or by the
//! certificate's own key.
//! The revocation is forwarded to the CA first; the RA marks its own record only when the CA
//! confirmed, so it never claims a revocation that did not happen.

use serde::Deserialize;

use crate::acme::problem::{Problem, ProblemType};
use crate::acme::request::KeyStyle;
use crate::acme::{Acme, now, state};
use crate::ca::RevocationReason;
use crate::http::{Request, Response};
use crate::jose::b64;
use crate::pki;
use crate::store::records::{AuthzStatus, Revocation};

/// RFC 5280 §5.3.1 codes a subscriber may give (as Let's Encrypt allows).
const ALLOWED_REASONS: &[u8] = &[0, 1, 3, 4, 5];

#[derive(Deserialize)]
struct Revoke {
    certificate: String,
    #[serde(default)]
    reason: Option<u8>,
}

impl Acme {
    /// RFC 8555 §7.6: "The account holds authorizations for all of the identifiers in the
    /// certificate." Each identifier needs its own valid, unexpired authorization of this
    /// account (catalog #46: judged one by one, never "any one of them").
    fn holds_authzs_for(&self, account_id: &str, info: &pki::CertInfo) -> Result<bool, Problem> {
        let now = now();
        let mut wanted: Vec<(&str, String)> = info
            .dns_names
            .iter()
            .map(|n| {
                // A wildcard name is authorized by the base name (RFC 8555 §7.1.3).
                let base = n.strip_prefix("*.").unwrap_or(n);
                ("dns", base.to_ascii_lowercase())
            })
            .collect();
        wanted.extend(info.ip_addrs.iter().map(|ip| ("ip", ip.to_string())));
        if wanted.is_empty() {
            return Ok(false);
        }
        self.store
            .read(|r| {
                for (kind, value) in &wanted {
                    let authzs = r.authzs_for_identifier(account_id, kind, value)?;
                    let valid = authzs
                        .iter()
                        .any(|a| state::authz_status(a, now) == AuthzStatus::Valid);
                    if !valid {
                        return Ok(false);
                    }
                }
                Ok(true)
            })
            .map_err(Problem::from)
    }

    pub(crate) async fn revoke(&self, req: &Request, path: &str) -> Result<Response, Problem> {
        let auth = self.authenticate(req, path, KeyStyle::Either)?;
        let payload: Revoke = auth.payload()?;
        let reason = payload.reason.unwrap_or(0);
        if !ALLOWED_REASONS.contains(&reason) {
            return Err(Problem::new(
                ProblemType::BadRevocationReason,
                format!("reason {reason} is not allowed; use one of {ALLOWED_REASONS:?}"),
            ));
        }
        let der = b64::decode(&payload.certificate)
            .map_err(|_| Problem::malformed("certificate is not base64url-encoded DER"))?;
        let info =
            pki::cert_info(&der).map_err(|_| Problem::malformed("certificate cannot be parsed"))?;
        let not_ours = || {
            Problem::malformed("this certificate was not issued by this server").with_status(404)
        };
        let cert = self
            .store
            .read(|r| r.cert_by_serial(&info.serial))?
            .ok_or_else(not_ours)?;
        // Catalog #55: the certificate must be exactly the one we issued under that serial.
        let stored_leaf = pki::pem_to_ders(&cert.chain_pem)
            .ok()
            .and_then(|d| d.into_iter().next());
        if stored_leaf.as_deref() != Some(der.as_slice()) {
            return Err(not_ours());
        }
        // Catalog #55 / I6: bind the proof to this certificate — the ordering account, or a
        // `jwk` that is exactly the certificate's public key.
        let authorized = match auth.signer_account() {
            Some(account) => {
                cert.account_id == account.id || self.holds_authzs_for(&account.id, &info)?
            }
            None => auth.key().spki_der() == info.spki_der,
        };
        if !authorized {
            return Err(Problem::unauthorized(
                "only the account that ordered this certificate, an account holding valid \
                 authorizations for all its identifiers, or the certificate's own key may \
                 revoke it",
            ));
        }
        req.log.set("order", &cert.order_id);
        if cert.revoked.is_some() {
            return Err(Problem::new(
                ProblemType::AlreadyRevoked,
                "the certificate is already revoked",
            ));
        }
        let ca_reason = RevocationReason::from_code(reason)
            .ok_or_else(|| Problem::new(ProblemType::BadRevocationReason, "unknown reason code"))?;
        // The uPKI CA revokes by subject CN and only the newest certificate of a CN
        // (protocol notes 2, 3): `forward` checks it is this one and that the CRL lists it.
        crate::ca::revocation::forward(&self.ca, &der, &info, ca_reason).await?;
        let id = cert.id.clone();
        self.store
            .write(move |w| {
                if let Some(mut c) = w.cert(&id)?
                    && c.revoked.is_none()
                {
                    c.revoked = Some(Revocation { reason, at: now() });
                    w.put_cert(&c)?;
                }
                Ok(())
            })
            .await?;
        log::info!(
            "certificate serial {} revoked (reason {reason})",
            info.serial
        );
        Ok(Response::new(200))
    }
}
