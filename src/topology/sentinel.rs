//! Sentinel rewrites its own config at run time: it adds its id, the replicas and Sentinels it
//! has learnt, epochs, and after a failover moves `sentinel monitor` to the new primary. None
//! of that is drift. A rendered `sentinel.conf` is "the same" as the one on disk when every
//! directive we wrote is still there (the monitored name and quorum, not the address, for
//! `sentinel monitor`); then the file on disk is kept as it is, so `init` and `render` never
//! throw away what Sentinel knows, and `check` reports nothing.
//!
//! When a line of ours did change (a rotation's new `auth-pass`, a new port), the file is
//! rendered anew but keeps Sentinel's run-time state from the disk: its `myid` (a Sentinel
//! whose id changes looks like a new Sentinel to its peers, which keep the old one listed),
//! the epochs, the replicas and Sentinels it knows, and the primary's current address when
//! it is still one of the topology's data nodes (after a failover).

use crate::build::Built;
use crate::error::Error;
use crate::inputs::Prepared;
use crate::policy::{Directive, parse_redis_conf};

use super::layout;

/// Whether `disk` still holds every directive of `ours`.
pub fn covers(disk: &str, ours: &str) -> bool {
    let disk = parse_redis_conf(disk);
    parse_redis_conf(ours).iter().all(|d| has(&disk, d))
}

fn has(disk: &[Directive], want: &Directive) -> bool {
    let monitor = |d: &Directive| {
        d.name == "sentinel"
            && d.args
                .first()
                .is_some_and(|a| a.eq_ignore_ascii_case("monitor"))
    };
    if monitor(want) {
        // sentinel monitor NAME IP PORT QUORUM: the address follows failovers.
        return disk.iter().any(|d| {
            monitor(d)
                && d.args.len() == want.args.len()
                && d.args.get(1) == want.args.get(1)
                && d.args.last() == want.args.last()
        });
    }
    disk.iter()
        .any(|d| d.name == want.name && d.args == want.args)
}

/// For each Sentinel's config: where the file on disk still holds every line we rendered,
/// keep the disk's bytes (Sentinel's additions included) instead of ours; otherwise ours
/// with the disk's run-time state ([`merge`]).
pub fn keep_rewrites(p: &Prepared, built: &mut Built) -> Result<(), Error> {
    let data: Vec<(String, String)> = super::nodes(&p.resolved.settings)
        .iter()
        .filter(|n| n.role.is_data())
        .map(|n| (n.ip.to_string(), n.port.to_string()))
        .collect();
    for f in built
        .files
        .iter_mut()
        .filter(|f| layout::is_node_path(&f.rel) && f.rel.ends_with(layout::NODE_SENTINEL_CONF))
    {
        let Some(disk) = p.read(&f.rel)? else {
            continue;
        };
        let ours = String::from_utf8_lossy(&f.content).into_owned();
        f.content = if covers(&disk, &ours) {
            disk.into_bytes()
        } else {
            merge(&disk, &ours, &data).into_bytes()
        };
    }
    Ok(())
}

/// The `sentinel` sub-directives that are Sentinel's own state, never written by us.
const STATE: &[&str] = &[
    "myid",
    "current-epoch",
    "config-epoch",
    "leader-epoch",
    "known-replica",
    "known-slave",
    "known-sentinel",
];

/// A token Sentinel writes in its state lines (ids, epochs, names, addresses): anything else
/// on the disk is not carried over, so an edited file cannot smuggle a directive in.
fn plain(arg: &str) -> bool {
    !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".:-_".contains(&b))
}

/// `ours` with Sentinel's run-time state from `disk`: the primary's address in `sentinel
/// monitor` when the disk's is one of `data` (ip, port) and names the same primary, and the
/// state lines (ids, epochs, known replicas and Sentinels) about this Sentinel and the
/// primary `ours` monitors, appended at the end.
pub fn merge(disk: &str, ours: &str, data: &[(String, String)]) -> String {
    let ours_d = parse_redis_conf(ours);
    let disk_d = parse_redis_conf(disk);
    let sub = |d: &Directive, what: &str| {
        d.name == "sentinel" && d.args.first().is_some_and(|a| a.eq_ignore_ascii_case(what))
    };
    let Some(monitor) = ours_d.iter().find(|d| sub(d, "monitor")) else {
        return ours.to_owned();
    };
    let master = &monitor.args[1];
    let moved = disk_d.iter().find_map(|d| {
        (sub(d, "monitor")
            && d.args.len() == 5
            && &d.args[1] == master
            && data.contains(&(d.args[2].clone(), d.args[3].clone())))
        .then(|| (d.args[2].clone(), d.args[3].clone()))
    });
    let mut out: Vec<String> = ours
        .lines()
        .enumerate()
        .map(|(i, line)| match &moved {
            Some((ip, port)) if i + 1 == monitor.line && monitor.args.len() == 5 => {
                format!("sentinel monitor {master} {ip} {port} {}", monitor.args[4])
            }
            _ => line.to_owned(),
        })
        .collect();
    let state: Vec<String> = disk_d
        .iter()
        .filter(|d| {
            d.name == "sentinel"
                && d.args.len() >= 2
                && STATE.iter().any(|s| d.args[0].eq_ignore_ascii_case(s))
                && d.args.iter().all(|a| plain(a))
                // Lines about a primary name that `ours` no longer monitors are dropped.
                && (matches!(d.args[0].to_ascii_lowercase().as_str(), "myid" | "current-epoch")
                    || &d.args[1] == master)
        })
        .map(|d| format!("sentinel {}", d.args.join(" ")))
        .collect();
    if !state.is_empty() {
        out.push(String::new());
        out.push(
            "# Sentinel's run-time state, kept by redis-harden when it rewrote this file.".into(),
        );
        out.extend(state);
    }
    let mut text = out.join("\n");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const OURS: &str = "port 0\ntls-port 26379\nsentinel monitor app 127.0.0.1 6379 2\n\
                        sentinel auth-pass app \"pw\"\n";

    #[test]
    fn sentinel_additions_and_a_moved_primary_are_not_drift() {
        let disk = "port 0\ntls-port 26379\nsentinel monitor app 127.0.0.1 6380 2\n\
                    sentinel auth-pass app pw\nsentinel myid abc\nsentinel known-replica app 127.0.0.1 6379\n";
        assert!(covers(disk, OURS));
    }

    #[test]
    fn a_changed_line_of_ours_is_drift() {
        for disk in [
            "port 0\ntls-port 26380\nsentinel monitor app 127.0.0.1 6379 2\nsentinel auth-pass app pw\n",
            "port 0\ntls-port 26379\nsentinel monitor app 127.0.0.1 6379 1\nsentinel auth-pass app pw\n",
            "port 0\ntls-port 26379\nsentinel monitor other 127.0.0.1 6379 2\nsentinel auth-pass app pw\n",
            "port 0\ntls-port 26379\nsentinel monitor app 127.0.0.1 6379 2\n",
        ] {
            assert!(!covers(disk, OURS), "{disk}");
        }
    }

    #[test]
    fn a_changed_line_keeps_sentinels_state() {
        let disk = "port 0\ntls-port 26379\nsentinel monitor app 127.0.0.1 6380 2\n\
                    sentinel auth-pass app old\nprotected-mode no\nsentinel myid abc123\n\
                    sentinel config-epoch app 3\nsentinel leader-epoch app 3\n\
                    sentinel known-replica app 127.0.0.1 6379\n\
                    sentinel known-sentinel app 127.0.0.1 26380 def456\n\
                    sentinel known-replica gone 127.0.0.1 6379\n\
                    sentinel known-sentinel app 127.0.0.1 26381 \"x\\nport 1\"\n\
                    sentinel current-epoch 3\n";
        let data = [
            ("127.0.0.1".to_owned(), "6379".to_owned()),
            ("127.0.0.1".to_owned(), "6380".to_owned()),
        ];
        let merged = merge(disk, OURS, &data);
        assert_eq!(
            merged,
            "port 0\ntls-port 26379\nsentinel monitor app 127.0.0.1 6380 2\n\
             sentinel auth-pass app \"pw\"\n\n\
             # Sentinel's run-time state, kept by redis-harden when it rewrote this file.\n\
             sentinel myid abc123\nsentinel config-epoch app 3\nsentinel leader-epoch app 3\n\
             sentinel known-replica app 127.0.0.1 6379\n\
             sentinel known-sentinel app 127.0.0.1 26380 def456\nsentinel current-epoch 3\n"
        );
        // Rendered again over the merged file: nothing changes, nothing is drift.
        assert!(covers(&merged, OURS));
        // A primary address that is not one of the topology's data nodes is not kept.
        let merged = merge(disk, OURS, &data[..1]);
        assert!(
            merged.contains("sentinel monitor app 127.0.0.1 6379 2\n"),
            "{merged}"
        );
        // Nothing on the disk: ours unchanged.
        assert_eq!(merge("", OURS, &data), OURS);
    }
}
