//! Authorization resources (RFC 8555 §7.5): POST-as-GET, deactivation (§7.5.2), and the JSON
//! views of authorizations and challenges.

use serde::{Deserialize, Serialize};

use crate::acme::problem::Problem;
use crate::acme::request::KeyStyle;
use crate::acme::{Acme, json_response, now, rfc3339, state};
use crate::http::{Request, Response};
use crate::store::records::{
    AuthzRecord, AuthzStatus, ChallengeRecord, ChallengeStatus, Identifier,
};

/// The authorization object of RFC 8555 §7.1.4. `status` comes before `challenges`: acme.sh
/// takes the first `"status"` it finds as the authorization's (interop.md).
#[derive(Serialize)]
struct AuthzView<'a> {
    status: AuthzStatus,
    expires: String,
    identifier: &'a Identifier,
    challenges: Vec<ChallengeView<'a>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    wildcard: bool,
}

/// The challenge object of RFC 8555 §7.1.5 / §8.
#[derive(Serialize)]
pub(crate) struct ChallengeView<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    url: String,
    status: ChallengeStatus,
    token: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    validated: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a serde_json::Value>,
}

impl Acme {
    pub(crate) fn challenge_view<'a>(&self, c: &'a ChallengeRecord) -> ChallengeView<'a> {
        ChallengeView {
            kind: &c.kind,
            url: self.urls.challenge(&c.id),
            status: c.status,
            token: &c.token,
            validated: c.validated.map(rfc3339),
            error: c.error.as_ref(),
        }
    }

    /// Loads an authorization of the signing account (catalog #31: another's → 403).
    pub(crate) fn authz_of(
        &self,
        authz: Option<AuthzRecord>,
        account_id: &str,
    ) -> Result<AuthzRecord, Problem> {
        let authz = authz.ok_or_else(Problem::not_found)?;
        if authz.account_id != account_id {
            return Err(Problem::unauthorized(
                "this authorization belongs to another account",
            ));
        }
        Ok(authz)
    }

    /// POST to an authorization: POST-as-GET (RFC 8555 §7.5) or deactivation (§7.5.2).
    pub(crate) async fn authz(
        &self,
        req: &Request,
        path: &str,
        id: &str,
    ) -> Result<Response, Problem> {
        let auth = self.authenticate(req, path, KeyStyle::Kid)?;
        let account = auth.account()?;
        let authz = self.authz_of(self.store.read(|r| r.authz(id))?, &account.id)?;
        req.log.set("order", &authz.order_id);
        if auth.is_post_as_get() {
            return Ok(self.authz_view_response(&authz, 200));
        }
        #[derive(Deserialize)]
        struct Deactivate {
            status: String,
        }
        // RFC 8555 §7.5.2: deactivation is a POST with `status` = "deactivated"; nothing else
        // about an authorization can be changed by the client.
        let d: Deactivate = auth.payload()?;
        if d.status != "deactivated" {
            return Err(Problem::malformed(
                "an authorization can only be moved to \"deactivated\"",
            ));
        }
        // §7.1.6: only a pending or valid authorization can be deactivated.
        let current = state::authz_status(&authz, now());
        if !matches!(current, AuthzStatus::Pending | AuthzStatus::Valid) {
            return Err(Problem::malformed(format!(
                "only a pending or valid authorization can be deactivated (it is {})",
                format!("{current:?}").to_lowercase()
            )));
        }
        let authz_id = authz.id.clone();
        let updated = self
            .store
            .write(move |w| {
                let Some(mut a) = w.authz(&authz_id)? else {
                    return Ok(None);
                };
                if matches!(a.status, AuthzStatus::Pending | AuthzStatus::Valid) {
                    a.status = AuthzStatus::Deactivated;
                    w.put_authz(&a)?;
                }
                Ok(Some(a))
            })
            .await?
            .ok_or_else(Problem::not_found)?;
        log::info!("authorization {} deactivated", updated.id);
        Ok(self.authz_view_response(&updated, 200))
    }

    /// The authorization object (with `Retry-After` while a challenge is processing).
    pub(crate) fn authz_view_response(&self, authz: &AuthzRecord, code: u16) -> Response {
        let status = state::authz_status(authz, now());
        let processing = authz
            .challenges
            .iter()
            .any(|c| c.status == ChallengeStatus::Processing);
        let view = AuthzView {
            status,
            expires: rfc3339(authz.expires),
            identifier: &authz.identifier,
            challenges: authz
                .challenges
                .iter()
                .map(|c| self.challenge_view(c))
                .collect(),
            wildcard: authz.wildcard,
        };
        let resp = json_response(code, &view);
        if processing {
            resp.with_header("Retry-After", "1")
        } else {
            resp
        }
    }
}
