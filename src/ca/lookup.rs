//! What the uPKI CA holds for a name: the `view` task (shared/spec/upki-ca-protocol.md), read
//! before the RA asks the CA to sign an order's CSR a second time (catalog #58).
//!
//! Both CAs store certificates by name (the CSR's CN; our own CA also SAN-only ones under their
//! first SAN) and `view` describes the newest one of a name. upki-ca 0.1.5 answers the parsed
//! fields (`serial_number`, `sans`, `subject`, `issuer`, `not_valid_before`, revocation flags)
//! but neither the certificate nor its public key; our own CA answers `serial_number`,
//! `revoked` and the certificate itself (`certificate`, PEM).

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::ca::proto;
use crate::ca::{CaClient, CaError};

/// The CA's newest certificate of a name, as `view` describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Held {
    /// Exact decimal serial.
    pub(crate) serial: String,
    /// The certificate (PEM), when the CA hands it out (our own CA).
    pub(crate) certificate_pem: Option<String>,
    /// The subjectAltNames as the CA lists them: (`DNS`|`IP`|…, value).
    pub(crate) sans: Vec<(String, String)>,
    /// The subject's commonName, if listed.
    pub(crate) subject_cn: Option<String>,
    /// The issuer's commonName, if listed.
    pub(crate) issuer_cn: Option<String>,
    /// notBefore (Unix seconds), if listed.
    pub(crate) not_before: Option<i64>,
    /// Whether the CA reports it revoked.
    pub(crate) revoked: bool,
}

#[derive(Deserialize)]
struct View {
    serial_number: Box<RawValue>,
    #[serde(default)]
    certificate: Option<String>,
    #[serde(default)]
    sans: Vec<Value>,
    #[serde(default)]
    subject: Option<Value>,
    #[serde(default)]
    issuer: Option<Value>,
    #[serde(default)]
    not_valid_before: Option<String>,
    #[serde(default)]
    revoked: Option<bool>,
    #[serde(default)]
    is_revoked: Option<bool>,
}

/// The commonName of a `subject`/`issuer` object of upki-ca's `view` (keys are Python
/// `cryptography` OID names: `commonName`).
fn common_name(v: Option<&Value>) -> Option<String> {
    v?.get("commonName")?.as_str().map(str::to_owned)
}

/// ISO 8601 as Python's `isoformat()` writes it (`2026-11-28T20:30:01+00:00`) → Unix seconds.
fn iso_to_unix(text: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .or_else(|| {
            // isoformat() of a naive datetime has no offset: it is UTC there.
            time::PrimitiveDateTime::parse(
                text,
                &time::format_description::well_known::Iso8601::DEFAULT,
            )
            .ok()
            .map(time::PrimitiveDateTime::assume_utc)
        })?;
    Some(t.unix_timestamp())
}

/// Parses a `view` answer's `DATA`.
pub(crate) fn parse_view(data: &RawValue) -> Result<Held, CaError> {
    let v: View =
        serde_json::from_str(data.get()).map_err(|e| CaError::BadReply(format!("view: {e}")))?;
    let sans = v
        .sans
        .iter()
        .filter_map(|s| {
            Some((
                s.get("type")?.as_str()?.to_owned(),
                s.get("value")?.as_str()?.to_owned(),
            ))
        })
        .collect();
    Ok(Held {
        serial: proto::parse_serial(&v.serial_number)?,
        certificate_pem: v.certificate,
        sans,
        subject_cn: common_name(v.subject.as_ref()),
        issuer_cn: common_name(v.issuer.as_ref()),
        not_before: v.not_valid_before.as_deref().and_then(iso_to_unix),
        revoked: v.revoked.unwrap_or(false) || v.is_revoked.unwrap_or(false),
    })
}

/// `view` for `name`: `Ok(None)` when the CA holds nothing under that name or has no `view`
/// task; transport errors and other CA errors are returned.
pub(crate) async fn held_for(ca: &CaClient, name: &str) -> Result<Option<Held>, CaError> {
    match ca.call_raw("view", serde_json::json!({"dn": name})).await {
        Ok(data) => parse_view(&data).map(Some),
        Err(CaError::Remote { message, .. })
            if message.starts_with("Unknown task") || message.contains("Certificate not found") =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    // The shape upki-ca 0.1.5 answers (PublicCert.parse() plus the node's revocation flags),
    // with a 159-bit serial that must survive exactly (protocol note 1).
    #[test]
    fn upki_ca_view_answer() {
        let data = RawValue::from_string(
            r#"{"subject":{"commonName":"app.example.test"},"issuer":{"commonName":"uPKI Root CA","organizationName":"x"},
                "extensions":{},"sans":[{"type":"DNS","value":"app.example.test"},{"type":"IP","value":"10.0.0.1"}],
                "key_usage":{},"basic_constraints":{},"serial_number":199395909292849525405881971845381064302563015898,
                "fingerprint":"ab","not_valid_before":"2026-11-28T20:30:01+00:00","not_valid_after":"2027-01-27T20:30:01+00:00",
                "is_valid":true,"is_revoked":false,"revoke_reason":"","is_ca":false}"#
                .to_owned(),
        )
        .unwrap();
        let held = parse_view(&data).unwrap();
        assert_eq!(
            held.serial,
            "199395909292849525405881971845381064302563015898"
        );
        assert_eq!(held.subject_cn.as_deref(), Some("app.example.test"));
        assert_eq!(held.issuer_cn.as_deref(), Some("uPKI Root CA"));
        assert_eq!(held.not_before, Some(1_795_897_801));
        assert_eq!(held.sans.len(), 2);
        assert!(held.certificate_pem.is_none());
        assert!(!held.revoked);
    }

    #[test]
    fn own_ca_view_answer() {
        let data = RawValue::from_string(
            r#"{"dn":"a.test","serial_number":12,"revoked":true,"certificate":"PEM"}"#.to_owned(),
        )
        .unwrap();
        let held = parse_view(&data).unwrap();
        assert_eq!(held.serial, "12");
        assert_eq!(held.certificate_pem.as_deref(), Some("PEM"));
        assert!(held.revoked);
        assert_eq!(iso_to_unix("2026-11-28T20:30:01"), Some(1_795_897_801));
    }
}
