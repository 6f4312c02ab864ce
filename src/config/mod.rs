//! The TOML configuration file: every key has a default (so `upki-ra serve` runs with no file),
//! unknown keys are refused, and every value is checked at load with an error naming the key.
#![forbid(unsafe_code)]

pub(crate) mod chaos;

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub(crate) use chaos::ChaosConfig;

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
    /// Which identifiers may be ordered.
    pub(crate) identifiers: IdentifiersConfig,
    /// Logging.
    pub(crate) log: LogConfig,
    /// The standalone CA (`upki-ra ca serve`).
    pub(crate) ca_server: CaServerConfig,
    /// The Prometheus `/metrics` and `/healthz` listener.
    pub(crate) metrics: MetricsConfig,
    /// TEST-ONLY strict-server chaos mode; refused by release builds.
    pub(crate) chaos: Option<ChaosConfig>,
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
    /// Operator-defined profiles, offered besides the built-in ones (`[[ca_server.profiles]]`).
    pub(crate) profiles: Vec<ProfileConfig>,
}

/// `[[ca_server.profiles]]`: one leaf-certificate profile of the standalone CA.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProfileConfig {
    /// Name clients ask for (ACME `profile`); letters, digits, `-`, `_`.
    pub(crate) name: String,
    /// Validity in days (1–3650).
    pub(crate) days: u32,
    /// keyUsage names: digitalSignature, nonRepudiation, keyEncipherment.
    pub(crate) key_usage: Vec<String>,
    /// extendedKeyUsage names: serverAuth, clientAuth, emailProtection.
    #[serde(default)]
    pub(crate) extended_key_usage: Vec<String>,
}

/// keyUsage and extendedKeyUsage names a [`ProfileConfig`] may use.
pub(crate) const KEY_USAGES: [&str; 3] = ["digitalSignature", "nonRepudiation", "keyEncipherment"];
pub(crate) const EXTENDED_KEY_USAGES: [&str; 3] = ["serverAuth", "clientAuth", "emailProtection"];
const BUILT_IN_PROFILES: [&str; 7] = ["ca", "ra", "server", "webapp", "laptop", "user", "admin"];

impl Default for CaServerConfig {
    fn default() -> Self {
        CaServerConfig {
            listen: IpAddr::from([127, 0, 0, 1]),
            port: 5000,
            register_port: 5001,
            data_dir: PathBuf::from("./upki-ca-data"),
            seed_file: None,
            profiles: Vec::new(),
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
    /// Send `acme_sync_*` messages to the CA after each state change (best effort). Default:
    /// on for a remote CA (so a new RA can be rebuilt from it), off for the embedded CA, which
    /// shares this machine and data folder with the RA's own store.
    pub(crate) sync: Option<bool>,
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
            sync: None,
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
    /// Refuse newAccount without a valid, unused External Account Binding (RFC 8555 §7.3.4);
    /// the operator creates the keys with `upki-ra eab add`.
    pub(crate) require_eab: bool,
    /// URL of the terms of service (`meta.termsOfService`); when set, newAccount requires
    /// `termsOfServiceAgreed: true`. Unset: no terms are advertised.
    pub(crate) terms_of_service: Option<String>,
    /// URL of a web page about this server (`meta.website`).
    pub(crate) website: Option<String>,
}

impl Default for AcmeConfig {
    fn default() -> Self {
        AcmeConfig {
            order_lifetime_hours: 24 * 7,
            authz_lifetime_hours: 24 * 7,
            max_identifiers: 100,
            require_eab: false,
            terms_of_service: None,
            website: None,
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
    /// Port the tls-alpn-01 validator connects to (RFC 8737 §3 says 443; other values are for
    /// tests and NAT setups).
    pub(crate) tlsalpn01_port: u16,
    /// DNS servers the validator asks (`host:port`); empty = the `nameserver`s of
    /// /etc/resolv.conf.
    pub(crate) dns_resolvers: Vec<SocketAddr>,
    /// Per-zone DNS servers (split horizon), e.g. `"home.lan" = ["192.168.1.1:53"]`: names in
    /// the longest matching zone are resolved there (A/AAAA and dns-01 TXT alike).
    pub(crate) dns_zones: BTreeMap<String, Vec<SocketAddr>>,
    /// Networks the validator may connect to (CIDR). The default is the private LAN ranges;
    /// loopback and link-local are never dialled unless listed here.
    pub(crate) allow_networks: Vec<String>,
    /// Validation attempts before a challenge becomes invalid.
    pub(crate) attempts: u32,
    /// Seconds between two attempts.
    pub(crate) retry_delay_secs: u64,
    /// Seconds one attempt may take in all (DNS, connect, redirects, response).
    pub(crate) attempt_timeout_secs: u64,
}

impl Default for ValidationConfig {
    fn default() -> Self {
        ValidationConfig {
            http01_port: 80,
            tlsalpn01_port: 443,
            dns_resolvers: Vec::new(),
            dns_zones: BTreeMap::new(),
            allow_networks: LAN_NETWORKS.iter().map(|s| (*s).to_owned()).collect(),
            // Worst case 3 × 8 s + 2 × 3 s = 30 s before `invalid` (issue 4: "3 within ~30 s";
            // `validate::retry_window`).
            attempts: 3,
            retry_delay_secs: 3,
            attempt_timeout_secs: 8,
        }
    }
}

/// `[identifiers]`: what may be ordered (rejectedIdentifier otherwise).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct IdentifiersConfig {
    /// DNS names must be equal to or under one of these suffixes (e.g. `["home.lan"]`); empty
    /// (the default) admits any name, since validation and `validation.allow_networks` already
    /// confine what can be proved. `localhost` is always refused.
    pub(crate) dns_suffixes: Vec<String>,
    /// Networks (CIDR) whose addresses may be ordered as IP identifiers; unset = the same list
    /// as `validation.allow_networks`.
    pub(crate) ip_networks: Option<Vec<String>>,
    /// Whether wildcard names (`*.x.lan`, validated by dns-01 only) may be ordered.
    pub(crate) wildcards: bool,
    /// Compatibility with clients older than RFC 8738 support (Debian 12's lego 4.9.1): a `dns`
    /// identifier whose value is a canonical IPv4/IPv6 literal is treated as an `ip` identifier
    /// (the order, authorizations and certificate say `ip`; http-01/tls-alpn-01 only; an
    /// iPAddress SAN), and a CSR common name equal to one of the order's IP identifiers is
    /// accepted. Off by default: catalog #35 and #51 refuse both. Each such order is logged as
    /// a warning.
    pub(crate) legacy_ip_identifiers: bool,
}

impl Default for IdentifiersConfig {
    fn default() -> Self {
        IdentifiersConfig {
            dns_suffixes: Vec::new(),
            ip_networks: None,
            wildcards: true,
            legacy_ip_identifiers: false,
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
        for (key, url) in [
            ("acme.terms_of_service", &self.acme.terms_of_service),
            ("acme.website", &self.acme.website),
        ] {
            if let Some(url) = url
                && !(url.starts_with("https://") || url.starts_with("http://"))
            {
                return Err(err(key, "must be an http:// or https:// URL"));
            }
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
        if self.validation.tlsalpn01_port == 0 {
            return Err(err(
                "validation.tlsalpn01_port",
                "must be between 1 and 65535",
            ));
        }
        if self.validation.retry_delay_secs > 60 {
            return Err(err("validation.retry_delay_secs", "must be at most 60"));
        }
        for (zone, servers) in &self.validation.dns_zones {
            let key = format!("validation.dns_zones.{zone:?}");
            if !is_dns_suffix(zone) {
                return Err(err(&key, "is not a DNS zone name (e.g. \"home.lan\")"));
            }
            if servers.is_empty() {
                return Err(err(&key, "needs at least one server (host:port)"));
            }
        }
        // The clients this switch serves (lego 4.9.1) list the address as a dNSName in the CSR;
        // only the embedded CA certifies that as an iPAddress. upki-ca copies the CSR's names
        // verbatim, so it would sign a certificate the RA must then refuse.
        if self.identifiers.legacy_ip_identifiers && self.ca.endpoint.is_some() {
            return Err(err(
                "identifiers.legacy_ip_identifiers",
                "needs the embedded CA (no ca.endpoint): a remote uPKI CA copies the CSR's DNS \
                 names verbatim and would certify the IP address as a DNS name",
            ));
        }
        for suffix in &self.identifiers.dns_suffixes {
            if !is_dns_suffix(suffix) {
                return Err(err(
                    "identifiers.dns_suffixes",
                    format!("{suffix:?} is not a DNS name suffix (e.g. \"home.lan\")"),
                ));
            }
        }
        self.allowed_networks()?;
        self.orderable_networks()?;
        for (i, p) in self.ca_server.profiles.iter().enumerate() {
            let key = format!("ca_server.profiles[{i}]");
            let name_ok = !p.name.is_empty()
                && p.name.len() <= 32
                && p.name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !name_ok || BUILT_IN_PROFILES.contains(&p.name.as_str()) {
                return Err(err(
                    &key,
                    "name must be 1-32 letters, digits, - or _, and not a built-in profile",
                ));
            }
            if self
                .ca_server
                .profiles
                .iter()
                .filter(|q| q.name == p.name)
                .count()
                > 1
            {
                return Err(err(&key, "duplicate profile name"));
            }
            if p.days == 0 || p.days > 3650 {
                return Err(err(&key, "days must be between 1 and 3650"));
            }
            if p.key_usage.is_empty()
                || p.key_usage
                    .iter()
                    .any(|u| !KEY_USAGES.contains(&u.as_str()))
            {
                return Err(err(&key, format!("key_usage must be among {KEY_USAGES:?}")));
            }
            if p.extended_key_usage
                .iter()
                .any(|u| !EXTENDED_KEY_USAGES.contains(&u.as_str()))
            {
                return Err(err(
                    &key,
                    format!("extended_key_usage must be among {EXTENDED_KEY_USAGES:?}"),
                ));
            }
        }
        chaos::check(self.chaos.as_ref(), chaos::COMPILED_IN)?;
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

    /// The parsed `identifiers.ip_networks` (default: `validation.allow_networks`).
    pub(crate) fn orderable_networks(&self) -> Result<Vec<Cidr>, ConfigError> {
        match &self.identifiers.ip_networks {
            None => self.allowed_networks(),
            Some(list) => list
                .iter()
                .map(|s| {
                    s.parse::<Cidr>()
                        .map_err(|e| err("identifiers.ip_networks", format!("{s:?}: {e}")))
                })
                .collect(),
        }
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

/// A zone or suffix: LDH labels separated by dots (surrounding dots tolerated), at most 253.
fn is_dns_suffix(s: &str) -> bool {
    let s = s.trim_matches('.');
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
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
            (
                "[validation]\ntlsalpn01_port = 0\n",
                "validation.tlsalpn01_port",
            ),
            (
                "[validation.dns_zones]\n\"bad zone\" = [\"10.0.0.1:53\"]\n",
                "validation.dns_zones",
            ),
            (
                "[validation.dns_zones]\n\"home.lan\" = []\n",
                "validation.dns_zones",
            ),
            (
                "[identifiers]\ndns_suffixes = [\"a..b\"]\n",
                "identifiers.dns_suffixes",
            ),
            (
                "[identifiers]\nip_networks = [\"10.0.0.1/8\"]\n",
                "identifiers.ip_networks",
            ),
            (
                "[acme]\nterms_of_service = \"tos.txt\"\n",
                "acme.terms_of_service",
            ),
        ];
        for (text, key) in cases {
            let e = Config::parse(text).unwrap_err();
            assert!(e.to_string().starts_with(key), "{text}: {e}");
        }
        let e = Config::parse("[server]\nlisten = \"nowhere\"\n").unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
    }

    // The identifier policy and split-horizon resolvers as documented in the README.
    #[test]
    fn identifiers_and_dns_zones() {
        let c = Config::parse(
            "[validation]\ntlsalpn01_port = 8443\n\
             [validation.dns_zones]\n\"home.lan\" = [\"192.168.1.1:53\"]\n\
             [identifiers]\ndns_suffixes = [\"home.lan\"]\nip_networks = [\"192.168.1.0/24\"]\n\
             wildcards = false\n",
        )
        .unwrap();
        assert_eq!(c.validation.tlsalpn01_port, 8443);
        assert_eq!(
            c.validation.dns_zones.get("home.lan").unwrap(),
            &vec!["192.168.1.1:53".parse::<SocketAddr>().unwrap()]
        );
        assert_eq!(c.orderable_networks().unwrap().len(), 1);
        assert!(!c.identifiers.wildcards);
        let d = Config::default();
        assert_eq!(d.validation.tlsalpn01_port, 443);
        assert_eq!(
            d.orderable_networks().unwrap(),
            d.allowed_networks().unwrap(),
            "IP identifiers default to the validation allow-list"
        );
        assert!(Config::parse("[identifiers]\nsuffixes = []\n").is_err());
    }

    // CONVENTIONS #11: the example configuration in the README parses as documented.
    #[test]
    fn readme_example_parses() {
        let readme = include_str!("../../README.md");
        let block = readme
            .split("```toml\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .unwrap();
        let c = Config::parse(block).unwrap();
        assert_eq!(c.validation.tlsalpn01_port, 443);
        assert_eq!(c.validation.retry_delay_secs, 3);
        assert!(c.identifiers.wildcards);
        assert_eq!(c.ca_server.port, 5000);
        assert_eq!(c.ca.sync, None);
    }

    #[test]
    fn ca_server_profiles() {
        let c = Config::parse(
            "[[ca_server.profiles]]\nname = \"iot\"\ndays = 7\nkey_usage = [\"digitalSignature\"]\n\
             extended_key_usage = [\"serverAuth\", \"clientAuth\"]\n",
        )
        .unwrap();
        assert_eq!(c.ca_server.profiles.len(), 1);
        for bad in [
            "name = \"server\"\ndays = 7\nkey_usage = [\"digitalSignature\"]\n",
            "name = \"a/b\"\ndays = 7\nkey_usage = [\"digitalSignature\"]\n",
            "name = \"x\"\ndays = 0\nkey_usage = [\"digitalSignature\"]\n",
            "name = \"x\"\ndays = 7\nkey_usage = [\"keyCertSign\"]\n",
            "name = \"x\"\ndays = 7\nkey_usage = [\"digitalSignature\"]\nextended_key_usage = [\"any\"]\n",
        ] {
            let e = Config::parse(&format!("[[ca_server.profiles]]\n{bad}")).unwrap_err();
            assert!(
                e.to_string().starts_with("ca_server.profiles[0]"),
                "{bad}: {e}"
            );
        }
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

    // RFC 8555 §7.3.4, §7.1.1: the lifecycle keys of [acme] parse and default to off/unset.
    #[test]
    fn acme_lifecycle_keys() {
        let d = Config::parse("").unwrap();
        assert!(!d.acme.require_eab);
        assert!(d.acme.terms_of_service.is_none() && d.acme.website.is_none());
        let c = Config::parse(
            "[acme]\nrequire_eab = true\nterms_of_service = \"https://ra.lan/tos\"\n\
             website = \"https://ra.lan\"\n",
        )
        .unwrap();
        assert!(c.acme.require_eab);
        assert_eq!(
            c.acme.terms_of_service.as_deref(),
            Some("https://ra.lan/tos")
        );
        assert_eq!(c.acme.website.as_deref(), Some("https://ra.lan"));
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
