//! `audit --url rediss+sentinel://USER@HOST:PORT[/MASTER]`: ask a Sentinel which servers it
//! watches (`SENTINEL MASTERS`, `SENTINEL SLAVES`: the commands a Sentinel-aware client runs,
//! so the application user may run them) and audit each primary and replica as if its URL
//! had been given. Nodes Sentinel reports down are not reached; the report says so.

use redis::Value;

use super::live::{self, Target};
use crate::error::Error;
use crate::policy::{CHECK_SKIPPED, Finding};

/// The schemes of a Sentinel URL (as Lettuce, go-redis and Kombu spell them, with `+`).
const SCHEMES: [(&str, &str); 2] = [
    ("rediss+sentinel://", "rediss://"),
    ("redis+sentinel://", "redis://"),
];

/// A Sentinel URL: the Sentinel to ask, and the monitored name to follow (all when none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentinelUrl {
    pub sentinel: Target,
    pub master: Option<String>,
}

impl SentinelUrl {
    /// `Some` for a `redis[s]+sentinel://` URL, `None` for any other.
    pub fn parse(url: &str) -> Option<Result<SentinelUrl, Error>> {
        let (prefix, plain) = SCHEMES.iter().find(|(p, _)| url.starts_with(p))?;
        let rest = &url[prefix.len()..];
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let master = Some(path.trim_end_matches('/'))
            .filter(|m| !m.is_empty())
            .map(str::to_owned);
        Some(
            Target::parse(&format!("{plain}{authority}")).and_then(|sentinel| {
                // A name is sent as one argument and shown in the report: printable, no spaces.
                if let Some(m) = &master
                    && !m.chars().all(|c| c.is_ascii_graphic())
                {
                    return Err(Error::Usage {
                        message: format!(
                            "--url: {}: not a monitored name",
                            crate::values::visible(m)
                        ),
                        help: "e.g. --url rediss+sentinel://app@10.0.1.5:26379/mymaster".into(),
                    });
                }
                Ok(SentinelUrl { sentinel, master })
            }),
        )
    }

    /// The URL as given, without any password (there is none: [`Target::parse`] refuses it).
    pub fn shown(&self) -> String {
        let plain = self.sentinel.shown();
        let scheme = if self.sentinel.tls {
            "rediss+sentinel"
        } else {
            "redis+sentinel"
        };
        let rest = plain.split_once("://").map_or(plain.as_str(), |(_, r)| r);
        match &self.master {
            Some(m) => format!("{scheme}://{rest}/{m}"),
            None => format!("{scheme}://{rest}"),
        }
    }
}

/// What a Sentinel said: the URL of every server it reports up (same scheme and user as the
/// Sentinel URL), and a finding for each it reports down.
#[derive(Debug, Default)]
pub struct Discovered {
    pub urls: Vec<String>,
    pub findings: Vec<Finding>,
    /// `primary NAME at HOST:PORT, 2 replicas` per monitored name, for the report.
    pub summary: Vec<String>,
}

/// One instance as `SENTINEL MASTERS`/`SLAVES` lists it.
struct Instance {
    name: String,
    host: String,
    port: String,
    flags: String,
}

impl Instance {
    fn from_reply(v: &Value) -> Instance {
        let fields: Vec<(String, String)> = match v {
            Value::Map(kv) => kv.iter().map(|(k, v)| (text(k), text(v))).collect(),
            Value::Array(items) => items
                .chunks(2)
                .filter_map(|c| match c {
                    [k, v] => Some((text(k), text(v))),
                    _ => None,
                })
                .collect(),
            _ => vec![],
        };
        let field = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        Instance {
            name: field("name"),
            host: field("ip"),
            port: field("port"),
            flags: field("flags"),
        }
    }

    /// Sentinel's view: subjectively or objectively down, or no link to it.
    fn down(&self) -> bool {
        self.flags
            .split(',')
            .any(|f| matches!(f, "s_down" | "o_down" | "disconnected"))
    }

    fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::SimpleString(s) => s.clone(),
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Int(i) => i.to_string(),
        _ => String::new(),
    }
}

fn list(v: Value) -> Vec<Instance> {
    match v {
        Value::Array(items) | Value::Set(items) => items.iter().map(Instance::from_reply).collect(),
        _ => vec![],
    }
}

/// Asks the Sentinel of `url` for the servers it watches.
pub fn discover(url: &SentinelUrl, opts: &live::Options<'_>) -> Result<Discovered, Error> {
    let shown = url.shown();
    let mut con = live::connect(opts, &url.sentinel)?;
    let failed = |what: &str, e: redis::RedisError| {
        Error::Usage {
        message: format!("{shown}: {what}: {e}"),
        help: "the user needs +sentinel|masters and +sentinel|slaves on the Sentinel (the application user of a bundle has them)".into(),
    }
    };
    let masters = list(
        redis::cmd("SENTINEL")
            .arg("MASTERS")
            .query(&mut con)
            .map_err(|e| failed("SENTINEL MASTERS", e))?,
    );
    let masters: Vec<Instance> = masters
        .into_iter()
        .filter(|m| url.master.as_ref().is_none_or(|want| *want == m.name))
        .collect();
    if masters.is_empty() {
        return Err(Error::Usage {
            message: match &url.master {
                Some(m) => format!("{shown}: the Sentinel does not monitor {m}"),
                None => format!("{shown}: the Sentinel monitors nothing"),
            },
            help: "name a monitored primary after the port: rediss+sentinel://USER@HOST:PORT/NAME"
                .into(),
        });
    }
    let scheme = if url.sentinel.tls { "rediss" } else { "redis" };
    let user = url
        .sentinel
        .user
        .as_ref()
        .map(|u| format!("{u}@"))
        .unwrap_or_default();
    let mut found = Discovered::default();
    for m in &masters {
        let mut replicas = list(
            redis::cmd("SENTINEL")
                .arg("SLAVES")
                .arg(&m.name)
                .query(&mut con)
                .map_err(|e| failed("SENTINEL SLAVES", e))?,
        );
        // Sentinel lists them in no stable order; the report should not change between runs.
        replicas.sort_by_key(|r| (r.host.clone(), r.port.parse::<u16>().unwrap_or(0)));
        found.summary.push(format!(
            "{}: primary {}, {} replica{}",
            m.name,
            m.address(),
            replicas.len(),
            if replicas.len() == 1 { "" } else { "s" }
        ));
        for (role, i) in
            std::iter::once(("primary", m)).chain(replicas.iter().map(|r| ("replica", r)))
        {
            if i.down() {
                found.findings.push(Finding {
                    artifact: shown.clone(),
                    rule: CHECK_SKIPPED.id,
                    severity: CHECK_SKIPPED.severity,
                    line: None,
                    text: format!(
                        "{role} {} of {} not audited: Sentinel reports it {}",
                        i.address(),
                        m.name,
                        i.flags
                    ),
                    why: "Sentinel reports the server down, so there is nothing to connect to",
                    fix: "start it (or let Sentinel finish its failover), then audit again",
                });
            } else {
                found.urls.push(format!("{scheme}://{user}{}", i.address()));
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentinel_urls_parse_with_and_without_a_name() {
        let u = SentinelUrl::parse("rediss+sentinel://app@127.0.0.1:26379/cache")
            .unwrap()
            .unwrap();
        assert!(u.sentinel.tls);
        assert_eq!(u.sentinel.port, 26379);
        assert_eq!(u.master.as_deref(), Some("cache"));
        assert_eq!(u.shown(), "rediss+sentinel://app@127.0.0.1:26379/cache");
        let u = SentinelUrl::parse("redis+sentinel://app@localhost:26380")
            .unwrap()
            .unwrap();
        assert!(!u.sentinel.tls);
        assert_eq!(u.master, None);
        assert!(SentinelUrl::parse("rediss://app@localhost:6379").is_none());
    }

    #[test]
    fn a_password_or_a_bad_name_is_refused() {
        assert!(
            SentinelUrl::parse("rediss+sentinel://app:secret@h:26379/x")
                .unwrap()
                .is_err()
        );
        assert!(
            SentinelUrl::parse("rediss+sentinel://app@h:26379/a\nb")
                .unwrap()
                .is_err()
        );
    }

    #[test]
    fn down_instances_are_recognised() {
        let i = |flags: &str| Instance {
            name: "m".into(),
            host: "::1".into(),
            port: "6379".into(),
            flags: flags.into(),
        };
        assert!(i("s_down,slave").down());
        assert!(i("master,disconnected").down());
        assert!(!i("slave").down());
        assert_eq!(i("slave").address(), "[::1]:6379");
    }
}
