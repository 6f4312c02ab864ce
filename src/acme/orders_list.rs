//! The orders list of an account (RFC 8555 §7.1.2.1): POST-as-GET by the account itself,
//! `{"orders": [order URLs]}`, paginated with `Link: <next page>;rel="next"`.
//!
//! Invalid orders are left out ("the server SHOULD NOT include orders that are invalid").

use serde::Serialize;

use crate::acme::problem::Problem;
use crate::acme::request::KeyStyle;
use crate::acme::{Acme, json_response};
use crate::http::{Request, Response};
use crate::jose::b64;
use crate::store::records::OrderStatus;

/// Orders per page.
pub(crate) const PAGE_SIZE: usize = 50;
/// Longest cursor accepted (bytes, decoded).
const MAX_CURSOR: usize = 128;

#[derive(Serialize)]
struct OrdersList {
    orders: Vec<String>,
}

/// The `cursor` query parameter of a page URL: base64url of the last index key returned.
fn cursor_of(query: Option<&str>) -> Result<Option<Vec<u8>>, Problem> {
    let Some(q) = query else {
        return Ok(None);
    };
    let value = q
        .strip_prefix("cursor=")
        .filter(|v| !v.contains('&'))
        .ok_or_else(|| Problem::malformed("the orders list takes only a cursor parameter"))?;
    // A real cursor is 16 hex digits + a 22-character id; anything much longer is refused
    // before it reaches the store (LMDB keys are bounded).
    b64::decode(value)
        .ok()
        .filter(|c| c.len() <= MAX_CURSOR)
        .map(Some)
        .ok_or_else(|| Problem::malformed("invalid orders list cursor"))
}

impl Acme {
    /// POST-as-GET on `/acme/account/<id>/orders[?cursor=…]`.
    pub(crate) fn orders_list(
        &self,
        req: &Request,
        path: &str,
        id: &str,
        query: Option<&str>,
    ) -> Result<Response, Problem> {
        let auth = self.authenticate(req, path, KeyStyle::Kid)?;
        auth.require_post_as_get()?;
        let account = auth.account()?;
        // Catalog #31: only the account itself reads its list.
        if account.id != id {
            return Err(Problem::unauthorized(
                "the orders list belongs to another account",
            ));
        }
        let after = cursor_of(query)?;
        let (orders, next) = self
            .store
            .read(|r| r.orders_of_account(id, after.as_deref(), PAGE_SIZE))?;
        let list = OrdersList {
            orders: orders
                .iter()
                .filter(|o| o.status != OrderStatus::Invalid)
                .map(|o| self.urls.order(&o.id))
                .collect(),
        };
        let resp = json_response(200, &list);
        Ok(match next {
            // RFC 8555 §7.1.2.1: further pages are announced with a `rel="next"` Link header.
            Some(cursor) => resp.with_header(
                "Link",
                format!(
                    "<{}?cursor={}>;rel=\"next\"",
                    self.urls.orders(id),
                    b64::encode(&cursor)
                ),
            ),
            None => resp,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 8555 §7.1.2.1: pagination cursors round-trip; anything else is malformed.
    #[test]
    fn rfc8555_7_1_2_1_cursor() {
        assert_eq!(cursor_of(None).ok(), Some(None));
        assert_eq!(
            cursor_of(Some("cursor=YWJj")).ok(),
            Some(Some(b"abc".to_vec()))
        );
        assert!(cursor_of(Some("page=2")).is_err());
        assert!(cursor_of(Some("cursor=YWJj&x=1")).is_err());
        assert!(cursor_of(Some("cursor=YWJj=")).is_err());
        let long = b64::encode(&[b'a'; 200]);
        assert!(cursor_of(Some(&format!("cursor={long}"))).is_err());
    }
}
