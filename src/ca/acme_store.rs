//! The CA side of the `acme_*` tasks (shared/spec/upki-ca-protocol.md, "The documented
//! `acme_sync_*` tasks"), as our CA implements them: every `acme_sync_*` message is kept, one
//! JSON file per object under `<ca dir>/acme/<kind>/<id>.json` (temp file + fsync + rename),
//! and handed back by the read tasks so an RA can rebuild its state (`upki-ra rebuild
//! --from-ca`).
//!
//! | task | params | DATA |
//! |---|---|---|
//! | `acme_sync_account` / `_order` / `_authorization` / `_certificate` | the object (`account_id`, `order_id`, `auth_id`, `certificate_id` …) | `true` |
//! | `acme_get_account` / `_order` / `_authorization` / `_certificate` | the id | the object |
//! | `acme_list_accounts` / `_orders` / `_authorizations` / `_certificates` | optional `account_id` / `order_id` filter | list of objects |
//! | `acme_deactivate_account` / `acme_deactivate_authorization` | the id | `true` |
//!
//! Ids become file names, so only base64url ids of 1–64 characters are accepted.

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::ca::proto;
use crate::pki::issuer::write_atomic;

/// Object kinds: (directory, id field, singular task suffix, plural task suffix).
const KINDS: [(&str, &str, &str, &str); 4] = [
    ("accounts", "account_id", "account", "accounts"),
    ("orders", "order_id", "order", "orders"),
    (
        "authorizations",
        "auth_id",
        "authorization",
        "authorizations",
    ),
    (
        "certificates",
        "certificate_id",
        "certificate",
        "certificates",
    ),
];

/// The stored `acme_*` objects of one CA.
pub(crate) struct AcmeStore {
    dir: PathBuf,
}

fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl AcmeStore {
    pub(crate) fn new(ca_dir: &Path) -> AcmeStore {
        AcmeStore {
            dir: ca_dir.join("acme"),
        }
    }

    /// Answers `task` if it is one of the `acme_*` tasks; `None` otherwise.
    pub(crate) fn handle(&self, task: &str, params: &Value) -> Option<String> {
        let rest = task.strip_prefix("acme_")?;
        let (verb, noun) = rest.split_once('_')?;
        let kind = KINDS
            .iter()
            .find(|k| k.2 == noun || (verb == "list" && k.3 == noun))?;
        Some(match (verb, noun == kind.3) {
            ("sync", false) => self.sync(kind, params),
            ("get", false) => self.get(kind, params),
            ("list", true) => self.list(kind, params),
            ("deactivate", false) if kind.2 == "account" || kind.2 == "authorization" => {
                self.deactivate(kind, params)
            }
            _ => return None,
        })
    }

    fn path(&self, kind: &(&str, &str, &str, &str), id: &str) -> PathBuf {
        self.dir.join(kind.0).join(format!("{id}.json"))
    }

    fn id_of<'a>(kind: &(&str, &str, &str, &str), params: &'a Value) -> Result<&'a str, String> {
        match params.get(kind.1).and_then(Value::as_str) {
            Some(id) if valid_id(id) => Ok(id),
            Some(_) => Err(proto::error(&format!("[200] invalid {}", kind.1))),
            None => Err(proto::error(&format!("[200] missing {}", kind.1))),
        }
    }

    fn write(&self, kind: &(&str, &str, &str, &str), id: &str, v: &Value) -> String {
        let dir = self.dir.join(kind.0);
        let made = fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir);
        let bytes = serde_json::to_vec(v).unwrap_or_default();
        match made.and_then(|()| write_atomic(&self.path(kind, id), &bytes, 0o600)) {
            Ok(()) => proto::answer(&true),
            Err(e) => proto::error(&format!("[100] cannot store {} {id}: {e}", kind.2)),
        }
    }

    fn read(&self, kind: &(&str, &str, &str, &str), id: &str) -> Option<Value> {
        let bytes = fs::read(self.path(kind, id)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    fn sync(&self, kind: &(&str, &str, &str, &str), params: &Value) -> String {
        match Self::id_of(kind, params) {
            Ok(id) => self.write(kind, id, params),
            Err(e) => e,
        }
    }

    fn get(&self, kind: &(&str, &str, &str, &str), params: &Value) -> String {
        let id = match Self::id_of(kind, params) {
            Ok(id) => id,
            Err(e) => return e,
        };
        match self.read(kind, id) {
            Some(v) => proto::answer(&v),
            None => proto::error(&format!("[100] {} not found: {id}", kind.2)),
        }
    }

    fn list(&self, kind: &(&str, &str, &str, &str), params: &Value) -> String {
        let filters: Vec<(&str, &str)> = ["account_id", "order_id"]
            .into_iter()
            .filter_map(|f| params.get(f).and_then(Value::as_str).map(|v| (f, v)))
            .collect();
        let mut out = Vec::new();
        if let Ok(entries) = fs::read_dir(self.dir.join(kind.0)) {
            let mut names: Vec<_> = entries.flatten().map(|e| e.path()).collect();
            names.sort();
            for p in names {
                if p.extension().and_then(|e| e.to_str()) != Some("json") {
                    continue;
                }
                let Some(v) = fs::read(&p)
                    .ok()
                    .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                else {
                    continue;
                };
                if filters
                    .iter()
                    .all(|(f, want)| v.get(*f).and_then(Value::as_str) == Some(*want))
                {
                    out.push(v);
                }
            }
        }
        proto::answer(&out)
    }

    fn deactivate(&self, kind: &(&str, &str, &str, &str), params: &Value) -> String {
        let id = match Self::id_of(kind, params) {
            Ok(id) => id,
            Err(e) => return e,
        };
        let Some(mut v) = self.read(kind, id) else {
            return proto::error(&format!("[100] {} not found: {id}", kind.2));
        };
        let Some(obj) = v.as_object_mut() else {
            return proto::error(&format!("[100] {} {id} is not an object", kind.2));
        };
        obj.insert("status".into(), Value::from("deactivated"));
        if let Some(rec) = v.get_mut("record").and_then(Value::as_object_mut) {
            rec.insert("status".into(), Value::from("deactivated"));
        }
        self.write(kind, id, &v)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    fn data(frame: &str) -> Value {
        let v: Value = serde_json::from_str(frame).unwrap();
        assert_eq!(v["EVENT"], "ANSWER", "{v}");
        v["DATA"].clone()
    }

    #[test]
    fn sync_get_list_deactivate() {
        let dir = std::env::temp_dir().join(format!("upki-ra-acme-store-{}", std::process::id()));
        let s = AcmeStore::new(&dir);
        let acct = json!({"account_id": "A1", "status": "valid", "contact": []});
        assert_eq!(
            data(&s.handle("acme_sync_account", &acct).unwrap()),
            json!(true)
        );
        let order = json!({"order_id": "O1", "account_id": "A1", "status": "valid"});
        data(&s.handle("acme_sync_order", &order).unwrap());
        data(
            &s.handle(
                "acme_sync_order",
                &json!({"order_id": "O2", "account_id": "B"}),
            )
            .unwrap(),
        );
        assert_eq!(
            data(
                &s.handle("acme_get_account", &json!({"account_id": "A1"}))
                    .unwrap()
            ),
            acct
        );
        assert_eq!(
            data(
                &s.handle("acme_list_orders", &json!({"account_id": "A1"}))
                    .unwrap()
            ),
            json!([order])
        );
        data(
            &s.handle("acme_deactivate_account", &json!({"account_id": "A1"}))
                .unwrap(),
        );
        let got = data(
            &s.handle("acme_get_account", &json!({"account_id": "A1"}))
                .unwrap(),
        );
        assert_eq!(got["status"], "deactivated");
        // Ids are file names: traversal and junk are refused.
        for bad in ["../x", "", "a/b", ".."] {
            let r = s
                .handle("acme_sync_account", &json!({"account_id": bad}))
                .unwrap();
            assert!(r.contains("UPKI ERROR"), "{bad}: {r}");
        }
        assert!(s.handle("acme_frobnicate_account", &json!({})).is_none());
        assert!(s.handle("sign", &json!({})).is_none());
        let _ = fs::remove_dir_all(dir);
    }
}
