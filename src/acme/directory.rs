//! The directory resource (RFC 8555 §7.1.1): where clients find every other resource.
//! It advertises only what works (interop.md: step-ca#209).

use serde::Serialize;

use crate::acme::{Acme, json_response};
use crate::http::Response;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Directory {
    new_nonce: String,
    new_account: String,
    new_order: String,
    revoke_cert: String,
    meta: Meta,
}

#[derive(Serialize)]
struct Meta {
    /// ACME profiles extension (draft-ietf-acme-profiles): name → description.
    profiles: serde_json::Map<String, serde_json::Value>,
}

impl Acme {
    pub(crate) fn directory(&self) -> Response {
        let profiles = self
            .settings
            .profiles
            .iter()
            .map(|(name, desc)| (name.clone(), serde_json::Value::String(desc.clone())))
            .collect();
        json_response(
            200,
            &Directory {
                new_nonce: self.urls.new_nonce(),
                new_account: self.urls.new_account(),
                new_order: self.urls.new_order(),
                revoke_cert: self.urls.revoke_cert(),
                meta: Meta { profiles },
            },
        )
    }
}
