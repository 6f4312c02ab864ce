//! The records kept in LMDB: accounts, orders, authorizations (with their challenges) and
//! certificates (RFC 8555 §7.1). Each record carries a schema version `v` so a later release can
//! migrate what an older one wrote. Times are Unix seconds (UTC).

use serde::{Deserialize, Serialize};

/// Schema version written into every record by this release.
pub(crate) const SCHEMA_VERSION: u16 = 1;

/// RFC 8555 §7.1.2 account status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum AccountStatus {
    Valid,
    Deactivated,
    Revoked,
}

/// RFC 8555 §7.1.3 order status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum OrderStatus {
    Pending,
    Ready,
    Processing,
    Valid,
    Invalid,
}

/// RFC 8555 §7.1.4 authorization status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum AuthzStatus {
    Pending,
    Valid,
    Invalid,
    Deactivated,
    Expired,
    Revoked,
}

/// RFC 8555 §7.1.6 challenge status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ChallengeStatus {
    Pending,
    Processing,
    Valid,
    Invalid,
}

/// An identifier exactly as the client sent it (RFC 8555 §7.1.3 `identifiers`); lego rejects
/// orders whose identifiers differ from what it sent, so the text is kept verbatim.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Identifier {
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) value: String,
}

/// An ACME account (RFC 8555 §7.1.2), keyed by `id`, indexed by its key thumbprint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct AccountRecord {
    pub(crate) v: u16,
    pub(crate) id: String,
    /// The account public key as canonical JWK JSON (public members only).
    pub(crate) jwk: serde_json::Value,
    /// RFC 7638 thumbprint of `jwk`; unique across accounts.
    pub(crate) thumbprint: String,
    pub(crate) contact: Vec<String>,
    pub(crate) status: AccountStatus,
    pub(crate) created_at: i64,
}

/// An order (RFC 8555 §7.1.3).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct OrderRecord {
    pub(crate) v: u16,
    pub(crate) id: String,
    pub(crate) account_id: String,
    pub(crate) status: OrderStatus,
    pub(crate) expires: i64,
    pub(crate) identifiers: Vec<Identifier>,
    pub(crate) not_before: Option<i64>,
    pub(crate) not_after: Option<i64>,
    /// One authorization per identifier, in the order of `identifiers`.
    pub(crate) authz_ids: Vec<String>,
    pub(crate) profile: String,
    /// The problem document that made the order invalid, if any.
    pub(crate) error: Option<serde_json::Value>,
    /// Set when the order is `valid`.
    pub(crate) cert_id: Option<String>,
    /// SHA-256 (base64url) of the CSR handed to the CA: the issuance intent, written in the
    /// same transaction as the move to `processing`.
    pub(crate) csr_sha256: Option<String>,
    pub(crate) created_at: i64,
}

/// A challenge (RFC 8555 §7.1.5, §8), stored inside its authorization.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct ChallengeRecord {
    pub(crate) id: String,
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) token: String,
    pub(crate) status: ChallengeStatus,
    pub(crate) validated: Option<i64>,
    pub(crate) error: Option<serde_json::Value>,
}

/// An authorization (RFC 8555 §7.1.4) with its challenges; indexed by challenge id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct AuthzRecord {
    pub(crate) v: u16,
    pub(crate) id: String,
    pub(crate) account_id: String,
    pub(crate) order_id: String,
    /// The identifier to validate (for a wildcard order: the base name).
    pub(crate) identifier: Identifier,
    pub(crate) wildcard: bool,
    pub(crate) status: AuthzStatus,
    pub(crate) expires: i64,
    pub(crate) challenges: Vec<ChallengeRecord>,
}

/// RFC 5280 revocation state of an issued certificate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Revocation {
    pub(crate) reason: u8,
    pub(crate) at: i64,
}

/// A certificate the RA obtained from the CA (RFC 8555 §7.4.2), indexed by serial.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct CertRecord {
    pub(crate) v: u16,
    pub(crate) id: String,
    pub(crate) account_id: String,
    pub(crate) order_id: String,
    /// Decimal big integer, as the uPKI CA reports it.
    pub(crate) serial: String,
    /// Leaf first, then the issuer chain, PEM.
    pub(crate) chain_pem: String,
    pub(crate) not_before: i64,
    pub(crate) not_after: i64,
    pub(crate) revoked: Option<Revocation>,
}

/// An External Account Binding key (RFC 8555 §7.3.4) created by the operator with
/// `upki-ra eab add`: single use — once `bound_account` is set it binds no other account.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct EabKeyRecord {
    pub(crate) v: u16,
    /// The key id clients send as the EAB `kid`.
    pub(crate) kid: String,
    /// The operator's note (who the key was handed to).
    pub(crate) label: String,
    /// The HMAC key, base64url (shown once by the CLI, needed here to verify the MAC).
    pub(crate) hmac_key: String,
    pub(crate) created_at: i64,
    /// The account this key created; set in the same transaction as the account.
    pub(crate) bound_account: Option<String>,
    /// Revoked by the operator before use (`upki-ra eab revoke`).
    pub(crate) revoked: bool,
}
