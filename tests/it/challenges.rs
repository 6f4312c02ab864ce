//! Challenges offered per identifier (RFC 8555 §7.1.3, §7.1.4; RFC 8738 §7), wildcards through
//! dns-01 (§8.4), the identifier policy (rejectedIdentifier, one subproblem per identifier),
//! the retry semantics of §8.2, and an order where exactly one of two names fails.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::support::client::Acme;
use crate::support::dns::{MockDns, MockDnsConfig};
use crate::support::http01::Http01Responder;
use crate::support::pki::{CertKey, Identifier, pem_to_ders, summarize};
use crate::support::server::{Server, ServerOptions, TempDir};

const ACME_ERROR: &str = "urn:ietf:params:acme:error:";

/// A server with a mock DNS (every name → 127.0.0.1, TXT records from a file the test writes),
/// an http-01 responder and `config` as its configuration file.
struct ChallengeEnv {
    server: Server,
    http01: Http01Responder,
    txt_file: PathBuf,
    _dns: MockDns,
    _dir: TempDir,
}

impl ChallengeEnv {
    fn start(config: &str) -> ChallengeEnv {
        let dir = TempDir::new("upki-ra-txt");
        let txt_file = dir.path.join("txt");
        let dns = MockDns::start_with(MockDnsConfig {
            default: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            txt_file: Some(txt_file.clone()),
            ..MockDnsConfig::default()
        });
        let http01 = Http01Responder::start();
        let server = Server::start_with(
            ServerOptions {
                http01_port: Some(http01.port()),
                dns_resolver: Some(dns.addr),
                config: None,
            },
            &[],
            Some(config),
        );
        ChallengeEnv {
            server,
            http01,
            txt_file,
            _dns: dns,
            _dir: dir,
        }
    }

    /// Publishes the dns-01 TXT record (RFC 8555 §8.4) for `name`.
    fn set_txt(&self, name: &str, key_authorization: &str) {
        let digest = ring::digest::digest(&ring::digest::SHA256, key_authorization.as_bytes());
        let value = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref());
        let mut text = std::fs::read_to_string(&self.txt_file).unwrap_or_default();
        text.push_str(&format!("_acme-challenge.{name} {value}\n"));
        std::fs::write(&self.txt_file, text).unwrap();
    }
}

/// The challenge of `kind` in an authorization: (url, key authorization).
fn challenge_of(authz: &Value, kind: &str, thumbprint: &str) -> (String, String) {
    let c = authz["challenges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == kind)
        .unwrap_or_else(|| panic!("no {kind} challenge: {authz}"));
    let token = c["token"].as_str().unwrap();
    (
        c["url"].as_str().unwrap().to_owned(),
        format!("{token}.{thumbprint}"),
    )
}

fn types(authz: &Value) -> Vec<String> {
    let mut t: Vec<String> = authz["challenges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap().to_owned())
        .collect();
    t.sort();
    t
}

/// RFC 8555 §7.1.3/§7.1.4, RFC 8738 §7: DNS names get http-01, tls-alpn-01 and dns-01; IP
/// addresses http-01 and tls-alpn-01; a wildcard an authorization for its base name with
/// `"wildcard": true` and dns-01 only.
#[test]
fn s7_1_4_challenges_offered_per_identifier() {
    let env = ChallengeEnv::start("");
    let mut acme = Acme::new(&env.server);
    acme.new_account();
    let ids = [
        Identifier::dns("app.example.test"),
        Identifier::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        Identifier::dns("*.wild.example.test"),
    ];
    let (_, order) = acme.new_order(&ids);
    let authzs: Vec<Value> = order["authorizations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| acme.get_json(u.as_str().unwrap()))
        .collect();
    assert_eq!(order["identifiers"][2]["value"], "*.wild.example.test");
    assert_eq!(types(&authzs[0]), ["dns-01", "http-01", "tls-alpn-01"]);
    assert_eq!(authzs[0].get("wildcard"), None);
    assert_eq!(
        authzs[1]["identifier"],
        json!({"type": "ip", "value": "127.0.0.1"})
    );
    assert_eq!(types(&authzs[1]), ["http-01", "tls-alpn-01"]);
    assert_eq!(
        authzs[2]["identifier"],
        json!({"type": "dns", "value": "wild.example.test"})
    );
    assert_eq!(authzs[2]["wildcard"], true);
    assert_eq!(types(&authzs[2]), ["dns-01"]);
}

/// RFC 8555 §7.1.3 / catalog #36: malformed wildcards are refused with one subproblem each.
#[test]
fn s7_1_3_malformed_wildcards_have_subproblems() {
    let env = ChallengeEnv::start("");
    let mut acme = Acme::new(&env.server);
    acme.new_account();
    let url = acme.url("newOrder");
    let payload = json!({"identifiers": [
        {"type": "dns", "value": "*.test"},
        {"type": "dns", "value": "a.*.example.test"},
        {"type": "dns", "value": "ok.example.test"},
    ]});
    let r = acme.post(&url, Some(&payload));
    assert_eq!(r.status, 400, "{r}");
    let doc = r.json();
    let subs = doc["subproblems"].as_array().unwrap();
    let named: Vec<&str> = subs
        .iter()
        .map(|s| s["identifier"]["value"].as_str().unwrap())
        .collect();
    assert_eq!(named, ["*.test", "a.*.example.test"], "{doc}");
    for s in subs {
        assert_eq!(s["type"], format!("{ACME_ERROR}malformed"), "{doc}");
    }
}

/// Catalog #35/#42: outside the configured namespace → rejectedIdentifier, one subproblem per
/// identifier; IP identifiers default to the validation allow-list (127.0.0.0/8 here).
#[test]
fn identifier_policy_rejects_with_subproblems() {
    let env = ChallengeEnv::start("[identifiers]\ndns_suffixes = [\"example.test\"]\n");
    let mut acme = Acme::new(&env.server);
    acme.new_account();
    let url = acme.url("newOrder");
    let payload = json!({"identifiers": [
        {"type": "dns", "value": "app.example.test"},
        {"type": "dns", "value": "evil.other.test"},
        {"type": "ip", "value": "127.0.0.1"},
        {"type": "ip", "value": "10.1.2.3"},
        {"type": "dns", "value": "localhost.example.test"},
    ]});
    let r = acme.post(&url, Some(&payload));
    assert_eq!(r.status, 400, "{r}");
    let doc = r.json();
    assert_eq!(
        doc["type"],
        format!("{ACME_ERROR}rejectedIdentifier"),
        "{doc}"
    );
    let named: Vec<&str> = doc["subproblems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["identifier"]["value"].as_str().unwrap())
        .collect();
    assert_eq!(named, ["evil.other.test", "10.1.2.3"], "{doc}");
    // The allowed ones alone make an order.
    let (_, order) = acme.new_order(&[
        Identifier::dns("app.example.test"),
        Identifier::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)),
    ]);
    assert_eq!(order["status"], "pending");
}

/// RFC 8555 §8.4, §7.1.3: a wildcard order is validated through the TXT record of the base
/// name and issued with the wildcard name in the certificate.
#[test]
fn s8_4_wildcard_issued_through_dns01() {
    let env = ChallengeEnv::start("");
    let mut acme = Acme::new(&env.server);
    acme.new_account();
    let thumbprint = acme.key.thumbprint();
    let ids = [
        Identifier::dns("*.wild.example.test"),
        Identifier::dns("wild.example.test"),
    ];
    let (order_url, order) = acme.new_order(&ids);
    for authz_url in order["authorizations"].as_array().unwrap() {
        let authz_url = authz_url.as_str().unwrap();
        let authz = acme.get_json(authz_url);
        let (chall_url, key_auth) = challenge_of(&authz, "dns-01", &thumbprint);
        env.set_txt("wild.example.test", &key_auth);
        let r = acme.post(&chall_url, Some(&json!({})));
        assert_eq!(r.status, 200, "{r}");
        acme.poll(authz_url, &["valid"]);
    }
    let order = acme.poll(&order_url, &["ready"]);
    let key = CertKey::generate();
    let r = acme.finalize(order["finalize"].as_str().unwrap(), &key.csr(None, &ids));
    assert_eq!(r.status, 200, "{r}");
    let order = acme.poll(&order_url, &["valid"]);
    let chain = acme.download(order["certificate"].as_str().unwrap());
    let leaf = summarize(&pem_to_ders(&chain)[0]);
    let mut names = leaf.dns_names.clone();
    names.sort();
    assert_eq!(names, ["*.wild.example.test", "wild.example.test"]);
}

/// RFC 8738 §3, §7: an IP identifier (127.0.0.1, inside `--allow-validation-to 127.0.0.0/8`)
/// validated by http-01 with `Host: 127.0.0.1`; the certificate has one iPAddress SAN and no
/// dNSName.
#[test]
fn rfc8738_ip_identifier_issued_through_http01() {
    let env = ChallengeEnv::start("");
    let mut acme = Acme::new(&env.server);
    acme.new_account();
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let issued = acme.issue(&[Identifier::Ip(ip)], None, &env.http01);
    let leaf = summarize(&issued.chain_der[0]);
    assert_eq!(leaf.ip_addrs, [ip]);
    assert!(leaf.dns_names.is_empty(), "{leaf:?}");
    assert!(
        env.http01
            .hits()
            .iter()
            .any(|h| h.host == "127.0.0.1" || h.host == format!("127.0.0.1:{}", env.http01.port())),
        "no request with Host: 127.0.0.1: {:?}",
        env.http01.hits()
    );
}

/// RFC 8555 §8.2: a failed attempt keeps the challenge `processing` with the error and a
/// `Retry-After`; a client re-POST retries at once and can then succeed.
#[test]
fn s8_2_failed_attempt_retried_on_client_request() {
    // One long pause between attempts, so only a re-POST explains a quick success.
    let env = ChallengeEnv::start("[validation]\nattempts = 3\nretry_delay_secs = 30\n");
    let mut acme = Acme::new(&env.server);
    acme.new_account();
    let thumbprint = acme.key.thumbprint();
    let (order_url, order) = acme.new_order(&[Identifier::dns("app.example.test")]);
    let authz_url = order["authorizations"][0].as_str().unwrap().to_owned();
    let authz = acme.get_json(&authz_url);
    let (chall_url, key_auth) = challenge_of(&authz, "http-01", &thumbprint);
    let r = acme.post(&chall_url, Some(&json!({})));
    assert_eq!(r.status, 200, "{r}");
    // Nothing is served yet: the first attempt fails and is recorded.
    let deadline = Instant::now() + Duration::from_secs(20);
    let chall = loop {
        let r = acme.post(&chall_url, None);
        let c = r.json();
        if c.get("error").is_some() {
            assert_eq!(c["status"], "processing", "{c}");
            let after: u64 = r.header("retry-after").unwrap().parse().unwrap();
            assert!((2..=31).contains(&after), "Retry-After {after}: {r}");
            break c;
        }
        assert!(Instant::now() < deadline, "no error recorded: {c}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        chall["error"]["detail"]
            .as_str()
            .unwrap()
            .contains("attempt 1 of 3"),
        "{chall}"
    );
    assert_eq!(acme.get_json(&authz_url)["status"], "pending");
    assert_eq!(acme.get_json(&order_url)["status"], "pending");
    // Fix the responder and ask for a retry now.
    env.http01
        .add(key_auth.split('.').next().unwrap(), &key_auth);
    let asked = Instant::now();
    let r = acme.post(&chall_url, Some(&json!({})));
    assert_eq!(r.status, 200, "{r}");
    let authz = acme.poll(&authz_url, &["valid"]);
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "retry was not immediate"
    );
    let c = &authz["challenges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "http-01")
        .unwrap()
        .clone();
    assert_eq!(c["status"], "valid", "{authz}");
    assert_eq!(c.get("error"), None, "{authz}");
}

/// RFC 8555 §8.2 after a crash: a challenge left `processing` is validated again when the
/// server starts, without the client having to re-POST it.
#[test]
fn s8_2_validation_resumed_after_restart() {
    let mut env = ChallengeEnv::start("[validation]\nattempts = 3\nretry_delay_secs = 30\n");
    let mut acme = Acme::new(&env.server);
    acme.new_account();
    let thumbprint = acme.key.thumbprint();
    let (_, order) = acme.new_order(&[Identifier::dns("app.example.test")]);
    let authz_url = order["authorizations"][0].as_str().unwrap().to_owned();
    let authz = acme.get_json(&authz_url);
    let (chall_url, key_auth) = challenge_of(&authz, "http-01", &thumbprint);
    assert_eq!(acme.post(&chall_url, Some(&json!({}))).status, 200);
    let deadline = Instant::now() + Duration::from_secs(20);
    while acme.post(&chall_url, None).json().get("error").is_none() {
        assert!(Instant::now() < deadline, "first attempt never failed");
        std::thread::sleep(Duration::from_millis(100));
    }
    env.http01
        .add(key_auth.split('.').next().unwrap(), &key_auth);
    env.server.restart();
    let restarted = Instant::now();
    acme.poll(&authz_url, &["valid"]);
    assert!(
        restarted.elapsed() < Duration::from_secs(10),
        "not resumed at start-up"
    );
    assert!(
        env.server
            .stderr()
            .contains("resuming the http-01 validation of app.example.test")
    );
}

/// RFC 8555 §8.2 + §7.1.6 / catalog #46: two names, exactly one fails every attempt: its
/// challenge ends invalid after the bounded retries, and so does the order, naming it.
#[test]
fn s8_2_one_of_two_names_fails_order_names_it() {
    let env = ChallengeEnv::start("[validation]\nattempts = 2\nretry_delay_secs = 1\n");
    let mut acme = Acme::new(&env.server);
    acme.new_account();
    let thumbprint = acme.key.thumbprint();
    let (order_url, order) = acme.new_order(&[
        Identifier::dns("good.example.test"),
        Identifier::dns("bad.example.test"),
    ]);
    for authz_url in order["authorizations"].as_array().unwrap() {
        let authz = acme.get_json(authz_url.as_str().unwrap());
        let (chall_url, key_auth) = challenge_of(&authz, "dns-01", &thumbprint);
        if authz["identifier"]["value"] == "good.example.test" {
            env.set_txt("good.example.test", &key_auth);
        } else {
            env.set_txt("bad.example.test", "someone-else.s-key-authorization");
        }
        let r = acme.post(&chall_url, Some(&json!({})));
        assert_eq!(r.status, 200, "{r}");
    }
    let order = acme.poll(&order_url, &["invalid"]);
    let error = &order["error"];
    assert!(
        error["detail"]
            .as_str()
            .unwrap()
            .starts_with("bad.example.test:"),
        "{order}"
    );
    assert_eq!(
        error["subproblems"][0]["identifier"],
        json!({"type": "dns", "value": "bad.example.test"}),
        "{order}"
    );
    assert_eq!(
        error["type"],
        format!("{ACME_ERROR}unauthorized"),
        "{order}"
    );
    let statuses: HashMap<String, String> = order["authorizations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            let a = acme.get_json(u.as_str().unwrap());
            (
                a["identifier"]["value"].as_str().unwrap().to_owned(),
                a["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(statuses["good.example.test"], "valid");
    assert_eq!(statuses["bad.example.test"], "invalid");
}
