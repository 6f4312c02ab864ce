//! One ACME client (RFC 8555) per worker: an ES256 account key (ring), flattened JWS with `jwk`
//! or `kid` (§6.2), the nonce of every response reused for the next request (§7.2) with one
//! retry on `badNonce` (§6.5), and one complete issuance: newOrder (§7.4), the authorization
//! (§7.5), its http-01 challenge (§8.3), finalize with a fresh key and CSR (§7.4), download
//! (§7.4.2).

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::digest::{SHA256, digest};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::Value;
use smol::Timer;

use crate::http::{Client, Response, split_url};
use crate::responder::Tokens;

fn b64(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

/// Why an issuance failed: the step, and what happened.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) step: &'static str,
    pub(crate) detail: String,
}

fn fail(step: &'static str, detail: impl Into<String>) -> Failure {
    Failure {
        step,
        detail: detail.into(),
    }
}

/// How the generator polls an authorization or order that is not done yet.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PollPolicy {
    /// Wait before the first poll; doubled after each poll, up to `max`.
    pub(crate) first: Duration,
    pub(crate) max: Duration,
    /// Give up after this long.
    pub(crate) timeout: Duration,
}

/// Counters of one issuance, added to the run's totals.
#[derive(Default, Debug, Clone, Copy)]
pub(crate) struct Counts {
    pub(crate) requests: u64,
    pub(crate) polls: u64,
    pub(crate) bad_nonces: u64,
}

/// The resource URLs of the directory (RFC 8555 §7.1.1), as request paths.
struct Directory {
    new_nonce: String,
    new_account: String,
    new_order: String,
}

/// A worker's ACME account on one server.
pub(crate) struct Account {
    http: Client,
    rng: SystemRandom,
    key: EcdsaKeyPair,
    /// `"jwk":{…}` member text (RFC 7518 §6.2.1).
    jwk: String,
    /// RFC 7638 thumbprint of the key.
    thumbprint: String,
    dir: Directory,
    kid: Option<String>,
    nonce: Option<String>,
    pub(crate) counts: Counts,
}

impl Account {
    /// Fetches the directory and registers a new account with a fresh key (§7.3).
    pub(crate) async fn register(
        mut http: Client,
        directory_path: &str,
    ) -> Result<Account, Failure> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| fail("account", "key generation"))?;
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .map_err(|_| fail("account", "key load"))?;
        let point = key.public_key().as_ref();
        let (x, y) = (
            b64(point.get(1..33).unwrap_or_default()),
            b64(point.get(33..65).unwrap_or_default()),
        );
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let thumbprint = b64(digest(&SHA256, canonical.as_bytes()).as_ref());

        let r = http
            .request("GET", directory_path, None, b"")
            .await
            .map_err(|e| fail("directory", e))?;
        if r.status != 200 {
            return Err(fail("directory", format!("status {}", r.status)));
        }
        let d: Value =
            serde_json::from_slice(&r.body).map_err(|e| fail("directory", e.to_string()))?;
        let origin = http.origin().clone();
        let path_of = |name: &str| -> Result<String, Failure> {
            let url = d[name]
                .as_str()
                .ok_or_else(|| fail("directory", format!("no {name}")))?;
            let (o, path) = split_url(url).map_err(|e| fail("directory", e))?;
            if o != origin {
                return Err(fail(
                    "directory",
                    format!("{name} {url} is on another origin"),
                ));
            }
            Ok(path)
        };
        let dir = Directory {
            new_nonce: path_of("newNonce")?,
            new_account: path_of("newAccount")?,
            new_order: path_of("newOrder")?,
        };
        let mut account = Account {
            http,
            rng,
            key,
            jwk: canonical,
            thumbprint,
            dir,
            kid: None,
            nonce: None,
            counts: Counts::default(),
        };
        let url = account.dir.new_account.clone();
        let r = account
            .post("account", &url, Some(r#"{"termsOfServiceAgreed":true}"#))
            .await?;
        if r.status != 201 && r.status != 200 {
            return Err(fail("account", describe(&r)));
        }
        let location = r
            .header("location")
            .ok_or_else(|| fail("account", "no Location"))?;
        account.kid = Some(location.to_owned());
        Ok(account)
    }

    /// The URL (as sent in the JWS `url`) of a request path on this origin.
    fn full_url(&self, path: &str) -> String {
        let o = self.http.origin();
        let scheme = if o.tls { "https" } else { "http" };
        if o.host.contains(':') {
            format!("{scheme}://[{}]:{}{path}", o.host, o.port)
        } else {
            format!("{scheme}://{}:{}{path}", o.host, o.port)
        }
    }

    /// The path of an absolute URL the server gave us; other origins are refused.
    fn path_of(&self, step: &'static str, url: &str) -> Result<String, Failure> {
        let (o, path) = split_url(url).map_err(|e| fail(step, e))?;
        if &o != self.http.origin() {
            return Err(fail(step, format!("{url} is on another origin")));
        }
        Ok(path)
    }

    async fn fresh_nonce(&mut self, step: &'static str) -> Result<String, Failure> {
        let path = self.dir.new_nonce.clone();
        self.counts.requests += 1;
        let r = self
            .http
            .request("HEAD", &path, None, b"")
            .await
            .map_err(|e| fail(step, e))?;
        r.header("replay-nonce").map(str::to_owned).ok_or_else(|| {
            fail(
                step,
                format!("newNonce: status {} without a nonce", r.status),
            )
        })
    }

    /// A signed POST to `path` (payload None = POST-as-GET, §6.3), retried once on badNonce.
    async fn post(
        &mut self,
        step: &'static str,
        path: &str,
        payload: Option<&str>,
    ) -> Result<Response, Failure> {
        let url = self.full_url(path);
        let payload_b64 = payload.map_or(String::new(), |p| b64(p.as_bytes()));
        let mut retried = false;
        loop {
            let nonce = match self.nonce.take() {
                Some(n) => n,
                None => self.fresh_nonce(step).await?,
            };
            let protected = match &self.kid {
                Some(kid) => {
                    format!(r#"{{"alg":"ES256","kid":"{kid}","nonce":"{nonce}","url":"{url}"}}"#)
                }
                None => format!(
                    r#"{{"alg":"ES256","jwk":{},"nonce":"{nonce}","url":"{url}"}}"#,
                    self.jwk
                ),
            };
            let protected_b64 = b64(protected.as_bytes());
            let signing_input = format!("{protected_b64}.{payload_b64}");
            let sig = self
                .key
                .sign(&self.rng, signing_input.as_bytes())
                .map_err(|_| fail(step, "signing failed"))?;
            let body = format!(
                r#"{{"protected":"{protected_b64}","payload":"{payload_b64}","signature":"{}"}}"#,
                b64(sig.as_ref())
            );
            self.counts.requests += 1;
            let r = self
                .http
                .request("POST", path, Some("application/jose+json"), body.as_bytes())
                .await
                .map_err(|e| fail(step, e))?;
            self.nonce = r.header("replay-nonce").map(str::to_owned);
            let bad_nonce = r.status == 400 && r.body.windows(8).any(|w| w == b"badNonce");
            if bad_nonce && !retried {
                self.counts.bad_nonces += 1;
                retried = true;
                continue;
            }
            return Ok(r);
        }
    }

    async fn post_json(
        &mut self,
        step: &'static str,
        path: &str,
        payload: Option<&str>,
    ) -> Result<Value, Failure> {
        let r = self.post(step, path, payload).await?;
        if r.status != 200 && r.status != 201 {
            return Err(fail(step, describe(&r)));
        }
        serde_json::from_slice(&r.body).map_err(|e| fail(step, format!("bad JSON: {e}")))
    }

    /// POST-as-GET `path` until its `status` is `want`; waits per `policy` between polls.
    async fn poll(
        &mut self,
        step: &'static str,
        path: &str,
        want: &str,
        policy: PollPolicy,
    ) -> Result<Value, Failure> {
        let start = Instant::now();
        let mut wait = policy.first;
        loop {
            Timer::after(wait).await;
            self.counts.polls += 1;
            let v = self.post_json(step, path, None).await?;
            match v["status"].as_str() {
                Some(s) if s == want => return Ok(v),
                Some("pending" | "processing" | "ready" | "valid") => {}
                other => {
                    return Err(fail(
                        step,
                        format!("status {other:?}: {}", compact(&v["error"])),
                    ));
                }
            }
            if start.elapsed() > policy.timeout {
                return Err(fail(
                    step,
                    format!("still {:?} after {:?}", v["status"], policy.timeout),
                ));
            }
            wait = (wait * 2).min(policy.max);
        }
    }

    /// One complete issuance for `name`. With `tokens`, the http-01 answer is published there
    /// before the challenge is answered (and removed afterwards).
    pub(crate) async fn issue(
        &mut self,
        name: &str,
        tokens: Option<&Tokens>,
        policy: PollPolicy,
    ) -> Result<(), Failure> {
        let new_order = self.dir.new_order.clone();
        let payload = format!(r#"{{"identifiers":[{{"type":"dns","value":"{name}"}}]}}"#);
        let r = self.post("new-order", &new_order, Some(&payload)).await?;
        if r.status != 201 {
            return Err(fail("new-order", describe(&r)));
        }
        let order_path = self.path_of(
            "new-order",
            r.header("location")
                .ok_or_else(|| fail("new-order", "no Location"))?,
        )?;
        let order: Value =
            serde_json::from_slice(&r.body).map_err(|e| fail("new-order", e.to_string()))?;
        let authz_url = match order["authorizations"].as_array().map(Vec::as_slice) {
            Some([one]) => one.as_str().unwrap_or_default().to_owned(),
            _ => return Err(fail("new-order", "expected exactly one authorization")),
        };
        let finalize = self.path_of("new-order", order["finalize"].as_str().unwrap_or_default())?;

        let authz_path = self.path_of("authz", &authz_url)?;
        let authz = self.post_json("authz", &authz_path, None).await?;
        if authz["status"] != "valid" {
            let chall = authz["challenges"]
                .as_array()
                .and_then(|c| c.iter().find(|c| c["type"] == "http-01"))
                .ok_or_else(|| fail("authz", "no http-01 challenge"))?;
            let token = chall["token"].as_str().unwrap_or_default().to_owned();
            let chall_path =
                self.path_of("challenge", chall["url"].as_str().unwrap_or_default())?;
            if let Some(t) = tokens {
                t.borrow_mut()
                    .insert(token.clone(), format!("{token}.{}", self.thumbprint));
            }
            // §7.5.1: the client responds with an empty JSON object.
            let answered = self.post_json("challenge", &chall_path, Some("{}")).await;
            let validated = match answered {
                Ok(_) => self.poll("authz-poll", &authz_path, "valid", policy).await,
                Err(e) => Err(e),
            };
            if let Some(t) = tokens {
                t.borrow_mut().remove(&token);
            }
            validated?;
        }

        let csr = crate::csr::new_csr(name, &self.rng).map_err(|e| fail("csr", e))?;
        let payload = format!(r#"{{"csr":"{}"}}"#, b64(&csr));
        let mut order = self
            .post_json("finalize", &finalize, Some(&payload))
            .await?;
        if order["status"] != "valid" {
            order = self
                .poll("order-poll", &order_path, "valid", policy)
                .await?;
        }
        let cert_path = self.path_of(
            "certificate",
            order["certificate"]
                .as_str()
                .ok_or_else(|| fail("certificate", "valid order without certificate"))?,
        )?;
        let r = self.post("certificate", &cert_path, None).await?;
        if r.status != 200 || !r.body.starts_with(b"-----BEGIN CERTIFICATE-----") {
            return Err(fail("certificate", describe(&r)));
        }
        Ok(())
    }
}

fn compact(v: &Value) -> String {
    let s = v.to_string();
    s.chars().take(300).collect()
}

/// Status and the start of the body, for error reports.
fn describe(r: &Response) -> String {
    let body = String::from_utf8_lossy(&r.body);
    format!(
        "status {}: {}",
        r.status,
        body.chars().take(300).collect::<String>()
    )
}
