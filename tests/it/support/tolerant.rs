//! A fault-tolerant ACME client for the crash and outage drills (issue 8): the same RFC 8555
//! flow as `client::Acme` (§7.3 account, §7.4 order, §8.3 http-01, finalize, §7.4.2 download),
//! but every step returns `Err` instead of panicking, since in a drill the server may be
//! SIGKILLed or its CA stopped between any two requests. It also measures how long each HTTP
//! exchange took, so a drill can assert that no request hung beyond its deadline.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::client::{AccountKey, b64};
use super::http01::Http01Responder;
use super::https::{Https, Response};
use super::pki::{CertKey, Identifier};

/// A certificate the server handed out: where, to whom, and the exact bytes.
#[derive(Debug, Clone)]
pub(crate) struct GivenCert {
    pub(crate) order_url: String,
    pub(crate) cert_url: String,
    pub(crate) pem: String,
}

/// One account's client; every method is `Result<_, String>`.
pub(crate) struct Tolerant {
    http: Https,
    directory_url: String,
    directory: Option<Value>,
    pub(crate) key: AccountKey,
    /// The account URL once created.
    pub(crate) kid: Option<String>,
    nonce: Option<String>,
    /// The slowest HTTP exchange so far (connect to last body byte), and its label.
    pub(crate) slowest: (Duration, String),
    /// HTTP exchanges made (successful or not).
    pub(crate) requests: u64,
    /// How long `poll` waits for a state before giving up.
    pub(crate) poll_timeout: Duration,
}

impl Tolerant {
    pub(crate) fn new(http: Https, directory_url: &str) -> Tolerant {
        Tolerant {
            http,
            directory_url: directory_url.to_owned(),
            directory: None,
            key: AccountKey::generate(),
            kid: None,
            nonce: None,
            slowest: (Duration::ZERO, String::new()),
            requests: 0,
            poll_timeout: Duration::from_secs(30),
        }
    }

    /// One HTTP exchange, timed.
    pub(crate) fn request(
        &mut self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Response, String> {
        let start = Instant::now();
        let r = self.http.try_request(method, url, headers, body);
        let took = start.elapsed();
        self.requests += 1;
        if took > self.slowest.0 {
            self.slowest = (took, format!("{method} {url}"));
        }
        r
    }

    /// A directory resource URL (the directory is fetched once).
    pub(crate) fn url(&mut self, resource: &str) -> Result<String, String> {
        if self.directory.is_none() {
            let url = self.directory_url.clone();
            let r = self.request("GET", &url, &[], b"")?;
            if r.status != 200 {
                return Err(format!("directory: {r}"));
            }
            self.directory = Some(r.json());
        }
        self.directory
            .as_ref()
            .and_then(|d| d[resource].as_str())
            .map(str::to_owned)
            .ok_or_else(|| format!("directory has no {resource}"))
    }

    /// A fresh nonce from HEAD newNonce (§7.2).
    pub(crate) fn fresh_nonce(&mut self) -> Result<String, String> {
        let url = self.url("newNonce")?;
        let r = self.request("HEAD", &url, &[], b"")?;
        r.header("replay-nonce")
            .map(str::to_owned)
            .ok_or_else(|| format!("HEAD newNonce without Replay-Nonce: {r}"))
    }

    /// The JWS body for `url` with an explicit nonce (`kid` once registered, else `jwk`).
    pub(crate) fn jws(&self, url: &str, nonce: &str, payload: Option<&Value>) -> Vec<u8> {
        let mut p = json!({"alg": "ES256", "nonce": nonce, "url": url});
        match &self.kid {
            Some(kid) => p["kid"] = json!(kid),
            None => p["jwk"] = self.key.jwk(),
        }
        self.key.sign_jws(&p, payload)
    }

    /// POST a ready JWS body; keeps the response's nonce.
    pub(crate) fn send(&mut self, url: &str, body: &[u8]) -> Result<Response, String> {
        let r = self.request(
            "POST",
            url,
            &[("Content-Type", "application/jose+json")],
            body,
        )?;
        self.nonce = r.header("replay-nonce").map(str::to_owned);
        Ok(r)
    }

    /// Signed POST (None = POST-as-GET), retried on `badNonce` (§6.5: after a restart every
    /// nonce the client holds is stale).
    pub(crate) fn post(&mut self, url: &str, payload: Option<&Value>) -> Result<Response, String> {
        for _ in 0..3 {
            let nonce = match self.nonce.take() {
                Some(n) => n,
                None => self.fresh_nonce()?,
            };
            let body = self.jws(url, &nonce, payload);
            let r = self.send(url, &body)?;
            if r.problem_type().as_deref() != Some("urn:ietf:params:acme:error:badNonce") {
                return Ok(r);
            }
        }
        Err(format!("POST {url}: badNonce three times"))
    }

    /// POST-as-GET expecting 200 JSON.
    pub(crate) fn get_json(&mut self, url: &str) -> Result<Value, String> {
        let r = self.post(url, None)?;
        if r.status != 200 {
            return Err(format!("POST-as-GET {url}: {r}"));
        }
        serde_json::from_slice(&r.body).map_err(|e| format!("{url}: not JSON: {e}"))
    }

    /// newAccount (§7.3); on 201 the account URL is remembered and returned.
    pub(crate) fn new_account(&mut self) -> Result<String, String> {
        self.kid = None;
        let url = self.url("newAccount")?;
        let r = self.post(&url, Some(&json!({"termsOfServiceAgreed": true})))?;
        if r.status != 201 && r.status != 200 {
            return Err(format!("newAccount: {r}"));
        }
        let kid = r
            .header("location")
            .ok_or_else(|| format!("newAccount without Location: {r}"))?
            .to_owned();
        self.kid = Some(kid.clone());
        Ok(kid)
    }

    /// newOrder (§7.4) → (order URL, order).
    pub(crate) fn new_order(&mut self, ids: &[Identifier]) -> Result<(String, Value), String> {
        let url = self.url("newOrder")?;
        let payload =
            json!({"identifiers": ids.iter().map(Identifier::to_json).collect::<Vec<_>>()});
        let r = self.post(&url, Some(&payload))?;
        if r.status != 201 {
            return Err(format!("newOrder: {r}"));
        }
        let location = r
            .header("location")
            .ok_or_else(|| format!("newOrder without Location: {r}"))?
            .to_owned();
        Ok((location, r.json()))
    }

    /// Poll until `status` is in `until`; `Err` on another terminal state or on timeout.
    pub(crate) fn poll(&mut self, url: &str, until: &[&str]) -> Result<Value, String> {
        let deadline = Instant::now() + self.poll_timeout;
        loop {
            let v = self.get_json(url)?;
            let status = v["status"].as_str().unwrap_or("");
            if until.contains(&status) {
                return Ok(v);
            }
            if ["invalid", "revoked", "deactivated", "expired"].contains(&status) {
                return Err(format!("{url} is {status}: {v}"));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{url} still {status} after {:?}",
                    self.poll_timeout
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Solve every pending authorization of `order` with http-01 through `responder`.
    pub(crate) fn solve_http01(
        &mut self,
        order: &Value,
        responder: &Http01Responder,
    ) -> Result<(), String> {
        let authzs: Vec<String> = order["authorizations"]
            .as_array()
            .ok_or_else(|| format!("order without authorizations: {order}"))?
            .iter()
            .filter_map(|u| u.as_str().map(str::to_owned))
            .collect();
        for authz_url in authzs {
            let authz = self.get_json(&authz_url)?;
            if authz["status"] == "valid" {
                continue;
            }
            let chall = authz["challenges"]
                .as_array()
                .and_then(|cs| cs.iter().find(|c| c["type"] == "http-01"))
                .ok_or_else(|| format!("no http-01 challenge: {authz}"))?
                .clone();
            let token = chall["token"].as_str().unwrap_or_default().to_owned();
            responder.add(&token, &format!("{token}.{}", self.key.thumbprint()));
            if chall["status"] == "pending" {
                let url = chall["url"].as_str().unwrap_or_default().to_owned();
                let r = self.post(&url, Some(&json!({})))?;
                if r.status != 200 {
                    return Err(format!("challenge response: {r}"));
                }
            }
            self.poll(&authz_url, &["valid"])?;
        }
        Ok(())
    }

    /// The whole issuance for one DNS name; the certificate as downloaded.
    pub(crate) fn issue(
        &mut self,
        name: &str,
        responder: &Http01Responder,
    ) -> Result<GivenCert, String> {
        let ids = [Identifier::dns(name)];
        let (order_url, order) = self.new_order(&ids)?;
        self.solve_http01(&order, responder)?;
        let order = self.poll(&order_url, &["ready"])?;
        let finalize = order["finalize"].as_str().unwrap_or_default().to_owned();
        let csr = CertKey::generate().csr(None, &ids);
        let r = self.post(&finalize, Some(&json!({"csr": b64(&csr)})))?;
        if r.status != 200 {
            return Err(format!("finalize: {r}"));
        }
        let order = self.poll(&order_url, &["valid"])?;
        let cert_url = order["certificate"]
            .as_str()
            .ok_or_else(|| format!("valid order without certificate: {order}"))?
            .to_owned();
        let pem = self.download(&cert_url)?;
        Ok(GivenCert {
            order_url,
            cert_url,
            pem,
        })
    }

    /// POST-as-GET the certificate chain (§7.4.2).
    pub(crate) fn download(&mut self, cert_url: &str) -> Result<String, String> {
        let r = self.post(cert_url, None)?;
        if r.status != 200 {
            return Err(format!("certificate download: {r}"));
        }
        Ok(r.text())
    }
}
