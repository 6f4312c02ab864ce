//! The directory resource (RFC 8555 §7.1.1): where clients find every other resource.
//! It advertises only what works (interop.md: step-ca#209).

use serde::Serialize;

use crate::acme::Acme;
use crate::http::Response;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Directory {
    new_nonce: String,
    new_account: String,
    new_order: String,
    revoke_cert: String,
    /// RFC 8555 §7.3.5.
    key_change: String,
    /// RFC 8555 §7.4.1 pre-authorization.
    new_authz: String,
    /// RFC 9773 §3 (clients append `/<certID>`).
    renewal_info: String,
    meta: Meta,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Meta {
    /// ACME profiles extension (draft-ietf-acme-profiles): name → description.
    profiles: serde_json::Map<String, serde_json::Value>,
    /// RFC 8555 §7.1.1; only when configured (interop.md: certbot then asks the user).
    #[serde(skip_serializing_if = "Option::is_none")]
    terms_of_service: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    website: Option<String>,
    /// RFC 8555 §7.3.4: newAccount needs an External Account Binding.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    external_account_required: bool,
}

impl Acme {
    /// The directory. Everything it is built from (the base URL, the profiles offered, the
    /// `meta` settings) is fixed for the life of the process (SIGHUP re-reads only the log
    /// level), so the body is serialized once and copied per request (issue 7: building it took
    /// ~30% of a directory request).
    pub(crate) fn directory(&self) -> Response {
        let body = self.directory_body.get_or_init(|| self.directory_json());
        Response::new(200).with_body("application/json", body.clone())
    }

    fn directory_json(&self) -> Vec<u8> {
        let profiles = self
            .settings
            .profiles
            .iter()
            .map(|(name, desc)| (name.clone(), serde_json::Value::String(desc.clone())))
            .collect();
        // Serializing plain strings and maps cannot fail; an empty object would be noticed.
        serde_json::to_vec(&Directory {
            new_nonce: self.urls.new_nonce(),
            new_account: self.urls.new_account(),
            new_order: self.urls.new_order(),
            revoke_cert: self.urls.revoke_cert(),
            key_change: self.urls.key_change(),
            new_authz: self.urls.new_authz(),
            renewal_info: self.urls.renewal_info(),
            meta: Meta {
                profiles,
                terms_of_service: self.settings.terms_of_service.clone(),
                website: self.settings.website.clone(),
                external_account_required: self.settings.require_eab,
            },
        })
        .unwrap_or_else(|_| b"{}".to_vec())
    }
}
