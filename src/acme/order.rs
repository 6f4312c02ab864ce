//! Order resources (RFC 8555 §7.4): newOrder and the order URL (POST-as-GET).

use serde::{Deserialize, Serialize};

use crate::acme::identifier::{self, IdentifierError, Normalized};
use crate::acme::problem::{Problem, ProblemType, Subproblem};
use crate::acme::request::KeyStyle;
use crate::acme::{Acme, ids, json_response, legacy_ip, now, renewal_info, rfc3339, state};
use crate::http::{Request, Response};
use crate::store::records::{
    AccountRecord, AuthzRecord, AuthzStatus, ChallengeRecord, ChallengeStatus, Identifier,
    OrderRecord, OrderStatus, SCHEMA_VERSION,
};

/// RFC 8555 §7.4 newOrder payload (unknown fields ignored).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewOrder {
    identifiers: Vec<Identifier>,
    #[serde(default)]
    not_before: Option<String>,
    #[serde(default)]
    not_after: Option<String>,
    /// ACME profiles extension.
    #[serde(default)]
    profile: Option<String>,
    /// RFC 9773 §5: the certID of the certificate this order renews.
    #[serde(default)]
    replaces: Option<String>,
}

/// The order object of RFC 8555 §7.1.3 (`status` first for regex-parsing clients).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OrderView<'a> {
    status: OrderStatus,
    expires: String,
    identifiers: &'a [Identifier],
    #[serde(skip_serializing_if = "Option::is_none")]
    not_before: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    not_after: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    profile: Option<&'a str>,
    authorizations: Vec<String>,
    finalize: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    certificate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a serde_json::Value>,
    /// RFC 9773 §5: echoed when the order replaces a certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    replaces: Option<&'a str>,
}

impl Acme {
    /// The order JSON response with its `Location` (interop.md: on new-order, finalize and
    /// POST-as-GET) and, while it is processing, a `Retry-After`.
    pub(crate) fn order_response(
        &self,
        order: &OrderRecord,
        status: OrderStatus,
        code: u16,
    ) -> Response {
        let view = OrderView {
            status,
            expires: rfc3339(order.expires),
            identifiers: &order.identifiers,
            not_before: order.not_before.map(rfc3339),
            not_after: order.not_after.map(rfc3339),
            profile: Some(order.profile.as_str()),
            authorizations: order
                .authz_ids
                .iter()
                .map(|id| self.urls.authz(id))
                .collect(),
            finalize: self.urls.finalize(&order.id),
            certificate: match (status, &order.cert_id) {
                (OrderStatus::Valid, Some(id)) => Some(self.urls.cert(id)),
                _ => None,
            },
            error: order.error.as_ref(),
            replaces: order.replaces.as_deref(),
        };
        let resp = json_response(code, &view).with_header("Location", self.urls.order(&order.id));
        if status == OrderStatus::Processing {
            resp.with_header("Retry-After", "1")
        } else {
            resp
        }
    }

    /// Loads an order of `account` with its authorizations; another account's → 403 (catalog #31).
    pub(crate) fn load_order(
        &self,
        id: &str,
        account: &AccountRecord,
    ) -> Result<(OrderRecord, Vec<AuthzRecord>), Problem> {
        let (order, authzs) = self.store.read(|r| {
            let Some(order) = r.order(id)? else {
                return Ok((None, Vec::new()));
            };
            let mut authzs = Vec::with_capacity(order.authz_ids.len());
            for aid in &order.authz_ids {
                if let Some(a) = r.authz(aid)? {
                    authzs.push(a);
                }
            }
            Ok((Some(order), authzs))
        })?;
        let order = order.ok_or_else(Problem::not_found)?;
        if order.account_id != account.id {
            return Err(Problem::unauthorized(
                "this order belongs to another account",
            ));
        }
        Ok((order, authzs))
    }

    /// POST-as-GET on an order (RFC 8555 §7.4).
    pub(crate) fn order(&self, req: &Request, path: &str, id: &str) -> Result<Response, Problem> {
        let auth = self.authenticate(req, path, KeyStyle::Kid)?;
        auth.require_post_as_get()?;
        let (order, authzs) = self.load_order(id, auth.account()?)?;
        req.log.set("order", &order.id);
        let status = state::order_status(&order, &authzs, now());
        Ok(self.order_response(&order, status, 200))
    }

    /// newOrder (RFC 8555 §7.4): 201 + Location.
    pub(crate) async fn new_order(&self, req: &Request, path: &str) -> Result<Response, Problem> {
        let auth = self.authenticate(req, path, KeyStyle::Kid)?;
        let account = auth.account()?.clone();
        let mut payload: NewOrder = auth.payload()?;
        // identifiers.legacy_ip_identifiers (off by default): IPs sent as `dns` become `ip`.
        let legacy_ips = if self.settings.legacy_ip_identifiers {
            legacy_ip::reinterpret_dns_ips(&mut payload.identifiers)
        } else {
            Vec::new()
        };
        // RFC 8555 §7.4 / catalog #38: the uPKI CA sets validity from its profile and cannot
        // honour a requested window, and a server "MUST NOT issue a certificate with contents
        // other than those requested" — so refuse instead of ignoring.
        if payload.not_before.is_some() || payload.not_after.is_some() {
            return Err(Problem::malformed(
                "notBefore/notAfter cannot be honoured: the certificate validity is set by the \
                 CA profile; send the order without them",
            ));
        }
        let profile = match payload.profile {
            None => self.settings.default_profile.clone(),
            Some(p) if self.settings.profiles.iter().any(|(name, _)| *name == p) => p,
            Some(p) => {
                return Err(Problem::new(
                    ProblemType::InvalidProfile,
                    format!(
                        "unknown profile {:?}; see meta.profiles in the directory",
                        p.chars().take(64).collect::<String>()
                    ),
                ));
            }
        };
        let normalized = self.check_identifiers(&payload.identifiers)?;
        let replaces = match &payload.replaces {
            Some(cert_id) => Some(self.check_replaces(&account, cert_id, &normalized)?),
            None => None,
        };
        let now = now();
        let order_id = ids::new_id();
        let authz_expires = now + secs(self.settings.authz_lifetime);
        let authzs: Vec<AuthzRecord> = normalized
            .iter()
            .map(|n| new_authz(&account.id, &order_id, n, authz_expires))
            .collect();
        // RFC 8555 §7.4.1: valid pre-authorizations (newAuthz) of this account are used instead.
        let (authzs, authz_ids) = self.use_pre_authorizations(&account.id, authzs, now)?;
        let (authzs, authz_ids) =
            self.chaos_reuse_authorizations(&account.id, authzs, authz_ids, now)?;
        // Some authorizations already exist (and may be valid): the status is computed.
        let reused = authzs.len() != authz_ids.len();
        let order = OrderRecord {
            v: SCHEMA_VERSION,
            id: order_id,
            account_id: account.id.clone(),
            status: OrderStatus::Pending,
            expires: now + secs(self.settings.order_lifetime),
            identifiers: payload.identifiers,
            not_before: None,
            not_after: None,
            authz_ids,
            profile,
            error: None,
            cert_id: None,
            csr_sha256: None,
            created_at: now,
            replaces: payload.replaces.clone(),
        };
        let stored = order.clone();
        let recorded = self
            .store
            .write(move |w| {
                if let Some(cert_id) = &replaces
                    && !renewal_info::record_replacement(w, cert_id, &stored.id)?
                {
                    return Ok(false);
                }
                for a in &authzs {
                    w.put_authz(a)?;
                }
                w.put_order(&stored).map(|()| true)
            })
            .await?;
        if !recorded {
            return Err(renewal_info::already_replaced());
        }
        log::info!("order {} created for account {}", order.id, account.id);
        if !legacy_ips.is_empty() {
            log::warn!(
                "order {}: {} requested as type \"dns\", treated as \"ip\" \
                 (identifiers.legacy_ip_identifiers)",
                order.id,
                legacy_ips.join(", ")
            );
        }
        req.log.set("order", &order.id);
        let status = if reused {
            let (order, authzs) = self.load_order(&order.id, &account)?;
            state::order_status(&order, &authzs, now)
        } else {
            OrderStatus::Pending
        };
        Ok(self.order_response(&order, status, 201))
    }

    /// RFC 8555 §7.4 / catalog #35–#37: every identifier is checked on its own; the refused ones
    /// are reported together, one subproblem each.
    pub(crate) fn check_identifiers(
        &self,
        identifiers: &[Identifier],
    ) -> Result<Vec<Normalized>, Problem> {
        if identifiers.is_empty() {
            return Err(Problem::malformed("an order needs at least one identifier"));
        }
        // Catalog #35: too many identifiers is a malformed request (as Boulder answers it),
        // not a refusal of any one identifier.
        if identifiers.len() > self.settings.max_identifiers {
            return Err(Problem::malformed(format!(
                "an order may hold at most {} identifiers",
                self.settings.max_identifiers
            )));
        }
        let mut out: Vec<Normalized> = Vec::with_capacity(identifiers.len());
        let mut subs = Vec::new();
        for ident in identifiers {
            let sub = |kind: ProblemType, detail: String| Subproblem {
                kind,
                detail,
                identifier: ident.clone(),
            };
            match identifier::normalize(&ident.kind, &ident.value) {
                Ok(n) if out.contains(&n) => {
                    subs.push(sub(ProblemType::Malformed, "duplicate identifier".into()))
                }
                // Catalog #35, #42: the operator's namespace; one subproblem per refusal.
                Ok(n) => {
                    let policy = &self.settings.identifier_policy;
                    let allowed = match &n {
                        Normalized::Dns { name, wildcard } => policy.check_dns(name, *wildcard),
                        Normalized::Ip(ip) => policy.check_ip(*ip),
                    };
                    match allowed {
                        Ok(()) => out.push(n),
                        Err(why) => subs.push(sub(ProblemType::RejectedIdentifier, why)),
                    }
                }
                Err(e @ IdentifierError::UnsupportedType(_)) => {
                    subs.push(sub(ProblemType::UnsupportedIdentifier, e.to_string()))
                }
                Err(e) => subs.push(sub(ProblemType::Malformed, e.to_string())),
            }
        }
        if subs.is_empty() {
            Ok(out)
        } else {
            Err(Problem::from_subproblems(subs))
        }
    }
}

pub(crate) fn secs(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 4)
}

/// A pending authorization with the challenges this server can validate for `ident`.
pub(crate) fn new_authz(
    account_id: &str,
    order_id: &str,
    ident: &Normalized,
    expires: i64,
) -> AuthzRecord {
    let challenge = |kind: &str| ChallengeRecord {
        id: ids::new_id(),
        kind: kind.into(),
        token: ids::new_token(),
        status: ChallengeStatus::Pending,
        validated: None,
        error: None,
    };
    let wildcard = matches!(ident, Normalized::Dns { wildcard: true, .. });
    AuthzRecord {
        v: SCHEMA_VERSION,
        id: ids::new_id(),
        account_id: account_id.into(),
        order_id: order_id.into(),
        identifier: Identifier {
            kind: ident.kind().into(),
            value: ident.authz_value(),
        },
        wildcard,
        status: AuthzStatus::Pending,
        expires,
        challenges: match ident {
            // RFC 8555 §7.1.3 / catalog #36: a wildcard is proved through DNS only.
            Normalized::Dns { wildcard: true, .. } => vec![challenge("dns-01")],
            Normalized::Dns { .. } => vec![
                challenge("http-01"),
                challenge("tls-alpn-01"),
                challenge("dns-01"),
            ],
            // RFC 8738 §7: http-01 and tls-alpn-01 for IP addresses, never dns-01.
            Normalized::Ip(_) => vec![challenge("http-01"), challenge("tls-alpn-01")],
        },
    }
}
