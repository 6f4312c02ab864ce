//! Certificate download (RFC 8555 §7.4.2): POST-as-GET by the account that ordered it, answered
//! with the PEM chain (`application/pem-certificate-chain`, leaf first) by default, or the leaf
//! alone in DER when the client asks for `application/pkix-cert` (RFC 8555 §7.4.2, "the server
//! MAY provide one or more link relation header fields"; RFC 2585 media type).
//!
//! `Link: <issuer>;rel="up"` points to the issuer certificate, served at `/acme/issuer`
//! (interop.md: acmez follows it). `rel="alternate"` is sent only for chains that really exist:
//! the CA link offers exactly one chain, so none is announced.

use crate::acme::Acme;
use crate::acme::problem::Problem;
use crate::acme::request::KeyStyle;
use crate::http::{Request, Response};
use crate::pki;

/// RFC 8555 §7.4.2 default media type.
const PEM_CHAIN: &str = "application/pem-certificate-chain";
/// RFC 2585 §4.1: one DER certificate.
const PKIX_CERT: &str = "application/pkix-cert";

/// Which representation the `Accept` header asks for: DER only when `application/pkix-cert`
/// is acceptable and the PEM chain is not preferred (RFC 9110 §12.5.1, q-values honoured;
/// absent or anything else → the PEM chain, as most clients send no Accept).
fn wants_der(accept: Option<&str>) -> bool {
    let Some(accept) = accept else {
        return false;
    };
    let mut der_q = 0.0f32;
    let mut pem_q = 0.0f32;
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .filter_map(|v| v.trim().parse::<f32>().ok())
            .next()
            .unwrap_or(1.0);
        match media.as_str() {
            PKIX_CERT => der_q = der_q.max(q),
            PEM_CHAIN | "*/*" | "application/*" => pem_q = pem_q.max(q),
            _ => {}
        }
    }
    der_q > 0.0 && der_q > pem_q
}

impl Acme {
    pub(crate) fn certificate(
        &self,
        req: &Request,
        path: &str,
        id: &str,
    ) -> Result<Response, Problem> {
        let auth = self.authenticate(req, path, KeyStyle::Kid)?;
        auth.require_post_as_get()?;
        let account = auth.account()?;
        let cert = self
            .store
            .read(|r| r.cert(id))?
            .ok_or_else(Problem::not_found)?;
        if cert.account_id != account.id {
            return Err(Problem::unauthorized(
                "this certificate belongs to another account",
            ));
        }
        req.log.set("order", &cert.order_id);
        let resp = if wants_der(req.header("accept")) {
            let leaf = pki::pem_to_ders(&cert.chain_pem)
                .ok()
                .and_then(|d| d.into_iter().next())
                .ok_or_else(|| Problem::internal("stored certificate unreadable", &cert.id))?;
            Response::new(200).with_body(PKIX_CERT, leaf)
        } else {
            Response::new(200).with_body(PEM_CHAIN, cert.chain_pem.into_bytes())
        };
        Ok(resp.with_header("Link", format!("<{}>;rel=\"up\"", self.urls.issuer())))
    }

    /// GET /acme/issuer: the issuer certificate in DER (public; target of `rel="up"`).
    pub(crate) fn issuer_cert(&self) -> Response {
        Response::new(200).with_body(PKIX_CERT, self.issuer.der.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 8555 §7.4.2: PEM chain by default; DER leaf only when asked for and preferred.
    #[test]
    fn rfc8555_7_4_2_accept_negotiation() {
        assert!(!wants_der(None));
        assert!(!wants_der(Some("*/*")));
        assert!(!wants_der(Some("application/pem-certificate-chain")));
        assert!(wants_der(Some("application/pkix-cert")));
        assert!(wants_der(Some("Application/PKIX-Cert; q=0.9, */*;q=0.1")));
        assert!(!wants_der(Some(
            "application/pkix-cert;q=0.5, application/pem-certificate-chain"
        )));
        assert!(!wants_der(Some("application/pkix-cert;q=0")));
    }
}
