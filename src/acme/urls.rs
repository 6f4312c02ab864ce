//! The resource URLs of this server (RFC 8555 §7.1), all under `<base>/acme/`.
//!
//! JWS `url` and `kid` values are compared byte for byte with what these functions build from the
//! configured base URL — never with anything derived from `Host` or `X-Forwarded-*` (catalog #27).

/// Builds and recognises the server's resource URLs.
#[derive(Clone, Debug)]
pub(crate) struct Urls {
    base: String,
    /// `<directory>;rel="index"`, sent on every response (built once).
    index_link: String,
}

impl Urls {
    /// `base` is scheme + authority, without a trailing slash (e.g. `https://ra.lan:8443`).
    pub(crate) fn new(base: &str) -> Urls {
        let base = base.trim_end_matches('/').to_owned();
        let index_link = format!("<{base}/acme/directory>;rel=\"index\"");
        Urls { base, index_link }
    }

    /// The `Link` value pointing at the directory (RFC 8555 §7.1: `rel="index"`).
    pub(crate) fn index_link(&self) -> &str {
        &self.index_link
    }

    /// The absolute URL of a request path (the value a JWS `url` must equal, RFC 8555 §6.4).
    pub(crate) fn absolute(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn acme(&self, rest: &str) -> String {
        format!("{}/acme/{rest}", self.base)
    }

    pub(crate) fn directory(&self) -> String {
        self.acme("directory")
    }
    pub(crate) fn new_nonce(&self) -> String {
        self.acme("new-nonce")
    }
    pub(crate) fn new_account(&self) -> String {
        self.acme("new-account")
    }
    pub(crate) fn new_order(&self) -> String {
        self.acme("new-order")
    }
    pub(crate) fn revoke_cert(&self) -> String {
        self.acme("revoke-cert")
    }
    pub(crate) fn account(&self, id: &str) -> String {
        self.acme(&format!("account/{id}"))
    }
    pub(crate) fn order(&self, id: &str) -> String {
        self.acme(&format!("order/{id}"))
    }
    pub(crate) fn finalize(&self, id: &str) -> String {
        self.acme(&format!("order/{id}/finalize"))
    }
    pub(crate) fn authz(&self, id: &str) -> String {
        self.acme(&format!("authz/{id}"))
    }
    pub(crate) fn challenge(&self, id: &str) -> String {
        self.acme(&format!("chall/{id}"))
    }
    pub(crate) fn cert(&self, id: &str) -> String {
        self.acme(&format!("cert/{id}"))
    }
    /// RFC 8555 §7.3.5.
    pub(crate) fn key_change(&self) -> String {
        self.acme("key-change")
    }
    /// RFC 8555 §7.4.1.
    pub(crate) fn new_authz(&self) -> String {
        self.acme("new-authz")
    }
    /// RFC 9773 §4: clients append `/<certID>`.
    pub(crate) fn renewal_info(&self) -> String {
        self.acme("renewal-info")
    }
    /// RFC 8555 §7.1.2.1 orders list of an account.
    pub(crate) fn orders(&self, account_id: &str) -> String {
        self.acme(&format!("account/{account_id}/orders"))
    }
    /// The issuer certificate (DER), target of `Link: rel="up"` on certificates.
    pub(crate) fn issuer(&self) -> String {
        self.acme("issuer")
    }

    /// The account id named by a JWS `kid`, only if `kid` is exactly one of our account URLs
    /// (RFC 8555 §6.2; catalog #28: no suffix matching).
    pub(crate) fn account_id_of_kid<'k>(&self, kid: &'k str) -> Option<&'k str> {
        let prefix = self.acme("account/");
        let id = kid.strip_prefix(prefix.as_str())?;
        let ok = !id.is_empty()
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then_some(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 8555 §7.1: the index link names the directory.
    #[test]
    fn rfc8555_s7_1_index_link() {
        let u = Urls::new("https://ra.lan:8443/");
        assert_eq!(u.index_link(), format!("<{}>;rel=\"index\"", u.directory()));
    }

    // Catalog #28: kid must be exactly one of our account URLs.
    #[test]
    fn kid_matching() {
        let u = Urls::new("https://ra.lan:8443/");
        assert_eq!(
            u.account_id_of_kid("https://ra.lan:8443/acme/account/abc_-1"),
            Some("abc_-1")
        );
        for bad in [
            "http://ra.lan:8443/acme/account/abc",
            "https://ra.lan/acme/account/abc",
            "https://ra.lan:8443/acme/account/",
            "https://ra.lan:8443/acme/account/abc/",
            "https://ra.lan:8443/acme/account/abc?x",
            "https://evil/https://ra.lan:8443/acme/account/abc",
        ] {
            assert_eq!(u.account_id_of_kid(bad), None, "{bad}");
        }
    }
}
