//! The ACL facts of the targeted server: which commands are dangerous, admin or scripting,
//! with their categories. Data only, kept apart from the replay ([`super::acl`]) so that
//! the tables can depend on the server family and version: [`forbidden_for_apps`] is the one
//! seam through which the checks read them.

/// Every Redis 7.0.15 command and subcommand in @dangerous, @admin or @scripting, with all of
/// its categories (from `ACL CAT`; a live test compares this table with the real server).
/// Categories overlap, so `-@dangerous +@slow` grants CONFIG SET again: rules are replayed per
/// command, not per category.
pub const FORBIDDEN_FOR_APPS: &[(&str, &[&str])] = &[
    ("acl|deluser", &["admin", "dangerous", "slow"]),
    ("acl|dryrun", &["admin", "dangerous", "slow"]),
    ("acl|getuser", &["admin", "dangerous", "slow"]),
    ("acl|list", &["admin", "dangerous", "slow"]),
    ("acl|load", &["admin", "dangerous", "slow"]),
    ("acl|log", &["admin", "dangerous", "slow"]),
    ("acl|save", &["admin", "dangerous", "slow"]),
    ("acl|setuser", &["admin", "dangerous", "slow"]),
    ("acl|users", &["admin", "dangerous", "slow"]),
    ("bgrewriteaof", &["admin", "dangerous", "slow"]),
    ("bgsave", &["admin", "dangerous", "slow"]),
    ("client|kill", &["admin", "connection", "dangerous", "slow"]),
    ("client|list", &["admin", "connection", "dangerous", "slow"]),
    (
        "client|no-evict",
        &["admin", "connection", "dangerous", "slow"],
    ),
    (
        "client|pause",
        &["admin", "connection", "dangerous", "slow"],
    ),
    (
        "client|unblock",
        &["admin", "connection", "dangerous", "slow"],
    ),
    (
        "client|unpause",
        &["admin", "connection", "dangerous", "slow"],
    ),
    ("cluster|addslots", &["admin", "dangerous", "slow"]),
    ("cluster|addslotsrange", &["admin", "dangerous", "slow"]),
    ("cluster|bumpepoch", &["admin", "dangerous", "slow"]),
    (
        "cluster|count-failure-reports",
        &["admin", "dangerous", "slow"],
    ),
    ("cluster|delslots", &["admin", "dangerous", "slow"]),
    ("cluster|delslotsrange", &["admin", "dangerous", "slow"]),
    ("cluster|failover", &["admin", "dangerous", "slow"]),
    ("cluster|flushslots", &["admin", "dangerous", "slow"]),
    ("cluster|forget", &["admin", "dangerous", "slow"]),
    ("cluster|meet", &["admin", "dangerous", "slow"]),
    ("cluster|replicas", &["admin", "dangerous", "slow"]),
    ("cluster|replicate", &["admin", "dangerous", "slow"]),
    ("cluster|reset", &["admin", "dangerous", "slow"]),
    ("cluster|saveconfig", &["admin", "dangerous", "slow"]),
    ("cluster|set-config-epoch", &["admin", "dangerous", "slow"]),
    ("cluster|setslot", &["admin", "dangerous", "slow"]),
    ("cluster|slaves", &["admin", "dangerous", "slow"]),
    ("config|get", &["admin", "dangerous", "slow"]),
    ("config|resetstat", &["admin", "dangerous", "slow"]),
    ("config|rewrite", &["admin", "dangerous", "slow"]),
    ("config|set", &["admin", "dangerous", "slow"]),
    ("debug", &["admin", "dangerous", "slow"]),
    ("eval", &["scripting", "slow"]),
    ("eval_ro", &["scripting", "slow"]),
    ("evalsha", &["scripting", "slow"]),
    ("evalsha_ro", &["scripting", "slow"]),
    ("failover", &["admin", "dangerous", "slow"]),
    ("fcall", &["scripting", "slow"]),
    ("fcall_ro", &["scripting", "slow"]),
    ("flushall", &["dangerous", "keyspace", "slow", "write"]),
    ("flushdb", &["dangerous", "keyspace", "slow", "write"]),
    ("function|delete", &["scripting", "slow", "write"]),
    ("function|dump", &["scripting", "slow"]),
    ("function|flush", &["scripting", "slow", "write"]),
    ("function|help", &["scripting", "slow"]),
    ("function|kill", &["scripting", "slow"]),
    ("function|list", &["scripting", "slow"]),
    ("function|load", &["scripting", "slow", "write"]),
    ("function|restore", &["scripting", "slow", "write"]),
    ("function|stats", &["scripting", "slow"]),
    ("info", &["dangerous", "slow"]),
    ("keys", &["dangerous", "keyspace", "read", "slow"]),
    ("lastsave", &["admin", "dangerous", "fast"]),
    ("latency|doctor", &["admin", "dangerous", "slow"]),
    ("latency|graph", &["admin", "dangerous", "slow"]),
    ("latency|histogram", &["admin", "dangerous", "slow"]),
    ("latency|history", &["admin", "dangerous", "slow"]),
    ("latency|latest", &["admin", "dangerous", "slow"]),
    ("latency|reset", &["admin", "dangerous", "slow"]),
    ("migrate", &["dangerous", "keyspace", "slow", "write"]),
    ("module|list", &["admin", "dangerous", "slow"]),
    ("module|load", &["admin", "dangerous", "slow"]),
    ("module|loadex", &["admin", "dangerous", "slow"]),
    ("module|unload", &["admin", "dangerous", "slow"]),
    ("monitor", &["admin", "dangerous", "slow"]),
    (
        "pfdebug",
        &["admin", "dangerous", "hyperloglog", "slow", "write"],
    ),
    ("pfselftest", &["admin", "dangerous", "hyperloglog", "slow"]),
    ("psync", &["admin", "dangerous", "slow"]),
    ("replconf", &["admin", "dangerous", "slow"]),
    ("replicaof", &["admin", "dangerous", "slow"]),
    ("restore", &["dangerous", "keyspace", "slow", "write"]),
    (
        "restore-asking",
        &["dangerous", "keyspace", "slow", "write"],
    ),
    ("role", &["admin", "dangerous", "fast"]),
    ("save", &["admin", "dangerous", "slow"]),
    ("script|debug", &["scripting", "slow"]),
    ("script|exists", &["scripting", "slow"]),
    ("script|flush", &["scripting", "slow"]),
    ("script|help", &["scripting", "slow"]),
    ("script|kill", &["scripting", "slow"]),
    ("script|load", &["scripting", "slow"]),
    ("shutdown", &["admin", "dangerous", "slow"]),
    ("slaveof", &["admin", "dangerous", "slow"]),
    ("slowlog|get", &["admin", "dangerous", "slow"]),
    ("slowlog|len", &["admin", "dangerous", "slow"]),
    ("slowlog|reset", &["admin", "dangerous", "slow"]),
    (
        "sort",
        &["dangerous", "list", "set", "slow", "sortedset", "write"],
    ),
    (
        "sort_ro",
        &["dangerous", "list", "read", "set", "slow", "sortedset"],
    ),
    ("swapdb", &["dangerous", "fast", "keyspace", "write"]),
    ("sync", &["admin", "dangerous", "slow"]),
];

/// The ACL categories (`ACL CAT`), the same 21 in Redis 7.0 and 8.0 and Valkey 8.0 and 8.1
/// (a live test compares them with every server). `+@NAME` with any other name (`+@all|x`)
/// makes the server refuse the user, and with it the whole ACL file.
pub const ACL_CATEGORIES: &[&str] = &[
    "admin",
    "bitmap",
    "blocking",
    "connection",
    "dangerous",
    "fast",
    "geo",
    "hash",
    "hyperloglog",
    "keyspace",
    "list",
    "pubsub",
    "read",
    "scripting",
    "set",
    "slow",
    "sortedset",
    "stream",
    "string",
    "transaction",
    "write",
];

/// The forbidden-table entries for the targeted server: Redis 7.0's table above plus what
/// the family and version add ([`crate::server::Facts::forbidden_for_apps`]; Dragonfly
/// accepts Redis 7.0's names).
pub fn forbidden_for_apps(p: &super::Policy) -> Vec<(&'static str, &'static [&'static str])> {
    p.server.forbidden_for_apps()
}

/// The forbidden-table commands the monitoring user may run: what a metrics exporter and a
/// healthcheck read (Dragonfly's ACL file grants `+latency +slowlog` whole: it has no
/// subcommand rules).
/// A trailing `*` matches every subcommand.
pub const MONITORING_MAY_RUN: &[&str] = &[
    "latency|*",
    "info",
    "slowlog|get",
    "slowlog|len",
    "slowlog|reset",
    "memory|stats",
    "memory|doctor",
];
