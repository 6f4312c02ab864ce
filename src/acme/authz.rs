//! Authorization resources (RFC 8555 §7.5): POST-as-GET, and the JSON views of authorizations
//! and challenges.

use serde::Serialize;

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

    /// POST-as-GET on an authorization (RFC 8555 §7.5).
    pub(crate) fn authz(&self, req: &Request, path: &str, id: &str) -> Result<Response, Problem> {
        let auth = self.authenticate(req, path, KeyStyle::Kid)?;
        auth.require_post_as_get()?;
        let account = auth.account()?;
        let authz = self.authz_of(self.store.read(|r| r.authz(id))?, &account.id)?;
        let status = state::authz_status(&authz, now());
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
        let resp = json_response(200, &view);
        Ok(if processing {
            resp.with_header("Retry-After", "1")
        } else {
            resp
        })
    }
}
