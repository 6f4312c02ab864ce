//! The bulk loader behind `upki-ra bench-fill`: fills a store with finished issuances (RFC 8555
//! §7.1: a valid order, its valid authorization and challenge, its certificate record) so the
//! benchmark can measure issuance latency on a store that already holds a million orders
//! (BENCHMARKS.md). The records have the shape and size of real ones, spread over a thousand
//! accounts with real P-256 keys; the certificate chains are random bytes in PEM armour (never
//! signed by any CA), so a filled store is for benchmarking only.

use std::path::Path;
use std::time::Instant;

use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};

use super::records::{
    AccountRecord, AccountStatus, AuthzRecord, AuthzStatus, CertRecord, ChallengeRecord,
    ChallengeStatus, Identifier, OrderRecord, OrderStatus, SCHEMA_VERSION,
};
use super::{Store, StoreError};
use crate::acme::ids::{new_id, new_token};
use crate::jose::b64;

/// Accounts the orders are spread over.
const ACCOUNTS: usize = 1000;
/// Orders written by one write closure (one nested transaction).
const PER_CLOSURE: usize = 2000;
/// DER size of the random stand-ins for a leaf and an issuer certificate (a P-256 leaf from
/// the embedded CA is about this size).
const FAKE_CERT_DER: usize = 560;

fn random(rng: &SystemRandom, n: usize) -> Result<Vec<u8>, StoreError> {
    let mut buf = vec![0u8; n];
    rng.fill(&mut buf)
        .map_err(|_| StoreError::Lmdb("the system RNG failed".into()))?;
    Ok(buf)
}

fn fake_chain(rng: &SystemRandom) -> Result<String, StoreError> {
    Ok(format!(
        "{}{}",
        crate::pki::der_to_pem("CERTIFICATE", &random(rng, FAKE_CERT_DER)?),
        crate::pki::der_to_pem("CERTIFICATE", &random(rng, FAKE_CERT_DER)?)
    ))
}

fn account(rng: &SystemRandom, now: i64) -> Result<AccountRecord, StoreError> {
    let alg = &ECDSA_P256_SHA256_FIXED_SIGNING;
    let bad = || StoreError::Lmdb("P-256 key generation failed".into());
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, rng).map_err(|_| bad())?;
    let key = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), rng).map_err(|_| bad())?;
    let point = key.public_key().as_ref();
    let (x, y) = (
        b64::encode(point.get(1..33).unwrap_or_default()),
        b64::encode(point.get(33..65).unwrap_or_default()),
    );
    // RFC 7638 §3.2: the members in lexicographic order, no whitespace.
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    let thumbprint =
        b64::encode(ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes()).as_ref());
    Ok(AccountRecord {
        v: SCHEMA_VERSION,
        id: new_id(),
        jwk: serde_json::json!({"kty": "EC", "crv": "P-256", "x": x, "y": y}),
        thumbprint,
        contact: Vec::new(),
        status: AccountStatus::Valid,
        created_at: now,
    })
}

/// One finished issuance for `account_id`: (order, authz, certificate).
fn issuance(
    rng: &SystemRandom,
    account_id: &str,
    seq: u64,
    now: i64,
) -> Result<(OrderRecord, AuthzRecord, CertRecord), StoreError> {
    let name = format!("host{seq}.bulk.test");
    let identifier = Identifier {
        kind: "dns".into(),
        value: name,
    };
    let (order_id, authz_id, cert_id) = (new_id(), new_id(), new_id());
    let serial_bytes: [u8; 16] = random(rng, 16)?
        .try_into()
        .map_err(|_| StoreError::Lmdb("random serial".into()))?;
    let serial = (u128::from_be_bytes(serial_bytes) >> 1).to_string();
    let authz = AuthzRecord {
        v: SCHEMA_VERSION,
        id: authz_id.clone(),
        account_id: account_id.into(),
        order_id: order_id.clone(),
        identifier: identifier.clone(),
        wildcard: false,
        status: AuthzStatus::Valid,
        expires: now + 30 * 86_400,
        challenges: vec![ChallengeRecord {
            id: new_id(),
            kind: "http-01".into(),
            token: new_token(),
            status: ChallengeStatus::Valid,
            validated: Some(now),
            error: None,
        }],
    };
    let order = OrderRecord {
        v: SCHEMA_VERSION,
        id: order_id.clone(),
        account_id: account_id.into(),
        status: OrderStatus::Valid,
        expires: now + 7 * 86_400,
        identifiers: vec![identifier],
        not_before: None,
        not_after: None,
        authz_ids: vec![authz_id],
        profile: "server".into(),
        error: None,
        cert_id: Some(cert_id.clone()),
        csr_sha256: Some(b64::encode(&random(rng, 32)?)),
        created_at: now,
        replaces: None,
    };
    let cert = CertRecord {
        v: SCHEMA_VERSION,
        id: cert_id,
        account_id: account_id.into(),
        order_id,
        serial,
        chain_pem: fake_chain(rng)?,
        not_before: now,
        not_after: now + 90 * 86_400,
        revoked: None,
    };
    Ok((order, authz, cert))
}

/// Adds `orders` finished issuances to the store in `dir` (created if needed; the server must
/// not be running on it). Prints progress to stderr.
pub(crate) fn fill(dir: &Path, map_size: usize, orders: u64) -> Result<(), StoreError> {
    let store = Store::open(dir, map_size)?;
    let rng = SystemRandom::new();
    let now = crate::acme::now();
    let mut accounts = Vec::with_capacity(ACCOUNTS);
    for _ in 0..ACCOUNTS {
        accounts.push(account(&rng, now)?);
    }
    let ids: Vec<String> = accounts.iter().map(|a| a.id.clone()).collect();
    smol::block_on(store.write(move |w| {
        for a in &accounts {
            w.put_account(a)?;
        }
        Ok(())
    }))?;
    let start = Instant::now();
    let mut written = 0u64;
    while written < orders {
        let n = (orders - written).min(PER_CLOSURE as u64);
        let mut batch = Vec::with_capacity(PER_CLOSURE);
        for i in 0..n {
            let seq = written + i;
            let account_id = ids
                .get(usize::try_from(seq).unwrap_or(0) % ACCOUNTS)
                .map_or("", String::as_str);
            batch.push(issuance(&rng, account_id, seq, now)?);
        }
        smol::block_on(store.write(move |w| {
            for (order, authz, cert) in &batch {
                w.put_authz(authz)?;
                w.put_cert(cert)?;
                w.put_order(order)?;
            }
            Ok(())
        }))?;
        written += n;
        if written % 100_000 < PER_CLOSURE as u64 || written == orders {
            eprintln!(
                "bench-fill: {written} orders ({:.0}/s)",
                written as f64 / start.elapsed().as_secs_f64().max(0.001)
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The filled store holds exactly the finished issuances asked for, every one reachable
    /// through the same indexes the server uses (RFC 8555 §7.1: order → authorization →
    /// certificate; revocation by serial; account by key thumbprint).
    #[test]
    fn fill_writes_finished_issuances_reachable_through_the_indexes() {
        let dir = std::env::temp_dir().join(format!("upki-ra-bulk-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        // More than one write closure's worth.
        let n = PER_CLOSURE as u64 + 7;
        fill(&dir, 64 << 20, n).unwrap();
        let store = Store::open(&dir, 64 << 20).unwrap();
        store
            .read(|r| {
                let orders = r.orders_in_status(OrderStatus::Valid)?;
                assert_eq!(orders.len() as u64, n);
                for o in orders.iter().step_by(500) {
                    let authz = r.authz(&o.authz_ids[0])?.unwrap();
                    assert_eq!(authz.status, AuthzStatus::Valid);
                    assert_eq!(authz.order_id, o.id);
                    let cert = r.cert(o.cert_id.as_deref().unwrap())?.unwrap();
                    assert_eq!(cert.order_id, o.id);
                    assert_eq!(r.cert_by_serial(&cert.serial)?.unwrap().id, cert.id);
                    assert!(crate::pki::pem_to_ders(&cert.chain_pem).unwrap().len() == 2);
                    let account = r.account(&o.account_id)?.unwrap();
                    let by_key = r.account_by_thumbprint(&account.thumbprint)?.unwrap();
                    assert_eq!(by_key.id, account.id);
                }
                Ok(())
            })
            .unwrap();
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
