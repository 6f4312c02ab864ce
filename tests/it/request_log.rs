//! Issue 6 ("logs one line per request at info with the account and order ids, never key
//! material"): the access log of the real binary after a whole RFC 8555 §7.1 flow names the
//! account that signed each request and the order it concerns, and never carries the account
//! key or the CSR.

use crate::support::Env;
use crate::support::client::{Acme, b64};
use crate::support::pki::{CertKey, Identifier};

/// The last path segment of a resource URL (our ids are the last segment).
fn last_segment(url: &str) -> &str {
    url.rsplit('/').next().unwrap()
}

/// The access-log lines of `endpoint` answered with `status` (`POST <endpoint> … -> <status>`).
fn lines<'a>(log: &'a str, endpoint: &str, status: u16) -> Vec<&'a str> {
    log.lines()
        .filter(|l| {
            l.contains(&format!("POST {endpoint} ")) && l.contains(&format!("-> {status} "))
        })
        .collect()
}

#[test]
fn issue6_request_log_names_account_and_order_never_keys() {
    let env = Env::start();
    let mut acme = Acme::new(&env.server);
    let r = acme.new_account();
    assert_eq!(r.status, 201, "{r}");
    let account_id = last_segment(acme.kid.as_deref().unwrap()).to_owned();
    // A second newAccount with the same key finds the account (200): signed with a `jwk`,
    // the line still names the account.
    assert_eq!(acme.new_account().status, 200);

    let ids = [Identifier::dns("log.example.test")];
    let (order_url, order) = acme.new_order(&ids);
    let order_id = last_segment(&order_url).to_owned();
    acme.solve_http01(&order, &env.http01);
    let order = acme.poll(&order_url, &["ready"]);
    let cert_key = CertKey::generate();
    let csr = cert_key.csr(Some("log.example.test"), &ids);
    let finalize_url = order["finalize"].as_str().unwrap().to_owned();
    let r = acme.finalize(&finalize_url, &csr);
    assert_eq!(r.status, 200, "finalize: {r}");
    let order = acme.poll(&order_url, &["valid"]);
    acme.download(order["certificate"].as_str().unwrap());

    let log = env.server.stderr();
    let expect = |endpoint: &str, status: u16, order: Option<&str>| {
        let found = lines(&log, endpoint, status);
        assert!(
            !found.is_empty(),
            "no {endpoint} -> {status} line in:\n{log}"
        );
        for l in found {
            assert!(
                l.contains(&format!("account={account_id}")),
                "{endpoint}: account id missing: {l}"
            );
            if let Some(o) = order {
                assert!(
                    l.contains(&format!("order={o}")),
                    "{endpoint}: order missing: {l}"
                );
            }
        }
    };
    expect("new-account", 201, None);
    expect("new-account", 200, None);
    expect("new-order", 201, Some(&order_id));
    expect("authz", 200, Some(&order_id));
    expect("challenge", 200, Some(&order_id));
    expect("order", 200, Some(&order_id));
    expect("finalize", 200, Some(&order_id));
    expect("certificate", 200, Some(&order_id));

    // Never key material: not the account key's public coordinate, not the CSR (nor its
    // public key, which is the CSR's largest distinctive part).
    let x = acme.key.jwk()["x"].as_str().unwrap().to_owned();
    let csr_b64 = b64(&csr);
    let csr_key_b64 = b64(&cert_key.spki_der());
    for (what, secret) in [
        ("account key x", x.as_str()),
        ("CSR", csr_b64.as_str()),
        ("CSR head", &csr_b64[..32]),
        ("CSR key", &csr_key_b64[csr_key_b64.len() - 40..]),
    ] {
        assert!(!log.contains(secret), "the log contains the {what}:\n{log}");
    }
}
