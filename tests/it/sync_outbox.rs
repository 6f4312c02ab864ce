//! acme_sync outbox (issue 3, item 5): with `[ca] sync` off (the default with the embedded CA)
//! no sender drains the outbox, so state changes must not append to it; `upki-ra status`
//! reports its length.

use std::process::Command;

use crate::support::Env;
use crate::support::client::Acme;
use crate::support::pki::Identifier;

#[test]
fn acme_sync_off_writes_no_outbox_items() {
    let mut env = Env::start();
    let mut acme = Acme::new(&env.server);
    acme.new_account();
    acme.issue(&[Identifier::dns("app.example.test")], None, &env.http01);
    let out = Command::new(env!("CARGO_BIN_EXE_upki-ra"))
        .args(["status", "--json", "--data-dir"])
        .arg(env.server.data_dir())
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(status["store"]["certificates"]["valid"], 1, "{status}");
    assert_eq!(status["store"]["sync_outbox"], 0, "{status}");
    env.server.kill();
}
