//! Identifier JSON → normalised identifier (RFC 8555 §7.1.3–§7.1.4, RFC 8738; security catalog
//! #35–#37, #42), wildcard handling and the identifier policy.
//!
//! Properties: the identifier echoed back parses to the same outcome; normalising the
//! certificate name again is a fixed point; a normal DNS name is lower-case LDH without `*`, a
//! wildcard keeps `*.` only in its certificate name; an IP is in canonical text; the refusal
//! type is unsupportedIdentifier exactly for unknown types; a wildcard is refused when the
//! policy forbids wildcards and the policy only differs on wildcards; finalize's wanted names
//! agree with the normal form.
#![no_main]

use libfuzzer_sys::fuzz_target;
use upki_ra::fuzz_api;

fuzz_target!(|data: &[u8]| {
    let suffixes = vec!["app1.lan".to_string(), "example.test".to_string()];
    let Ok(out) = fuzz_api::identifier(data, &suffixes) else {
        return;
    };
    let again = fuzz_api::identifier(out.echo.as_bytes(), &suffixes).expect("echo refused");
    assert_eq!(again, out, "echo changed the identifier");

    let wanted = fuzz_api::wanted_names(&[(out.kind.clone(), out.value.clone())]);
    match &out.normalized {
        Err((kind, _)) => {
            let unsupported = kind == "urn:ietf:params:acme:error:unsupportedIdentifier";
            assert_eq!(unsupported, out.kind != "dns" && out.kind != "ip");
            if !unsupported {
                assert_eq!(kind, "urn:ietf:params:acme:error:malformed");
            }
            assert!(wanted.is_err());
        }
        Ok(n) => {
            assert_eq!(n.kind, out.kind);
            assert_eq!(
                fuzz_api::normalize(n.kind, &n.cert_name).as_ref(),
                Ok(n),
                "normalising the output again is not a fixed point"
            );
            assert_eq!(wanted, Ok([n.cert_name.clone()].into_iter().collect()));
            match n.ip {
                Some(ip) => {
                    assert_eq!(n.kind, "ip");
                    assert!(!n.wildcard);
                    assert_eq!(ip.to_string(), out.value);
                    assert_eq!(n.cert_name, out.value);
                    assert_eq!(n.authz_value, out.value);
                }
                None => {
                    let name = &n.authz_value;
                    assert!(!name.is_empty() && name.len() <= 253);
                    assert!(name.bytes().all(|b| b.is_ascii_lowercase()
                        || b.is_ascii_digit()
                        || b == b'-'
                        || b == b'.'));
                    assert!(!name.starts_with('.') && !name.ends_with('.'));
                    assert_eq!(
                        name,
                        &out.value.trim_start_matches("*.").to_ascii_lowercase()
                    );
                    if n.wildcard {
                        assert_eq!(n.cert_name, format!("*.{name}"));
                        assert!(name.contains('.'), "wildcard under a top-level label");
                    } else {
                        assert_eq!(&n.cert_name, name);
                    }
                    let base = fuzz_api::normalize("dns", name).expect("base name refused");
                    assert!(!base.wildcard && &base.authz_value == name);
                    let (without, with) = out.policy.clone().expect("DNS names get a policy");
                    if n.wildcard {
                        assert!(without.is_err(), "wildcard allowed by a no-wildcard policy");
                    } else {
                        assert_eq!(without, with);
                    }
                }
            }
        }
    }
});
