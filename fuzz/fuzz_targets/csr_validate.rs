//! DER CSR → validated CSR (RFC 2986; RFC 8555 §7.4; security catalog #49–#54) and finalize's
//! names check against a fixed order (dns app1.lan, dns www.app1.lan, ip 10.0.0.5, ip fd00::5).
//!
//! Properties: every refusal is a 400 problem; an accepted CSR is exactly the input (strict DER,
//! no trailing bytes), its PEM (as stored in the issuance intent) reads back to the same DER, validation is deterministic, and the
//! names check passes only when the CSR names (SANs plus CN) are exactly the order's names.
#![no_main]

use std::collections::BTreeSet;

use libfuzzer_sys::fuzz_target;
use upki_ra::fuzz_api;

fn order() -> Vec<(String, String)> {
    [
        ("dns", "app1.lan"),
        ("dns", "www.app1.lan"),
        ("ip", "10.0.0.5"),
        ("ip", "fd00::5"),
    ]
    .iter()
    .map(|(t, v)| (t.to_string(), v.to_string()))
    .collect()
}

fuzz_target!(|data: &[u8]| {
    let order = order();
    let csr = match fuzz_api::validate_csr(data, &order) {
        Ok(c) => c,
        Err((status, kind, _)) => {
            assert_eq!(status, 400);
            assert!(kind.starts_with("urn:ietf:params:acme:error:"));
            return;
        }
    };
    assert_eq!(csr.der, data, "accepted CSR differs from the input");
    assert_eq!(
        fuzz_api::csr_pem_to_der(&csr.pem),
        Ok(("CERTIFICATE REQUEST".to_owned(), csr.der.clone()))
    );
    assert_eq!(fuzz_api::validate_csr(&csr.der, &order), Ok(csr.clone()));
    assert_eq!(csr.spki_der.first(), Some(&0x30));
    if csr.names.is_ok() {
        let mut names: BTreeSet<String> = csr
            .dns_names
            .iter()
            .map(|n| n.to_ascii_lowercase())
            .collect();
        names.extend(csr.ip_addrs.iter().map(|ip| ip.to_string()));
        let wanted = fuzz_api::wanted_names(&order).expect("the fixed order is valid");
        if let Some(cn) = &csr.common_name {
            let cn = match cn.parse::<std::net::IpAddr>() {
                Ok(ip) => ip.to_string(),
                Err(_) => cn.to_ascii_lowercase(),
            };
            assert!(wanted.contains(&cn), "CN {cn:?} outside the order");
            if !names.is_empty() {
                assert!(names.contains(&cn));
            }
            names.insert(cn);
        }
        assert_eq!(names, wanted, "names check passed with other names");
    }
});
