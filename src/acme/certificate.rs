//! Certificate download (RFC 8555 §7.4.2): POST-as-GET by the account that ordered it, answered
//! with the PEM chain (`application/pem-certificate-chain`, leaf first).

use crate::acme::Acme;
use crate::acme::problem::Problem;
use crate::acme::request::KeyStyle;
use crate::http::{Request, Response};

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
        Ok(Response::new(200).with_body(
            "application/pem-certificate-chain",
            cert.chain_pem.into_bytes(),
        ))
    }
}
