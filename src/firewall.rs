//! What the firewall templates (nftables, iptables, ip6tables, ufw) are rendered from: the
//! profile's source lists split by address family, since an nftables set, iptables and
//! ip6tables each take one family.

use serde::Serialize;

use crate::profile::{EnvProfile, Environment};
use crate::values::Cidr;

/// The firewall's view of a profile, for the templates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Context {
    pub data_port: u16,
    pub exporter_port: u16,
    /// The nftables table and the iptables chain. They are named after the environment, not
    /// the port: after a port change, reloading replaces the old rules instead of leaving
    /// them in the kernel, while staging beside production on one host each keep their own.
    pub table: String,
    pub chain: String,
    pub ipv4: Family,
    pub ipv6: Family,
}

/// The sources of one address family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Family {
    /// "IPv4" or "IPv6", for comments.
    pub name: &'static str,
    /// The command that loads this family's rules file.
    pub command: &'static str,
    /// May reach the data port.
    pub app: Vec<String>,
    /// May reach the data port and the exporter port.
    pub monitoring: Vec<String>,
}

impl Context {
    pub fn new(p: &EnvProfile, env: Environment) -> Self {
        let data_port = p.redis.port.get();
        let split = |v6: bool| -> [Vec<String>; 2] {
            [&p.firewall.app_cidrs, &p.firewall.monitoring_cidrs].map(|list| {
                let mut out: Vec<String> = vec![];
                for cidr in list.iter().filter(|c| is_v6(c) == v6) {
                    let s = cidr.to_string();
                    // A repeated source would be a repeated rule; keep the first.
                    if !out.contains(&s) {
                        out.push(s);
                    }
                }
                out
            })
        };
        let [app4, mon4] = split(false);
        let [app6, mon6] = split(true);
        Context {
            data_port,
            exporter_port: p.firewall.exporter_port.get(),
            table: format!("redis_harden_{}", env.name()),
            chain: format!("REDIS-HARDEN-{}", env.name().to_uppercase()),
            ipv4: Family {
                name: "IPv4",
                command: "iptables",
                app: app4,
                monitoring: mon4,
            },
            ipv6: Family {
                name: "IPv6",
                command: "ip6tables",
                app: app6,
                monitoring: mon6,
            },
        }
    }
}

fn is_v6(cidr: &Cidr) -> bool {
    matches!(cidr.net(), ipnet::IpNet::V6(_))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::builtin;

    #[test]
    fn sources_are_split_by_family_and_deduplicated() {
        let mut p = builtin(Environment::Production);
        let c = |s: &str| Cidr::parse(s).unwrap();
        p.firewall.app_cidrs = vec![c("192.0.2.0/24"), c("2001:db8::/32"), c("192.0.2.0/24")];
        p.firewall.monitoring_cidrs = vec![c("198.51.100.7")];
        let ctx = Context::new(&p, Environment::Production);
        assert_eq!(ctx.ipv4.app, ["192.0.2.0/24"]);
        assert_eq!(ctx.ipv6.app, ["2001:db8::/32"]);
        assert_eq!(ctx.ipv4.monitoring, ["198.51.100.7/32"]);
        assert!(ctx.ipv6.monitoring.is_empty());
        assert_eq!(
            (ctx.table.as_str(), ctx.chain.as_str()),
            ("redis_harden_production", "REDIS-HARDEN-PRODUCTION")
        );
        assert_eq!((ctx.data_port, ctx.exporter_port), (6379, 9121));
    }
}
