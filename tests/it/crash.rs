//! Crash drill (issue 8 item 3; security catalog #58, #59a/d, #62): under a steady issuance
//! load from several client workers, the real server is SIGKILLed at random points (seeded,
//! printed; `UPKI_DRILL_SEED=N` replays a run) and restarted on the same data directory, ten
//! times. Then the invariants: every certificate a client was given is still downloadable and
//! byte-identical (RFC 8555 §7.4.2), every account a client was given still authenticates
//! (§7.3, POST-as-GET with its kid), no order is left `processing` after the start-up reconcile
//! (#58), no nonce is accepted twice (§6.5, before and after a restart), and the LMDB
//! environment opens cleanly (the restarts themselves, and `upki-ra admin` with the server
//! stopped).

use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::support::Env;
use crate::support::tolerant::{GivenCert, Tolerant};

const KILLS: usize = 10;
const WORKERS: usize = 3;
/// A worker opens a new account after this many certificates on the current one.
const CERTS_PER_ACCOUNT: usize = 2;
/// How long the server may take to leave no order `processing` after the last restart.
const RECONCILE_BOUND: Duration = Duration::from_secs(30);

/// xorshift64*: enough randomness for kill points, reproducible from the printed seed.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn seeded(var: &str) -> (Rng, u64) {
        let seed = std::env::var(var)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            })
            | 1;
        (Rng(seed), seed)
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// What one worker was given by the server: its accounts (with their keys) and certificates
/// (index of the owning account).
struct Given {
    accounts: Vec<Tolerant>,
    certs: Vec<(usize, GivenCert)>,
    errors: usize,
}

/// `upki-ra admin ARGS --json --data-dir DIR` as JSON; `Err` with stderr on failure.
fn admin_json(data_dir: &std::path::Path, args: &[&str]) -> Result<Value, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_upki-ra"))
        .arg("admin")
        .args(args)
        .arg("--json")
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "admin {args:?}: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("admin {args:?}: not JSON: {e}"))
}

#[test]
fn crash_drill_sigkill_under_load() {
    let started = Instant::now();
    let (mut rng, seed) = Rng::seeded("UPKI_DRILL_SEED");
    eprintln!("crash drill: seed {seed} (UPKI_DRILL_SEED={seed} replays the kill points)");
    let mut env = Env::start();
    let ca = env.server.ca_cert_path();
    let dir_url = env.server.directory_url();
    let stop = AtomicBool::new(false);
    let results: Mutex<Vec<Given>> = Mutex::new(Vec::new());
    // A nonce handed out before the last kill (§6.5: must be refused after the restart).
    let mut probe = Tolerant::new(env.server.https(), &dir_url);
    let probe_kid = probe.new_account().unwrap();
    let mut kills = Vec::new();
    let restarted_at = Mutex::new(Instant::now());

    std::thread::scope(|s| {
        let http01 = &env.http01;
        for w in 0..WORKERS {
            let (stop, results, ca, dir_url) = (&stop, &results, &ca, &dir_url);
            s.spawn(move || {
                let https = || crate::support::https::Https::new(ca);
                let mut given = Given {
                    accounts: Vec::new(),
                    certs: Vec::new(),
                    errors: 0,
                };
                let mut current: Option<Tolerant> = None;
                let mut on_current = 0;
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) {
                    let mut c = match current.take() {
                        Some(c) => c,
                        None => Tolerant::new(https(), dir_url),
                    };
                    if c.kid.is_none() {
                        match c.new_account() {
                            Ok(_) => on_current = 0,
                            Err(_) => {
                                given.errors += 1;
                                current = Some(c);
                                std::thread::sleep(Duration::from_millis(50));
                                continue;
                            }
                        }
                    }
                    n += 1;
                    match c.issue(&format!("w{w}-{n}.example.test"), http01) {
                        Ok(cert) => {
                            // The owner's index is set when the account is retired.
                            given.certs.push((usize::MAX, cert));
                            on_current += 1;
                        }
                        Err(_) => {
                            given.errors += 1;
                            std::thread::sleep(Duration::from_millis(50));
                        }
                    }
                    if on_current >= CERTS_PER_ACCOUNT {
                        // The account is done: keep it (and its key) for the final checks.
                        let idx = given.accounts.len();
                        for (i, _) in given.certs.iter_mut().filter(|(i, _)| *i == usize::MAX) {
                            *i = idx;
                        }
                        given.accounts.push(c);
                    } else {
                        current = Some(c);
                    }
                }
                if let Some(c) = current
                    && c.kid.is_some()
                {
                    let idx = given.accounts.len();
                    for (i, _) in given.certs.iter_mut().filter(|(i, _)| *i == usize::MAX) {
                        *i = idx;
                    }
                    given.accounts.push(c);
                }
                results.lock().unwrap().push(given);
            });
        }

        let server = &mut env.server;
        let probe = &mut probe;
        let kills = &mut kills;
        let kill_loop = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            for k in 0..KILLS {
                let after = Duration::from_millis(300 + rng.below(1700));
                std::thread::sleep(after);
                if k == KILLS - 1 {
                    let nonce = probe.fresh_nonce().unwrap();
                    kills.push((after, Some(nonce)));
                } else {
                    kills.push((after, None));
                }
                server.kill();
                server.restart();
                *restarted_at.lock().unwrap() = Instant::now();
            }
            // Load continues on the last incarnation for a moment, then the workers stop.
            std::thread::sleep(Duration::from_secs(2));
        }));
        // Stop the workers also when a restart failed, or the scope would never end.
        stop.store(true, Ordering::SeqCst);
        if let Err(p) = kill_loop {
            std::panic::resume_unwind(p);
        }
    });
    eprintln!(
        "crash drill: {} kills after {:?} of load each",
        kills.len(),
        kills.iter().map(|(d, _)| *d).collect::<Vec<_>>()
    );
    let mut given = results.into_inner().unwrap();

    // §6.5: the nonce issued before the last kill is refused by the restarted server.
    let stale = kills.last().and_then(|(_, n)| n.clone()).unwrap();
    let body = probe.jws(&probe_kid, &stale, None);
    let r = probe.send(&probe_kid, &body).unwrap();
    assert_eq!(r.status, 400, "pre-kill nonce accepted after restart: {r}");
    assert_eq!(
        r.problem_type().as_deref(),
        Some("urn:ietf:params:acme:error:badNonce"),
        "{r}"
    );
    // §6.5: a nonce of the new incarnation is accepted once, then refused.
    let fresh = probe.fresh_nonce().unwrap();
    let body = probe.jws(&probe_kid, &fresh, None);
    let first = probe.send(&probe_kid, &body).unwrap();
    assert_eq!(first.status, 200, "fresh nonce refused: {first}");
    let second = probe.send(&probe_kid, &body).unwrap();
    assert_eq!(
        second.problem_type().as_deref(),
        Some("urn:ietf:params:acme:error:badNonce"),
        "a nonce was accepted twice: {second}"
    );

    // Catalog #58: after the start-up reconcile no order stays `processing`.
    let data = env.server.data_dir().to_path_buf();
    let last_restart = *restarted_at.lock().unwrap();
    let deadline = Instant::now() + RECONCILE_BOUND;
    let reconciled_in = loop {
        let processing = admin_json(&data, &["orders", "list", "--status", "processing"])
            .unwrap_or_else(|e| panic!("{e}"));
        if processing.as_array().is_some_and(Vec::is_empty) {
            break last_restart.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "orders still processing {RECONCILE_BOUND:?} after the last restart: {processing}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };

    // Every account still authenticates; every certificate is served byte-identical.
    let (mut accounts, mut certs, mut errors) = (0, 0, 0);
    for g in &mut given {
        errors += g.errors;
        for a in &mut g.accounts {
            let kid = a.kid.clone().unwrap();
            let acct = a
                .get_json(&kid)
                .unwrap_or_else(|e| panic!("account {kid} no longer authenticates: {e}"));
            assert_eq!(acct["status"], "valid", "{kid}: {acct}");
            accounts += 1;
        }
        for (idx, cert) in &g.certs {
            let owner = g
                .accounts
                .get_mut(*idx)
                .unwrap_or_else(|| panic!("certificate without account: {}", cert.cert_url));
            let pem = owner
                .download(&cert.cert_url)
                .unwrap_or_else(|e| panic!("certificate {} given, now lost: {e}", cert.cert_url));
            assert_eq!(pem, cert.pem, "certificate {} changed", cert.cert_url);
            let order = owner.get_json(&cert.order_url).unwrap();
            assert_eq!(order["status"], "valid", "{}: {order}", cert.order_url);
            certs += 1;
        }
    }
    assert!(
        certs >= KILLS,
        "the load issued only {certs} certificates across {KILLS} kills: not a load"
    );

    // Catalog #59: the environment opens cleanly with the server stopped, and holds at least
    // everything the clients were given.
    env.server.kill();
    let listed = admin_json(&data, &["accounts", "list"]).unwrap_or_else(|e| panic!("{e}"));
    assert!(listed.as_array().unwrap().len() > accounts);
    let listed = admin_json(&data, &["certs", "list"]).unwrap_or_else(|e| panic!("{e}"));
    assert!(listed.as_array().unwrap().len() >= certs);
    let restarts = env.server.stderr().matches("left processing").count();
    eprintln!(
        "crash drill: seed {seed}, {KILLS} kills, {certs} certificates and {accounts} accounts \
         checked, {errors} client attempts cut by kills, {restarts} order(s) resumed at start-up, \
         no order processing {reconciled_in:?} after the last restart, total {:?}",
        started.elapsed()
    );
}
