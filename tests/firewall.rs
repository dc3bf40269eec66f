//! The firewall rules `init` writes (`firewall/nftables.nft`, `iptables.rules`,
//! `ip6tables.rules`, `ufw.sh`), proven by the real tools: `nft -c` and `iptables-restore
//! --test` check every file, real ufw runs the script against a private copy of its state, and
//! two live tests load the rules into network namespaces made here, with a real
//! `redis-server` behind them, and show that an allowed source connects and a denied one
//! does not.
//!
//! Network namespaces need root. All traffic stays inside the namespaces a test creates, on
//! addresses from the documentation ranges 192.0.2.0/24 and 198.51.100.0/24; every namespace
//! is removed when its test ends, failed or not.

use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use redis_harden::profile::Environment;
use redis_harden::render::{self, Target};

use crate::support::netns::{Lab, cmd, ok, output};
use crate::support::{Bundle, require};

const ENVS: [&str; 4] = ["production", "staging", "development", "testing"];

/// Both address families, overlapping nothing, in both lists.
const APP_CIDRS: &str = r#"firewall.app_cidrs=[192.0.2.0/24, 10.20.0.0/16, "2001:db8:a::/48"]"#;
const MONITORING_CIDRS: &str = r#"firewall.monitoring_cidrs=[198.51.100.0/28, "2001:db8:f::/64"]"#;

const FILES: [&str; 4] = [
    render::NFTABLES,
    render::IPTABLES,
    render::IP6TABLES,
    render::UFW,
];

/// `init` in a fresh directory with `--set` for each of `sets`.
fn init(env: &str, sets: &[&str]) -> Bundle {
    let args: Vec<&str> = sets.iter().flat_map(|s| ["--set", s]).collect();
    Bundle::init(env, &args)
}

/// The command a generated file documents in its header after `label`.
fn documented(text: &str, label: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix("# ")?.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} line in:\n{text}"))
        .trim()
        .to_owned()
}

// ---------------------------------------------------------------------------------------
// Snapshots: deterministic inputs, rendered in process.
// ---------------------------------------------------------------------------------------

fn render_firewall(env: Environment, target: Target) -> render::Rendered {
    let sets = vec![APP_CIDRS.to_owned(), MONITORING_CIDRS.to_owned()];
    crate::support::render_seeded(env, target, &sets).1
}

/// The firewall files hold no secrets: they are pinned whole, one snapshot per environment.
#[test]
fn firewall_files_snapshot() {
    for env in Environment::ALL {
        let files = render_firewall(env, Target::Host);
        let mut out = String::new();
        for name in FILES {
            out.push_str(&format!("==== {name} ====\n{}", files[name].content));
        }
        insta::with_settings!({
            snapshot_path => "../snapshots",
            prepend_module_to_snapshot => false,
            omit_expression => true,
            description => format!("{APP_CIDRS}\n{MONITORING_CIDRS}"),
        }, {
            insta::assert_snapshot!(format!("firewall-{env}"), out);
        });
    }
}

#[test]
fn docker_target_writes_no_host_firewall() {
    let files = render_firewall(Environment::Production, Target::Docker);
    assert!(
        !files.keys().any(|k| k.starts_with("firewall/")),
        "{:?}",
        files.keys()
    );
    let files = render_firewall(Environment::Production, Target::Local);
    for name in FILES {
        assert!(files.contains_key(name), "{name}");
    }
}

// ---------------------------------------------------------------------------------------
// The real tools check every file.
// ---------------------------------------------------------------------------------------

/// `nft -c`, `iptables-restore --test`, `ip6tables-restore --test`, `sh -n`, `bash -n` and
/// shellcheck accept every file, for every environment, with source lists of both families
/// and with the default empty lists.
#[test]
fn every_firewall_file_passes_the_real_tools() {
    require("nft", "apt-get install -y nftables");
    require("iptables-restore", "apt-get install -y iptables");
    require("ip6tables-restore", "apt-get install -y iptables");
    require("shellcheck", "apt-get install -y shellcheck");
    require("bash", "apt-get install -y bash");
    for env in ENVS {
        for sets in [&[APP_CIDRS, MONITORING_CIDRS][..], &[]] {
            let b = init(env, sets);
            let what = format!("{env} {sets:?}");
            let path = |rel: &str| b.path(rel).to_str().unwrap().to_owned();
            for (rel, want) in [
                (render::NFTABLES, 0o644),
                (render::IPTABLES, 0o644),
                (render::IP6TABLES, 0o644),
                (render::UFW, 0o755),
            ] {
                let mode = std::fs::metadata(b.path(rel)).unwrap().permissions().mode() & 0o7777;
                assert_eq!(mode, want, "{what}: {rel} is {mode:o}");
            }
            ok(&mut cmd("nft", &["-c", "-f", &path(render::NFTABLES)]));
            ok(&mut cmd(
                "iptables-restore",
                &["--test", "--noflush", &path(render::IPTABLES)],
            ));
            ok(&mut cmd(
                "ip6tables-restore",
                &["--test", "--noflush", &path(render::IP6TABLES)],
            ));
            let ufw = path(render::UFW);
            ok(&mut cmd("sh", &["-n", &ufw]));
            ok(&mut cmd("bash", &["-n", &ufw]));
            ok(&mut cmd(
                "shellcheck",
                &["--shell=sh", "--severity=style", &ufw],
            ));

            // Each family's file has only its own sources (iptables-restore would refuse an
            // IPv6 source, but not a missing one).
            let v4 = std::fs::read_to_string(b.path(render::IPTABLES)).unwrap();
            let v6 = std::fs::read_to_string(b.path(render::IP6TABLES)).unwrap();
            if !sets.is_empty() {
                assert!(
                    v4.contains("-s 192.0.2.0/24 ") && !v4.contains("2001:db8"),
                    "{v4}"
                );
                assert!(
                    v6.contains("-s 2001:db8:a::/48 ") && !v6.contains("192.0.2"),
                    "{v6}"
                );
            }
        }
    }
}

fn namespaces_named(prefix: &str) -> Vec<String> {
    let (_, text) = output(&mut cmd("ip", &["netns", "list"]));
    text.lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(&format!("{prefix}-")))
        .map(str::to_owned)
        .collect()
}

// ---------------------------------------------------------------------------------------
// ufw, for real, on a private copy of its state.
// ---------------------------------------------------------------------------------------

/// One rule from ufw's user.rules / user6.rules: `### tuple ### ACTION PROTO DPORT DST
/// SPORT SRC DIRECTION [comment=HEX]`.
#[derive(Debug, Clone, PartialEq)]
struct UfwRule {
    action: String,
    port: u16,
    src: IpNet,
}

fn ufw_rules(state: &Path) -> Vec<UfwRule> {
    let mut rules = vec![];
    for file in ["user.rules", "user6.rules"] {
        let text = std::fs::read_to_string(state.join("etc/ufw").join(file)).unwrap();
        for line in text.lines() {
            let Some(tuple) = line.strip_prefix("### tuple ### ") else {
                continue;
            };
            let f: Vec<&str> = tuple.split_whitespace().collect();
            assert_eq!(f[1], "tcp", "{line}");
            rules.push(UfwRule {
                action: f[0].to_owned(),
                port: f[2].parse().unwrap(),
                src: f[5]
                    .parse()
                    .or_else(|_| f[5].parse::<IpAddr>().map(IpNet::from))
                    .unwrap(),
            });
        }
    }
    rules
}

/// ufw's verdict for a packet: the first rule (of the source's family) that matches.
fn ufw_verdict(rules: &[UfwRule], src: IpAddr, port: u16) -> &str {
    rules
        .iter()
        .find(|r| r.port == port && r.src.contains(&src))
        .map_or("no rule", |r| r.action.as_str())
}

/// The path of `tool` on PATH.
fn which(tool: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join(tool))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| panic!("{tool} is not on PATH"))
}

/// ufw.sh run twice by the real ufw, against a fresh rule set from ufw's own package files
/// that already holds an operator's `allow PORT/tcp` for everyone: every allowed source
/// reaches its ports, everyone else is denied (the open rule included), and the second run
/// changes nothing.
#[test]
fn ufw_script_allows_the_sources_above_the_denies_and_is_idempotent() {
    require("ufw", "apt-get install -y ufw");
    let b = init("production", &[APP_CIDRS, MONITORING_CIDRS]);
    let (data, exporter) = (b.port, 9121);

    // ufw's --datadir moves its configuration and rules; disabled, it only edits those
    // files. It runs in a namespace of its own as well, so the host firewall is out of
    // reach whatever it does.
    let state = tempfile::Builder::new()
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let s = state.path();
    for dir in ["etc/default", "etc/ufw/applications.d", "lib/ufw", "bin"] {
        std::fs::create_dir_all(s.join(dir)).unwrap();
    }
    let pristine = Path::new("/usr/share/ufw/iptables");
    for f in std::fs::read_dir(pristine).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), s.join("etc/ufw").join(f.file_name())).unwrap();
    }
    std::fs::write(s.join("etc/ufw/ufw.conf"), "ENABLED=no\nLOGLEVEL=low\n").unwrap();
    std::fs::write(
        s.join("etc/default/ufw"),
        "IPV6=yes\nDEFAULT_INPUT_POLICY=\"DROP\"\nDEFAULT_OUTPUT_POLICY=\"ACCEPT\"\n\
         DEFAULT_FORWARD_POLICY=\"DROP\"\nDEFAULT_APPLICATION_POLICY=\"SKIP\"\nMANAGE_BUILTINS=no\n",
    )
    .unwrap();
    // The script calls plain `ufw`: a shim first on PATH adds the private state.
    let shim = s.join("bin/ufw");
    std::fs::write(
        &shim,
        format!(
            "#!/bin/sh\nexec {} --rootdir=/ --datadir={} \"$@\"\n",
            which("ufw").display(),
            s.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        s.join("bin").display(),
        std::env::var("PATH").unwrap()
    );

    let mut lab = Lab::new();
    let ns = lab.add("ufw");
    let ufw = |args: &[&str]| ok(lab.exec(&ns, &["ufw"]).args(args).env("PATH", &path));
    ufw(&["allow", &format!("{data}/tcp")]);
    let script = b.path(render::UFW);
    let run_script = || {
        ok(lab
            .exec(&ns, &["sh", script.to_str().unwrap()])
            .env("PATH", &path))
    };

    run_script();
    let rules = ufw_rules(s);
    for (src, port, want) in [
        ("192.0.2.9", data, "allow"),
        ("10.20.3.4", data, "allow"),
        ("10.20.3.4", exporter, "deny"),
        ("198.51.100.3", data, "allow"),
        ("198.51.100.3", exporter, "allow"),
        ("198.51.100.200", data, "deny"),
        ("203.0.113.5", data, "deny"),
        ("203.0.113.5", exporter, "deny"),
        ("2001:db8:a::1", data, "allow"),
        ("2001:db8:a::1", exporter, "deny"),
        ("2001:db8:f::1", data, "allow"),
        ("2001:db8:f::1", exporter, "allow"),
        ("2001:db8:ffff::1", data, "deny"),
    ] {
        let got = ufw_verdict(&rules, src.parse().unwrap(), port);
        assert_eq!(got, want, "{src} -> port {port}: {rules:#?}");
    }
    let user_rules =
        || ["user.rules", "user6.rules"].map(|f| std::fs::read(s.join("etc/ufw").join(f)).unwrap());
    let before = user_rules();
    run_script();
    assert!(before == user_rules(), "a second run changed the rules");
}

// ---------------------------------------------------------------------------------------
// Live: the rules loaded into a namespace, a real redis-server behind them.
// ---------------------------------------------------------------------------------------

/// The server's end of each link, and the client's.
const SERVER_ALLOWED_SIDE: &str = "192.0.2.1";
const CLIENT_ALLOWED: &str = "192.0.2.2";
const SERVER_DENIED_SIDE: &str = "198.51.100.1";
const CLIENT_DENIED: &str = "198.51.100.2";
/// A port the rules do not cover, standing in for SSH.
const OTHER_PORT: &str = "2222";

#[derive(Clone, Copy, Debug)]
enum Rules {
    Nftables,
    Iptables,
}

/// The namespaces of one live test: a server with two links, one to a client in
/// `firewall.app_cidrs` and one to a client outside it. Redis listens on both links and on
/// loopback, so only the firewall can tell the clients apart.
struct Net {
    lab: Lab,
    server: String,
    allowed: String,
    denied: String,
}

fn net() -> Net {
    let mut lab = Lab::new();
    let server = lab.add("srv");
    let allowed = lab.add("ok");
    let denied = lab.add("no");
    lab.link(
        (&server, &format!("{SERVER_ALLOWED_SIDE}/24")),
        (&allowed, &format!("{CLIENT_ALLOWED}/24")),
        "a",
    );
    lab.link(
        (&server, &format!("{SERVER_DENIED_SIDE}/24")),
        (&denied, &format!("{CLIENT_DENIED}/24")),
        "d",
    );
    Net {
        lab,
        server,
        allowed,
        denied,
    }
}

impl Net {
    /// `redis-cli --tls PING` as the app user from `ns` to `host`, bounded by `secs`.
    /// Returns the exit code (124: timed out) and the output.
    fn ping(&self, b: &Bundle, ns: &str, host: &str, secs: u32) -> (i32, String) {
        let (ca, cert, key) = (
            b.path("tls/ca.crt"),
            b.path("tls/client.crt"),
            b.path("tls/client.key"),
        );
        let (out, text) = output(
            self.lab
                .exec(ns, &["timeout", "-k", "1", &secs.to_string(), "redis-cli"])
                .args(["-h", host, "-p", &b.port.to_string(), "--tls"])
                .args(["--cacert", ca.to_str().unwrap()])
                .args(["--cert", cert.to_str().unwrap()])
                .args(["--key", key.to_str().unwrap()])
                .args(["--user", "app", "--no-auth-warning", "PING"])
                // Off the command line, out of `ps`.
                .env("REDISCLI_AUTH", b.password("app")),
        );
        (out.status.code().unwrap_or(-1), text.trim().to_owned())
    }

    /// Whether a TCP connection from `ns` to `host:port` is accepted within `secs`.
    fn connects(&self, ns: &str, host: &str, port: &str, secs: u32) -> bool {
        let script = format!("exec 3<>/dev/tcp/{host}/{port}");
        let (out, _) = output(
            &mut self
                .lab
                .exec(ns, &["timeout", &secs.to_string(), "bash", "-c", &script]),
        );
        out.status.success()
    }

    /// Polls until `check` holds, or fails with `what`.
    fn wait(&self, what: &str, log: &Path, mut check: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !check() {
            assert!(
                Instant::now() < deadline,
                "{what}\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn live(rules: Rules) {
    require("redis-server", "apt-get install -y redis-server");
    require("redis-cli", "apt-get install -y redis-tools");
    require("python3", "apt-get install -y python3");
    require("bash", "apt-get install -y bash");
    match rules {
        Rules::Nftables => require("nft", "apt-get install -y nftables"),
        Rules::Iptables => {
            require("iptables-restore", "apt-get install -y iptables");
            require("ip6tables-restore", "apt-get install -y iptables");
        }
    }
    let mut net = net();
    let prefix = net.lab.prefix.clone();
    let bind = format!("redis.bind=[127.0.0.1, {SERVER_ALLOWED_SIDE}, {SERVER_DENIED_SIDE}]");
    // Both server addresses in the certificate, so the clients verify it as they should.
    let ips = format!("tls.ips=[{SERVER_ALLOWED_SIDE}, {SERVER_DENIED_SIDE}]");
    let app = r#"firewall.app_cidrs=[192.0.2.0/24, "2001:db8:a::/48"]"#;
    // A neighbouring range of the denied client's, which must not let it in.
    let monitoring = r#"firewall.monitoring_cidrs=[198.51.100.64/26, "2001:db8:f::/64"]"#;
    let b = init("production", &[&bind, &ips, app, monitoring]);
    let conf = b.path("redis.conf");
    let (srv, ok_ns, no_ns) = (net.server.clone(), net.allowed.clone(), net.denied.clone());
    let log = b.tmp.path().join("redis-server.log");
    net.lab
        .spawn(&srv, &["redis-server", conf.to_str().unwrap()], &log);
    let other_log = b.tmp.path().join("other.log");
    net.lab.spawn(
        &srv,
        &[
            "python3",
            "-m",
            "http.server",
            "--bind",
            SERVER_DENIED_SIDE,
            OTHER_PORT,
        ],
        &other_log,
    );

    // Before any rule, both clients reach Redis and the other port: what changes below is
    // the firewall's doing.
    net.wait(
        "redis-server never answered the allowed client",
        &log,
        || net.ping(&b, &ok_ns, SERVER_ALLOWED_SIDE, 5).1 == "PONG",
    );
    let (code, text) = net.ping(&b, &no_ns, SERVER_DENIED_SIDE, 5);
    assert_eq!(
        (code, text.as_str()),
        (0, "PONG"),
        "without rules the other client must connect"
    );
    net.wait("the stand-in service never listened", &other_log, || {
        net.connects(&no_ns, SERVER_DENIED_SIDE, OTHER_PORT, 5)
    });

    // An operator's own rule for SSH, to show loading ours leaves it alone.
    let fw_dir = b.path("firewall");
    let in_srv = |command: &str| {
        ok(net
            .lab
            .exec(&srv, &["sh", "-c", command])
            .current_dir(&fw_dir))
    };
    let state = match rules {
        Rules::Nftables => {
            in_srv(
                "nft add table inet operator && \
                 nft add chain inet operator input '{ type filter hook input priority 0; policy accept; }' && \
                 nft add rule inet operator input tcp dport 22 accept",
            );
            let text = std::fs::read_to_string(b.path(render::NFTABLES)).unwrap();
            let load = documented(&text, "Load, and reload after a change:");
            in_srv(&load);
            let first = in_srv("nft list ruleset");
            in_srv(&load);
            let second = in_srv("nft list ruleset");
            assert_eq!(first, second, "reloading changed the ruleset");
            assert!(second.contains("table inet operator"), "{second}");
            assert!(second.contains(&format!("table inet redis_harden_{}", b.env)));
            second
        }
        Rules::Iptables => {
            in_srv("iptables -A INPUT -p tcp --dport 22 -j ACCEPT");
            let mut saved = String::new();
            for (file, tool) in [
                (render::IPTABLES, "iptables"),
                (render::IP6TABLES, "ip6tables"),
            ] {
                let text = std::fs::read_to_string(b.path(file)).unwrap();
                in_srv(&documented(&text, "First load:"));
                let first = in_srv(&format!("{tool} -S"));
                in_srv(&documented(&text, "Reload:"));
                let second = in_srv(&format!("{tool} -S"));
                assert_eq!(
                    first, second,
                    "{tool}: the documented reload changed the rules"
                );
                let jumps = second
                    .lines()
                    .filter(|l| *l == format!("-A INPUT -j REDIS-HARDEN-{}", b.env.to_uppercase()))
                    .count();
                assert_eq!(jumps, 1, "{second}");
                saved.push_str(&second);
            }
            assert!(saved.contains("--dport 22 -j ACCEPT"), "{saved}");
            saved
        }
    };

    // The allowed client still connects; so does a local one.
    let (code, text) = net.ping(&b, &ok_ns, SERVER_ALLOWED_SIDE, 10);
    assert_eq!((code, text.as_str()), (0, "PONG"), "rules:\n{state}");
    let (code, text) = net.ping(&b, &srv, "127.0.0.1", 10);
    assert_eq!(
        (code, text.as_str()),
        (0, "PONG"),
        "loopback; rules:\n{state}"
    );
    // The denied one gets no answer at all: dropped, so the command times out (124) rather
    // than being refused.
    let (code, text) = net.ping(&b, &no_ns, SERVER_DENIED_SIDE, 3);
    assert_eq!(
        code, 124,
        "the denied client was not dropped: {text}\nrules:\n{state}"
    );
    // Traffic to other ports is none of the rules' business.
    assert!(
        net.connects(&no_ns, SERVER_DENIED_SIDE, OTHER_PORT, 5),
        "the rules blocked an unrelated port; rules:\n{state}"
    );

    drop(net);
    assert_eq!(
        namespaces_named(&prefix),
        Vec::<String>::new(),
        "namespaces left behind"
    );
}

#[test]
fn nftables_rules_admit_allowed_sources_and_drop_the_rest() {
    live(Rules::Nftables);
}

#[test]
fn iptables_rules_admit_allowed_sources_and_drop_the_rest() {
    live(Rules::Iptables);
}

/// A cluster node's own rules (`nodes/node-0/nftables.nft`), loaded in a namespace with that
/// node's address and a real cluster node behind them: another node's address reaches the
/// bus port, an address in `firewall.app_cidrs` reaches the data port but not the bus, whose
/// only lock otherwise is mTLS.
#[test]
fn cluster_node_rules_open_the_bus_port_to_the_nodes_only() {
    require("redis-server", "apt-get install -y redis-server");
    require("nft", "apt-get install -y nftables");
    require("bash", "apt-get install -y bash");
    const NODES: [&str; 3] = ["203.0.113.10", "203.0.113.11", "203.0.113.12"];
    const APP_CLIENT: &str = "198.51.100.20";
    const PORT: &str = "7000";
    const BUS: &str = "17000";
    let nodes = format!(
        "topology.nodes=[{}]",
        NODES
            .iter()
            .enumerate()
            .map(|(i, ip)| format!("{{name: node-{i}, ip: {ip}, port: {PORT}}}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let b = init(
        "production",
        &[
            "topology.kind=cluster",
            "topology.replicas_per_shard=0",
            &nodes,
            "firewall.app_cidrs=[198.51.100.0/24]",
        ],
    );
    let node_dir = b.path("nodes/node-0");
    let rules = node_dir.join("nftables.nft");
    let text = std::fs::read_to_string(&rules).unwrap();

    let mut lab = Lab::new();
    let prefix = lab.prefix.clone();
    let srv = lab.add("node0");
    let peer = lab.add("node1");
    let app = lab.add("app");
    lab.link((&srv, "203.0.113.10/24"), (&peer, "203.0.113.11/24"), "p");
    lab.link(
        (&srv, "198.51.100.1/24"),
        (&app, &format!("{APP_CLIENT}/24")),
        "c",
    );
    ok(&mut lab.exec(
        &app,
        &[
            "ip",
            "route",
            "add",
            "203.0.113.0/24",
            "via",
            "198.51.100.1",
        ],
    ));
    let log = b.tmp.path().join("node-0.log");
    let conf = node_dir.join("redis.conf");
    lab.spawn(&srv, &["redis-server", conf.to_str().unwrap()], &log);
    let connects = |ns: &str, port: &str, secs: u32| {
        let script = format!("exec 3<>/dev/tcp/{}/{port}", NODES[0]);
        let (out, _) =
            output(&mut lab.exec(ns, &["timeout", &secs.to_string(), "bash", "-c", &script]));
        out.status.success()
    };
    // Before any rule both reach both ports: what changes below is the rules' doing.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(connects(&peer, BUS, 2) && connects(&app, BUS, 2)) {
        assert!(
            Instant::now() < deadline,
            "node-0 never listened on its bus port:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    ok(&mut lab.exec(&srv, &["nft", "-c", "-f", rules.to_str().unwrap()]));
    let load = documented(&text, "Load on the node's host, and reload after a change:");
    ok(lab.exec(&srv, &["sh", "-c", &load]).current_dir(&node_dir));
    let state = ok(&mut lab.exec(&srv, &["nft", "list", "ruleset"]));

    assert!(
        connects(&peer, BUS, 5),
        "another node lost the bus; rules:\n{state}"
    );
    assert!(
        connects(&peer, PORT, 5),
        "another node lost the data port; rules:\n{state}"
    );
    assert!(
        connects(&app, PORT, 5),
        "the app network lost the data port; rules:\n{state}"
    );
    // Dropped, not refused: the connection attempt times out.
    assert!(
        !connects(&app, BUS, 3),
        "the bus port is open to a non-node address; rules:\n{state}"
    );

    drop(lab);
    assert_eq!(
        namespaces_named(&prefix),
        Vec::<String>::new(),
        "namespaces left behind"
    );
}
