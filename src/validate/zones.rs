//! Split-horizon DNS for validation: which recursive servers answer for which zone.
//!
//! On a private network the names under `home.lan` may be known only to the router's DNS, while
//! the rest goes to the usual resolvers. The validator asks the servers of the longest
//! configured zone that contains the name (label-wise: `home.lan` covers `nas.home.lan` and
//! `home.lan`, never `myhome.lan`), and the default servers otherwise. This applies to every
//! lookup the validator makes: A/AAAA for http-01 and tls-alpn-01, TXT for dns-01.

use super::Resolver;

/// The default resolver plus per-zone resolvers.
///
/// Invariant: zone names are lower-case, without leading or trailing dots, and non-empty.
#[derive(Clone, Debug)]
pub(crate) struct Resolvers {
    default: Resolver,
    zones: Vec<(String, Resolver)>,
}

impl Resolvers {
    /// Every name goes to `default`.
    pub(crate) fn new(default: Resolver) -> Resolvers {
        Resolvers {
            default,
            zones: Vec::new(),
        }
    }

    /// Names in `zone` (and the zone itself) go to `resolver`; a zone given twice keeps the
    /// last resolver. The zone text is normalised (case, surrounding dots).
    pub(crate) fn with_zone(mut self, zone: &str, resolver: Resolver) -> Resolvers {
        let zone = zone.trim_matches('.').to_ascii_lowercase();
        if zone.is_empty() {
            self.default = resolver;
            return self;
        }
        self.zones.retain(|(z, _)| *z != zone);
        self.zones.push((zone, resolver));
        self
    }

    /// The resolver for `name`: the longest matching zone's, else the default.
    pub(crate) fn for_name(&self, name: &str) -> &Resolver {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        self.zones
            .iter()
            .filter(|(zone, _)| in_zone(&name, zone))
            .max_by_key(|(zone, _)| zone.len())
            .map_or(&self.default, |(_, r)| r)
    }
}

/// Whether `name` is `zone` or below it, on a label boundary (both lower-case, no final dot).
pub(crate) fn in_zone(name: &str, zone: &str) -> bool {
    name == zone
        || name
            .strip_suffix(zone)
            .is_some_and(|head| head.ends_with('.'))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::net::SocketAddr;
    use std::time::Duration;

    use super::*;

    fn resolver(port: u16) -> Resolver {
        Resolver::new(
            vec![SocketAddr::from(([127, 0, 0, 1], port))],
            Duration::from_secs(1),
        )
    }

    fn port_of(r: &Resolver) -> String {
        format!("{r:?}")
    }

    // Longest-suffix match on label boundaries; everything else goes to the default.
    #[test]
    fn longest_zone_wins_on_label_boundaries() {
        let r = Resolvers::new(resolver(1))
            .with_zone("lan", resolver(2))
            .with_zone(".Home.LAN.", resolver(3));
        assert_eq!(port_of(r.for_name("nas.home.lan")), port_of(&resolver(3)));
        assert_eq!(port_of(r.for_name("home.lan.")), port_of(&resolver(3)));
        assert_eq!(port_of(r.for_name("myhome.lan")), port_of(&resolver(2)));
        assert_eq!(port_of(r.for_name("x.LAN")), port_of(&resolver(2)));
        assert_eq!(port_of(r.for_name("example.org")), port_of(&resolver(1)));
        assert_eq!(
            port_of(r.for_name("lan.example.org")),
            port_of(&resolver(1))
        );
    }

    #[test]
    fn in_zone_edges() {
        assert!(in_zone("a.b", "b"));
        assert!(in_zone("b", "b"));
        assert!(!in_zone("ab", "b"));
        assert!(!in_zone("b", "a.b"));
    }
}
