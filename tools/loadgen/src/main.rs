//! `upki-loadgen`: an ACME (RFC 8555) load generator. N workers, each with its own ES256
//! account, run complete issuances (newOrder, authorization, http-01 challenge, finalize with a
//! fresh P-256 key and CSR, certificate download) against any directory URL, all on one
//! single-threaded smol executor with one keep-alive HTTPS connection per worker. Validation is
//! answered by the generator's own http-01 and DNS responders on loopback (`--validation
//! http01`), or skipped by the server (`--validation none`, e.g. Pebble with
//! `PEBBLE_VA_ALWAYS_VALID=1`). Reports issuances/s, p50/p99 latency, errors and, given the
//! server's `--pid`, its CPU time per issuance and its memory.

mod acme;
mod csr;
mod http;
mod procstat;
mod responder;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use smol::LocalExecutor;

use crate::acme::{Account, Counts, PollPolicy};
use crate::responder::Tokens;

const USAGE: &str = "\
upki-loadgen — ACME (RFC 8555) load generator: complete issuances by N concurrent accounts

USAGE:
    upki-loadgen --directory URL [OPTIONS]

OPTIONS:
    --directory URL        ACME directory URL (required)
    --ca-file FILE         PEM root(s) to trust for https:// (required for https)
    --workers N            concurrent workers, one account and connection each (default 4)
    --duration SECS        stop starting issuances after SECS seconds (default 10 unless
                           --issuances is given)
    --issuances N          stop after N issuances in total
    --validation MODE      http01: answer http-01 on --http01-listen and DNS on --dns-listen
                                   (the server must dial them: upki-ra serve --http01-port P
                                   --dns-resolver D --allow-validation-to 127.0.0.0/8)
                           none:   the server skips validation (Pebble PEBBLE_VA_ALWAYS_VALID=1)
                           (default http01)
    --http01-listen ADDR   http-01 responder address (default 127.0.0.1:5002)
    --dns-listen ADDR      DNS responder address, UDP (default 127.0.0.1:5053)
    --domain SUFFIX        names are w<worker>-<n>.<SUFFIX> (default loadgen.test)
    --poll-ms MS           first poll of a pending authorization/order after MS ms, then
                           doubling up to 1 s (default 5)
    --pid PID              the server process: report its CPU ms per issuance and memory
    --wait SECS            wait up to SECS seconds for --ca-file to exist and the directory
                           to answer 200 before starting (default 0: no wait)
    --stall SECS           give up when no issuance completes for SECS seconds (default 60)
    --quiet                no progress lines

The last line of the report is machine-readable: RESULT key=value ...
The exit status is 1 when any issuance failed or none completed.
";

struct Args {
    directory: String,
    ca_file: Option<String>,
    workers: usize,
    duration: Option<Duration>,
    issuances: Option<u64>,
    validate: bool,
    http01_listen: SocketAddr,
    dns_listen: SocketAddr,
    domain: String,
    poll: Duration,
    pid: Option<u32>,
    wait: Duration,
    stall: Duration,
    quiet: bool,
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut a = Args {
        directory: String::new(),
        ca_file: None,
        workers: 4,
        duration: None,
        issuances: None,
        validate: true,
        http01_listen: SocketAddr::from(([127, 0, 0, 1], 5002)),
        dns_listen: SocketAddr::from(([127, 0, 0, 1], 5053)),
        domain: "loadgen.test".into(),
        poll: Duration::from_millis(5),
        pid: None,
        wait: Duration::ZERO,
        stall: Duration::from_secs(60),
        quiet: false,
    };
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        fn num<T: std::str::FromStr>(flag: &str, v: String) -> Result<T, String> {
            v.parse()
                .map_err(|_| format!("{flag}: {v:?} is not a number"))
        }
        match flag.as_str() {
            "--directory" => a.directory = value()?,
            "--ca-file" => a.ca_file = Some(value()?),
            "--workers" => a.workers = num(&flag, value()?)?,
            "--duration" => a.duration = Some(Duration::from_secs_f64(num(&flag, value()?)?)),
            "--issuances" => a.issuances = Some(num(&flag, value()?)?),
            "--validation" => {
                a.validate = match value()?.as_str() {
                    "http01" => true,
                    "none" => false,
                    other => return Err(format!("--validation: {other:?} is not http01 or none")),
                }
            }
            "--http01-listen" => a.http01_listen = num(&flag, value()?)?,
            "--dns-listen" => a.dns_listen = num(&flag, value()?)?,
            "--domain" => a.domain = value()?,
            "--poll-ms" => a.poll = Duration::from_millis(num(&flag, value()?)?),
            "--pid" => a.pid = Some(num(&flag, value()?)?),
            "--wait" => a.wait = Duration::from_secs_f64(num(&flag, value()?)?),
            "--stall" => a.stall = Duration::from_secs_f64(num(&flag, value()?)?),
            "--quiet" => a.quiet = true,
            "--help" | "-h" => return Err(String::new()),
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    if a.directory.is_empty() {
        return Err("--directory is required".into());
    }
    if a.workers == 0 {
        return Err("--workers must be at least 1".into());
    }
    if a.duration.is_none() && a.issuances.is_none() {
        a.duration = Some(Duration::from_secs(10));
    }
    Ok(a)
}

/// What the workers share (all on one thread).
#[derive(Default)]
struct Shared {
    /// Issuances started so far (the `--issuances` budget is taken from here).
    started: Cell<u64>,
    done: Cell<u64>,
    latencies_us: RefCell<Vec<u32>>,
    /// step → (count, first detail)
    errors: RefCell<BTreeMap<&'static str, (u64, String)>>,
    counts: Cell<Counts>,
    /// Set when no issuance completed for `--stall` seconds: the workers stop.
    stalled: Cell<bool>,
}

fn add_counts(total: &Cell<Counts>, c: Counts) {
    let mut t = total.get();
    t.requests += c.requests;
    t.polls += c.polls;
    t.bad_nonces += c.bad_nonces;
    total.set(t);
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    let i = rank.clamp(1, sorted.len()) - 1;
    f64::from(sorted.get(i).copied().unwrap_or(0)) / 1000.0
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) if e.is_empty() => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("upki-loadgen: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let ex = Rc::new(LocalExecutor::new());
    match smol::block_on(ex.run(run(args, ex.clone()))) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("upki-loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--wait`: until the CA file exists and the directory answers 200, or the time is up.
async fn wait_ready(args: &Args, origin: &http::Origin, dir_path: &str) -> Result<(), String> {
    if args.wait.is_zero() {
        return Ok(());
    }
    let deadline = Instant::now() + args.wait;
    let mut last = String::from("not tried");
    while Instant::now() < deadline {
        let tls = match &args.ca_file {
            Some(f) if !std::path::Path::new(f).exists() => Err(format!("{f} does not exist")),
            Some(f) => http::tls_config(f).map(Some),
            None => Ok(None),
        };
        let attempt = match tls {
            Ok(tls) => match http::Client::new(origin.clone(), tls, Duration::from_secs(2)) {
                Ok(mut c) => c
                    .request("GET", dir_path, None, b"")
                    .await
                    .map(|r| r.status),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        match attempt {
            Ok(200) => return Ok(()),
            Ok(status) => last = format!("directory answered {status}"),
            Err(e) => last = e,
        }
        smol::Timer::after(Duration::from_millis(100)).await;
    }
    Err(format!("server not ready after {:?}: {last}", args.wait))
}

/// Sets up, runs the workers, prints the report; `Ok(false)` when issuances failed.
async fn run(args: Args, ex: Rc<LocalExecutor<'static>>) -> Result<bool, String> {
    let (origin, dir_path) = http::split_url(&args.directory)?;
    wait_ready(&args, &origin, &dir_path).await?;
    let tls = match &args.ca_file {
        Some(f) => Some(http::tls_config(f)?),
        None => None,
    };
    let tokens: Option<Tokens> = if args.validate {
        let tokens = Tokens::default();
        let listener = smol::net::TcpListener::bind(args.http01_listen)
            .await
            .map_err(|e| format!("http-01 responder on {}: {e}", args.http01_listen))?;
        ex.spawn(responder::serve_http01(
            listener,
            tokens.clone(),
            ex.clone(),
        ))
        .detach();
        let udp = smol::net::UdpSocket::bind(args.dns_listen)
            .await
            .map_err(|e| format!("DNS responder on {}: {e}", args.dns_listen))?;
        ex.spawn(responder::serve_dns(udp)).detach();
        Some(tokens)
    } else {
        None
    };
    let timeout = Duration::from_secs(30);
    let policy = PollPolicy {
        first: args.poll,
        max: Duration::from_secs(1),
        timeout,
    };

    // Accounts first (not measured).
    let mut setups = Vec::new();
    for _ in 0..args.workers {
        let client = http::Client::new(origin.clone(), tls.clone(), timeout)?;
        let dir_path = dir_path.clone();
        setups.push(ex.spawn(async move { Account::register(client, &dir_path).await }));
    }
    let mut accounts = Vec::new();
    for s in setups {
        accounts.push(
            s.await
                .map_err(|f| format!("account setup, {}: {}", f.step, f.detail))?,
        );
    }

    let ticks = procstat::clock_ticks();
    let server_cpu0 = args.pid.and_then(|p| procstat::cpu_ms(p, ticks));
    let client_cpu0 = procstat::cpu_ms(std::process::id(), ticks);
    let shared = Rc::new(Shared::default());
    let start = Instant::now();
    let deadline = args.duration.map(|d| start + d);

    {
        let shared = shared.clone();
        let (quiet, stall) = (args.quiet, args.stall);
        ex.spawn(async move {
            let (mut last, mut last_change) = (0, Instant::now());
            for tick in 1u64.. {
                smol::Timer::after(Duration::from_secs(1)).await;
                let done = shared.done.get();
                if done != last {
                    last_change = Instant::now();
                } else if last_change.elapsed() >= stall {
                    shared.stalled.set(true);
                }
                if !quiet && tick % 10 == 0 {
                    eprintln!(
                        "upki-loadgen: {:>6.0} s  {done} issuances",
                        start.elapsed().as_secs_f64()
                    );
                }
                last = done;
            }
        })
        .detach();
    }

    let mut workers = Vec::new();
    for (i, mut account) in accounts.into_iter().enumerate() {
        let shared = shared.clone();
        let tokens = tokens.clone();
        let domain = args.domain.clone();
        let budget = args.issuances;
        workers.push(ex.spawn(async move {
            let mut n = 0u64;
            loop {
                if shared.stalled.get()
                    || deadline.is_some_and(|d| Instant::now() >= d)
                    || budget.is_some_and(|b| shared.started.get() >= b)
                {
                    break;
                }
                shared.started.set(shared.started.get() + 1);
                n += 1;
                let name = format!("w{i}-{n}.{domain}");
                let t0 = Instant::now();
                account.counts = Counts::default();
                let result = account.issue(&name, tokens.as_ref(), policy).await;
                add_counts(&shared.counts, account.counts);
                match result {
                    Ok(()) => {
                        let us = u32::try_from(t0.elapsed().as_micros()).unwrap_or(u32::MAX);
                        shared.latencies_us.borrow_mut().push(us);
                        shared.done.set(shared.done.get() + 1);
                    }
                    Err(f) => {
                        {
                            let mut errors = shared.errors.borrow_mut();
                            let e = errors.entry(f.step).or_insert((0, f.detail));
                            e.0 += 1;
                        }
                        // Do not spin on a server that refuses everything.
                        smol::Timer::after(Duration::from_millis(50)).await;
                    }
                }
            }
        }));
    }
    for w in workers {
        w.await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let server_cpu1 = args.pid.and_then(|p| procstat::cpu_ms(p, ticks));
    let client_cpu1 = procstat::cpu_ms(std::process::id(), ticks);

    let done = shared.done.get();
    let mut lat = shared.latencies_us.take();
    lat.sort_unstable();
    let errors = shared.errors.take();
    let n_errors: u64 = errors.values().map(|(n, _)| n).sum();
    let counts = shared.counts.get();
    let attempts = (done + n_errors).max(1) as f64;
    let per = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if done > 0 => Some((b - a) / done as f64),
        _ => None,
    };
    let server_cpu = per(server_cpu0, server_cpu1);
    let client_cpu = per(client_cpu0, client_cpu1);
    let server_mem = args.pid.and_then(procstat::memory_kib);
    let rate = done as f64 / elapsed;
    let (p50, p99) = (percentile(&lat, 50.0), percentile(&lat, 99.0));
    let max = lat.last().map_or(0.0, |m| f64::from(*m) / 1000.0);

    println!(
        "upki-loadgen: {} workers, {:.1} s, validation {}, {}",
        args.workers,
        elapsed,
        if args.validate { "http01" } else { "none" },
        args.directory
    );
    println!("  issuances    {done} ({rate:.1}/s), errors {n_errors}");
    println!("  latency      p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms");
    println!(
        "  requests     {:.2} per issuance ({:.2} polls), badNonce retries {}",
        counts.requests as f64 / attempts,
        counts.polls as f64 / attempts,
        counts.bad_nonces
    );
    if let Some(c) = client_cpu {
        println!("  client CPU   {c:.3} ms per issuance");
    }
    if let Some(pid) = args.pid {
        match (server_cpu, server_mem) {
            (Some(c), Some(m)) => println!(
                "  server CPU   {c:.3} ms per issuance (pid {pid}); RSS {:.1} MiB ({:.1} MiB \
                 anonymous), peak {:.1} MiB",
                m.rss as f64 / 1024.0,
                m.anon as f64 / 1024.0,
                m.hwm as f64 / 1024.0
            ),
            _ => println!("  server       pid {pid} not readable in /proc"),
        }
    }
    let stalled = shared.stalled.get();
    if stalled {
        println!(
            "  STALLED      no issuance completed for {} s: run abandoned",
            args.stall.as_secs()
        );
    }
    for (step, (n, first)) in &errors {
        println!("  error        {step}: {n}× — first: {first}");
    }
    let opt = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.3}"));
    println!(
        "RESULT stalled={} workers={} seconds={elapsed:.2} issuances={done} errors={n_errors} rate={rate:.1} \
         p50_ms={p50:.2} p99_ms={p99:.2} requests={:.2} polls={:.2} client_cpu_ms={} \
         server_cpu_ms={} server_rss_kib={} server_hwm_kib={} server_anon_kib={}",
        u8::from(stalled),
        args.workers,
        counts.requests as f64 / attempts,
        counts.polls as f64 / attempts,
        opt(client_cpu),
        opt(server_cpu),
        server_mem.map_or("-".into(), |m| m.rss.to_string()),
        server_mem.map_or("-".into(), |m| m.hwm.to_string()),
        server_mem.map_or("-".into(), |m| m.anon.to_string()),
    );
    Ok(done > 0 && n_errors == 0 && !stalled)
}
