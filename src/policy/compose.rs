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
    use serde_json::Value;
    let truthy = |v: &Value| match v {
        Value::Bool(b) => *b,
        Value::String(s) => absl_bool(s) == Some(true) || s.eq_ignore_ascii_case("on"),
        Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
        _ => false,
    };
    let mut flag = |key: &str, shown: String| {
        f.add(
            COMPOSE_HARDENING,
            compose_line(content, name, key),
            &format!("services.{name}.{key}: {}", crate::values::visible(&shown)),
        );
    };
    if let Some(mode) = svc.get("network_mode").and_then(Value::as_str)
        && mode.trim() == "host"
    {
        flag("network_mode", mode.to_owned());
    }
    if let Some(v) = svc.get("privileged").filter(|v| truthy(v)) {
        flag("privileged", v.to_string());
    }
    let added = match svc.get("cap_add") {
        None | Some(Value::Null) => false,
        Some(Value::Array(caps)) => !caps.is_empty(),
        Some(Value::String(s)) => !s.trim().is_empty(),
        Some(_) => true,
    };
    if added {
        flag("cap_add", svc["cap_add"].to_string());
    }
    let user = match svc.get("user") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    if let Some(user) = user {
        // `user: USER[:GROUP]`: uid 0 or the name root is root, whatever the group.
        let who = user.trim().split(':').next().unwrap_or("").trim();
        if who == "root" || (!who.is_empty() && who.bytes().all(|b| b == b'0')) {
            flag("user", user);
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
