//! The TOML configuration file: every key has a default (so `upki-ra serve` runs with no file),
//! unknown keys are refused, and every value is checked at load with an error naming the key.
#![forbid(unsafe_code)]

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::validate::Cidr;
use crate::validate::policy::LAN_NETWORKS;

/// The whole configuration file (`/etc/upki-ra/ra.toml` in packages).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Config {
    /// Listeners, TLS and the data folder.
    pub(crate) server: ServerConfig,
    /// The link to the certificate authority.
    pub(crate) ca: CaConfig,
    /// ACME policy.
    pub(crate) acme: AcmeConfig,
    /// Challenge validation.
    pub(crate) validation: ValidationConfig,
    /// Logging.
    pub(crate) log: LogConfig,
    /// The Prometheus `/metrics` and `/healthz` listener.
    pub(crate) metrics: MetricsConfig,
}

/// `[server]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ServerConfig {
    /// Address of the HTTPS listener.
    pub(crate) listen: SocketAddr,
    /// Extra plain-HTTP listener, for deployments behind a TLS-terminating reverse proxy.
    pub(crate) plain_listen: Option<SocketAddr>,
    /// The URL clients use to reach the server (scheme + host + port, no path). Every JWS `url`
    /// is compared with it. Default: `https://<listen address>` (or the first TLS name when
    /// listening on all addresses).
    pub(crate) base_url: Option<String>,
    /// Names (DNS or IP) in the server's own TLS certificate, issued by the CA at start-up.
    pub(crate) tls_names: Vec<String>,
    /// Where accounts, orders, certificates and the embedded CA live.
    pub(crate) data_dir: PathBuf,
    /// LMDB map size in MiB (keep ≤ 1024 on 32-bit ARM).
    pub(crate) map_size_mib: u64,
    /// Open connections accepted at once.
    pub(crate) max_connections: usize,
    /// On SIGTERM: seconds in-flight requests may take to finish before the process exits.
    pub(crate) shutdown_grace_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            plain_listen: None,
            base_url: None,
            tls_names: vec!["localhost".into(), "127.0.0.1".into()],
            data_dir: PathBuf::from("./upki-ra-data"),
            map_size_mib: if cfg!(target_pointer_width = "32") {
                256
            } else {
                1024
            },
            max_connections: 512,
            shutdown_grace_secs: 10,
        }
    }
}

/// `[ca]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct CaConfig {
    /// The CA profile used when an order names none.
    pub(crate) profile: String,
    /// Seconds to wait for the CA to answer one request.
    pub(crate) timeout_secs: u64,
}

impl Default for CaConfig {
    fn default() -> Self {
        CaConfig {
            profile: "server".into(),
            timeout_secs: 5,
        }
    }
}

/// `[acme]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct AcmeConfig {
    /// Hours an order stays usable before it must be finalized.
    pub(crate) order_lifetime_hours: u64,
    /// Hours an authorization stays usable.
    pub(crate) authz_lifetime_hours: u64,
    /// Identifiers allowed in one order.
    pub(crate) max_identifiers: usize,
}

impl Default for AcmeConfig {
    fn default() -> Self {
        AcmeConfig {
            order_lifetime_hours: 24 * 7,
            authz_lifetime_hours: 24 * 7,
            max_identifiers: 100,
        }
    }
}

/// `[validation]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ValidationConfig {
    /// Port the http-01 validator connects to (RFC 8555 §8.3 says 80; other values are for
    /// tests and NAT setups).
    pub(crate) http01_port: u16,
    /// DNS servers the validator asks (`host:port`); empty = the `nameserver`s of
    /// /etc/resolv.conf.
    pub(crate) dns_resolvers: Vec<SocketAddr>,
    /// Networks the validator may connect to (CIDR). The default is the private LAN ranges;
    /// loopback and link-local are never dialled unless listed here.
    pub(crate) allow_networks: Vec<String>,
    /// Validation attempts before a challenge becomes invalid.
    pub(crate) attempts: u32,
    /// Seconds between two attempts.
    pub(crate) retry_delay_secs: u64,
    /// Seconds one attempt may take (DNS, connect, response).
    pub(crate) attempt_timeout_secs: u64,
}

impl Default for ValidationConfig {
    fn default() -> Self {
        ValidationConfig {
            http01_port: 80,
            dns_resolvers: Vec::new(),
            allow_networks: LAN_NETWORKS.iter().map(|s| (*s).to_owned()).collect(),
            attempts: 3,
            retry_delay_secs: 2,
            attempt_timeout_secs: 10,
        }
    }
}

/// `[log]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct LogConfig {
    /// One of error, warn, info, debug, trace.
    pub(crate) level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
        }
    }
}

/// `[metrics]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct MetricsConfig {
    /// Whether the metrics listener runs. Off by default (so several servers can run on one
    /// host without colliding on its port); the packaged `ra.toml` turns it on.
    pub(crate) enabled: bool,
    /// Plain-HTTP address serving `/metrics` (Prometheus text) and `/healthz`.
    pub(crate) listen: SocketAddr,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: false,
            listen: SocketAddr::from(([127, 0, 0, 1], 9641)),
        }
    }
}

/// A configuration problem: the key it is about and what is wrong, printed as one line.
#[derive(Debug)]
pub(crate) struct ConfigError {
    pub(crate) key: String,
    pub(crate) message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.key, self.message)
        }
    }
}

fn err(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.into(),
        message: message.into(),
    }
}

impl Config {
    /// Reads and checks a configuration file.
    pub(crate) fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| err("", format!("cannot read {}: {e}", path.display())))?;
        Config::parse(&text).map_err(|mut e| {
            e.message = format!("{} (in {})", e.message, path.display());
            e
        })
    }

    /// Parses configuration text; the error names the key and line (toml's own message).
    pub(crate) fn parse(text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| {
                text.get(..s.start)
                    .map_or(0, |t| t.matches('\n').count() + 1)
            });
            let msg = e.message().trim().to_owned();
            match line {
                Some(l) => err(&format!("line {l}"), msg),
                None => err("", msg),
            }
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks values that TOML types alone cannot.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.server.base_url {
            let ok = (url.starts_with("https://") || url.starts_with("http://"))
                && !url
                    .trim_end_matches('/')
                    .split_once("://")
                    .is_some_and(|(_, r)| r.contains('/'));
            if !ok {
                return Err(err(
                    "server.base_url",
                    "must be scheme://host[:port] without a path",
                ));
            }
        }
        if self.server.tls_names.is_empty() {
            return Err(err("server.tls_names", "needs at least one name"));
        }
        if self.server.map_size_mib < 1 || self.server.map_size_mib > 1 << 20 {
            return Err(err("server.map_size_mib", "must be between 1 and 1048576"));
        }
        if self.server.max_connections == 0 {
            return Err(err("server.max_connections", "must be at least 1"));
        }
        if self.server.shutdown_grace_secs > 600 {
            return Err(err("server.shutdown_grace_secs", "must be at most 600"));
        }
        if self.metrics.enabled
            && (self.metrics.listen == self.server.listen
                || Some(self.metrics.listen) == self.server.plain_listen)
        {
            return Err(err(
                "metrics.listen",
                "must differ from the ACME listeners (server.listen, server.plain_listen)",
            ));
        }
        if self.ca.timeout_secs == 0 || self.ca.timeout_secs > 300 {
            return Err(err("ca.timeout_secs", "must be between 1 and 300"));
        }
        if self.ca.profile.is_empty() {
            return Err(err("ca.profile", "must not be empty"));
        }
        if self.acme.order_lifetime_hours == 0 || self.acme.authz_lifetime_hours == 0 {
            return Err(err(
                "acme.order_lifetime_hours",
                "lifetimes must be at least one hour",
            ));
        }
        if self.acme.max_identifiers == 0 {
            return Err(err("acme.max_identifiers", "must be at least 1"));
        }
        if self.validation.http01_port == 0 {
            return Err(err("validation.http01_port", "must be between 1 and 65535"));
        }
        if self.validation.attempts == 0 || self.validation.attempts > 10 {
            return Err(err("validation.attempts", "must be between 1 and 10"));
        }
        if self.validation.attempt_timeout_secs == 0 || self.validation.attempt_timeout_secs > 120 {
            return Err(err(
                "validation.attempt_timeout_secs",
                "must be between 1 and 120",
            ));
        }
        self.allowed_networks()?;
        if !["error", "warn", "info", "debug", "trace"].contains(&self.log.level.as_str()) {
            return Err(err(
                "log.level",
                "must be one of error, warn, info, debug, trace",
            ));
        }
        Ok(())
    }

    /// The parsed `validation.allow_networks`.
    pub(crate) fn allowed_networks(&self) -> Result<Vec<Cidr>, ConfigError> {
        self.validation
            .allow_networks
            .iter()
            .map(|s| {
                s.parse::<Cidr>()
                    .map_err(|e| err("validation.allow_networks", format!("{s:?}: {e}")))
            })
            .collect()
    }

    /// The URL clients reach this server at (see `server.base_url`).
    pub(crate) fn base_url(&self) -> String {
        if let Some(url) = &self.server.base_url {
            return url.trim_end_matches('/').to_owned();
        }
        let addr = self.server.listen;
        let host = if addr.ip().is_unspecified() {
            self.server
                .tls_names
                .first()
                .cloned()
                .unwrap_or_else(|| "localhost".into())
        } else {
            addr.ip().to_string()
        };
        let host = match host.parse::<IpAddr>() {
            Ok(IpAddr::V6(v6)) => format!("[{v6}]"),
            _ => host,
        };
        if addr.port() == 443 {
            format!("https://{host}")
        } else {
            format!("https://{host}:{}", addr.port())
        }
    }
}

#[cfg(test)]
mod shipped;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_defaults() {
        let c = Config::parse("").unwrap();
        assert_eq!(c.base_url(), "https://127.0.0.1:8443");
        assert_eq!(c.validation.http01_port, 80);
        assert_eq!(c.allowed_networks().unwrap().len(), LAN_NETWORKS.len());
    }

    // CONVENTIONS #11: unknown keys are refused, with the line.
    #[test]
    fn unknown_key_rejected() {
        let e = Config::parse("[server]\nlisten = \"127.0.0.1:1\"\nlisten_typo = 1\n").unwrap_err();
        assert!(e.to_string().contains("line 3"), "{e}");
        assert!(e.to_string().contains("listen_typo"), "{e}");
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            ("[validation]\nhttp01_port = 0\n", "validation.http01_port"),
            (
                "[validation]\nallow_networks = [\"10.0.0.0/33\"]\n",
                "validation.allow_networks",
            ),
            (
                "[server]\nbase_url = \"https://x/acme\"\n",
                "server.base_url",
            ),
            ("[log]\nlevel = \"loud\"\n", "log.level"),
        ];
        for (text, key) in cases {
            let e = Config::parse(text).unwrap_err();
            assert!(e.to_string().starts_with(key), "{text}: {e}");
        }
        let e = Config::parse("[server]\nlisten = \"nowhere\"\n").unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
    }

    #[test]
    fn base_url_forms() {
        let mut c = Config::default();
        c.server.listen = "0.0.0.0:443".parse().unwrap();
        c.server.tls_names = vec!["ra.home.lan".into()];
        assert_eq!(c.base_url(), "https://ra.home.lan");
        c.server.listen = "[::1]:8443".parse().unwrap();
        assert_eq!(c.base_url(), "https://[::1]:8443");
    }
}
