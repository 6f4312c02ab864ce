//! The command line (issue: CLI and config): `--version`, `--help`, and that a bad configuration
//! stops `serve` with one line naming the key and a non-zero exit status.

use std::process::Command;

use super::support::server::TempDir;

fn upki_ra(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_upki-ra"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn version_and_help() {
    let v = upki_ra(&["--version"]);
    assert!(v.status.success());
    assert_eq!(
        String::from_utf8(v.stdout).unwrap().trim(),
        format!("upki-ra {}", env!("CARGO_PKG_VERSION"))
    );
    let h = upki_ra(&["--help"]);
    assert!(h.status.success());
    let help = String::from_utf8(h.stdout).unwrap();
    for flag in [
        "serve",
        "--config",
        "--listen",
        "--data-dir",
        "--http01-port",
        "--dns-resolver",
        "--allow-validation-to",
    ] {
        assert!(help.contains(flag), "--help does not mention {flag}");
    }
}

/// Runs `serve` with `config` and expects a refusal: exit status 2 and exactly one stderr line
/// containing `needle`. The server must not have created its data folder.
fn refused(config: &str, extra: &[&str], needle: &str) {
    let dir = TempDir::new("upki-ra-cli");
    let file = dir.path.join("ra.toml");
    let data = dir.path.join("data");
    std::fs::write(&file, config).unwrap();
    let mut args = vec![
        "serve",
        "--config",
        file.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = upki_ra(&args);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "not one line: {stderr}");
    assert!(stderr.contains(needle), "{needle:?} not in {stderr:?}");
    assert!(
        !data.exists(),
        "a refused start must not create the data folder"
    );
}

#[test]
fn bad_config_is_one_line_naming_the_key() {
    refused(
        "[server]\nlisten = \"127.0.0.1:1\"\nlisten_typo = 3\n",
        &[],
        "listen_typo",
    );
    refused(
        "[server]\nlisten = \"127.0.0.1:1\"\nlisten_typo = 3\n",
        &[],
        "line 3",
    );
    refused(
        "[validation]\nhttp01_port = 0\n",
        &[],
        "validation.http01_port",
    );
    refused(
        "[validation]\nallow_networks = [\"10.0.0.1/8\"]\n",
        &[],
        "validation.allow_networks",
    );
    refused(
        "",
        &["--allow-validation-to", "nonsense"],
        "--allow-validation-to",
    );
    refused("", &["--listen", "nowhere"], "--listen");
    refused("", &["--frobnicate"], "unknown option");
}

/// `server.plain_listen`: the optional plain-HTTP listener for a TLS-terminating reverse proxy
/// serves the same resources, with URLs built from `server.base_url`.
#[test]
fn plain_http_listener_behind_a_proxy() {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};

    use super::support::server::free_port;

    let dir = TempDir::new("upki-ra-plain");
    let (tls_port, plain_port) = (free_port(), free_port());
    let file = dir.path.join("ra.toml");
    std::fs::write(
        &file,
        format!(
            "[server]\nlisten = \"127.0.0.1:{tls_port}\"\nplain_listen = \"127.0.0.1:{plain_port}\"\n\
             base_url = \"https://ra.example.test\"\n"
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_upki-ra"))
        .args(["serve", "--config", file.to_str().unwrap(), "--data-dir"])
        .arg(dir.path.join("data"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let answer = loop {
        let attempt = std::net::TcpStream::connect(("127.0.0.1", plain_port)).and_then(|mut s| {
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            s.write_all(
                b"GET /acme/directory HTTP/1.1\r\nHost: ra.example.test\r\nConnection: close\r\n\r\n",
            )?;
            let mut out = String::new();
            s.read_to_string(&mut out)?;
            Ok(out)
        });
        match attempt {
            Ok(out) if !out.is_empty() => break out,
            _ if Instant::now() > deadline => {
                let _ = child.kill();
                panic!("plain listener never answered");
            }
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.contains("\"newNonce\":\"https://ra.example.test/acme/new-nonce\""),
        "{answer}"
    );
}
