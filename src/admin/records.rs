//! `upki-ra admin accounts|orders|certs list|show`: reads the store through one read-only
//! snapshot, filters, and prints a table (people) or JSON (`--json`, scripts).

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::{Common, Failure, failure, open_store, usage};
use crate::acme::{now, rfc3339};
use crate::pki;
use crate::store::records::{AccountRecord, CertRecord, OrderRecord};

/// Takes `--flag VALUE` pairs out of `args`; anything else is a usage error.
fn flags<'a>(args: &[&'a str], allowed: &[&str]) -> Result<Vec<(&'a str, &'a str)>, Failure> {
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if !allowed.contains(flag) {
            return Err(usage(format!(
                "unknown option {flag:?} (allowed: {})",
                allowed.join(" ")
            )));
        }
        let value = it
            .next()
            .ok_or_else(|| usage(format!("{flag} needs a value")))?;
        out.push((*flag, *value));
    }
    Ok(out)
}

/// `N[d|h|m|s]` (default unit: days) → seconds.
fn parse_duration(text: &str) -> Result<i64, Failure> {
    let (digits, unit) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (text.get(..i).unwrap_or(""), c),
        _ => (text, 'd'),
    };
    let n: i64 = digits
        .parse()
        .map_err(|_| usage(format!("{text:?} is not a duration like 30d, 12h, 90m")))?;
    let unit = match unit {
        'd' => 86_400,
        'h' => 3_600,
        'm' => 60,
        's' => 1,
        _ => return Err(usage(format!("{text:?}: the unit must be d, h, m or s"))),
    };
    n.checked_mul(unit)
        .filter(|s| *s >= 0)
        .ok_or_else(|| usage(format!("{text:?} is out of range")))
}

fn store_err(e: crate::store::StoreError) -> Failure {
    failure(format!("store: {e}"))
}

/// Prints `rows` (JSON objects) as JSON or as aligned columns `cols` (key, heading).
fn print_rows(c: &Common, rows: &[Value], cols: &[(&str, &str)]) {
    if c.json {
        println!("{}", Value::Array(rows.to_vec()));
        return;
    }
    let cell = |row: &Value, key: &str| -> String {
        match row.get(key) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                .collect::<Vec<_>>()
                .join(","),
            Some(Value::Null) | None => "-".into(),
            Some(v) => v.to_string(),
        }
    };
    let widths: Vec<usize> = cols
        .iter()
        .map(|(key, head)| {
            rows.iter()
                .map(|r| cell(r, key).chars().count())
                .chain([head.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for ((_, head), w) in cols.iter().zip(&widths) {
        let _ = write!(out, "{head:<w$}  ");
    }
    out = out.trim_end().to_owned();
    out.push('\n');
    for row in rows {
        let mut line = String::new();
        for ((key, _), w) in cols.iter().zip(&widths) {
            let _ = write!(line, "{:<w$}  ", cell(row, key));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let _ = write!(out, "({} shown)", rows.len());
    println!("{out}");
}

/// Prints one record as JSON (`--json`) or as `key: value` lines.
fn print_one(c: &Common, value: &Value) {
    if c.json {
        println!("{value}");
        return;
    }
    if let Value::Object(map) = value {
        let width = map.keys().map(String::len).max().unwrap_or(0);
        for (k, v) in map {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Null => "-".into(),
                other => other.to_string(),
            };
            println!("{k:<width$}  {text}");
        }
    }
}

fn enum_text<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn account_json(a: &AccountRecord) -> Value {
    json!({
        "id": a.id,
        "status": enum_text(&a.status),
        "contact": a.contact,
        "created": rfc3339(a.created_at),
        "thumbprint": a.thumbprint,
    })
}

pub(super) fn accounts(c: &Common, cmd: &str, args: &[&str]) -> Result<(), Failure> {
    let store = open_store(&c.config)?;
    match (cmd, args) {
        ("list", args) => {
            let f = flags(args, &["--status"])?;
            let mut rows = Vec::new();
            for a in store.read(|r| r.all_accounts()).map_err(store_err)? {
                if f.iter().all(|(_, want)| enum_text(&a.status) == *want) {
                    rows.push(account_json(&a));
                }
            }
            print_rows(
                c,
                &rows,
                &[
                    ("id", "ID"),
                    ("status", "STATUS"),
                    ("created", "CREATED"),
                    ("contact", "CONTACT"),
                ],
            );
            Ok(())
        }
        ("show", [id]) => {
            let a = store
                .read(|r| r.account(id))
                .map_err(store_err)?
                .ok_or_else(|| failure(format!("no account {id:?}")))?;
            let mut v = account_json(&a);
            if let Value::Object(m) = &mut v {
                m.insert("jwk".into(), a.jwk.clone());
            }
            print_one(c, &v);
            Ok(())
        }
        _ => Err(usage(
            "usage: upki-ra admin accounts list [--status S] | show ID",
        )),
    }
}

fn order_json(o: &OrderRecord) -> Value {
    json!({
        "id": o.id,
        "status": enum_text(&o.status),
        "account": o.account_id,
        "names": o.identifiers.iter().map(|i| i.value.clone()).collect::<Vec<_>>(),
        "profile": o.profile,
        "expires": rfc3339(o.expires),
        "created": rfc3339(o.created_at),
        "certificate": o.cert_id,
    })
}

pub(super) fn orders(c: &Common, cmd: &str, args: &[&str]) -> Result<(), Failure> {
    let store = open_store(&c.config)?;
    match (cmd, args) {
        ("list", args) => {
            let f = flags(args, &["--status", "--name", "--account"])?;
            let mut rows = Vec::new();
            for o in store.read(|r| r.all_orders()).map_err(store_err)? {
                let keep = f.iter().all(|(flag, want)| match *flag {
                    "--status" => enum_text(&o.status) == *want,
                    "--name" => o.identifiers.iter().any(|i| i.value.contains(want)),
                    _ => o.account_id == *want,
                });
                if keep {
                    rows.push(order_json(&o));
                }
            }
            print_rows(
                c,
                &rows,
                &[
                    ("id", "ID"),
                    ("status", "STATUS"),
                    ("names", "NAMES"),
                    ("account", "ACCOUNT"),
                    ("created", "CREATED"),
                ],
            );
            Ok(())
        }
        ("show", [id]) => {
            let o = store
                .read(|r| r.order(id))
                .map_err(store_err)?
                .ok_or_else(|| failure(format!("no order {id:?}")))?;
            let mut v = order_json(&o);
            if let Value::Object(m) = &mut v {
                m.insert("authorizations".into(), json!(o.authz_ids));
                m.insert("error".into(), o.error.clone().unwrap_or(Value::Null));
            }
            print_one(c, &v);
            Ok(())
        }
        _ => Err(usage(
            "usage: upki-ra admin orders list [--status S] [--name TEXT] [--account ID] | show ID",
        )),
    }
}

/// The state of a certificate now: `revoked`, `expired` or `valid`.
fn cert_status(cert: &CertRecord, now: i64) -> &'static str {
    if cert.revoked.is_some() {
        "revoked"
    } else if cert.not_after < now {
        "expired"
    } else {
        "valid"
    }
}

/// The subjectAltNames of the stored leaf (DNS names, then IP addresses).
fn cert_names(cert: &CertRecord) -> Vec<String> {
    pki::pem_to_ders(&cert.chain_pem)
        .ok()
        .and_then(|ders| ders.into_iter().next())
        .and_then(|der| pki::cert_info(&der).ok())
        .map(|info| {
            info.dns_names
                .into_iter()
                .chain(info.ip_addrs.iter().map(ToString::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn cert_json(cert: &CertRecord, now: i64) -> Value {
    json!({
        "serial": cert.serial,
        "id": cert.id,
        "status": cert_status(cert, now),
        "names": cert_names(cert),
        "not_before": rfc3339(cert.not_before),
        "not_after": rfc3339(cert.not_after),
        "account": cert.account_id,
        "order": cert.order_id,
        "revoked_at": cert.revoked.as_ref().map(|r| rfc3339(r.at)),
        "revocation_reason": cert.revoked.as_ref().map(|r| r.reason),
    })
}

pub(super) fn certs(c: &Common, cmd: &str, args: &[&str]) -> Result<(), Failure> {
    let store = open_store(&c.config)?;
    let now = now();
    match (cmd, args) {
        ("list", args) => {
            let f = flags(args, &["--status", "--name", "--expiring-within"])?;
            let mut within = None;
            for (flag, value) in &f {
                if *flag == "--expiring-within" {
                    within = Some(parse_duration(value)?);
                }
            }
            let mut rows = Vec::new();
            for cert in store.read(|r| r.all_certs()).map_err(store_err)? {
                let names = cert_names(&cert);
                let keep = f.iter().all(|(flag, want)| match *flag {
                    "--status" => cert_status(&cert, now) == *want,
                    "--name" => names.iter().any(|n| n.contains(want)),
                    _ => within.is_some_and(|w| {
                        cert.revoked.is_none()
                            && cert.not_after >= now
                            && cert.not_after <= now.saturating_add(w)
                    }),
                });
                if keep {
                    rows.push(cert_json(&cert, now));
                }
            }
            print_rows(
                c,
                &rows,
                &[
                    ("serial", "SERIAL"),
                    ("status", "STATUS"),
                    ("not_after", "NOT-AFTER"),
                    ("names", "NAMES"),
                    ("order", "ORDER"),
                ],
            );
            Ok(())
        }
        ("show", [key]) => {
            let cert = store
                .read(|r| match r.cert_by_serial(key)? {
                    Some(c) => Ok(Some(c)),
                    None => r.cert(key),
                })
                .map_err(store_err)?
                .ok_or_else(|| failure(format!("no certificate with serial or id {key:?}")))?;
            let mut v = cert_json(&cert, now);
            if let Value::Object(m) = &mut v {
                m.insert("chain_pem".into(), Value::String(cert.chain_pem.clone()));
            }
            if c.json {
                println!("{v}");
            } else {
                if let Value::Object(m) = &mut v {
                    m.remove("chain_pem");
                }
                print_one(c, &v);
                print!("{}", cert.chain_pem);
            }
            Ok(())
        }
        _ => Err(usage(
            "usage: upki-ra admin certs list [--status S] [--name TEXT] [--expiring-within N[d|h|m|s]] | show SERIAL|ID",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30d").ok(), Some(30 * 86_400));
        assert_eq!(parse_duration("12h").ok(), Some(12 * 3_600));
        assert_eq!(parse_duration("7").ok(), Some(7 * 86_400));
        assert!(parse_duration("-1d").is_err());
        assert!(parse_duration("3w").is_err());
        assert!(parse_duration("d").is_err());
    }
}
