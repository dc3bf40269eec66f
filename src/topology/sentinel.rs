//! Sentinel rewrites its own config at run time: it adds its id, the replicas and Sentinels it
//! has learnt, epochs, and after a failover moves `sentinel monitor` to the new primary. None
//! of that is drift. A rendered `sentinel.conf` is "the same" as the one on disk when every
//! directive we wrote is still there (the monitored name and quorum, not the address, for
//! `sentinel monitor`); then the file on disk is kept as it is, so `init` and `render` never
//! throw away what Sentinel knows, and `check` reports nothing.

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
/// keep the disk's bytes (Sentinel's additions included) instead of ours.
pub fn keep_rewrites(p: &Prepared, built: &mut Built) -> Result<(), Error> {
    for f in built
        .files
        .iter_mut()
        .filter(|f| layout::is_node_path(&f.rel) && f.rel.ends_with(layout::NODE_SENTINEL_CONF))
    {
        let Some(disk) = p.read(&f.rel)? else {
            continue;
        };
        if covers(&disk, &String::from_utf8_lossy(&f.content)) {
            f.content = disk.into_bytes();
        }
    }
    Ok(())
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
}
