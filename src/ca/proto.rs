//! The uPKI CA wire protocol (shared/spec/upki-ca-protocol.md): one UTF-8 JSON frame per
//! message, requests `{"TASK", "params"}`, replies `{"EVENT":"ANSWER","DATA"}` or
//! `{"EVENT":"UPKI ERROR","MSG":"[code] text"}`; exact big-integer serials; revocation reason
//! names and their RFC 5280 §5.3.1 codes (RFC 8555 §7.6 sends the codes).

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// What can go wrong talking to the CA (security catalog #56).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CaError {
    /// No reply within the timeout (the REQ socket has been recreated).
    Timeout,
    /// ZMQ failure, or the client thread is gone.
    Transport(String),
    /// The CA answered `UPKI ERROR`; `code` is the `[NNN]` prefix if present, `message` the rest.
    Remote { code: Option<u16>, message: String },
    /// The reply is not the shape the task promises.
    BadReply(String),
}

impl fmt::Display for CaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaError::Timeout => f.write_str("CA did not answer in time"),
            CaError::Transport(e) => write!(f, "CA transport: {e}"),
            CaError::Remote {
                code: Some(c),
                message,
            } => write!(f, "CA error [{c}] {message}"),
            CaError::Remote {
                code: None,
                message,
            } => write!(f, "CA error: {message}"),
            CaError::BadReply(e) => write!(f, "CA reply malformed: {e}"),
        }
    }
}

/// A `sign` answer: the leaf PEM and its serial as exact decimal text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Signed {
    pub(crate) certificate_pem: String,
    /// Decimal, digits only, no leading zeros (except "0").
    pub(crate) serial: String,
}

/// RFC 5280 §5.3.1 CRLReason, named as uPKI names them (protocol note 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RevocationReason {
    Unspecified,
    KeyCompromise,
    CaCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
    CertificateHold,
    RemoveFromCrl,
    PrivilegeWithdrawn,
    AaCompromise,
}

const REASONS: [(RevocationReason, u8, &str); 10] = [
    (RevocationReason::Unspecified, 0, "unspecified"),
    (RevocationReason::KeyCompromise, 1, "keyCompromise"),
    (RevocationReason::CaCompromise, 2, "cACompromise"),
    (
        RevocationReason::AffiliationChanged,
        3,
        "affiliationChanged",
    ),
    (RevocationReason::Superseded, 4, "superseded"),
    (
        RevocationReason::CessationOfOperation,
        5,
        "cessationOfOperation",
    ),
    (RevocationReason::CertificateHold, 6, "certificateHold"),
    (RevocationReason::RemoveFromCrl, 8, "removeFromCRL"),
    (
        RevocationReason::PrivilegeWithdrawn,
        9,
        "privilegeWithdrawn",
    ),
    (RevocationReason::AaCompromise, 10, "aACompromise"),
];

impl RevocationReason {
    /// RFC 5280 §5.3.1 code → reason; 7 and anything above 10 are not reasons.
    pub(crate) fn from_code(code: u8) -> Option<RevocationReason> {
        REASONS.iter().find(|r| r.1 == code).map(|r| r.0)
    }

    /// uPKI name, case-insensitive (protocol note 2).
    pub(crate) fn from_name(name: &str) -> Option<RevocationReason> {
        REASONS
            .iter()
            .find(|r| r.2.eq_ignore_ascii_case(name))
            .map(|r| r.0)
    }

    pub(crate) fn code(self) -> u8 {
        REASONS.iter().find(|r| r.0 == self).map_or(0, |r| r.1)
    }

    pub(crate) fn name(self) -> &'static str {
        REASONS
            .iter()
            .find(|r| r.0 == self)
            .map_or("unspecified", |r| r.2)
    }
}

#[derive(Serialize)]
struct Request<'a> {
    #[serde(rename = "TASK")]
    task: &'a str,
    params: &'a serde_json::Value,
}

/// The request frame for `task` with `params` (an object; `{}` when a task takes none).
pub(crate) fn request(task: &str, params: &serde_json::Value) -> String {
    serde_json::to_string(&Request { task, params }).unwrap_or_default()
}

#[derive(Deserialize)]
struct Reply {
    #[serde(rename = "EVENT")]
    event: String,
    #[serde(rename = "DATA")]
    data: Option<Box<RawValue>>,
    #[serde(rename = "MSG")]
    msg: Option<String>,
}

/// Parses a reply frame into its `DATA` (kept as raw JSON so big integers survive), or the
/// CA's error.
pub(crate) fn parse_reply(frame: &[u8]) -> Result<Box<RawValue>, CaError> {
    let reply: Reply = serde_json::from_slice(frame)
        .map_err(|e| CaError::BadReply(format!("not a uPKI reply: {e}")))?;
    match reply.event.as_str() {
        "ANSWER" => reply
            .data
            .ok_or_else(|| CaError::BadReply("ANSWER without DATA".to_owned())),
        "UPKI ERROR" => Err(remote_error(reply.msg.as_deref().unwrap_or(""))),
        other => Err(CaError::BadReply(format!("unknown EVENT {other:?}"))),
    }
}

/// `"[300] CSR has no Common Name"` → `Remote { code: Some(300), message: "CSR has no Common Name" }`.
pub(crate) fn remote_error(msg: &str) -> CaError {
    let parsed = msg
        .strip_prefix('[')
        .and_then(|rest| rest.split_once(']'))
        .filter(|(code, _)| !code.is_empty() && code.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|(code, text)| Some((code.parse::<u16>().ok()?, text)));
    if let Some((code, text)) = parsed {
        return CaError::Remote {
            code: Some(code),
            message: text.trim_start().to_owned(),
        };
    }
    CaError::Remote {
        code: None,
        message: msg.to_owned(),
    }
}

/// A serial as the CA sends it: a bare JSON integer of any size, or a string of digits
/// (protocol note 1). Returns canonical decimal text; never goes through f64.
pub(crate) fn parse_serial(raw: &RawValue) -> Result<String, CaError> {
    let text = raw.get().trim();
    let digits = if text.starts_with('"') {
        serde_json::from_str::<String>(text)
            .map_err(|e| CaError::BadReply(format!("serial: {e}")))?
    } else {
        text.to_owned()
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CaError::BadReply(format!(
            "serial is not a non-negative integer: {text}"
        )));
    }
    let trimmed = digits.trim_start_matches('0');
    Ok(if trimmed.is_empty() {
        "0".to_owned()
    } else {
        trimmed.to_owned()
    })
}

#[derive(Deserialize)]
struct SignData {
    certificate: String,
    serial: Box<RawValue>,
}

pub(crate) fn parse_sign(data: &RawValue) -> Result<Signed, CaError> {
    let d: SignData = serde_json::from_str(data.get())
        .map_err(|e| CaError::BadReply(format!("sign answer: {e}")))?;
    Ok(Signed {
        certificate_pem: d.certificate,
        serial: parse_serial(&d.serial)?,
    })
}

/// Server side: `{"EVENT":"ANSWER","DATA":data}`.
pub(crate) fn answer<T: Serialize>(data: &T) -> String {
    #[derive(Serialize)]
    struct Answer<'a, T> {
        #[serde(rename = "EVENT")]
        event: &'static str,
        #[serde(rename = "DATA")]
        data: &'a T,
    }
    serde_json::to_string(&Answer {
        event: "ANSWER",
        data,
    })
    .unwrap_or_else(|e| error(&format!("[700] cannot encode answer: {e}")))
}

/// Server side: `{"EVENT":"UPKI ERROR","MSG":msg}`.
pub(crate) fn error(msg: &str) -> String {
    serde_json::json!({"EVENT": "UPKI ERROR", "MSG": msg}).to_string()
}

/// Server side: the `sign` DATA with the serial as a bare JSON integer (protocol note 1).
pub(crate) fn sign_answer(certificate_pem: &str, serial_decimal: &str) -> String {
    #[derive(Serialize)]
    struct Data<'a> {
        certificate: &'a str,
        serial: Box<RawValue>,
    }
    match RawValue::from_string(serial_decimal.to_owned()) {
        Ok(serial) if serial_decimal.bytes().all(|b| b.is_ascii_digit()) => answer(&Data {
            certificate: certificate_pem,
            serial,
        }),
        _ => error("[300] internal: serial is not an integer"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const BIG: &str = "199395909292849525405881971845381064302563015898";

    // Protocol note 1: a 159-bit bare integer serial parses exactly; a string is accepted too.
    #[test]
    fn big_serial_exact() {
        let frame =
            format!(r#"{{"EVENT":"ANSWER","DATA":{{"certificate":"PEM","serial":{BIG}}}}}"#);
        let data = parse_reply(frame.as_bytes()).unwrap();
        let signed = parse_sign(&data).unwrap();
        assert_eq!(signed.serial, BIG);
        assert_eq!(signed.certificate_pem, "PEM");
        let frame =
            format!(r#"{{"EVENT":"ANSWER","DATA":{{"certificate":"PEM","serial":"{BIG}"}}}}"#);
        assert_eq!(
            parse_sign(&parse_reply(frame.as_bytes()).unwrap())
                .unwrap()
                .serial,
            BIG
        );
        // Round trip through our own server encoding.
        let frame = sign_answer("PEM", BIG);
        assert!(frame.contains(&format!(r#""serial":{BIG}"#)), "{frame}");
        assert_eq!(
            parse_sign(&parse_reply(frame.as_bytes()).unwrap())
                .unwrap()
                .serial,
            BIG
        );
    }

    #[test]
    fn serial_rejects_non_integers() {
        for bad in [
            "-5", "1.5", "1e40", "\"12a\"", "\"\"", "null", "true", "[1]",
        ] {
            let raw = RawValue::from_string(bad.to_owned()).unwrap();
            assert!(
                matches!(parse_serial(&raw), Err(CaError::BadReply(_))),
                "{bad}"
            );
        }
        let raw = RawValue::from_string("\"007\"".to_owned()).unwrap();
        assert_eq!(parse_serial(&raw).unwrap(), "7");
    }

    // Error shape of the protocol: "[code] text" and the code-less "Invalid JSON: ...".
    #[test]
    fn error_mapping() {
        let e = parse_reply(br#"{"EVENT":"UPKI ERROR","MSG":"[300] CSR has no Common Name"}"#)
            .unwrap_err();
        assert_eq!(
            e,
            CaError::Remote {
                code: Some(300),
                message: "CSR has no Common Name".to_owned()
            }
        );
        let e =
            parse_reply(br#"{"EVENT":"UPKI ERROR","MSG":"[700] Unknown task: acme_sync_account"}"#)
                .unwrap_err();
        assert_eq!(
            e,
            CaError::Remote {
                code: Some(700),
                message: "Unknown task: acme_sync_account".to_owned()
            }
        );
        let e = parse_reply(br#"{"EVENT":"UPKI ERROR","MSG":"Invalid JSON: oops"}"#).unwrap_err();
        assert_eq!(
            e,
            CaError::Remote {
                code: None,
                message: "Invalid JSON: oops".to_owned()
            }
        );
        assert_eq!(
            remote_error("[x] y"),
            CaError::Remote {
                code: None,
                message: "[x] y".to_owned()
            }
        );
        assert!(matches!(
            parse_reply(b"not json"),
            Err(CaError::BadReply(_))
        ));
        assert!(matches!(
            parse_reply(br#"{"EVENT":"ANSWER"}"#),
            Err(CaError::BadReply(_))
        ));
        assert!(matches!(
            parse_reply(br#"{"EVENT":"HELLO","DATA":1}"#),
            Err(CaError::BadReply(_))
        ));
    }

    // RFC 5280 §5.3.1 codes ↔ uPKI names; 7 is not a reason.
    #[test]
    fn reason_codes_and_names() {
        assert_eq!(
            RevocationReason::from_code(1).unwrap().name(),
            "keyCompromise"
        );
        assert_eq!(
            RevocationReason::from_code(2).unwrap().name(),
            "cACompromise"
        );
        assert_eq!(
            RevocationReason::from_code(8).unwrap().name(),
            "removeFromCRL"
        );
        assert_eq!(
            RevocationReason::from_code(10).unwrap().name(),
            "aACompromise"
        );
        assert_eq!(RevocationReason::from_code(7), None);
        assert_eq!(RevocationReason::from_code(11), None);
        assert_eq!(
            RevocationReason::from_name("KEYCOMPROMISE"),
            Some(RevocationReason::KeyCompromise)
        );
        assert_eq!(RevocationReason::from_name("bogus"), None);
        for code in (0..=10).filter(|c| *c != 7) {
            let r = RevocationReason::from_code(code).unwrap();
            assert_eq!(r.code(), code);
            assert_eq!(RevocationReason::from_name(r.name()), Some(r));
        }
    }

    #[test]
    fn request_shape() {
        let r = request(
            "sign",
            &serde_json::json!({"csr": "PEM", "profile": "server"}),
        );
        let v: serde_json::Value = serde_json::from_str(&r).unwrap();
        assert_eq!(v["TASK"], "sign");
        assert_eq!(v["params"]["profile"], "server");
    }
}
