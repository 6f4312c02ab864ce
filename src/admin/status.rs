//! `upki-ra status`: is the server up (its `/healthz` on the metrics listener answers), is
//! its CA reachable (the server's own live check), and what the store holds. Exit 0 only when
//! the server is up and its CA answers.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::{Value, json};

use super::{Common, Failure, failure, open_store};
use crate::acme::now;

/// Bound on the whole `/healthz` exchange (the server's CA check itself is bounded by
/// `ca.timeout_secs`).
const HEALTH_TIMEOUT: Duration = Duration::from_secs(15);

/// One `GET /healthz`: `Ok((status code, JSON body))`.
fn healthz(addr: SocketAddr, timeout: Duration) -> Result<(u16, Value), String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(3))
        .map_err(|e| format!("{addr}: {e}"))?;
    s.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("{addr}: {e}"))?;
    let mut reply = Vec::new();
    s.take(64 * 1024)
        .read_to_end(&mut reply)
        .map_err(|e| format!("{addr}: {e}"))?;
    let text = String::from_utf8_lossy(&reply);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("{addr}: not an HTTP response"))?;
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("{addr}: no status code"))?;
    let body = serde_json::from_str(body).unwrap_or(Value::Null);
    Ok((code, body))
}

pub(super) fn run(c: &Common) -> Result<(), Failure> {
    let mut report = serde_json::Map::new();
    let mut healthy = false;
    if c.config.metrics.enabled {
        let addr = c.config.metrics.listen;
        match healthz(addr, HEALTH_TIMEOUT) {
            Ok((code, body)) => {
                let ca = body.get("ca_reachable").and_then(Value::as_bool);
                healthy = code == 200 && ca == Some(true);
                report.insert("server".into(), json!("up"));
                report.insert("ca_reachable".into(), json!(ca));
                report.insert(
                    "version".into(),
                    body.get("version").cloned().unwrap_or(Value::Null),
                );
            }
            Err(e) => {
                report.insert("server".into(), json!("down"));
                report.insert("server_error".into(), json!(e));
            }
        }
    } else {
        report.insert(
            "server".into(),
            json!("unknown (metrics.enabled = false: no /healthz to ask)"),
        );
    }
    match open_store(&c.config) {
        Ok(store) => {
            let now = now();
            let counts = store.read(|r| {
                let accounts = r.all_accounts()?.len();
                let mut orders: BTreeMap<String, usize> = BTreeMap::new();
                for o in r.all_orders()? {
                    let s = serde_json::to_value(o.status)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default();
                    *orders.entry(s).or_insert(0) += 1;
                }
                let mut certs: BTreeMap<&str, usize> = BTreeMap::new();
                for cert in r.all_certs()? {
                    let s = if cert.revoked.is_some() {
                        "revoked"
                    } else if cert.not_after < now {
                        "expired"
                    } else {
                        "valid"
                    };
                    *certs.entry(s).or_insert(0) += 1;
                }
                let sync_outbox = r.sync_len()?;
                Ok(
                    json!({ "accounts": accounts, "orders": orders, "certificates": certs,
                           "sync_outbox": sync_outbox }),
                )
            });
            match counts {
                Ok(v) => {
                    report.insert("store".into(), v);
                }
                Err(e) => {
                    report.insert("store_error".into(), json!(e.to_string()));
                }
            }
        }
        Err(e) => {
            report.insert("store_error".into(), json!(e.message));
        }
    }
    let report = Value::Object(report);
    if c.json {
        println!("{report}");
    } else {
        for (k, v) in report.as_object().into_iter().flatten() {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            println!("{k:<13} {text}");
        }
    }
    if healthy {
        Ok(())
    } else {
        Err(failure("the server is not healthy (see above)"))
    }
}
