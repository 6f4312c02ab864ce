//! Living under a service manager: the systemd readiness protocol (`sd_notify`: `READY=1`,
//! `RELOADING=1`, `STOPPING=1` on `$NOTIFY_SOCKET`), the signals (SIGTERM/SIGINT: graceful
//! stop; SIGHUP: reload what can be reloaded), and the bounded drain of in-flight requests.
//!
//! Signals come through `async-signal` (smol-rs; already in the tree through smol), so a
//! signal is an event on the executor, never code run in a signal handler.
#![forbid(unsafe_code)]

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use async_signal::{Signal, Signals};
use futures_lite::StreamExt;

use crate::config::Config;

/// Sends one state line to systemd when started as a `Type=notify` service; does nothing
/// otherwise. Failures are logged, never fatal (the protocol is advisory for the daemon).
pub(crate) fn notify(state: &str) {
    if let Some(path) = std::env::var_os("NOTIFY_SOCKET") {
        notify_to(&path, state);
    }
}

/// Sends `state` to the notification socket `path` (a file path, or `@name` for an abstract
/// socket).
fn notify_to(path: &std::ffi::OsStr, state: &str) {
    let sent = UnixDatagram::unbound().and_then(|sock| {
        let bytes = path.as_encoded_bytes();
        match bytes.strip_prefix(b"@") {
            // An abstract socket name (Linux): "@name" stands for "\0name".
            Some(name) => {
                use std::os::linux::net::SocketAddrExt;
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
                sock.send_to_addr(state.as_bytes(), &addr)
            }
            None => sock.send_to(state.as_bytes(), PathBuf::from(path)),
        }
    });
    if let Err(e) = sent {
        log::warn!("sd_notify {state:?} failed: {e}");
    }
}

/// The signals the server reacts to, registered before the listeners start.
pub(crate) struct SignalWatch {
    signals: Signals,
    config: Option<PathBuf>,
}

impl SignalWatch {
    /// Registers SIGTERM, SIGINT and SIGHUP. `config` is the file SIGHUP re-reads.
    pub(crate) fn new(config: Option<&Path>) -> std::io::Result<SignalWatch> {
        Ok(SignalWatch {
            signals: Signals::new([Signal::Term, Signal::Int, Signal::Hup])?,
            config: config.map(Path::to_path_buf),
        })
    }

    /// Handles SIGHUPs until SIGTERM or SIGINT arrives, then returns.
    pub(crate) async fn until_terminated(&mut self) {
        while let Some(signal) = self.signals.next().await {
            match signal {
                Ok(Signal::Hup) => self.reload(),
                Ok(s) => {
                    log::info!("received {s:?}: shutting down gracefully");
                    return;
                }
                Err(e) => log::warn!("signal stream: {e}"),
            }
        }
    }

    /// SIGHUP: re-reads the configuration file and applies `[log] level`. Everything else
    /// (listeners, TLS certificate issued at start-up, CA link, policy) needs a restart; a
    /// changed value is not applied and the log says so.
    fn reload(&self) {
        notify("RELOADING=1");
        match &self.config {
            None => log::warn!(
                "SIGHUP: no configuration file was given; nothing to reload (restart to change settings)"
            ),
            Some(path) => match Config::load(path) {
                Ok(c) => {
                    let level = c.log.level.parse().unwrap_or(log::LevelFilter::Info);
                    log::set_max_level(level);
                    log::warn!(
                        "SIGHUP: reloaded {}: log level now {level}; other settings and the TLS \
                         certificate are applied only by a restart",
                        path.display()
                    );
                }
                Err(e) => log::error!("SIGHUP: configuration not reloaded: {e}"),
            },
        }
        notify("READY=1");
    }
}

/// `/healthz`'s CA check: a live `get_ca` through the server's own CA client (bounded by
/// `ca.timeout_secs`).
pub(crate) struct CaHealth(pub(crate) crate::ca::CaClient);

impl crate::metrics::Health for CaHealth {
    fn ca_reachable(&self) -> futures_lite::future::Boxed<bool> {
        let ca = self.0.clone();
        Box::pin(async move { ca.get_ca().await.is_ok() })
    }
}

/// After the listeners stopped: waits until no request is being handled, or `grace` passed.
/// Returns the number of requests still running when it gave up (0 on a clean drain).
pub(crate) async fn drain(grace: Duration) -> i64 {
    let deadline = Instant::now() + grace;
    loop {
        let busy = crate::metrics::in_flight();
        if busy <= 0 {
            return 0;
        }
        if Instant::now() >= deadline {
            return busy;
        }
        async_io::Timer::after(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The readiness message reaches a datagram socket named by `$NOTIFY_SOCKET` verbatim
    /// (sd_notify(3) protocol).
    #[test]
    fn sd_notify_sends_state_to_notify_socket() {
        let dir = std::env::temp_dir().join(format!("upki-ra-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let listener = UnixDatagram::bind(&path).unwrap();
        notify_to(path.as_os_str(), "READY=1");
        let mut buf = [0u8; 64];
        listener
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
