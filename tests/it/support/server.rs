//! Runs the real `upki-ra serve` binary on a free loopback port with a private data directory,
//! waits (bounded) until its ACME directory (RFC 8555 §7.1.1) answers 200, and can SIGKILL and
//! restart it on the same port and data directory.

use std::fs::{File, OpenOptions};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::https::Https;

/// How long the server may take to answer its directory after being spawned.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A free TCP port on 127.0.0.1 (bound, read, released: a small race the tests accept).
pub(crate) fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A unique directory under the system temp dir; removed on drop unless the thread is
/// panicking (a failed test keeps its files for inspection, and says where they are).
#[derive(Debug)]
pub(crate) struct TempDir {
    pub(crate) path: PathBuf,
}

impl TempDir {
    pub(crate) fn new(prefix: &str) -> TempDir {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let path = std::env::temp_dir().join(format!(
            "{prefix}-{}-{}-{nanos}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        TempDir { path }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("test failed: keeping {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Options for `upki-ra serve`.
#[derive(Debug, Clone, Default)]
pub(crate) struct ServerOptions {
    /// `--http01-port`: the port the server dials for http-01 validation.
    pub(crate) http01_port: Option<u16>,
    /// `--dns-resolver`: the DNS server used to resolve identifiers.
    pub(crate) dns_resolver: Option<SocketAddr>,
    /// A TOML configuration file's text, passed with `--config` (the flags above override it).
    pub(crate) config: Option<String>,
}

/// A running `upki-ra` process; killed (SIGKILL) on drop.
pub(crate) struct Server {
    child: Option<Child>,
    pub(crate) port: u16,
    opts: ServerOptions,
    /// More `serve` arguments (`--tlsalpn01-port`, …), after the usual ones.
    extra_args: Vec<String>,
    /// A program (and its arguments) the binary is started under, e.g. `faketime -f -3d`.
    wrapper: Vec<String>,
    // Declared last so the process is gone before the directory is removed.
    data: TempDir,
}

impl Server {
    /// Start the server and wait until the directory answers 200.
    pub(crate) fn start(opts: ServerOptions) -> Server {
        Server::start_with(opts, &[], None)
    }

    /// Like `start`, with more `serve` arguments and, if given, a configuration file holding
    /// `config` (TOML; command-line flags override it).
    pub(crate) fn start_with(
        mut opts: ServerOptions,
        args: &[&str],
        config: Option<&str>,
    ) -> Server {
        let data = TempDir::new("upki-ra-it");
        let extra_args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        if let Some(text) = config {
            opts.config = Some(text.to_owned());
        }
        let mut s = Server {
            child: None,
            port: free_port(),
            opts,
            extra_args,
            wrapper: Vec::new(),
            data,
        };
        s.spawn();
        s
    }

    /// The root of the embedded CA (PEM), written by the server before it accepts.
    pub(crate) fn ca_cert_path(&self) -> PathBuf {
        // With `--ca-endpoint` (a remote uPKI CA) the server writes that CA's certificate here.
        if self.extra_args.iter().any(|a| a == "--ca-endpoint") {
            return self.data.path.join("issuer.pem");
        }
        self.data.path.join("ca").join("ca.crt")
    }

    pub(crate) fn base_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    pub(crate) fn directory_url(&self) -> String {
        format!("{}/acme/directory", self.base_url())
    }

    /// Runs `upki-ra eab ARGS --data-dir DIR` as a second process next to the running server
    /// (LMDB multi-process); returns stdout, panics on failure.
    pub(crate) fn eab(&self, args: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_upki-ra"))
            .arg("eab")
            .args(args)
            .arg("--data-dir")
            .arg(&self.data.path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "upki-ra eab {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `upki-ra eab add`: the new (kid, base64url HMAC key).
    pub(crate) fn eab_add(&self, label: &str) -> (String, String) {
        let out = self.eab(&["add", "--label", label]);
        let field = |name: &str| {
            out.lines()
                .find_map(|l| l.strip_prefix(name))
                .unwrap_or_else(|| panic!("eab add printed no {name}: {out}"))
                .trim()
                .to_owned()
        };
        (field("kid:"), field("hmac_key:"))
    }

    /// An HTTPS client trusting this server's CA root.
    pub(crate) fn https(&self) -> Https {
        Https::new(&self.ca_cert_path())
    }

    fn log_path(&self) -> PathBuf {
        self.data.path.join("upki-ra.stderr.log")
    }

    /// Everything the server (all its runs) wrote to stderr so far.
    pub(crate) fn stderr(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn spawn(&mut self) {
        assert!(self.child.is_none(), "server already running");
        let bin = env!("CARGO_BIN_EXE_upki-ra");
        let log: File = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let mut cmd = match self.wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        cmd.arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--data-dir")
            .arg(&self.data.path)
            .arg("--allow-validation-to")
            .arg("127.0.0.0/8");
        if let Some(p) = self.opts.http01_port {
            cmd.arg("--http01-port").arg(p.to_string());
        }
        if let Some(d) = self.opts.dns_resolver {
            cmd.arg("--dns-resolver").arg(d.to_string());
        }
        cmd.args(&self.extra_args);
        if let Some(text) = &self.opts.config {
            let path = self.data.path.join("ra.toml");
            std::fs::write(&path, text).unwrap();
            cmd.arg("--config").arg(path);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log));
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
        self.child = Some(child);
        self.wait_ready();
    }

    /// Poll the directory until it answers 200; panic with the server's stderr otherwise.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut last = String::from("ca/ca.crt not written yet");
        loop {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                self.child = None;
                panic!(
                    "upki-ra exited before it was ready ({status}); command: serve --listen 127.0.0.1:{} --data-dir {}\n--- server stderr ---\n{}",
                    self.port,
                    self.data.path.display(),
                    self.stderr()
                );
            }
            if self.ca_cert_path().exists() {
                match Https::try_new(&self.ca_cert_path()) {
                    Ok(https) => match https.try_request("GET", &self.directory_url(), &[], b"") {
                        Ok(r) if r.status == 200 => return,
                        Ok(r) => last = format!("directory answered {}: {}", r.status, r.text()),
                        Err(e) => last = e,
                    },
                    Err(e) => last = e,
                }
            }
            if Instant::now() > deadline {
                self.kill();
                panic!(
                    "upki-ra not ready after {READY_TIMEOUT:?} ({}): last error: {last}\n--- server stderr ---\n{}",
                    self.directory_url(),
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL the process (no clean shutdown) and reap it.
    pub(crate) fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The `--data-dir` of this server.
    pub(crate) fn data_dir(&self) -> &std::path::Path {
        &self.data.path
    }

    /// SIGTERM the process (graceful stop) and wait for it, at most `bound`; `None` if it
    /// did not exit in time (it is then killed).
    pub(crate) fn terminate(&mut self, bound: Duration) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status()
            .unwrap();
        assert!(sent.success(), "kill -TERM failed");
        let deadline = Instant::now() + bound;
        while Instant::now() < deadline {
            if let Some(status) = c.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
        None
    }

    /// From the next (re)start on: run the binary under `wrapper` (empty = directly).
    pub(crate) fn set_wrapper(&mut self, wrapper: &[&str]) {
        self.wrapper = wrapper.iter().map(|a| (*a).to_owned()).collect();
    }

    /// From the next (re)start on: this configuration file text (None = no `--config`).
    pub(crate) fn set_config(&mut self, config: Option<&str>) {
        self.opts.config = config.map(str::to_owned);
    }

    /// Start again with the same port and data directory, and wait until ready.
    pub(crate) fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Only a test failing while the server runs needs its log here: the readiness
        // failures already carry it in their panic message.
        let show_log = std::thread::panicking() && self.child.is_some();
        self.kill();
        if show_log {
            eprintln!(
                "--- upki-ra stderr ({}) ---\n{}",
                self.log_path().display(),
                self.stderr()
            );
        }
    }
}
