//! Running external programs in interop tests: find them on PATH (a missing one is a failure
//! with an install hint, never a skip), run them with a deadline and their output in a log file,
//! and check certificates with `openssl verify`.
// Only the interop test crates use this; `tests/it.rs` compiles it too.
#![allow(dead_code)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Every client invocation must finish within this.
pub(crate) const CLIENT_TIMEOUT: Duration = Duration::from_secs(180);

/// The absolute path of `name` on PATH, or a failure telling how to install it.
pub(crate) fn program(name: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "interop test needs `{name}` on PATH but it is missing: install it \
                 (`apt-get install {package}`) or run `.ci/run`; interop tests never skip"
            )
        })
}

/// Runs `cmd` with a deadline, output captured to `log_dir/<label>.log`; returns the exit
/// status and the output.
pub(crate) fn run(mut cmd: Command, label: &str, log_dir: &Path) -> (ExitStatus, String) {
    let log_path = log_dir.join(format!("{label}.log"));
    let log = File::create(&log_path).unwrap();
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log));
    let shown = format!("{cmd:?}");
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {shown}: {e}"));
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{label}: no exit after {CLIENT_TIMEOUT:?}: {shown}\n--- output ---\n{}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    (
        status,
        std::fs::read_to_string(&log_path).unwrap_or_default(),
    )
}

/// Like `run`, and the command must succeed.
pub(crate) fn run_ok(cmd: Command, label: &str, log_dir: &Path) -> String {
    let shown = format!("{cmd:?}");
    let (status, output) = run(cmd, label, log_dir);
    assert!(
        status.success(),
        "{label} failed ({status}): {shown}\n--- output ---\n{output}"
    );
    output
}

/// `openssl verify -CAfile root [-untrusted chain] leaf` must say OK.
pub(crate) fn openssl_verify(root: &Path, chain: Option<&Path>, leaf: &Path, log_dir: &Path) {
    let mut cmd = Command::new(program("openssl", "openssl"));
    cmd.arg("verify").arg("-CAfile").arg(root);
    if let Some(chain) = chain {
        let has_cert = std::fs::read_to_string(chain)
            .unwrap_or_default()
            .contains("-----BEGIN CERTIFICATE-----");
        if has_cert {
            cmd.arg("-untrusted").arg(chain);
        }
    }
    cmd.arg(leaf);
    let output = run_ok(cmd, "openssl-verify", log_dir);
    assert!(output.contains(": OK"), "openssl verify: {output}");
}
