//! ACL files: rules replayed in order, per command, the way Redis 7.0's `ACL SETUSER`
//! applies them (and Dragonfly's ACL file, which spells the keyword `USER`).

use super::acl_tables::{ACL_CATEGORIES, MONITORING_MAY_RUN, forbidden_for_apps};
use super::redis_conf::redact_user_args;
use super::{Findings, Policy, rules::*};

/// The rules an ACL file can break.
pub const RULES: &[Rule] = &[
    DEFAULT_USER,
    DEFAULT_USER_PASSWORD,
    ACL_PLAINTEXT_PASSWORD,
    APP_PERMISSIONS,
    APP_SCRIPTING,
    MONITORING_PERMISSIONS,
    UNLOADABLE_LINE,
    UNKNOWN_COMMAND,
];

/// Replays an ACL file (Redis's users.acl or Dragonfly's ACL file) user by user.
pub fn check(content: &str, p: &Policy, f: &mut Findings<'_>) {
    let mut saw_default = false;
    for (i, raw) in content.lines().enumerate() {
        // Redis splits ACL file lines on spaces (no quoting: `"+@all"` is a syntax error that
        // makes it refuse the whole file); Dragonfly on whitespace.
        let tokens: Vec<&str> = raw.split_whitespace().collect();
        if tokens.len() < 2 || !tokens[0].eq_ignore_ascii_case("user") {
            continue;
        }
        let (name, rules) = (tokens[1], &tokens[2..]);
        saw_default |= name == "default";
        let shown = redact_user_args(tokens[0], &tokens[1..]);
        check_user(f, p, Some(i + 1), name, rules, &shown);
        check_commands(
            f,
            p,
            Some(i + 1),
            name,
            rules,
            sentinel_acl_file(f.artifact),
        );
    }
    if !saw_default {
        f.add(
            DEFAULT_USER,
            None,
            "no `user default` line: Redis and Dragonfly create default as `on nopass +@all`",
        );
    }
}

/// The checks of one ACL user, from an ACL file or a `user` line of redis.conf. `shown` is
/// the line with its passwords redacted.
pub fn check_user<S: AsRef<str>>(
    f: &mut Findings<'_>,
    p: &Policy,
    line: Option<usize>,
    name: &str,
    rules: &[S],
    shown: &str,
) {
    // Keywords, commands and categories are case-insensitive; user names are not.
    let rules: Vec<String> = rules
        .iter()
        .map(|t| t.as_ref().to_ascii_lowercase())
        .collect();
    let on = rules.iter().fold(false, |on, r| match r.as_str() {
        "on" => true,
        "off" | "reset" => false,
        _ => on,
    });
    if rules.iter().any(|r| r.starts_with('>') || r == "nopass") {
        f.add(ACL_PLAINTEXT_PASSWORD, line, shown);
    }
    // Redis refuses a category it does not know (`+@all|x`: categories have no
    // subcommands) and with it the whole ACL file: the server does not start.
    let dragonfly = f.artifact.starts_with("dragonfly");
    if rules.iter().any(|r| unknown_category(r, dragonfly)) {
        f.add(UNLOADABLE_LINE, line, shown);
    }
    if name == "default" && on {
        // Replayed: `nopass` forgets the passwords, `resetpass` forgets everything.
        let has_password = rules.iter().fold(false, |has, r| match r.as_str() {
            "nopass" | "resetpass" | "reset" => false,
            r if r.starts_with('>') || r.starts_with('#') => true,
            _ => has,
        });
        let rule = if has_password {
            DEFAULT_USER_PASSWORD
        } else {
            DEFAULT_USER
        };
        f.add(rule, line, shown);
    }
    if !on {
        return;
    }
    if name == "monitoring" {
        if !monitoring_confined(&rules, p) {
            f.add(MONITORING_PERMISSIONS, line, shown);
        }
    } else if let Some(allowed) = crate::topology::users::may_run(name) {
        // A topology's service user (replication, Sentinel, cluster creation): exactly the
        // forbidden-table commands it was measured to need, nothing else.
        if grants_forbidden(&rules, p, &|cmd| allowed.contains(&cmd)) {
            f.add(APP_PERMISSIONS, line, shown);
        }
    } else if is_confined_user(name) {
        if grants_forbidden(&rules, p, &app_scripting_command) {
            f.add(APP_PERMISSIONS, line, shown);
        } else if grants_forbidden(&rules, p, &|_| false) {
            f.add(APP_SCRIPTING, line, shown);
        }
    }
}

/// A Sentinel's ACL file, by its name (`sentinel-users.acl`): a Sentinel has a command table
/// of its own. An ACL file of another name is judged as a data server's.
fn sentinel_acl_file(artifact: &str) -> bool {
    let base = artifact.rsplit('/').next().unwrap_or(artifact);
    base.to_ascii_lowercase().starts_with("sentinel")
}

/// Every command rule of a user (`+get`, `-flushall`, `+config|get`, also inside selectors)
/// must name a command or subcommand of the targeted server (a Sentinel's, when `sentinel`):
/// the server refuses the user otherwise, and with it the whole file, so it does not start.
/// A typo in a `-` rule is then no restriction at all. Dragonfly's ACL file is not judged:
/// its command table was not measured (no Dragonfly server here).
pub fn check_commands<S: AsRef<str>>(
    f: &mut Findings<'_>,
    p: &Policy,
    line: Option<usize>,
    name: &str,
    rules: &[S],
    sentinel: bool,
) {
    if f.artifact.starts_with("dragonfly") {
        return;
    }
    let table = p.server.commands(sentinel);
    let server = if sentinel {
        format!("{} Sentinel", p.server.label())
    } else {
        p.server.label()
    };
    for rule in rules {
        // Selectors (`(+get ~x)`) hold command rules too; Redis merges their tokens first.
        let rule = rule.as_ref().to_ascii_lowercase();
        let rule = rule.trim_start_matches('(').trim_end_matches(')');
        let (plus, body) = match rule.split_at_checked(1) {
            Some(("+", body)) => (true, body),
            Some(("-", body)) => (false, body),
            _ => continue,
        };
        if body.starts_with('@') {
            continue;
        }
        if let Err(refused) = table.judge(plus, body) {
            let sign = if plus { "+" } else { "-" };
            let hint = if sentinel && p.server.commands(false).judge(plus, body).is_ok() {
                " (a data server's command: a Sentinel runs only its own)".to_owned()
            } else {
                refused.hint(sign, plus, body, sentinel)
            };
            f.add(
                UNKNOWN_COMMAND,
                line,
                &format!(
                    "user {}: {sign}{}: {server} {}{hint}",
                    crate::values::visible(name),
                    crate::values::visible(body),
                    refused.why
                ),
            );
        }
    }
}

/// `+@NAME` or `-@NAME` (lowercase) where NAME is neither `all` nor an ACL category (of
/// Dragonfly, in its ACL file: it has four more, for its own modules).
fn unknown_category(rule: &str, dragonfly: bool) -> bool {
    const DRAGONFLY_EXTRA: &[&str] = &["bloom", "ft_search", "json", "throttle"];
    rule.strip_prefix("+@")
        .or_else(|| rule.strip_prefix("-@"))
        .is_some_and(|cat| {
            cat != "all"
                && !ACL_CATEGORIES.contains(&cat)
                && !(dragonfly && DRAGONFLY_EXTRA.contains(&cat))
        })
}

/// Users whose permissions must stay confined: the application user and any extra user.
/// (`monitoring` is confined more tightly, by [`monitoring_confined`].)
fn is_confined_user(name: &str) -> bool {
    !matches!(name, "default" | "admin" | "monitoring")
}

/// Whether the monitoring user may run `cmd` ([`MONITORING_MAY_RUN`]).
fn monitoring_may_run(cmd: &str) -> bool {
    MONITORING_MAY_RUN
        .iter()
        .any(|m| cmd == *m || m.strip_suffix('*').is_some_and(|p| cmd.starts_with(p)))
}

/// Whether the monitoring user's rules, replayed in order, leave it without key or channel
/// access, without selectors, and with no forbidden-table command but those it needs.
fn monitoring_confined(rules: &[String], p: &Policy) -> bool {
    let keys = rules.iter().fold(false, |keys, r| match r.as_str() {
        "allkeys" => true,
        "resetkeys" | "reset" => false,
        r if r.starts_with('~') || (r.starts_with('%') && r.contains('~')) => true,
        _ => keys,
    });
    let channels = rules.iter().fold(false, |channels, r| match r.as_str() {
        "allchannels" => true,
        "resetchannels" | "reset" => false,
        r if r.starts_with('&') => true,
        _ => channels,
    });
    let selectors = rules.iter().any(|r| r.starts_with('('));
    !keys
        && !channels
        && !selectors
        && forbidden_for_apps(p)
            .iter()
            .all(|(cmd, cats)| monitoring_may_run(cmd) || !grants(rules, cmd, cats))
}

/// Replays a user's command rules in order, for every dangerous, admin or scripting command,
/// and reports whether any of them ends up allowed. Selectors (`(...)`) add permissions of
/// their own, so an application user may not have any.
fn grants_forbidden(rules: &[String], p: &Policy, except: &dyn Fn(&str) -> bool) -> bool {
    rules.iter().any(|r| r.starts_with('('))
        || forbidden_for_apps(p)
            .iter()
            .any(|(cmd, cats)| !except(cmd) && grants(rules, cmd, cats))
}

/// What `acl.app.scripting` grants: running Lua scripts, nothing that manages them
/// server-wide (FUNCTION, SCRIPT FLUSH/KILL/DEBUG).
fn app_scripting_command(cmd: &str) -> bool {
    matches!(
        cmd,
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "script|load" | "script|exists"
    )
}

/// Whether `rules` (lowercase), replayed in order as Redis 7.0's ACL SETUSER does, leave the
/// forbidden-table entry `cmd` (`flushall`, `config|set`) with its categories allowed.
///
/// `+X|Y` where X has subcommands grants just that subcommand. Where X has none (FLUSHALL,
/// SHUTDOWN, REPLICAOF...), `+X|Y` is a "first-arg" rule: Redis 7.0 accepts it (with a
/// deprecation warning) and lets the user run X with first argument Y, so `+flushall|async`
/// grants FLUSHALL. `-X|Y` is then an error Redis refuses, and revokes nothing.
fn grants(rules: &[String], cmd: &str, cats: &[&str]) -> bool {
    let (base, has_sub) = match cmd.split_once('|') {
        Some((base, _)) => (base, true),
        None => (cmd, false),
    };
    rules.iter().fold(false, |allowed, r| match r.as_str() {
        "allcommands" | "+@all" => true,
        "nocommands" | "-@all" | "reset" => false,
        _ => {
            let Some((plus, body)) = r
                .strip_prefix('+')
                .map(|b| (true, b))
                .or_else(|| r.strip_prefix('-').map(|b| (false, b)))
            else {
                return allowed;
            };
            let hit = match (body.strip_prefix('@'), body.split_once('|')) {
                (Some(cat), _) => cats.contains(&cat),
                // `+config` grants every CONFIG subcommand; `-flushall` revokes FLUSHALL and
                // every first-arg rule of it.
                (None, None) => body == base,
                // `+config|set` grants just that one.
                (None, Some(_)) if has_sub => body == cmd,
                // `+flushall|async`: a first-arg rule grants the command; `-flushall|async`
                // is refused by Redis and changes nothing.
                (None, Some((b, first_arg))) => plus && b == base && !first_arg.is_empty(),
            };
            if hit { plus } else { allowed }
        }
    })
}
