//! The command line: `serve` and its flags, `--version`, `--help`. This module alone knows the
//! configuration file and wires the other modules together: LMDB store, CA link (embedded
//! uPKI-protocol CA over ZMQ inproc), the validator, the ACME resources and the HTTPS listener.

#![forbid(unsafe_code)]

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use futures_lite::FutureExt;

use crate::acme::{Acme, Issuer, NonceStore, Settings, Urls};
use crate::ca::{CaClient, EmbeddedCa};
use crate::config::Config;
use crate::store::Store;
use crate::validate::{AddressPolicy, Cidr, IdentifierPolicy, Resolver, Resolvers, Validator};
use crate::{admin, ca, daemon, http, metrics, pki};

const USAGE: &str = "\
upki-ra — uPKI Registration Authority: an ACME v2 (RFC 8555) server for private networks

USAGE:
    upki-ra serve [OPTIONS]     run the ACME server
    upki-ra register --seed S   register this RA on a remote uPKI CA (see register --help)
    upki-ra ca serve            run the standalone uPKI-compatible CA (see ca --help)
    upki-ra rebuild --from-ca   rebuild a fresh RA's state from the CA (see rebuild --help)
    upki-ra admin ...           inspect the store, revoke (see ADMIN below)
    upki-ra config check FILE   check a configuration file; exit 0 if it loads
    upki-ra status [--config FILE] [--json]
                                is the server up (its /healthz), is the CA reachable, and
                                how many accounts, orders and certificates the store holds
    upki-ra eab add|list|revoke External Account Binding keys (see upki-ra eab --help)
    upki-ra --version           print the version
    upki-ra --help              print this help

SERVE OPTIONS (each overrides the configuration file):
    --config FILE               TOML configuration (default: none, built-in defaults)
    --listen ADDR:PORT          HTTPS listener (default 127.0.0.1:8443)
    --data-dir DIR              state folder (default ./upki-ra-data)
    --http01-port N             port the http-01 validator connects to (default 80)
    --tlsalpn01-port N          port the tls-alpn-01 validator connects to (default 443)
    --dns-resolver HOST:PORT    DNS server for validation (repeatable; default /etc/resolv.conf)
    --allow-validation-to CIDR  network the validator may connect to (repeatable; replaces
                                the configured list, default: the private LAN ranges)
    --ca-endpoint tcp://H:P     a remote uPKI CA instead of the embedded one (ca.endpoint)
    --metrics-listen ADDR:PORT  serve /metrics and /healthz there (turns metrics on)

SIGNALS (serve):
    SIGTERM, SIGINT             stop accepting, let in-flight requests finish (at most
                                server.shutdown_grace_secs), flush the store, exit 0
    SIGHUP                      re-read the configuration file and apply [log] level; other
                                settings and the TLS certificate need a restart (logged)
    Under systemd (Type=notify) the server reports READY=1 once it listens.

With no configuration, `upki-ra serve` starts an embedded CA (root kept in DIR/ca/), issues
its own HTTPS certificate for localhost and 127.0.0.1, and prints the directory URL and the
CA certificate that ACME clients must trust.
";

/// Options of `serve` given on the command line.
#[derive(Default)]
struct ServeArgs {
    config: Option<PathBuf>,
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    http01_port: Option<u16>,
    tlsalpn01_port: Option<u16>,
    dns_resolvers: Vec<SocketAddr>,
    allow: Vec<String>,
    ca_endpoint: Option<String>,
    metrics_listen: Option<SocketAddr>,
}

fn parse_serve_args(mut args: impl Iterator<Item = String>) -> Result<ServeArgs, String> {
    let mut out = ServeArgs::default();
    while let Some(flag) = args.next() {
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_owned(), Some(v.to_owned())),
            _ => (flag.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match name.as_str() {
            "--config" => out.config = Some(PathBuf::from(value()?)),
            "--listen" => {
                let v = value()?;
                out.listen = Some(
                    v.parse()
                        .map_err(|_| format!("--listen: {v:?} is not ADDR:PORT"))?,
                );
            }
            "--data-dir" => out.data_dir = Some(PathBuf::from(value()?)),
            "--http01-port" => {
                let v = value()?;
                let port: u16 = v
                    .parse()
                    .map_err(|_| format!("--http01-port: {v:?} is not a port"))?;
                if port == 0 {
                    return Err("--http01-port: must be between 1 and 65535".into());
                }
                out.http01_port = Some(port);
            }
            "--tlsalpn01-port" => {
                let v = value()?;
                let port: u16 = v
                    .parse()
                    .map_err(|_| format!("--tlsalpn01-port: {v:?} is not a port"))?;
                if port == 0 {
                    return Err("--tlsalpn01-port: must be between 1 and 65535".into());
                }
                out.tlsalpn01_port = Some(port);
            }
            "--dns-resolver" => {
                let v = value()?;
                out.dns_resolvers.push(
                    v.parse()
                        .map_err(|_| format!("--dns-resolver: {v:?} is not HOST:PORT"))?,
                );
            }
            "--allow-validation-to" => {
                let v = value()?;
                v.parse::<Cidr>()
                    .map_err(|e| format!("--allow-validation-to: {v:?}: {e}"))?;
                out.allow.push(v);
            }
            "--ca-endpoint" => out.ca_endpoint = Some(value()?),
            "--metrics-listen" => {
                let v = value()?;
                out.metrics_listen = Some(
                    v.parse()
                        .map_err(|_| format!("--metrics-listen: {v:?} is not ADDR:PORT"))?,
                );
            }
            other => return Err(format!("unknown option {other:?} (see upki-ra --help)")),
        }
    }
    Ok(out)
}

/// Runs the `upki-ra` command line and returns the process exit code.
pub fn run() -> ExitCode {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("serve") => {}
        Some("register") => return ca::register::main(args),
        Some("ca") => return ca::standalone::main(args),
        Some("rebuild") => return ca::rebuild::main(args),
        Some("admin") => return admin::admin(args),
        Some("config") => return admin::config(args),
        Some("status") => return admin::status(args),
        Some("eab") => return crate::cli_eab::run(args),
        // Benchmark support (BENCHMARKS.md), not part of the documented interface.
        Some("bench-fill") => return bench_fill(args),
        Some("--version" | "-V") => {
            println!("upki-ra {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Some("--help" | "-h" | "help") => {
            print!("{USAGE}\n{}", admin::USAGE);
            return ExitCode::SUCCESS;
        }
        Some(other) => {
            eprintln!("upki-ra: unknown command {other:?} (see upki-ra --help)");
            return ExitCode::from(2);
        }
        None => {
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    }
    let (config, config_path) =
        match parse_serve_args(args).and_then(|a| load_config(&a).map(|c| (c, a.config))) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("upki-ra: {e}");
                return ExitCode::from(2);
            }
        };
    init_logging(&config.log.level);
    match serve(config, config_path) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e}");
            eprintln!("upki-ra: {e}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(args: &ServeArgs) -> Result<Config, String> {
    let mut config = match &args.config {
        Some(path) => Config::load(path).map_err(|e| format!("config: {e}"))?,
        None => Config::default(),
    };
    if let Some(l) = args.listen {
        config.server.listen = l;
    }
    if let Some(d) = &args.data_dir {
        config.server.data_dir = d.clone();
    }
    if let Some(p) = args.http01_port {
        config.validation.http01_port = p;
    }
    if let Some(p) = args.tlsalpn01_port {
        config.validation.tlsalpn01_port = p;
    }
    if !args.dns_resolvers.is_empty() {
        config.validation.dns_resolvers = args.dns_resolvers.clone();
    }
    if !args.allow.is_empty() {
        config.validation.allow_networks = args.allow.clone();
    }
    if let Some(ep) = &args.ca_endpoint {
        config.ca.endpoint = Some(ep.clone());
    }
    if let Some(m) = args.metrics_listen {
        config.metrics.enabled = true;
        config.metrics.listen = m;
    }
    config.validate().map_err(|e| format!("config: {e}"))?;
    Ok(config)
}

pub(crate) fn init_logging(level: &str) {
    let filter = level.parse().unwrap_or(log::LevelFilter::Info);
    let cfg = simplelog::ConfigBuilder::new()
        .set_target_level(log::LevelFilter::Off)
        .set_thread_level(log::LevelFilter::Off)
        .build();
    // Logging to stderr cannot fail in a way worth stopping the server for. The logger itself
    // passes everything; `log::set_max_level` is the filter, so SIGHUP can raise or lower it.
    // LineWriter: simplelog writes a record in many pieces, and unbuffered stderr made each a
    // write(2) (~19 per request line, issue 7); buffered to the newline it is one per line.
    let stderr = std::io::LineWriter::new(std::io::stderr());
    let _ = simplelog::WriteLogger::init(log::LevelFilter::Trace, cfg, stderr);
    log::set_max_level(filter);
}

/// Runs the server until SIGTERM/SIGINT, then stops gracefully (see `daemon`).
fn serve(config: Config, config_path: Option<PathBuf>) -> Result<(), String> {
    let mut signals = daemon::SignalWatch::new(config_path.as_deref())
        .map_err(|e| format!("cannot register signal handlers: {e}"))?;
    let data_dir = config.server.data_dir.clone();
    std::fs::create_dir_all(&data_dir)
        .map_err(|e| format!("cannot create the data folder {}: {e}", data_dir.display()))?;
    let map_size = usize::try_from(config.server.map_size_mib << 20).unwrap_or(usize::MAX);
    let store = Store::open(&data_dir.join("db"), map_size)
        .map_err(|e| format!("cannot open the store in {}: {e}", data_dir.display()))?;
    // Without acme_sync nothing drains the outbox: do not fill it.
    crate::store::set_sync_outbox(config.ca.sync.unwrap_or(config.ca.endpoint.is_some()));

    let zmq_ctx = zmq::Context::new();
    let (endpoint, embedded) = match &config.ca.endpoint {
        Some(remote) => (remote.clone(), None),
        None => {
            let endpoint = "inproc://upki-ca";
            let embedded = EmbeddedCa::start_for_ra(&zmq_ctx, endpoint, &data_dir)
                .map_err(|e| format!("cannot start the embedded CA: {e}"))?;
            (endpoint.to_owned(), Some(embedded))
        }
    };
    let ca_timeout = Duration::from_secs(config.ca.timeout_secs);
    let ca = CaClient::connect(zmq_ctx.clone(), &endpoint, ca_timeout);
    // acme_sync gets its own REQ socket: a CA that does not answer sync never delays `sign`.
    let sync_ca = CaClient::connect(zmq_ctx, &endpoint, ca_timeout);

    let resolver = if config.validation.dns_resolvers.is_empty() {
        Resolver::from_resolv_conf()
    } else {
        Resolver::new(
            config.validation.dns_resolvers.clone(),
            Duration::from_secs(5),
        )
    };
    let policy = AddressPolicy::new(
        config
            .allowed_networks()
            .map_err(|e| format!("config: {e}"))?,
    );
    // Split horizon: the zones' own servers, the global ones for everything else.
    let mut resolvers = Resolvers::new(resolver.clone());
    for (zone, servers) in &config.validation.dns_zones {
        resolvers =
            resolvers.with_zone(zone, Resolver::new(servers.clone(), Duration::from_secs(5)));
    }
    let validator = Validator::new(
        resolver,
        policy,
        config.validation.http01_port,
        Duration::from_secs(config.validation.attempt_timeout_secs),
    )
    .with_resolvers(resolvers)
    .with_tlsalpn01_port(config.validation.tlsalpn01_port);
    let identifier_policy = IdentifierPolicy::new(
        &config.identifiers.dns_suffixes,
        config
            .orderable_networks()
            .map_err(|e| format!("config: {e}"))?,
        config.identifiers.wildcards,
    );

    let executor = Arc::new(smol::Executor::new());
    let ex = Arc::clone(&executor);
    smol::block_on(executor.run(async move {
        let issuer_pem = ca
            .get_ca()
            .await
            .map_err(|e| format!("the CA did not answer get_ca: {e}"))?;
        let issuer_der = pki::pem_to_ders(&issuer_pem)
            .ok()
            .and_then(|d| d.into_iter().next())
            .ok_or("the CA certificate is not PEM")?;
        let issuer = Issuer {
            pem: issuer_pem,
            der: issuer_der,
            in_process: embedded.as_ref().and_then(EmbeddedCa::signed_in_process),
        };
        let issuer_path = match &embedded {
            Some(e) => e.ca_cert_path().to_path_buf(),
            None => {
                // The remote CA's certificate, for clients to trust.
                let path = data_dir.join("issuer.pem");
                pki::issuer::write_atomic(&path, issuer.pem.as_bytes(), 0o644)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                path
            }
        };
        let acceptor = match ca::register::load(&ca::register::tls_dir(&data_dir)) {
            Some((chain, key)) => {
                log::info!(
                    "HTTPS identity from `upki-ra register` ({})",
                    data_dir.join("tls").display()
                );
                http::tls_acceptor(&chain, &key)
                    .map_err(|e| format!("the registered TLS identity is unusable: {e}"))?
            }
            None => server_tls(&ca, &issuer, &config.server.tls_names).await?,
        };
        let profiles = offered_profiles(&ca, &config).await;

        let urls = Urls::new(&config.base_url());
        let store_handle = store.clone();
        let health_ca = ca.clone();
        let acme = Arc::new(Acme {
            urls: urls.clone(),
            store,
            // Outstanding nonces kept (each ~0.2 KiB): plenty for a LAN, bounded for a small box.
            nonces: NonceStore::new(4096),
            ca,
            issuer,
            validator,
            settings: Settings {
                order_lifetime: Duration::from_secs(config.acme.order_lifetime_hours * 3600),
                authz_lifetime: Duration::from_secs(config.acme.authz_lifetime_hours * 3600),
                max_identifiers: config.acme.max_identifiers,
                default_profile: config.ca.profile.clone(),
                profiles,
                validation_attempts: config.validation.attempts,
                validation_retry_delay: Duration::from_secs(config.validation.retry_delay_secs),
                finalize_wait: Duration::from_secs(config.ca.finalize_wait_secs),
                issue_deadline: Duration::from_secs(config.ca.issue_deadline_secs),
                identifier_policy,
                legacy_ip_identifiers: config.identifiers.legacy_ip_identifiers,
                require_eab: config.acme.require_eab,
                terms_of_service: config.acme.terms_of_service.clone(),
                website: config.acme.website.clone(),
            },
            executor: Arc::clone(&ex),
            chaos: crate::chaos::Chaos::from_config(config.chaos.as_ref()),
            directory_body: Default::default(),
        });
        acme.resume_validations();
        // Catalog #58: orders left in `processing` by a previous run are resumed or failed.
        acme.resume_issuance().await;
        if config.ca.sync.unwrap_or(config.ca.endpoint.is_some()) {
            ex.spawn(ca::sync::run(acme.store.clone(), sync_ca))
                .detach();
        }
        let limits = http::Limits {
            max_connections: config.server.max_connections,
            ..http::Limits::default()
        };
        let listener = async_net::TcpListener::bind(config.server.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", config.server.listen))?;
        let handler = metrics::instrument(acme.clone().handler());
        let mut plain_task = None;
        if let Some(plain) = config.server.plain_listen {
            let plain_listener = async_net::TcpListener::bind(plain)
                .await
                .map_err(|e| format!("cannot listen on {plain}: {e}"))?;
            log::info!("plain HTTP listener on {plain} (for a reverse proxy)");
            let task = http::serve(
                Arc::clone(&ex),
                plain_listener,
                None,
                handler.clone(),
                limits.clone(),
            );
            // Kept (not detached) so that shutdown can stop this listener too.
            plain_task = Some(ex.spawn(async move {
                if let Err(e) = task.await {
                    log::error!("plain HTTP listener stopped: {e}");
                }
            }));
        }
        if config.metrics.enabled {
            let addr = config.metrics.listen;
            let metrics_listener = async_net::TcpListener::bind(addr)
                .await
                .map_err(|e| format!("cannot listen on {addr} (metrics.listen): {e}"))?;
            let task = http::serve(
                Arc::clone(&ex),
                metrics_listener,
                None,
                metrics::handler(
                    data_dir.join("db"),
                    Arc::new(daemon::CaHealth(health_ca.clone())),
                ),
                http::Limits {
                    max_connections: 8,
                    ..http::Limits::default()
                },
            );
            ex.spawn(async move {
                if let Err(e) = task.await {
                    log::error!("metrics listener stopped: {e}");
                }
            })
            .detach();
            log::info!("metrics on http://{addr}/metrics, health on http://{addr}/healthz");
        }
        log::info!(
            "upki-ra {} listening on {}",
            env!("CARGO_PKG_VERSION"),
            config.server.listen
        );
        log::info!("ACME directory: {}", urls.directory());
        log::info!(
            "challenge validation: {} attempt(s), settled within {} s (RFC 8555 §8.2)",
            config.validation.attempts,
            crate::validate::retry::retry_window(
                config.validation.attempts,
                Duration::from_secs(config.validation.attempt_timeout_secs),
                Duration::from_secs(config.validation.retry_delay_secs),
            )
            .as_secs()
        );
        log::info!(
            "CA certificate for clients to trust: {}",
            issuer_path.display()
        );
        // The operator's `admin revoke` channel. Without it (e.g. a data_dir path too long
        // for a Unix socket name) the server still serves ACME; the log says what is missing.
        match admin::control::bind(&data_dir) {
            Ok(control_listener) => {
                ex.spawn(admin::control::serve(
                    control_listener,
                    Arc::new(admin::control::Control {
                        ca: health_ca,
                        store: store_handle.clone(),
                    }),
                ))
                .detach();
            }
            Err(e) => log::error!(
                "no control socket in {} ({e}): `upki-ra admin revoke` is unavailable",
                data_dir.display()
            ),
        }
        daemon::notify("READY=1");
        let main = http::serve(Arc::clone(&ex), listener, Some(acceptor), handler, limits);
        let stopped = async {
            signals.until_terminated().await;
            Ok(())
        };
        // Stop accepting: dropping the accept loops closes the listening sockets.
        main.or(stopped)
            .await
            .map_err(|e| format!("listener failed: {e}"))?;
        daemon::notify("STOPPING=1");
        drop(plain_task);
        let grace = Duration::from_secs(config.server.shutdown_grace_secs);
        let busy = metrics::in_flight();
        if busy > 0 {
            log::info!("waiting up to {grace:?} for {busy} request(s) in flight");
        }
        let left = daemon::drain(grace).await;
        if left > 0 {
            log::warn!("{left} request(s) still running after {grace:?}; stopping anyway");
        }
        // Every write queued before this barrier is committed durably when it returns (the
        // writer thread runs jobs in order); nothing is written after it.
        if let Err(e) = store_handle.write(|_| Ok(())).await {
            log::error!("store flush at shutdown failed: {e}");
        }
        log::info!("stopped");
        Ok(())
    }))
}

/// Gets the server's own certificate from the CA (through the same ZMQ client ACME uses) for
/// `names`, with a fresh P-256 key, and builds the TLS acceptor.
async fn server_tls(
    ca: &CaClient,
    issuer: &Issuer,
    names: &[String],
) -> Result<futures_rustls::TlsAcceptor, String> {
    let rng = ring::rand::SystemRandom::new();
    let alg = &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING;
    let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(alg, &rng)
        .map_err(|_| "cannot generate the TLS key")?;
    let key = ring::signature::EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng)
        .map_err(|_| "cannot load the TLS key")?;
    let (ips, dns): (Vec<&String>, Vec<&String>) =
        names.iter().partition(|n| n.parse::<IpAddr>().is_ok());
    let dns: Vec<String> = dns.into_iter().cloned().collect();
    let ips: Vec<IpAddr> = ips.into_iter().filter_map(|n| n.parse().ok()).collect();
    let csr =
        pki::build_csr(&key, &dns, &ips).map_err(|e| format!("cannot build the TLS CSR: {e}"))?;
    let signed = ca
        .sign(&pki::der_to_pem("CERTIFICATE REQUEST", &csr), "ra")
        .await
        .map_err(|e| format!("the CA refused the server certificate: {e}"))?;
    let chain = format!("{}\n{}", signed.certificate_pem.trim_end(), issuer.pem);
    let key_pem = pki::der_to_pem("PRIVATE KEY", pkcs8.as_ref());
    http::tls_acceptor(&chain, &key_pem).map_err(|e| format!("TLS setup failed: {e}"))
}

/// `meta.profiles`: the profiles the CA lists (`list_profiles`), filtered by `ca.profiles`;
/// the default profile always. A CA that cannot list them leaves only the default.
async fn offered_profiles(ca: &CaClient, config: &Config) -> Vec<(String, String)> {
    let listed = match ca.list_profiles().await {
        Ok(l) => l,
        Err(e) => {
            log::warn!("the CA did not list its profiles ({e}); offering only the default");
            Vec::new()
        }
    };
    let mut names: Vec<String> = listed
        .into_iter()
        // The CA's own and the RA's profiles are not for ACME subscribers.
        .filter(|p| p != "ca" && p != "ra")
        .filter(|p| config.ca.profiles.is_empty() || config.ca.profiles.contains(p))
        .collect();
    if !names.contains(&config.ca.profile) {
        names.insert(0, config.ca.profile.clone());
    }
    names
        .into_iter()
        .map(|n| {
            let d = format!("the CA's {n:?} profile");
            (n, d)
        })
        .collect()
}

/// `upki-ra bench-fill --data-dir DIR --orders N [--map-size-mib M]`: fills the store of a
/// stopped server with N finished issuances (see `store::bulk`), for the benchmark of issuance
/// latency on a large store.
fn bench_fill(mut args: impl Iterator<Item = String>) -> ExitCode {
    let mut dir = PathBuf::from("./upki-ra-data");
    let mut orders: u64 = 1_000_000;
    let mut map_mib: u64 = 16384;
    while let Some(flag) = args.next() {
        let value = args.next();
        let parsed = match (flag.as_str(), value) {
            ("--data-dir", Some(v)) => {
                dir = PathBuf::from(v);
                Ok(())
            }
            ("--orders", Some(v)) => v.parse().map(|n| orders = n).map_err(|_| v),
            ("--map-size-mib", Some(v)) => v.parse().map(|n| map_mib = n).map_err(|_| v),
            (_, v) => Err(v.unwrap_or_default()),
        };
        if let Err(v) = parsed {
            eprintln!("upki-ra bench-fill: bad option {flag} {v:?}");
            return ExitCode::from(2);
        }
    }
    let map_size = usize::try_from(map_mib << 20).unwrap_or(usize::MAX);
    match crate::store::bulk::fill(&dir.join("db"), map_size, orders) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("upki-ra bench-fill: {e}");
            ExitCode::FAILURE
        }
    }
}
