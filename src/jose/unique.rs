//! Duplicate member names in JSON (security catalog #15): RFC 7515 §5.2 step 4 says a JWS whose
//! protected header repeats a Header Parameter name MUST be rejected, and RFC 8259 §4 leaves the
//! meaning of a repeated name to each parser ("last one wins" in most). Typed serde structs
//! already refuse a repeated *known* field; this walk refuses a repeated name of any member, at
//! any depth, so that no two parsers can read one text two ways.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// Whether `json` is one JSON text in which no object repeats a member name. Invalid JSON is
/// `false` too (the caller reports its own parse error first).
pub(crate) fn has_unique_members(json: &[u8]) -> bool {
    serde_json::from_slice::<Unique>(json).is_ok()
}

/// A JSON value that was checked to have no repeated member names (nothing is kept).
struct Unique;

impl<'de> Deserialize<'de> for Unique {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Unique, D::Error> {
        d.deserialize_any(UniqueVisitor)
    }
}

struct UniqueVisitor;

impl<'de> Visitor<'de> for UniqueVisitor {
    type Value = Unique;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value without repeated member names")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Unique, E> {
        Ok(Unique)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Unique, E> {
        Ok(Unique)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Unique, E> {
        Ok(Unique)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Unique, E> {
        Ok(Unique)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Unique, E> {
        Ok(Unique)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Unique, E> {
        Ok(Unique)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Unique, A::Error> {
        while seq.next_element::<Unique>()?.is_some() {}
        Ok(Unique)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Unique, A::Error> {
        let mut seen = HashSet::new();
        while let Some(name) = map.next_key::<String>()? {
            if !seen.insert(name) {
                return Err(de::Error::custom("repeated member name"));
            }
            map.next_value::<Unique>()?;
        }
        Ok(Unique)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Security catalog #15: a repeated name at any depth, known to our structs or not.
    #[test]
    fn catalog_15_repeated_member_names() {
        for ok in [
            &br#"{}"#[..],
            br#"{"a":1,"b":{"a":1},"c":[{"a":1},{"a":2}]}"#,
            br#"[1,"x",null,true,1.5,-3,{"a":{}}]"#,
            br#""just a string""#,
        ] {
            assert!(has_unique_members(ok), "{}", String::from_utf8_lossy(ok));
        }
        for bad in [
            &br#"{"a":1,"a":1}"#[..],
            br#"{"alg":"none","alg":"ES256"}"#,
            br#"{"x":{"k":1,"k":2}}"#,
            br#"[{"identifiers":[],"identifiers":[]}]"#,
            br#"{"a":1,"\u0061":2}"#,
            br#"{"a":1"#,
        ] {
            assert!(!has_unique_members(bad), "{}", String::from_utf8_lossy(bad));
        }
    }
}
