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
    /// The standalone CA (`upki-ra ca serve`).
    pub(crate) ca_server: CaServerConfig,
}

/// `[ca_server]`: the standalone uPKI-compatible CA.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct CaServerConfig {
    /// Address both sockets bind to.
    pub(crate) listen: IpAddr,
    /// Task socket port (upki-ca: 5000).
    pub(crate) port: u16,
    /// Registration socket port (upki-ca: 5001).
    pub(crate) register_port: u16,
    /// Where the CA keeps its root key (0600), certificate, CRL state and `acme_*` objects.
    pub(crate) data_dir: PathBuf,
    /// File holding the registration seed; without it (and without `UPKI_CA_SEED`) the
    /// registration socket stays closed.
    pub(crate) seed_file: Option<PathBuf>,
}

impl Default for CaServerConfig {
    fn default() -> Self {
        CaServerConfig {
            listen: IpAddr::from([127, 0, 0, 1]),
            port: 5000,
            register_port: 5001,
            data_dir: PathBuf::from("./upki-ca-data"),
            seed_file: None,
        }
    }
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
    /// A remote uPKI CA (`tcp://host:5000`); none = the embedded CA (in process).
    pub(crate) endpoint: Option<String>,
    /// The remote CA's registration socket for `upki-ra register` (default: the endpoint's
    /// host with port + 1, as upki-ca binds it).
    pub(crate) register_endpoint: Option<String>,
    /// Seconds finalize waits for the CA before answering `processing` with `Retry-After`
    /// (RFC 8555 §7.4); the issuance goes on in the background.
    pub(crate) finalize_wait_secs: u64,
    /// Seconds an order may stay `processing` while the CA is unreachable; then it becomes
    /// `invalid` with a `serverInternal` error saying so.
    pub(crate) issue_deadline_secs: u64,
    /// Profiles offered in the directory's `meta.profiles` (those the CA lists and that are
    /// named here); empty = every profile the CA lists.
    pub(crate) profiles: Vec<String>,
    /// Send `acme_sync_*` messages to the CA after each state change (best effort).
    pub(crate) sync: bool,
}

impl Default for CaConfig {
    fn default() -> Self {
        CaConfig {
            profile: "server".into(),
            timeout_secs: 5,
            endpoint: None,
            register_endpoint: None,
            finalize_wait_secs: 5,
            issue_deadline_secs: 600,
            profiles: Vec::new(),
            sync: true,
        }
    }
}

impl CaConfig {
    /// The registration endpoint: configured, or the task endpoint's port + 1.
    pub(crate) fn registration_endpoint(&self) -> Option<String> {
        if let Some(r) = &self.register_endpoint {
            return Some(r.clone());
        }
        let ep = self.endpoint.as_deref()?;
        let (host, port) = ep.strip_prefix("tcp://")?.rsplit_once(':')?;
        let port: u16 = port.parse().ok()?;
        Some(format!("tcp://{host}:{}", port.checked_add(1)?))
    }
}

/// `tcp://HOST:PORT` or `ipc://PATH`, the endpoints a remote CA can have.
fn valid_endpoint(ep: &str) -> bool {
    if let Some(rest) = ep.strip_prefix("tcp://") {
        return rest
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
    }
    ep.strip_prefix("ipc://").is_some_and(|p| !p.is_empty())
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
        if self.ca.timeout_secs == 0 || self.ca.timeout_secs > 300 {
            return Err(err("ca.timeout_secs", "must be between 1 and 300"));
        }
        if self.ca.profile.is_empty() {
            return Err(err("ca.profile", "must not be empty"));
        }
        for (key, ep) in [
            ("ca.endpoint", &self.ca.endpoint),
            ("ca.register_endpoint", &self.ca.register_endpoint),
        ] {
            if let Some(ep) = ep
                && !valid_endpoint(ep)
            {
                return Err(err(key, "must be tcp://HOST:PORT or ipc://PATH"));
            }
        }
        if self.ca.finalize_wait_secs > 60 {
            return Err(err("ca.finalize_wait_secs", "must be between 0 and 60"));
        }
        if self.ca.issue_deadline_secs < self.ca.timeout_secs
            || self.ca.issue_deadline_secs > 86_400
        {
            return Err(err(
                "ca.issue_deadline_secs",
                "must be between ca.timeout_secs and 86400",
            ));
        }
        if !self.ca.profiles.is_empty() && !self.ca.profiles.contains(&self.ca.profile) {
            return Err(err(
                "ca.profiles",
                "must contain the default profile (ca.profile)",
            ));
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
        if self.ca_server.port == 0
            || self.ca_server.register_port == 0
            || self.ca_server.port == self.ca_server.register_port
        {
            return Err(err(
                "ca_server.port",
                "port and register_port must be distinct and between 1 and 65535",
            ));
        }
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

    // CONVENTIONS #11: the example configuration in the README parses.
    #[test]
    fn readme_example_parses() {
        let readme = include_str!("../../README.md");
        let block = readme
            .split("```toml\n")
            .nth(1)
            .and_then(|b| b.split("```").next())
            .unwrap();
        let c = Config::parse(block).unwrap();
        assert_eq!(c.ca_server.port, 5000);
    }

    #[test]
    fn ca_section() {
        let c = Config::parse("[ca]\nendpoint = \"tcp://10.0.0.2:5000\"\n").unwrap();
        assert_eq!(
            c.ca.registration_endpoint().as_deref(),
            Some("tcp://10.0.0.2:5001")
        );
        assert_eq!(Config::default().ca.registration_endpoint(), None);
        for (text, key) in [
            ("[ca]\nendpoint = \"10.0.0.2:5000\"\n", "ca.endpoint"),
            (
                "[ca]\nregister_endpoint = \"tcp://x\"\n",
                "ca.register_endpoint",
            ),
            ("[ca]\nissue_deadline_secs = 1\n", "ca.issue_deadline_secs"),
            ("[ca]\nprofiles = [\"webapp\"]\n", "ca.profiles"),
        ] {
            let e = Config::parse(text).unwrap_err();
            assert!(e.to_string().starts_with(key), "{text}: {e}");
        }
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
