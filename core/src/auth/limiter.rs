//! Keys of the rate-limit counters (kept by the store:
//! [`Store::hit_counter`](crate::store::Store::hit_counter), so every node
//! sharing a store shares them).
//!
//! A key is `<kind>:<hex of SHA-256 over its parts>`: fixed length, no
//! request text (an email) in a store key, and no way for one kind's parts
//! to collide with another's.

use std::net::IpAddr;

use sha2::{Digest, Sha256};

/// How a client address is counted: an IPv4 address as itself; an IPv6
/// address by its /64 (one host usually holds a whole /64, so counting
/// single addresses would let it rotate through 2^64 of them). IPv4-mapped
/// IPv6 addresses count as their IPv4 address.
pub(crate) fn client_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// The counter key of `kind` (`signin-email`, `signup-addr`, ...) over
/// `parts`.
pub(crate) fn counter_key(kind: &str, parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p.as_bytes());
    }
    let digest = h.finalize();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{kind}:{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_keyed_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:ffff".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(c));
        assert_eq!(client_key(a), "2001:db8:1:2::/64");
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(client_key(v4), "192.0.2.7");
        assert_eq!(client_key(mapped), client_key(v4));
        assert_ne!(client_key("192.0.2.8".parse().unwrap()), client_key(v4));
    }

    #[test]
    fn keys_are_fixed_length_and_do_not_collide_across_parts() {
        let a = counter_key("signin", &["ab", "c"]);
        let b = counter_key("signin", &["a", "bc"]);
        assert_ne!(a, b);
        assert_ne!(a, counter_key("signup", &["ab", "c"]));
        assert_eq!(a.len(), "signin:".len() + 64);
        assert!(!counter_key("signin", &["ada@example.com"]).contains('@'));
    }
}
