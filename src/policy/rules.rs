//! The rule table: every rule the gate, `check` and both audits apply, with its id (stable:
//! `--allow-insecure ID` names one), severity, why it matters and how to fix it.

use super::Severity;

/// A named rule. Ids are stable: `--allow-insecure ID` names one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub id: &'static str,
    pub severity: Severity,
    pub why: &'static str,
    pub fix: &'static str,
    /// Where it can be broken: in a file (and, where the server shows the setting, live), or
    /// only on a running server.
    pub scope: Scope,
}

/// Where a rule is checked. Which file formats and which live settings check a
/// [`Scope::Files`] rule is not written here: it follows from the check tables of each
/// format ([`super::checked_in`]), so the docs cannot claim a check that does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Files,
    LiveOnly,
}

macro_rules! rules {
    ($($name:ident = $id:literal, $sev:ident, $why:literal, $fix:literal;)*
     @live $($lname:ident = $lid:literal, $lsev:ident, $lwhy:literal, $lfix:literal;)*) => {
        $(pub const $name: Rule = Rule { id: $id, severity: Severity::$sev, why: $why, fix: $fix, scope: Scope::Files };)*
        $(pub const $lname: Rule = Rule { id: $lid, severity: Severity::$lsev, why: $lwhy, fix: $lfix, scope: Scope::LiveOnly };)*
        /// Every rule, static and live: one table for the gate, `check`, both audits and the
        /// docs (docs/policy.md is generated from it).
        pub const RULES: &[Rule] = &[$($name,)* $($lname),*];
    };
}

rules! {
    PLAINTEXT_PORT = "plaintext-port", High,
        "a plaintext listener sends passwords and data unencrypted",
        "set `port 0` and serve clients on `tls-port`";
    PLAINTEXT_BIND = "plaintext-bind", High,
        "plaintext Redis reachable from the network exposes passwords and data",
        "bind the plaintext port to 127.0.0.1 / ::1 only";
    TLS_PROTOCOLS = "tls-protocols", High,
        "older TLS versions than the policy allows weaken every connection",
        "set `tls-protocols` to the versions of the environment's policy";
    TLS_AUTH_CLIENTS = "tls-auth-clients", High,
        "without client certificates anyone with a password (or a leaked one) can connect",
        "set `tls-auth-clients yes`";
    PROTECTED_MODE = "protected-mode", Medium,
        "protected mode is the last guard against an accidentally open server",
        "set `protected-mode yes`";
    DEBUG_COMMAND = "debug-command", High,
        "DEBUG can crash the server and read memory",
        "set `enable-debug-command no`";
    MODULE_COMMAND = "module-command", High,
        "MODULE LOAD runs arbitrary native code inside the server",
        "set `enable-module-command no`";
    PROTECTED_CONFIGS = "protected-configs", Medium,
        "protected configs (dir, dbfilename...) let CONFIG SET write files anywhere the server can",
        "set `enable-protected-configs no`";
    ACLFILE = "aclfile", High,
        "without an ACL file users and permissions are not under the deployment's control",
        "set `aclfile` to the bundle's users.acl";
    USER_IN_CONF = "user-in-conf", Medium,
        "Redis refuses to start with both `user` lines and an aclfile, and inline users drift",
        "move users into the ACL file";
    PASSWORD_IN_CONF = "password-in-conf", High,
        "a plaintext password in a config file is readable by anyone who can read the file",
        "use ACL users with #<sha256> hashes instead of requirepass/masterauth (primaryauth in Valkey)";
    DEFAULT_USER = "default-user", Critical,
        "an enabled default user lets unauthenticated connections run commands",
        "write `user default off` in the ACL file";
    ACL_PLAINTEXT_PASSWORD = "acl-plaintext-password", High,
        "a plaintext (>password) or missing (nopass) password in an ACL file gives the user away",
        "store passwords as #<sha256> hashes";
    APP_PERMISSIONS = "app-permissions", High,
        "an application user with dangerous, admin or scripting commands can wipe, reconfigure or script the server",
        "add -@dangerous -@admin -@scripting to the user's rules";
    BIND_ALL = "bind-all-interfaces", High,
        "listening on every interface without a firewall exposes the server to every network the host joins",
        "bind to the addresses clients use, or list firewall.app_cidrs";
    DRAGONFLY_HTTP = "dragonfly-http-console", Critical,
        "Dragonfly's HTTP console on the data port can read and change every flag, passwords included",
        "set `--primary_port_http_enabled=false`";
    DRAGONFLY_ADMIN = "dragonfly-admin-port", High,
        "the admin port bypasses ACLs",
        "remove --admin_port, or bind it to 127.0.0.1 with --admin_nopass=false";
    INCLUDE = "include-directive", High,
        "an included file adds directives this check never sees",
        "inline the settings; the whole configuration must be in the checked file";
    COMPOSE_PUBLISH = "compose-published-port", High,
        "a port published on all interfaces bypasses host firewalls (Docker inserts its own rules)",
        "publish on 127.0.0.1 only, or not at all";
    RENAME_COMMAND = "rename-command", Low,
        "a renamed command is hidden, not denied: its new name sits in the config, renaming to \"\" takes it from admins too, and renaming one an application uses (DEL, PEXPIRE) breaks it",
        "deny commands per user in the ACL file (-@dangerous -@admin -@scripting) and drop `rename-command`";
    WEAK_CIPHERS = "weak-ciphers", High,
        "a cipher list that admits NULL, anonymous, export, RC4, DES/3DES or MD5 ciphers lets a TLS connection be read or forged; TLS 1.3's TLS_AES_128_CCM_8_SHA256 has an 8-byte authentication tag (RFC 8446 and IANA do not recommend it), and Redis negotiates it when `tls-ciphersuites` lists it",
        "set `tls-ciphers` and `tls-ciphersuites` to the environment's Mozilla lists (no ALL, NULL, aNULL, eNULL, EXPORT, RC4, DES, 3DES, MD5 or CCM_8)";
    TLS_REPLICATION = "tls-replication", Medium,
        "with `tls-replication no` a replica talks to its primary in plaintext: the whole dataset and the replication password cross the network unencrypted",
        "set `tls-replication yes`";
    APP_SCRIPTING = "app-scripting", Low,
        "the application user may run Lua scripts (acl.app.scripting): scripting is how CVE-2022-0543 and CVE-2025-49844 reached the server",
        "turn acl.app.scripting off unless a client needs it (redis-py Lock, Celery, rate limiters); keep the server patched";
    MONITORING_PERMISSIONS = "monitoring-permissions", High,
        "the monitoring user's password sits in exporters and healthchecks: with key access or commands beyond INFO, LATENCY, SLOWLOG and MEMORY STATS/DOCTOR a leak of it reads data or changes the server",
        "give monitoring `resetkeys resetchannels -@all +ping +info +dbsize +latency|latest +latency|history +latency|histogram +slowlog|get +slowlog|len +client|setname +memory|stats` and nothing more";
    COMPOSE_HARDENING = "compose-hardening", High,
        "a container that shares the host's (or another container's) network, PID, IPC or user namespace, is privileged, has devices or added capabilities, keeps Docker's default capabilities, may gain privileges, has a writable image, runs as root (user or group) or joins a non-internal network is not confined by Docker; and a compose file that does not parse (or repeats a key) may be read differently by docker-compose than by this check",
        "keep what the built-in template sets: user (not root, not group 0), read_only: true, cap_drop: [ALL], security_opt: [no-new-privileges:true], an internal network; no network_mode/pid/ipc/userns_mode host or service:, privileged, devices or cap_add; no duplicate keys";
    DRAGONFLY_UNAUTHENTICATED = "dragonfly-unauthenticated-listener", Critical,
        "Dragonfly's memcached port and unix socket skip authentication: anyone who reaches them reads and writes every key",
        "set `--memcached_port=0` and remove `--unixsocket`";
    DRAGONFLY_TLS12 = "dragonfly-tls12", Low,
        "Dragonfly has no flag to refuse TLS 1.2: the policy allows only TLS 1.3, but this server still accepts TLS 1.2 clients (with the ciphers in --tls_ciphers)",
        "keep --tls_ciphers to ECDHE with AEAD ciphers only; use Redis where TLS 1.2 must be refused";
    UNIX_SOCKET = "unix-socket", High,
        "a unix socket skips TLS and client certificates: anyone who can open it (unixsocketperm decides who) needs only a password",
        "remove `unixsocket` (and `unixsocketperm`); clients connect over TLS";
    TRUST_ANCHOR = "trust-anchor", Medium,
        "a CA other than the bundle's own (`tls-ca-cert-dir`, or `tls-ca-cert-file` elsewhere) lets in client certificates that CA issued",
        "verify clients with the bundle's tls/ca.crt only: drop `tls-ca-cert-dir`, keep `tls-ca-cert-file` as rendered";
    DEFAULT_USER_PASSWORD = "default-user-password", Medium,
        "the default user is on with a password: every client that skips AUTH names is that user, usually with every permission",
        "turn the default user off and give each client its own user";
    DRAGONFLY_VERSION_CHECK = "dragonfly-version-check", Medium,
        "Dragonfly's version check (on by default) calls out to the vendor's server from the database host, telling it the host and version",
        "set `--version_check=false`";
    UNLOADABLE_LINE = "unloadable-line", High,
        "redis-server refuses to start on this line (a quote it does not accept, the wrong number of arguments, or an ACL category it does not know, such as `+@all|x`): the config cannot be judged as the server would read it, and the server would not run",
        "write the line as redis.conf allows: quotes closed and followed by a space, one value per setting (`port 0`, `replicaof HOST PORT`), ACL categories as `ACL CAT` lists them";
    UNKNOWN_COMMAND = "unknown-command", High,
        "an ACL rule names a command or subcommand the targeted server (or Sentinel) does not have: the server refuses the user, and with it the whole ACL file or config, so it does not start (`ACL LOAD` keeps the old users); and a typo in a `-` rule (`-flushal`) was never the restriction it was meant to be. Module commands count only where the module is built in (Redis 8.0's vector sets)",
        "spell the command as `COMMAND LIST` of the targeted version lists it (the finding names the nearest one), or target the version that has it (`--engine`, `--set server.version=...`)";
    MEMORY_LIMIT = "memory-limit", Medium,
        "`maxmemory 0` removes the memory limit (Redis loads it: 0 means unlimited): the data set grows until the kernel's OOM killer stops the server, or another process on the host, and the eviction policy never applies; a client that may write can exhaust the host's memory",
        "set `maxmemory` to a size (the profile's `redis.maxmemory`, which refuses 0 for the same reason)";
    DATA_DIR = "data-dir", Medium,
        "a `dir` in a directory every local user may write (/tmp, /var/tmp, /dev/shm; Redis loads it) lets another user plant or replace the RDB and AOF files the server writes and reloads, or read them; systemd's PrivateTmp would also hide them from backups",
        "point `dir` at the bundle's data directory (owned by the server's user, mode 0700)";
    UNKNOWN_DIRECTIVE = "unknown-directive", High,
        "the targeted server version does not know this directive and refuses to start (Redis 8.0 gets partway into startup first): a config written for another version",
        "remove it, or target the version that has it (`--engine`, `--set server.version=...`; see docs/servers.md)";
    USER_DATA_IN_LOG = "user-data-in-log", Low,
        "with `hide-user-data-from-log no` crash reports and assertion logs print keys and values, and log files are read by more people than the data (Redis 8.0's default)",
        "set `hide-user-data-from-log yes`";
    KUBERNETES_HARDENING = "kubernetes-hardening", High,
        "a pod that is privileged, may run as root or escalate privileges, keeps capabilities, has a writable root file system, runs unconfined by seccomp, shares the node's network, PID or IPC namespace, mounts a host path or the service account token is not confined by Kubernetes; and a manifest that does not parse (or repeats a key) may be read differently by kubectl than by this check",
        "keep what the built-in k8s templates set: runAsNonRoot: true, a non-zero runAsUser, privileged: false, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities.drop: [ALL], seccompProfile RuntimeDefault, automountServiceAccountToken: false; no hostNetwork/hostPID/hostIPC or hostPath";
    @live
    UNAUTHENTICATED = "unauthenticated-access", Critical,
        "the server ran a command for a connection that never authenticated",
        "write `user default off` in the ACL file and reload it (ACL LOAD)";
    SERVER_CERT = "server-certificate", High,
        "the certificate the server presents does not verify against the CA for this host name: careful clients refuse it, careless ones can be intercepted",
        "install a certificate issued by the deployment's CA for this name (`redis-harden rotate certs`)";
    CERT_EXPIRY = "certificate-expiry", Medium,
        "when the server certificate expires every TLS client is refused",
        "re-issue it before then (`redis-harden rotate certs`) and reload: CONFIG SET tls-cert-file with the same path";
    TLS_HANDSHAKE = "tls-handshake", High,
        "no TLS handshake succeeded: clients cannot reach the server securely",
        "check tls-port, tls-cert-file and tls-protocols, and that the URL names the TLS port";
    TLS_VERSION_REFUSED = "tls-version-refused", Low,
        "the policy allows this TLS version but the server refuses it: clients limited to it cannot connect",
        "set `tls-protocols` to the versions of the environment's policy";
    UNKNOWN_SERVER = "unsupported-server", Low,
        "the live server is not a family and version redis-harden has measured (or not the one named on the command line): the checks that depend on the version used the nearest rules or were skipped",
        "audit with a supported version (docs/servers.md), or add the version's facts to redis-harden";
    CHECK_SKIPPED = "check-skipped", Info,
        "this check could not run with the connecting user's permissions",
        "run the audit as a user that may run ACL DRYRUN, ACL GETUSER and CONFIG GET (an admin user) to cover it";
}

/// A rule a file can break, by id: what `--allow-insecure ID` may name (a live-only rule
/// has nothing to accept in a bundle).
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id && r.scope == Scope::Files)
}
