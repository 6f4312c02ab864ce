//! The strict-server chaos mode (test-only `[chaos]`, debug builds) against the in-test client:
//! valid nonces refused with `badNonce` (RFC 8555 §6.5: consumed, fresh Replay-Nonce, the client
//! retries), validation attempts delayed at random, and valid authorizations reused only within
//! the account (§7.1.3, §7.4, catalog #46).

use serde_json::{Value, json};

use crate::support::Env;
use crate::support::client::Acme;
use crate::support::pki::{CertKey, Identifier};

const REFUSED: &str = "chaos: refusing a valid nonce with badNonce";

/// RFC 8555 §6.5: a client that retries `badNonce` gets its certificate although half of its
/// valid nonces are refused; every refusal reached the client with a fresh nonce, and a
/// refused nonce is spent (replaying it is refused as a used nonce, without a new chaos roll).
#[test]
fn s6_5_bad_nonce_chaos_client_retries() {
    let env = Env::with_config(Some(
        "[chaos]\nbad_nonce_percent = 50\nbad_nonce_max_in_a_row = 3\n\
         validation_delay_max_ms = 300\nseed = 1\n",
    ));
    let mut acme = Acme::new(&env.server);
    // At most 3 refusals in a row per key: 3 retries always get through.
    acme.bad_nonce_retries = 3;
    acme.new_account();
    let issued = acme.issue(&[Identifier::dns("chaos.example.test")], None, &env.http01);
    assert!(!issued.chain_der.is_empty());
    let log = env.server.stderr();
    let refused = log.matches(REFUSED).count();
    assert!(acme.bad_nonces_seen >= 1, "no badNonce seen:\n{log}");
    assert_eq!(
        u32::try_from(refused).unwrap(),
        acme.bad_nonces_seen,
        "every refusal reached the client and was retried"
    );
    assert!(log.contains("chaos: validation attempt delayed"), "{log}");

    // A refused nonce is consumed: send with fresh nonces until chaos refuses one, then replay
    // that exact request. It is refused again, but as a used nonce: no further chaos roll.
    let url = acme.url("newOrder");
    let payload = json!({"identifiers": [{"type": "dns", "value": "replay.example.test"}]});
    for _ in 0..64 {
        let nonce = acme.fresh_nonce();
        let body = acme
            .key
            .sign_jws(&acme.protected(&url, &nonce), Some(&payload));
        let before = env.server.stderr().matches(REFUSED).count();
        let r = acme.send_jws(&url, &body);
        if r.status == 201 {
            continue;
        }
        assert_eq!(
            r.problem_type().as_deref(),
            Some("urn:ietf:params:acme:error:badNonce"),
            "{r}"
        );
        assert!(r.header("replay-nonce").is_some(), "§6.5: fresh nonce: {r}");
        assert_eq!(env.server.stderr().matches(REFUSED).count(), before + 1);
        let again = acme.send_jws(&url, &body);
        assert_eq!(
            again.problem_type().as_deref(),
            Some("urn:ietf:params:acme:error:badNonce"),
            "{again}"
        );
        assert_eq!(
            env.server.stderr().matches(REFUSED).count(),
            before + 1,
            "the replayed nonce was already spent"
        );
        return;
    }
    panic!("no chaos refusal in 64 requests at 50 %");
}

/// RFC 8555 §7.4 / catalog #46 with `authz_reuse_percent = 100`: a second order of the same
/// account for the same name lists the earlier valid authorization and is ready at once; an
/// order of another account for that name gets a fresh, pending authorization.
#[test]
fn catalog_46_chaos_reuses_valid_authz_of_same_account_only() {
    let env = Env::with_config(Some("[chaos]\nauthz_reuse_percent = 100\nseed = 2\n"));
    let name = "reuse.example.test";
    let ids = [Identifier::dns(name)];
    let mut owner = Acme::new(&env.server);
    owner.new_account();
    let first = owner.issue(&ids, None, &env.http01);
    let first_authz = first.order["authorizations"][0].clone();
    assert_eq!(
        owner.get_json(first_authz.as_str().unwrap())["status"],
        "valid"
    );

    // Same account, same name: the valid authorization is reused; the order is ready.
    let (order_url, order) = owner.new_order(&ids);
    assert_eq!(order["authorizations"], json!([first_authz]), "{order}");
    assert_eq!(
        order["status"], "ready",
        "newOrder answers the computed status: {order}"
    );
    let key = CertKey::generate();
    let r = owner.finalize(order["finalize"].as_str().unwrap(), &key.csr(None, &ids));
    assert_eq!(r.status, 200, "{r}");
    let done = owner.poll(&order_url, &["valid"]);
    assert!(done["certificate"].is_string(), "{done}");

    // Same account, a wildcard of that name: never the non-wildcard authorization.
    let (_, wild) = owner.new_order(&[Identifier::dns(&format!("*.{name}"))]);
    assert_ne!(wild["authorizations"], json!([first_authz]), "{wild}");
    assert_eq!(wild["status"], "pending", "{wild}");

    // Another account, same name: a fresh, pending authorization.
    let mut other = Acme::new(&env.server);
    other.new_account();
    let (_, theirs) = other.new_order(&ids);
    let authz: &Value = &theirs["authorizations"][0];
    assert_ne!(authz, &first_authz, "{theirs}");
    assert_eq!(theirs["status"], "pending", "{theirs}");
    assert_eq!(other.get_json(authz.as_str().unwrap())["status"], "pending");
    // …and the owner's authorization cannot be read by the other account (§7.5).
    let r = other.post(first_authz.as_str().unwrap(), None);
    assert_eq!(r.status, 403, "{r}");
}
