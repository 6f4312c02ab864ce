//! A small, strict ACME client (RFC 8555) written for the tests, independent from the server:
//! ES256 account key (ring), flattened JWS with `jwk` or `kid` (§6.2), nonces taken from every
//! response (§7.2) with one retry on `badNonce` (§6.5), POST-as-GET (§6.3), and the issuance
//! flow of §7.3–§7.4.2 plus revocation (§7.6), key rollover (§7.3.5), External Account Binding
//! (§7.3.4) and ACME Renewal Information (RFC 9773).

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::digest::{SHA256, digest};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};

use super::http01::Http01Responder;
use super::https::{Https, Response};
use super::pki::{CertKey, Identifier, pem_to_ders};
use super::server::Server;

/// How long a test waits for an authorization or order to change state.
const POLL_TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) fn b64(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

/// An ES256 key (RFC 7518 §3.4) with its public JWK.
pub(crate) struct AccountKey {
    pair: EcdsaKeyPair,
}

impl AccountKey {
    pub(crate) fn generate() -> AccountKey {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        AccountKey::from_pair(
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
                .unwrap(),
        )
    }

    /// Wrap a P-256 key pair built with `ECDSA_P256_SHA256_FIXED_SIGNING`.
    pub(crate) fn from_pair(pair: EcdsaKeyPair) -> AccountKey {
        AccountKey { pair }
    }

    /// The public JWK (RFC 7518 §6.2.1).
    pub(crate) fn jwk(&self) -> Value {
        let point = self.pair.public_key().as_ref();
        assert_eq!(point.len(), 65, "uncompressed P-256 point");
        json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..])})
    }

    /// RFC 7638 thumbprint: SHA-256 over the required members in lexicographic order.
    pub(crate) fn thumbprint(&self) -> String {
        let jwk = self.jwk();
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            jwk["x"].as_str().unwrap(),
            jwk["y"].as_str().unwrap()
        );
        b64(digest(&SHA256, canonical.as_bytes()).as_ref())
    }

    /// Flattened JWS JSON (RFC 7515 §7.2.2) over `protected` and `payload` (None = "").
    pub(crate) fn sign_jws(&self, protected: &Value, payload: Option<&Value>) -> Vec<u8> {
        let protected_b64 = b64(protected.to_string().as_bytes());
        let payload_b64 = payload.map_or(String::new(), |p| b64(p.to_string().as_bytes()));
        let signing_input = format!("{protected_b64}.{payload_b64}");
        let sig = self
            .pair
            .sign(&SystemRandom::new(), signing_input.as_bytes())
            .unwrap();
        json!({"protected": protected_b64, "payload": payload_b64, "signature": b64(sig.as_ref())})
            .to_string()
            .into_bytes()
    }
}

/// The result of a complete issuance.
pub(crate) struct Issued {
    pub(crate) order_url: String,
    pub(crate) order: Value,
    pub(crate) cert_url: String,
    pub(crate) chain_pem: String,
    pub(crate) chain_der: Vec<Vec<u8>>,
    pub(crate) cert_key: CertKey,
}

/// One ACME account (or account-to-be) talking to one server.
pub(crate) struct Acme {
    pub(crate) http: Https,
    pub(crate) directory: Value,
    pub(crate) key: AccountKey,
    /// The account URL once registered (§7.3); requests then use `kid`.
    pub(crate) kid: Option<String>,
    nonce: Option<String>,
    /// How many times one POST is retried on `badNonce` (1 unless a test raises it).
    pub(crate) bad_nonce_retries: u32,
    /// How many `badNonce` errors this client has seen and retried (chaos tests).
    pub(crate) bad_nonces_seen: u32,
}

impl Acme {
    /// A client with a fresh key; fetches the directory (§7.1.1).
    pub(crate) fn new(server: &Server) -> Acme {
        Acme::with_key(server, AccountKey::generate())
    }

    pub(crate) fn with_key(server: &Server, key: AccountKey) -> Acme {
        Acme::connect(server.https(), &server.directory_url(), key)
    }

    /// A client for any ACME directory reachable with `http`.
    pub(crate) fn connect(http: Https, directory_url: &str, key: AccountKey) -> Acme {
        let r = http.get(directory_url);
        assert_eq!(r.status, 200, "directory: {r}");
        Acme {
            http,
            directory: r.json(),
            key,
            kid: None,
            nonce: None,
            bad_nonce_retries: 1,
            bad_nonces_seen: 0,
        }
    }

    /// A resource URL from the directory, e.g. "newNonce".
    pub(crate) fn url(&self, resource: &str) -> String {
        self.directory[resource]
            .as_str()
            .unwrap_or_else(|| panic!("directory has no {resource:?}: {}", self.directory))
            .to_owned()
    }

    /// A nonce from HEAD newNonce (§7.2), checking it is there.
    pub(crate) fn fresh_nonce(&mut self) -> String {
        let r = self.http.request("HEAD", &self.url("newNonce"), &[], b"");
        assert_eq!(r.status, 200, "HEAD newNonce: {r}");
        r.header("replay-nonce")
            .unwrap_or_else(|| panic!("HEAD newNonce without Replay-Nonce: {r}"))
            .to_owned()
    }

    /// The nonce of the last response, or a fresh one; each nonce is used once.
    pub(crate) fn take_nonce(&mut self) -> String {
        match self.nonce.take() {
            Some(n) => n,
            None => self.fresh_nonce(),
        }
    }

    /// The protected header for `url`: `kid` when registered, else `jwk` (§6.2).
    pub(crate) fn protected(&self, url: &str, nonce: &str) -> Value {
        let mut p = json!({"alg": "ES256", "nonce": nonce, "url": url});
        match &self.kid {
            Some(kid) => p["kid"] = json!(kid),
            None => p["jwk"] = self.key.jwk(),
        }
        p
    }

    /// POST a ready-made body as `application/jose+json`, keep the response's nonce.
    pub(crate) fn send_jws(&mut self, url: &str, body: &[u8]) -> Response {
        let r = self.http.request(
            "POST",
            url,
            &[("Content-Type", "application/jose+json")],
            body,
        );
        if let Some(n) = r.header("replay-nonce") {
            self.nonce = Some(n.to_owned());
        }
        r
    }

    /// Signed POST (payload None = POST-as-GET), retried on `badNonce` (§6.5), once unless
    /// `bad_nonce_retries` says otherwise.
    pub(crate) fn post(&mut self, url: &str, payload: Option<&Value>) -> Response {
        let mut retried = 0;
        loop {
            let nonce = self.take_nonce();
            let body = self.key.sign_jws(&self.protected(url, &nonce), payload);
            let r = self.send_jws(url, &body);
            if r.problem_type().as_deref() == Some("urn:ietf:params:acme:error:badNonce")
                && retried < self.bad_nonce_retries
            {
                assert!(
                    r.header("replay-nonce").is_some(),
                    "badNonce error without a Replay-Nonce (§6.5): {r}"
                );
                retried += 1;
                self.bad_nonces_seen += 1;
                continue;
            }
            return r;
        }
    }

    /// POST-as-GET expecting 200 and JSON.
    pub(crate) fn get_json(&mut self, url: &str) -> Value {
        let r = self.post(url, None);
        assert_eq!(r.status, 200, "POST-as-GET {url}: {r}");
        r.json()
    }

    /// newAccount (§7.3) with the terms agreed; remembers the account URL.
    pub(crate) fn new_account(&mut self) -> Response {
        self.kid = None;
        let url = self.url("newAccount");
        let r = self.post(&url, Some(&json!({"termsOfServiceAgreed": true})));
        assert!(
            r.status == 201 || r.status == 200,
            "newAccount must answer 201 (new) or 200 (existing): {r}"
        );
        let location = r
            .header("location")
            .unwrap_or_else(|| panic!("newAccount without Location: {r}"))
            .to_owned();
        self.kid = Some(location);
        r
    }

    /// newOrder (§7.4): returns (order URL, order object); checks 201 + Location.
    pub(crate) fn new_order(&mut self, ids: &[Identifier]) -> (String, Value) {
        let url = self.url("newOrder");
        let payload =
            json!({"identifiers": ids.iter().map(Identifier::to_json).collect::<Vec<_>>()});
        let r = self.post(&url, Some(&payload));
        assert_eq!(r.status, 201, "newOrder must answer 201: {r}");
        let location = r
            .header("location")
            .unwrap_or_else(|| panic!("newOrder without Location: {r}"))
            .to_owned();
        (location, r.json())
    }

    /// Poll (POST-as-GET) until `status` is one of `until`; panics on timeout or on a
    /// terminal state not in `until`.
    pub(crate) fn poll(&mut self, url: &str, until: &[&str]) -> Value {
        let deadline = Instant::now() + POLL_TIMEOUT;
        loop {
            let v = self.get_json(url);
            let status = v["status"].as_str().unwrap_or("").to_owned();
            if until.contains(&status.as_str()) {
                return v;
            }
            assert!(
                status != "invalid" && status != "revoked" && status != "deactivated",
                "{url} reached {status:?} while waiting for {until:?}: {v}"
            );
            assert!(
                Instant::now() < deadline,
                "{url} still {status:?} after {POLL_TIMEOUT:?}, wanted {until:?}: {v}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The http-01 challenge of an authorization and its key authorization (§8.1, §8.3).
    pub(crate) fn http01_of(&self, authz: &Value) -> (String, String, String) {
        let chall = authz["challenges"]
            .as_array()
            .unwrap_or_else(|| panic!("authorization without challenges: {authz}"))
            .iter()
            .find(|c| c["type"] == "http-01")
            .unwrap_or_else(|| panic!("no http-01 challenge: {authz}"));
        let token = chall["token"].as_str().unwrap().to_owned();
        let key_auth = format!("{token}.{}", self.key.thumbprint());
        (chall["url"].as_str().unwrap().to_owned(), token, key_auth)
    }

    /// Solve every authorization of `order` with http-01 through `responder`.
    pub(crate) fn solve_http01(&mut self, order: &Value, responder: &Http01Responder) {
        let authz_urls: Vec<String> = order["authorizations"]
            .as_array()
            .unwrap_or_else(|| panic!("order without authorizations: {order}"))
            .iter()
            .map(|u| u.as_str().unwrap().to_owned())
            .collect();
        for authz_url in authz_urls {
            let authz = self.get_json(&authz_url);
            if authz["status"] == "valid" {
                continue;
            }
            let (chall_url, token, key_auth) = self.http01_of(&authz);
            responder.add(&token, &key_auth);
            // §7.5.1: the client responds with an empty JSON object.
            let r = self.post(&chall_url, Some(&json!({})));
            assert_eq!(r.status, 200, "challenge response: {r}");
            self.poll(&authz_url, &["valid"]);
        }
    }

    /// finalize (§7.4) with a DER CSR.
    pub(crate) fn finalize(&mut self, finalize_url: &str, csr_der: &[u8]) -> Response {
        self.post(finalize_url, Some(&json!({"csr": b64(csr_der)})))
    }

    /// Download the certificate chain (§7.4.2), checking the media type.
    pub(crate) fn download(&mut self, cert_url: &str) -> String {
        let r = self.post(cert_url, None);
        assert_eq!(r.status, 200, "certificate download: {r}");
        let media_type = r.header("content-type").map(|c| {
            c.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
        assert_eq!(
            media_type.as_deref(),
            Some("application/pem-certificate-chain"),
            "certificate media type (§7.4.2): {r}"
        );
        r.text()
    }

    /// revokeCert (§7.6) signed by the account key.
    pub(crate) fn revoke(&mut self, cert_der: &[u8], reason: Option<u8>) -> Response {
        let url = self.url("revokeCert");
        let mut payload = json!({"certificate": b64(cert_der)});
        if let Some(reason) = reason {
            payload["reason"] = json!(reason);
        }
        self.post(&url, Some(&payload))
    }

    /// RFC 8555 §7.3.5: the inner JWS (signed by `new_key`, with its `jwk`, no nonce) over a
    /// keyChange object; `tweak` may alter the inner header and payload before signing.
    pub(crate) fn key_change_body(
        &self,
        new_key: &AccountKey,
        tweak: impl FnOnce(&mut Value, &mut Value),
    ) -> Value {
        let url = self.url("keyChange");
        let mut header = json!({"alg": "ES256", "jwk": new_key.jwk(), "url": url});
        let mut payload = json!({
            "account": self.kid.clone().expect("key change needs an account"),
            "oldKey": self.key.jwk(),
        });
        tweak(&mut header, &mut payload);
        serde_json::from_slice(&new_key.sign_jws(&header, Some(&payload))).unwrap()
    }

    /// POST keyChange with `inner` as payload (signed by the current key).
    pub(crate) fn post_key_change(&mut self, inner: &Value) -> Response {
        let url = self.url("keyChange");
        self.post(&url, Some(inner))
    }

    /// Key rollover (§7.3.5); on 200 the client signs with `new_key` from now on.
    pub(crate) fn key_change(&mut self, new_key: AccountKey) -> Response {
        let inner = self.key_change_body(&new_key, |_, _| {});
        let r = self.post_key_change(&inner);
        if r.status == 200 {
            self.key = new_key;
        }
        r
    }

    /// RFC 8555 §7.3.4: the `externalAccountBinding` JWS (HS256 by default) over this
    /// client's account key.
    pub(crate) fn eab_jws(&self, kid: &str, hmac_key_b64: &str, alg: &str) -> Value {
        let key = URL_SAFE_NO_PAD.decode(hmac_key_b64).unwrap();
        let ring_alg = match alg {
            "HS384" => ring::hmac::HMAC_SHA384,
            "HS512" => ring::hmac::HMAC_SHA512,
            _ => ring::hmac::HMAC_SHA256,
        };
        let protected = b64(
            json!({"alg": alg, "kid": kid, "url": self.url("newAccount")})
                .to_string()
                .as_bytes(),
        );
        let payload = b64(self.key.jwk().to_string().as_bytes());
        let tag = ring::hmac::sign(
            &ring::hmac::Key::new(ring_alg, &key),
            format!("{protected}.{payload}").as_bytes(),
        );
        json!({"protected": protected, "payload": payload, "signature": b64(tag.as_ref())})
    }

    /// newAccount with an arbitrary payload (no status assertion); remembers the Location
    /// on 200/201.
    pub(crate) fn new_account_with(&mut self, payload: &Value) -> Response {
        self.kid = None;
        let url = self.url("newAccount");
        let r = self.post(&url, Some(payload));
        if r.status == 200 || r.status == 201 {
            self.kid = r.header("location").map(str::to_owned);
        }
        r
    }

    /// RFC 9773 §4.2: GET the renewal information of a certificate (DER).
    pub(crate) fn renewal_info(&self, cert_der: &[u8]) -> Response {
        let url = format!("{}/{}", self.url("renewalInfo"), ari_cert_id(cert_der));
        self.http.get(&url)
    }

    /// The whole §7.1 flow: order, http-01 for every identifier, finalize, download.
    pub(crate) fn issue(
        &mut self,
        ids: &[Identifier],
        cn: Option<&str>,
        responder: &Http01Responder,
    ) -> Issued {
        let (order_url, order) = self.new_order(ids);
        assert_eq!(order["status"], "pending", "new order status: {order}");
        self.solve_http01(&order, responder);
        let order = self.poll(&order_url, &["ready"]);
        let cert_key = CertKey::generate();
        let finalize_url = order["finalize"].as_str().unwrap().to_owned();
        let r = self.finalize(&finalize_url, &cert_key.csr(cn, ids));
        assert_eq!(r.status, 200, "finalize: {r}");
        let order = self.poll(&order_url, &["valid"]);
        let cert_url = order["certificate"]
            .as_str()
            .unwrap_or_else(|| panic!("valid order without certificate URL: {order}"))
            .to_owned();
        let chain_pem = self.download(&cert_url);
        let chain_der = pem_to_ders(&chain_pem);
        Issued {
            order_url,
            order,
            cert_url,
            chain_pem,
            chain_der,
            cert_key,
        }
    }
}

/// RFC 9773 §4.1 certID: base64url(AKI keyIdentifier) "." base64url(serial content octets).
pub(crate) fn ari_cert_id(cert_der: &[u8]) -> String {
    use der::{Decode, Encode};
    let cert = x509_cert::Certificate::from_der(cert_der).unwrap();
    let tbs = cert.tbs_certificate();
    let (_, aki) = tbs
        .get_extension::<x509_cert::ext::pkix::AuthorityKeyIdentifier>()
        .unwrap()
        .expect("certificate without authorityKeyIdentifier");
    let key_id = aki.key_identifier.expect("AKI without keyIdentifier");
    let serial = tbs.serial_number().to_der().unwrap();
    format!("{}.{}", b64(key_id.as_bytes()), b64(&serial[2..]))
}
