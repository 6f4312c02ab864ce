//! Security catalog, section E (authorizations, challenges, validation; RFC 8555 §7.5, §8,
//! RFC 8737, RFC 8738): #39 challenge POSTs that must be refused, #40 thumbprints from the parsed
//! key, #41 a hostile http-01 target, #42 SSRF / addresses outside the allow-list, #44 dns-01
//! faults, #46 one bad identifier among several (incident I2), #47 token quality. One validation
//! attempt per challenge (`[validation] attempts = 1`) so failures are final at once.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::catalog_common::{ACME_ERROR, assert_problem, ready_order};
use crate::support::Env;
use crate::support::client::Acme;
use crate::support::dns::MockDns;
use crate::support::http01::Http01Responder;
use crate::support::pki::Identifier;
use crate::support::server::{Server, ServerOptions};

const ONE_ATTEMPT: &str =
    "[validation]\nattempts = 1\nretry_delay_secs = 1\nattempt_timeout_secs = 5\n";

/// The challenge of `kind` in `authz`: its URL and token.
fn challenge(authz: &Value, kind: &str) -> (String, String) {
    let c = authz["challenges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == kind)
        .unwrap_or_else(|| panic!("no {kind} challenge: {authz}"));
    (
        c["url"].as_str().unwrap().to_owned(),
        c["token"].as_str().unwrap().to_owned(),
    )
}

/// Responds to the http-01 challenge of `authz_url` with `body` served for its token, and waits
/// for the authorization to leave `pending`; returns the final authorization.
fn answer_http01(
    acme: &mut Acme,
    responder: &Http01Responder,
    authz_url: &str,
    body: Option<&str>,
) -> Value {
    let authz = acme.get_json(authz_url);
    let (chall_url, token) = challenge(&authz, "http-01");
    if let Some(b) = body {
        responder.add(&token, b);
    }
    let r = acme.post(&chall_url, Some(&json!({})));
    assert_eq!(r.status, 200, "challenge response: {r}");
    acme.poll(authz_url, &["valid", "invalid"])
}

fn first_authz(order: &Value) -> String {
    order["authorizations"][0].as_str().unwrap().to_owned()
}

/// Catalog #39 (RFC 8555 §7.5.1, §7.1.6): another account's challenge or authorization → 403
/// unauthorized; an unknown challenge → 404; a re-POST after `invalid` → malformed (`invalid`
/// is final); a challenge of an authorization that is no longer pending (invalid, or valid) →
/// malformed. (The key authorization uses the account key current at POST time:
/// `lifecycle.rs::s7_3_5_key_rollover_keeps_orders`.)
#[test]
fn catalog_39_challenge_posts_refused() {
    let env = Env::with_config(Some(ONE_ATTEMPT));
    let mut a = Acme::new(&env.server);
    a.new_account();
    let mut b = Acme::new(&env.server);
    b.new_account();
    let (_, order) = a.new_order(&[Identifier::dns("c39.example.test")]);
    let authz_url = first_authz(&order);
    let authz = a.get_json(&authz_url);
    let (http_url, _) = challenge(&authz, "http-01");
    let (dns_url, _) = challenge(&authz, "dns-01");

    let r = b.post(&http_url, Some(&json!({})));
    assert_problem(&r, 403, "unauthorized", "another account's challenge");
    let r = b.post(&authz_url, None);
    assert_problem(&r, 403, "unauthorized", "another account's authorization");
    let unknown = format!(
        "{}/acme/chall/AAAAAAAAAAAAAAAAAAAAAA",
        env.server.base_url()
    );
    let r = a.post(&unknown, Some(&json!({})));
    assert_problem(&r, 404, "malformed", "unknown challenge");
    // Nothing served: the single attempt fails and the authorization is invalid.
    let final_authz = answer_http01(&mut a, &env.http01, &authz_url, None);
    assert_eq!(final_authz["status"], "invalid", "{final_authz}");
    let r = a.post(&http_url, Some(&json!({})));
    assert_problem(&r, 400, "malformed", "re-POST after invalid");
    let r = a.post(&dns_url, Some(&json!({})));
    assert_problem(
        &r,
        400,
        "malformed",
        "challenge of an invalid authorization",
    );
    // A valid authorization: its other challenges cannot be started any more.
    let (_, order) = ready_order(&env, &mut a, &[Identifier::dns("c39b.example.test")]);
    let valid = a.get_json(&first_authz(&order));
    let (tls_url, _) = challenge(&valid, "tls-alpn-01");
    let r = a.post(&tls_url, Some(&json!({})));
    assert_problem(&r, 400, "malformed", "challenge of a valid authorization");
    assert_eq!(a.get_json(&first_authz(&order))["status"], "valid");
}

/// Catalog #40 (RFC 8555 §8.1, RFC 7638 §3): the thumbprint comes from the parsed key, so the
/// same key sent with extra members (`alg`, `use`, `kid`, `ext`) in another member order is the
/// same account (200 + its Location), and the key authorization the server expects is
/// `token.thumbprint(required members only)`: a challenge answered with it becomes valid.
#[test]
fn catalog_40_thumbprint_from_parsed_key() {
    let env = Env::start();
    let mut acme = Acme::new(&env.server);
    acme.new_account();
    let location = acme.kid.clone().unwrap();
    let plain = acme.key.jwk();
    let decorated = json!({
        "y": plain["y"], "x": plain["x"], "kty": "EC", "crv": "P-256",
        "alg": "ES256", "use": "sig", "kid": "my-key-1", "ext": true,
    });
    let url = acme.url("newAccount");
    let nonce = acme.take_nonce();
    let body = acme.key.sign_jws(
        &json!({"alg": "ES256", "nonce": nonce, "url": url, "jwk": decorated}),
        Some(&json!({"onlyReturnExisting": true})),
    );
    let r = acme.send_jws(&url, &body);
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.header("location"), Some(location.as_str()), "{r}");
    // `solve_http01` serves token.thumbprint computed by the test client from the RFC 7638
    // canonical members, independently of the server.
    ready_order(&env, &mut acme, &[Identifier::dns("c40.example.test")]);
}

/// Catalog #41 (RFC 8555 §8.3): what the target answers decides, strictly: the key
/// authorization with trailing white space → valid; a body over 128 bytes (even starting with
/// the key authorization), leading white space, another value, or HTTP 404 → invalid, with the
/// reason as the challenge error. (Redirect rules, ports, loop and size limits:
/// `src/validate/http01.rs` unit tests.)
#[test]
fn catalog_41_hostile_http01_target() {
    let env = Env::with_config(Some(ONE_ATTEMPT));
    let mut acme = Acme::new(&env.server);
    acme.new_account();
    let thumbprint = acme.key.thumbprint();
    type Body = fn(&str) -> Option<String>;
    let cases: Vec<(&str, Body, &str, Option<&str>)> = vec![
        (
            "trailing white space",
            |ka| Some(format!("{ka}\r\n \t\n")),
            "valid",
            None,
        ),
        (
            "body over 128 bytes",
            |ka| Some(format!("{ka}{}", "x".repeat(128))),
            "invalid",
            Some("unauthorized"),
        ),
        (
            "leading white space",
            |ka| Some(format!(" {ka}")),
            "invalid",
            Some("incorrectResponse"),
        ),
        (
            "another value",
            |_| Some("not-the-key-authorization".into()),
            "invalid",
            Some("incorrectResponse"),
        ),
        ("HTTP 404", |_| None, "invalid", Some("unauthorized")),
    ];
    for (i, (what, body, want, error)) in cases.into_iter().enumerate() {
        let (_, order) = acme.new_order(&[Identifier::dns(&format!("c41-{i}.example.test"))]);
        let authz_url = first_authz(&order);
        let authz = acme.get_json(&authz_url);
        let (_, token) = challenge(&authz, "http-01");
        let served = body(&format!("{token}.{thumbprint}"));
        let done = answer_http01(&mut acme, &env.http01, &authz_url, served.as_deref());
        assert_eq!(done["status"], want, "{what}: {done}");
        let chall = done["challenges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "http-01")
            .unwrap();
        match error {
            None => assert!(chall.get("error").is_none(), "{what}: {chall}"),
            Some(kind) => {
                assert_eq!(chall["status"], "invalid", "{what}: {chall}");
                assert_eq!(
                    chall["error"]["type"],
                    format!("{ACME_ERROR}{kind}"),
                    "{what}: {chall}"
                );
            }
        }
    }
}

/// A server whose DNS answers `records` and `txt` (nothing else: NXDOMAIN), with an http-01
/// responder.
fn env_with_dns(
    records: &[(&str, IpAddr)],
    txt: &[(&str, &str)],
) -> (Server, Http01Responder, MockDns) {
    let map: HashMap<String, Vec<IpAddr>> = records
        .iter()
        .map(|(n, ip)| ((*n).to_owned(), vec![*ip]))
        .collect();
    let txt: HashMap<String, Vec<String>> = txt
        .iter()
        .map(|(n, v)| ((*n).to_owned(), vec![(*v).to_owned()]))
        .collect();
    let dns = MockDns::start_with_txt(map, None, txt);
    let http01 = Http01Responder::start();
    let server = Server::start(ServerOptions {
        http01_port: Some(http01.port()),
        dns_resolver: Some(dns.addr),
        config: Some(ONE_ATTEMPT.to_owned()),
    });
    (server, http01, dns)
}

/// Catalog #42 (RFC 8555 §10.4): with the validation allow-list at 127.0.0.0/8, an IP
/// identifier outside it (link-local cloud metadata, RFC 1918, IPv6 loopback) → 400
/// rejectedIdentifier at order time, one subproblem each; a name that resolves outside it is
/// never dialled: the challenge fails with `connection` naming the address, and the responder
/// sees no request. A name that resolves inside it validates (control).
#[test]
fn catalog_42_ssrf_outside_allow_list() {
    let metadata = IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254));
    let (server, http01, _dns) = env_with_dns(
        &[
            ("metadata.example.test", metadata),
            ("inside.example.test", IpAddr::V4(Ipv4Addr::LOCALHOST)),
        ],
        &[],
    );
    let mut acme = Acme::new(&server);
    acme.new_account();
    let url = acme.url("newOrder");
    let ids = json!([
        {"type": "ip", "value": "169.254.169.254"},
        {"type": "ip", "value": "10.0.0.1"},
        {"type": "ip", "value": "::1"},
    ]);
    let r = acme.post(&url, Some(&json!({ "identifiers": ids })));
    assert_problem(
        &r,
        400,
        "rejectedIdentifier",
        "IP identifiers outside the allow-list",
    );
    assert_eq!(
        r.json()["subproblems"].as_array().map(Vec::len),
        Some(3),
        "{r}"
    );

    let (_, order) = acme.new_order(&[Identifier::dns("metadata.example.test")]);
    let authz_url = first_authz(&order);
    let done = answer_http01(&mut acme, &http01, &authz_url, Some("anything"));
    assert_eq!(done["status"], "invalid", "{done}");
    let error = &done["challenges"][0]["error"];
    assert_eq!(error["type"], format!("{ACME_ERROR}connection"), "{done}");
    assert!(
        error["detail"]
            .as_str()
            .unwrap()
            .contains("169.254.169.254"),
        "{done}"
    );
    let (_, order) = acme.new_order(&[Identifier::dns("inside.example.test")]);
    acme.solve_http01(&order, &http01);
}

/// Catalog #44 (RFC 8555 §8.4): dns-01 where `_acme-challenge.<name>` exists without a TXT
/// record, or has a TXT record with another value → invalid, `unauthorized`; where it does not
/// exist (NXDOMAIN) → invalid, `dns`. (SERVFAIL, CNAME loops, huge TXT sets, timeouts:
/// `src/validate/dns.rs` / `dns01.rs` unit tests; a resolver that never answers:
/// `tests/it/outage.rs::outage_dns_resolver_never_answers`.)
#[test]
fn catalog_44_dns01_faults() {
    let (server, _http01, _dns) = env_with_dns(
        &[(
            "_acme-challenge.notxt.example.test",
            IpAddr::V4(Ipv4Addr::LOCALHOST),
        )],
        &[("_acme-challenge.wrong.example.test", "not-the-digest")],
    );
    let mut acme = Acme::new(&server);
    acme.new_account();
    for (name, kind) in [
        ("notxt.example.test", "unauthorized"),
        ("nx.example.test", "dns"),
    ] {
        let (_, order) = acme.new_order(&[Identifier::dns(name)]);
        let authz_url = first_authz(&order);
        let authz = acme.get_json(&authz_url);
        let (chall_url, _) = challenge(&authz, "dns-01");
        let r = acme.post(&chall_url, Some(&json!({})));
        assert_eq!(r.status, 200, "{r}");
        let done = acme.poll(&authz_url, &["invalid", "valid"]);
        assert_eq!(done["status"], "invalid", "{name}: {done}");
        let chall = done["challenges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "dns-01")
            .unwrap();
        assert_eq!(
            chall["error"]["type"],
            format!("{ACME_ERROR}{kind}"),
            "{name}: {done}"
        );
    }
}

/// Catalog #46 / incident I2: an order of three names where exactly one fails validation:
/// each authorization is judged on its own data (two valid, one invalid), the order becomes
/// invalid with one subproblem naming the bad one, and finalize → 403 orderNotReady. Authz
/// reuse stays within one account: another account ordering an already-validated
/// (pre-authorized) name gets its own pending authorization.
#[test]
fn catalog_46_one_bad_identifier_of_three() {
    let env = Env::with_config(Some(ONE_ATTEMPT));
    let mut acme = Acme::new(&env.server);
    acme.new_account();
    let names = [
        "c46-a.example.test",
        "c46-bad.example.test",
        "c46-c.example.test",
    ];
    let ids: Vec<Identifier> = names.iter().map(|n| Identifier::dns(n)).collect();
    let (order_url, order) = acme.new_order(&ids);
    let thumbprint = acme.key.thumbprint();
    let mut statuses = HashMap::new();
    for authz_url in order["authorizations"].as_array().unwrap() {
        let authz_url = authz_url.as_str().unwrap();
        let authz = acme.get_json(authz_url);
        let name = authz["identifier"]["value"].as_str().unwrap().to_owned();
        let (_, token) = challenge(&authz, "http-01");
        let body = if name.contains("bad") {
            "wrong".to_owned()
        } else {
            format!("{token}.{thumbprint}")
        };
        let done = answer_http01(&mut acme, &env.http01, authz_url, Some(&body));
        statuses.insert(name, done["status"].as_str().unwrap().to_owned());
    }
    assert_eq!(statuses[names[0]], "valid", "{statuses:?}");
    assert_eq!(statuses[names[1]], "invalid", "{statuses:?}");
    assert_eq!(statuses[names[2]], "valid", "{statuses:?}");
    let order = acme.get_json(&order_url);
    assert_eq!(order["status"], "invalid", "{order}");
    assert_eq!(
        order["error"]["subproblems"],
        json!([{
            "type": order["error"]["subproblems"][0]["type"],
            "detail": order["error"]["subproblems"][0]["detail"],
            "identifier": {"type": "dns", "value": names[1]},
        }]),
        "{order}"
    );
    let key = crate::support::pki::CertKey::generate();
    let finalize = order["finalize"].as_str().unwrap().to_owned();
    let r = acme.finalize(&finalize, &key.csr_for(&names));
    assert_problem(
        &r,
        403,
        "orderNotReady",
        "finalize of an order with one invalid authz",
    );

    // Reuse only within the account: a pre-authorization of A is not B's.
    let url = acme.url("newAuthz");
    let r = acme.post(
        &url,
        Some(&json!({"identifier": {"type": "dns", "value": "c46-pre.example.test"}})),
    );
    assert_eq!(r.status, 201, "{r}");
    let pre_url = r.header("location").unwrap().to_owned();
    let done = {
        let authz = acme.get_json(&pre_url);
        let (_, token) = challenge(&authz, "http-01");
        answer_http01(
            &mut acme,
            &env.http01,
            &pre_url,
            Some(&format!("{token}.{thumbprint}")),
        )
    };
    assert_eq!(done["status"], "valid", "{done}");
    let mut other = Acme::new(&env.server);
    other.new_account();
    let (_, theirs) = other.new_order(&[Identifier::dns("c46-pre.example.test")]);
    assert_eq!(theirs["status"], "pending", "{theirs}");
    assert_ne!(first_authz(&theirs), pre_url);
    assert_eq!(other.get_json(&first_authz(&theirs))["status"], "pending");
}

/// Catalog #47 (RFC 8555 §8.1, §11.3): tokens are base64url without padding, carry ≥ 128 bits,
/// are distinct for every challenge, and do not derive from the client's input (the same name
/// ordered twice gets new tokens).
#[test]
fn catalog_47_token_quality() {
    let env = Env::start();
    let mut acme = Acme::new(&env.server);
    acme.new_account();
    let mut seen = HashSet::new();
    let mut count = 0;
    for _ in 0..2 {
        let (_, order) = acme.new_order(&[
            Identifier::dns("c47.example.test"),
            Identifier::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        ]);
        for authz_url in order["authorizations"].as_array().unwrap() {
            let authz = acme.get_json(authz_url.as_str().unwrap());
            for c in authz["challenges"].as_array().unwrap() {
                let token = c["token"].as_str().unwrap();
                assert!(
                    token
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                    "token not base64url without padding: {token:?}"
                );
                let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(token)
                    .unwrap();
                assert!(
                    bytes.len() >= 16,
                    "token of {} bits: {token}",
                    bytes.len() * 8
                );
                assert!(seen.insert(token.to_owned()), "token repeated: {token}");
                count += 1;
            }
        }
    }
    assert_eq!(count, 2 * (3 + 2), "challenges seen");
}
