//! Durability: after a SIGKILL (no clean shutdown) and a restart on the same data directory,
//! the account, the order and the certificate issued before are still served (RFC 8555 §7.3.2,
//! §7.4, §7.4.2), nonces from before the restart are refused with `badNonce` (§6.5) and new
//! orders work.

use crate::support::Env;
use crate::support::client::Acme;
use crate::support::pki::{Identifier, summarize, verify_chain};

#[test]
fn state_survives_sigkill_and_restart() {
    let mut env = Env::start();
    let mut acme = Acme::new(&env.server);
    acme.new_account();
    let account_url = acme.kid.clone().unwrap();
    let issued = acme.issue(&[Identifier::dns("app.example.test")], None, &env.http01);
    let stale_nonce = acme.fresh_nonce();

    env.server.kill();
    env.server.restart();

    // §6.5: a nonce issued before the restart is not accepted afterwards.
    let body = acme
        .key
        .sign_jws(&acme.protected(&account_url, &stale_nonce), None);
    let r = acme.send_jws(&account_url, &body);
    assert_eq!(r.status, 400, "stale nonce accepted after restart: {r}");
    assert_eq!(
        r.problem_type().as_deref(),
        Some("urn:ietf:params:acme:error:badNonce"),
        "{r}"
    );

    let account = acme.get_json(&account_url);
    assert_eq!(
        account["status"], "valid",
        "account after restart: {account}"
    );

    let order = acme.get_json(&issued.order_url);
    assert_eq!(order["status"], "valid", "order after restart: {order}");
    assert_eq!(
        order["certificate"].as_str(),
        Some(issued.cert_url.as_str())
    );

    let pem = acme.download(&issued.cert_url);
    assert_eq!(
        pem, issued.chain_pem,
        "certificate changed across the restart"
    );

    // The CA survived too: a new order is issued under the same root.
    let again = acme.issue(&[Identifier::dns("www.example.test")], None, &env.http01);
    verify_chain(
        &env.server.ca_cert_path(),
        &again.chain_der,
        "www.example.test",
    );
    verify_chain(
        &env.server.ca_cert_path(),
        &issued.chain_der,
        "app.example.test",
    );
    // RFC 5280 §4.1.2.2: serials are unique per CA, also across restarts.
    assert_ne!(
        summarize(&again.chain_der[0]).serial,
        summarize(&issued.chain_der[0]).serial
    );
}
