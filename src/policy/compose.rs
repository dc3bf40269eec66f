//! Compose files: parsed as one YAML document with unique keys, each service checked for
//! what takes a container out of Docker's confinement, and for ports published to all.

use super::dragonfly_flags::absl_bool;
use super::{Findings, rules::*};

/// The 1-based line of `key:` under the service `service` of a compose file, or the first
/// line that mentions `key`.
fn compose_line(content: &str, service: &str, key: &str) -> Option<usize> {
    let lines: Vec<&str> = content.lines().collect();
    let is_key = |l: &str, k: &str| {
        let t = l.trim_start().trim_start_matches("- ");
        let t = t.trim_matches(|c| c == '"' || c == '\'');
        t.starts_with(k)
            && t[k.len()..]
                .trim_start_matches(['"', '\''])
                .starts_with(':')
    };
    let start = lines.iter().position(|l| is_key(l, service)).unwrap_or(0);
    lines[start..]
        .iter()
        .position(|l| is_key(l, key))
        .map(|i| start + i + 1)
        .or_else(|| lines.iter().position(|l| l.contains(key)).map(|i| i + 1))
}

/// The rules a compose file can break.
pub const RULES: &[Rule] = &[COMPOSE_HARDENING, COMPOSE_PUBLISH];

pub fn check(content: &str, f: &mut Findings<'_>) {
    // docker-compose's parser and ours must read the same document: refuse what they might
    // read differently (duplicate keys: one may keep the first, the other the last).
    let options = serde_saphyr::options! {
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::Error,
    };
    let doc = match serde_saphyr::from_str_with_options::<serde_json::Value>(content, options) {
        Ok(doc) => doc,
        Err(e) => {
            // Not the parser's message: it may quote the file, secrets included.
            let line = e
                .location()
                .and_then(|l| usize::try_from(l.line()).ok())
                .filter(|&n| n > 0);
            f.add(
                COMPOSE_HARDENING,
                line,
                "the file does not parse as one YAML document with unique keys: it cannot be checked",
            );
            return;
        }
    };
    check_networks(content, &doc, f);
    let Some(services) = doc.get("services").and_then(|s| s.as_object()) else {
        return;
    };
    for (name, svc) in services {
        check_compose_service(content, name, svc, f);
        // Published ports: "HOST:CONTAINER", "IP:HOST:CONTAINER", or the long syntax.
        for port in svc
            .get("ports")
            .and_then(|p| p.as_array())
            .into_iter()
            .flatten()
        {
            let (text, host_ip) = match port {
                serde_json::Value::String(s) => (s.clone(), short_syntax_host_ip(s)),
                serde_json::Value::Number(n) => (n.to_string(), None),
                serde_json::Value::Object(o) => (
                    serde_json::Value::Object(o.clone()).to_string(),
                    o.get("host_ip").and_then(|v| v.as_str()).map(str::to_owned),
                ),
                _ => continue,
            };
            let open = host_ip
                .as_deref()
                .is_none_or(|ip| matches!(ip, "0.0.0.0" | "::" | "[::]" | ""));
            if open {
                let line = content
                    .lines()
                    .position(|l| l.contains(text.as_str()))
                    .map(|i| i + 1);
                f.add(
                    COMPOSE_PUBLISH,
                    line,
                    &format!("services.{name}.ports: {text}"),
                );
            }
        }
    }
}

/// What takes a container out of Docker's confinement: the host's network namespace,
/// privileged mode, added capabilities, root.
fn check_compose_service(content: &str, name: &str, svc: &serde_json::Value, f: &mut Findings<'_>) {
    let mut problems = shared_namespaces(svc);
    problems.extend(escalations(svc));
    problems.extend(missing_confinement(svc));
    problems.extend(root_user(svc));
    for (key, shown) in problems {
        f.add(
            COMPOSE_HARDENING,
            compose_line(content, name, key),
            &format!("services.{name}.{key}: {}", crate::values::visible(&shown)),
        );
    }
}

/// A compose boolean as Docker reads it (`true`, `"yes"`, `"on"`, `1`).
fn truthy(v: &serde_json::Value) -> bool {
    use serde_json::Value;
    match v {
        Value::Bool(b) => *b,
        Value::String(s) => absl_bool(s) == Some(true) || s.eq_ignore_ascii_case("on"),
        Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
        _ => false,
    }
}

/// Namespaces shared with the host, or with another container (which may be in the host's).
fn shared_namespaces(svc: &serde_json::Value) -> Vec<(&'static str, String)> {
    let shared = |v: &str| {
        let v = v.trim();
        v == "host" || v.starts_with("service:") || v.starts_with("container:")
    };
    ["network_mode", "pid", "ipc", "userns_mode"]
        .into_iter()
        .filter_map(|key| {
            let mode = svc.get(key).and_then(serde_json::Value::as_str)?;
            shared(mode).then(|| (key, mode.to_owned()))
        })
        .collect()
}

/// Privileged mode, added capabilities and host devices.
fn escalations(svc: &serde_json::Value) -> Vec<(&'static str, String)> {
    use serde_json::Value;
    let mut problems = vec![];
    if let Some(v) = svc.get("privileged").filter(|v| truthy(v)) {
        problems.push(("privileged", v.to_string()));
    }
    let non_empty = |v: Option<&Value>| match v {
        None | Some(Value::Null) => false,
        Some(Value::Array(items)) => !items.is_empty(),
        Some(Value::String(s)) => !s.trim().is_empty(),
        Some(_) => true,
    };
    for key in ["cap_add", "devices"] {
        if non_empty(svc.get(key)) {
            problems.push((key, svc[key].to_string()));
        }
    }
    problems
}

/// What the built-in template sets must stay set: left out, Docker's default is weaker.
fn missing_confinement(svc: &serde_json::Value) -> Vec<(&'static str, String)> {
    use serde_json::Value;
    let mut problems = vec![];
    if !svc.get("read_only").is_some_and(truthy) {
        let shown = svc.get("read_only");
        problems.push((
            "read_only",
            shown.map_or("missing (a writable image)".into(), Value::to_string),
        ));
    }
    let drops_all = match svc.get("cap_drop") {
        Some(Value::Array(caps)) => caps.iter().any(|c| {
            c.as_str()
                .is_some_and(|c| c.trim().eq_ignore_ascii_case("ALL"))
        }),
        Some(Value::String(s)) => s.trim().eq_ignore_ascii_case("ALL"),
        _ => false,
    };
    if !drops_all {
        problems.push((
            "cap_drop",
            svc.get("cap_drop").map_or(
                "missing (Docker's default capabilities)".into(),
                Value::to_string,
            ),
        ));
    }
    if !no_new_privileges(svc) {
        problems.push((
            "security_opt",
            svc.get("security_opt")
                .map_or("missing (no-new-privileges off)".into(), Value::to_string),
        ));
    }
    problems
}

/// `no-new-privileges`, `no-new-privileges:true` or `=true`; the last one wins.
fn no_new_privileges(svc: &serde_json::Value) -> bool {
    use serde_json::Value;
    svc.get("security_opt")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter_map(|o| {
            let o = o.trim();
            let rest = o.strip_prefix("no-new-privileges")?;
            match rest.strip_prefix([':', '=']) {
                None if rest.is_empty() => Some(true),
                Some(v) => Some(absl_bool(v) == Some(true)),
                None => None,
            }
        })
        .next_back()
        .unwrap_or(false)
}

/// `user: USER[:GROUP]`: uid 0 or root is root, and so is gid 0 or the group root; no
/// `user:` at all is the image's user, root.
fn root_user(svc: &serde_json::Value) -> Option<(&'static str, String)> {
    use serde_json::Value;
    let user = match svc.get("user") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Some(("user", "missing (the image's user: root)".into())),
    };
    let root = |who: &str| {
        let who = who.trim();
        who == "root" || (!who.is_empty() && who.bytes().all(|b| b == b'0'))
    };
    let mut parts = user.trim().splitn(2, ':');
    let (who, group) = (parts.next().unwrap_or(""), parts.next());
    (who.trim().is_empty() || root(who) || group.is_some_and(root)).then_some(("user", user))
}

/// Networks that must stay internal: one set `internal: false` reaches out of the host.
fn check_networks(content: &str, doc: &serde_json::Value, f: &mut Findings<'_>) {
    let Some(networks) = doc.get("networks").and_then(|n| n.as_object()) else {
        return;
    };
    for (name, net) in networks {
        let internal = net.get("internal");
        let off = match internal {
            Some(serde_json::Value::Bool(b)) => !b,
            Some(serde_json::Value::String(s)) => absl_bool(s) == Some(false),
            _ => false,
        };
        if off {
            f.add(
                COMPOSE_HARDENING,
                compose_line(content, name, "internal"),
                &format!("networks.{name}.internal: false"),
            );
        }
    }
}

/// The host IP of a short-syntax port mapping, if it names one.
fn short_syntax_host_ip(s: &str) -> Option<String> {
    let s = s.split('/').next().unwrap_or(s);
    if let Some(rest) = s.strip_prefix('[') {
        return rest.split_once(']').map(|(ip, _)| ip.to_owned());
    }
    let parts: Vec<&str> = s.split(':').collect();
    (parts.len() == 3).then(|| parts[0].to_owned())
}
