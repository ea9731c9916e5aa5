//! Validated scalar types parsed once at the edge: object names, e-mail
//! addresses, human durations and IP rules. Their serialized form is the
//! canonical one, so comparing two serializations never shows false drift.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::load::recover;

/// Implements Serialize/Deserialize/JsonSchema through `FromStr`/`Display`.
/// A parse failure is reported to the loader's recovery sink (so every problem
/// of a document is collected) and otherwise becomes a serde error.
macro_rules! string_scalar {
    ($ty:ty, $placeholder:expr, $schema:expr) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                match raw.parse::<$ty>() {
                    Ok(v) => Ok(v),
                    Err(msg) => {
                        if recover::report(msg.clone()) {
                            Ok($placeholder)
                        } else {
                            Err(serde::de::Error::custom(msg))
                        }
                    }
                }
            }
        }
        impl JsonSchema for $ty {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($ty).into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                $schema
            }
            fn inline_schema() -> bool {
                true
            }
        }
    };
}

/// The name of an object (`metadata.name`) or a reference to one: lowercase
/// letters, digits, `-` and `.`, starting and ending alphanumeric, ≤ 63 chars.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(String);

impl Name {
    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Name {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.';
        let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if s.is_empty() {
            return Err("a name must not be empty".into());
        }
        if s.len() > 63 || !s.chars().all(ok_char) || !edge(s.chars().next()) || !edge(s.chars().last()) {
            return Err(format!(
                "invalid name {s:?}: expected at most 63 lowercase letters, digits, '-' or '.', starting and ending with a letter or digit"
            ));
        }
        Ok(Name(s.to_string()))
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::borrow::Borrow<str> for Name {
    fn borrow(&self) -> &str {
        &self.0
    }
}

string_scalar!(
    Name,
    Name("invalid".into()),
    schemars::json_schema!({
        "type": "string",
        "maxLength": 63,
        "pattern": "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
    })
);

/// An e-mail address, stored lowercase (addresses compare case-insensitively).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Email(String);

impl Email {
    /// The address as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The part before `@`.
    pub fn local_part(&self) -> &str {
        self.0.split('@').next().unwrap_or_default()
    }
    /// The part after `@`.
    pub fn domain(&self) -> &str {
        self.0.rsplit('@').next().unwrap_or_default()
    }
}

impl FromStr for Email {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let lower = s.trim().to_lowercase();
        let valid = match lower.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty() && check_domain(domain).is_ok() && !lower.chars().any(char::is_whitespace)
            }
            None => false,
        };
        if valid {
            Ok(Email(lower))
        } else {
            Err(format!("invalid e-mail address {s:?}: expected local@domain.tld"))
        }
    }
}

/// Checks a DNS domain name as organizations verify them: at least two
/// dot-separated labels of ASCII letters, digits and `-` (not at a label's
/// edge), each at most 63 characters, 253 in all. The error says what is
/// wrong without a prefix, for callers to put in context.
pub fn check_domain(s: &str) -> Result<(), String> {
    if s.contains("://") {
        return Err("write the domain alone, without a scheme or a path (e.g. acme.example)".into());
    }
    if s.contains('*') {
        return Err("wildcards are not domains; list each domain (e.g. acme.example)".into());
    }
    let labels: Vec<&str> = s.split('.').collect();
    if labels.iter().any(|l| l.is_empty()) {
        return Err("a domain has no empty labels (no leading, trailing or doubled dots)".into());
    }
    let label_ok = |l: &str| {
        l.len() <= 63
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if labels.len() < 2 || s.len() > 253 || !labels.iter().all(|l| label_ok(l)) {
        return Err(
            "expected a domain name such as acme.example: two or more dot-separated labels of letters, digits and '-'"
                .into(),
        );
    }
    Ok(())
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.0)
    }
}

string_scalar!(
    Email,
    Email("invalid@invalid.invalid".into()),
    schemars::json_schema!({ "type": "string", "format": "email" })
);

/// A human duration (`30m`, `12h`, `45d`), held in seconds and written in the
/// largest unit that divides it exactly, so `720h` and `30d` compare equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(u64);

/// Units accepted when parsing; weeks are read but written as days.
const UNITS: [(&str, u64); 5] = [("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)];
/// Units used when writing, largest first.
const DISPLAY_UNITS: [(&str, u64); 4] = [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)];

impl Duration {
    /// A duration of this many seconds.
    pub fn from_secs(secs: u64) -> Self {
        Duration(secs)
    }
    /// The length in seconds.
    pub fn as_secs(&self) -> u64 {
        self.0
    }
}

impl FromStr for Duration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "invalid duration {s:?}: expected a number and a unit (s, m, h, d, w), e.g. 30m, 12h, 45d"
            )
        };
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let (num, unit) = t.split_at(split);
        let n: u64 = num.parse().map_err(|_| bad())?;
        let mult = UNITS
            .iter()
            .find(|(u, _)| *u == unit)
            .map(|(_, m)| *m)
            .ok_or_else(bad)?;
        n.checked_mul(mult).map(Duration).ok_or_else(bad)
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("0s");
        }
        let (unit, mult) = DISPLAY_UNITS
            .iter()
            .find(|(_, m)| self.0.is_multiple_of(*m))
            .copied()
            .unwrap_or(("s", 1));
        write!(f, "{}{}", self.0 / mult, unit)
    }
}

string_scalar!(
    Duration,
    Duration(0),
    schemars::json_schema!({
        "type": "string",
        "pattern": "^[0-9]+(s|m|h|d|w)$",
        "description": "A duration: a number and a unit (s, m, h, d, w), e.g. 30m, 12h, 45d."
    })
);

/// An allowed-IP rule: a CIDR block (`10.0.0.0/8`), a single address, or an
/// inclusive range (`192.0.2.10-192.0.2.20`) with low ≤ high.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IpRule {
    /// A network in CIDR notation (normalized to its network address).
    Cidr(ipnet::IpNet),
    /// An inclusive range of addresses of one family.
    Range(IpAddr, IpAddr),
}

impl IpRule {
    /// True when the address falls inside this rule. An IPv4-mapped IPv6
    /// address (`::ffff:192.0.2.1`) is the IPv4 address it carries, as rules
    /// are normalized when parsed: validation and sign-in checks agree.
    pub fn contains(&self, ip: &IpAddr) -> bool {
        let ip = ip.to_canonical();
        match self {
            IpRule::Cidr(net) => net.contains(&ip),
            IpRule::Range(lo, hi) => *lo <= ip && ip <= *hi && lo.is_ipv4() == ip.is_ipv4(),
        }
    }
}

/// A network written with an IPv4-mapped IPv6 address (`::ffff:203.0.113.0/120`)
/// as the IPv4 network it covers (`203.0.113.0/24`); others unchanged. Only
/// prefixes of 96 bits or more lie wholly inside the mapped block.
fn canonical_net(net: ipnet::IpNet) -> ipnet::IpNet {
    match net {
        ipnet::IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96)
                .map(ipnet::IpNet::V4)
                .unwrap_or(net),
            None => net,
        },
        other => other,
    }
}

impl FromStr for IpRule {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if let Some((lo, hi)) = t.split_once('-') {
            let parse = |p: &str| {
                p.trim()
                    .parse::<IpAddr>()
                    .map(|ip| ip.to_canonical())
                    .map_err(|_| format!("invalid IP range {s:?}: {:?} is not an IP address", p.trim()))
            };
            let (lo, hi) = (parse(lo)?, parse(hi)?);
            if lo.is_ipv4() != hi.is_ipv4() {
                return Err(format!(
                    "invalid IP range {s:?}: both ends must be of the same IP version"
                ));
            }
            if lo > hi {
                return Err(format!(
                    "invalid IP range {s:?}: the low end {lo} is above the high end {hi}"
                ));
            }
            return Ok(IpRule::Range(lo, hi));
        }
        if t.contains('/') {
            let net = t.parse::<ipnet::IpNet>().map_err(|_| {
                format!("invalid CIDR {s:?}: expected an address and a prefix length, e.g. 10.0.0.0/8")
            })?;
            // Truncating silently would allow a different network than the
            // one the author probably meant (a typo in the prefix or the address).
            if net.addr() != net.network() {
                return Err(format!(
                    "invalid CIDR {s:?}: the address has bits set beyond the /{} prefix; did you mean \"{}\"?",
                    net.prefix_len(),
                    IpRule::Cidr(canonical_net(net.trunc()))
                ));
            }
            return Ok(IpRule::Cidr(canonical_net(net)));
        }
        t.parse::<IpAddr>()
            .map(|ip| IpRule::Cidr(ipnet::IpNet::from(ip.to_canonical())))
            .map_err(|_| {
                format!("invalid IP rule {s:?}: expected a CIDR (10.0.0.0/8), an address, or a range (a-b)")
            })
    }
}

impl fmt::Display for IpRule {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            IpRule::Cidr(net) if net.prefix_len() == net.max_prefix_len() => write!(f, "{}", net.addr()),
            IpRule::Cidr(net) => write!(f, "{net}"),
            IpRule::Range(lo, hi) => write!(f, "{lo}-{hi}"),
        }
    }
}

string_scalar!(
    IpRule,
    IpRule::Cidr(ipnet::IpNet::from(IpAddr::from([0, 0, 0, 0]))),
    schemars::json_schema!({
        "type": "string",
        "description": "A CIDR (10.0.0.0/8), a single address, or an inclusive range (192.0.2.10-192.0.2.20)."
    })
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_normalize_to_largest_exact_unit() {
        assert_eq!("720h".parse::<Duration>().unwrap().to_string(), "30d");
        assert_eq!("90m".parse::<Duration>().unwrap().to_string(), "90m");
        assert_eq!("120m".parse::<Duration>().unwrap().to_string(), "2h");
        assert!("12".parse::<Duration>().is_err());
        assert!("12y".parse::<Duration>().is_err());
    }

    #[test]
    fn emails_compare_case_insensitively() {
        assert_eq!(
            "Alice@Acme.Example".parse::<Email>().unwrap().as_str(),
            "alice@acme.example"
        );
        assert!("alice".parse::<Email>().is_err());
        assert!("alice@acme..example".parse::<Email>().is_err());
        assert!("alice@*.example".parse::<Email>().is_err());
    }

    #[test]
    fn ip_rules_parse_cidrs_addresses_and_ranges() {
        assert_eq!(
            "10.1.2.3/8".parse::<IpRule>().unwrap_err(),
            "invalid CIDR \"10.1.2.3/8\": the address has bits set beyond the /8 prefix; did you mean \"10.0.0.0/8\"?"
        );
        assert_eq!("10.0.0.0/8".parse::<IpRule>().unwrap().to_string(), "10.0.0.0/8");
        assert_eq!("192.0.2.1".parse::<IpRule>().unwrap().to_string(), "192.0.2.1");
        let r: IpRule = "192.0.2.10-192.0.2.20".parse().unwrap();
        assert!(r.contains(&"192.0.2.15".parse().unwrap()));
        assert!("192.0.2.20-192.0.2.10".parse::<IpRule>().is_err());
        assert!("10.0.0.0/33".parse::<IpRule>().is_err());
    }

    #[test]
    fn ipv4_mapped_rules_are_the_ipv4_rules_they_carry() {
        let net: IpRule = "::ffff:203.0.113.0/120".parse().unwrap();
        assert_eq!(net.to_string(), "203.0.113.0/24");
        assert!(net.contains(&"203.0.113.5".parse().unwrap()));
        assert!(net.contains(&"::ffff:203.0.113.5".parse().unwrap()));
        assert_eq!(
            "::ffff:192.0.2.1".parse::<IpRule>().unwrap().to_string(),
            "192.0.2.1"
        );
        let range: IpRule = "::ffff:192.0.2.10-192.0.2.20".parse().unwrap();
        assert_eq!(range.to_string(), "192.0.2.10-192.0.2.20");
        assert_eq!(
            "::ffff:203.0.113.1/120".parse::<IpRule>().unwrap_err(),
            "invalid CIDR \"::ffff:203.0.113.1/120\": the address has bits set beyond the /120 prefix; did you mean \"203.0.113.0/24\"?"
        );
        // Plain IPv6 networks stay IPv6.
        assert_eq!(
            "2001:db8::/32".parse::<IpRule>().unwrap().to_string(),
            "2001:db8::/32"
        );
    }
}
