//! Sentinel, live: a primary, two replicas and three sentinels on loopback, TLS-only with
//! mTLS, a real failover after `kill -9` of the primary, a redis-py `Sentinel` client
//! configured only from client.env, and every node's ACL LOG empty throughout.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::audit::{audit, report, rules};
use crate::support::topology::{
    Deployment, Node, PY_CLIENT_ENV, Shape, Topology, info_field, python, wait_until,
};
use crate::support::{ServerUnderTest, require};

crate::support::on_topology_servers!(
    sentinel_failover_from_one_init,
    rotate_certs_rolls_through_a_running_sentinel_deployment,
    rotate_passwords_reaches_every_node_of_a_running_sentinel_deployment,
    audit_follows_a_sentinel_to_every_data_node,
    sentinels_keep_their_ids_through_a_password_rotation_and_restart,
);

/// The "Done means": a primary, two replicas and three Sentinels from one `init`,
/// TLS-only with mTLS, survive `kill -9` of the primary; the admin user (enabled here) reads
/// INFO and ACL LOG on every node.
fn sentinel_failover_from_one_init(srv: &'static ServerUnderTest) {
    let topo = sentinel_bundle(srv);
    let mut d = Deployment::start(&topo);
    assert_tls_only(&topo, &d);
    wait_ready(&topo, &d);
    failover(&topo, &mut d);
}

/// A primary, two replicas and three Sentinels, production (TLS 1.3, mTLS), admin enabled.
fn sentinel_bundle(srv: &'static ServerUnderTest) -> Topology {
    Topology::init(
        srv,
        "production",
        Shape::Sentinel {
            replicas: 2,
            sentinels: 3,
        },
        &["--set", "acl.admin.enabled=true"],
    )
}

/// The user that reads INFO and ACL LOG on every node.
const OBSERVER: &str = "admin";

/// TLS only: each process listens on its TLS port and nothing else (so replication, which
/// dials that port, runs over TLS), and a plaintext client gets no answer there.
fn assert_tls_only(topo: &Topology, d: &Deployment) {
    for node in topo.nodes() {
        assert!(node.tls, "{} has no TLS listener", node.name);
        assert_eq!(d.listening_ports(&node.name), [node.port], "{}", node.name);
        let out = topo.cli(&node).plaintext().user("app", "x").run(&["PING"]);
        assert!(
            !out.contains("PONG"),
            "{} answered plaintext: {out}",
            node.name
        );
    }
}

/// The replicas linked and staying linked, a write acknowledged by both (`WAIT 2`), and
/// every Sentinel knowing both replicas and the other Sentinels; ACL LOG empty everywhere.
fn wait_ready(topo: &Topology, d: &Deployment) {
    let data = topo.data_nodes();
    let (primary, replicas) = (&data[0], &data[1..]);
    assert_eq!(
        (data.len(), topo.sentinels().len()),
        (3, 3),
        "{:?}",
        topo.nodes()
    );
    // Linked: both replicas up, and still up 3 s later (a missing +replconf makes the link
    // flap about once a second), with data flowing (offset above 0).
    for r in replicas {
        wait_until(
            &format!("{} linked", r.name),
            Duration::from_secs(20),
            || linked(topo, &r.name),
        );
    }
    std::thread::sleep(Duration::from_secs(3));
    for r in replicas {
        linked(topo, &r.name)
            .unwrap_or_else(|info| panic!("{} unlinked after 3 s: {info}", r.name));
    }
    let info = assert_primary(topo, &primary.name);
    assert_eq!(
        info_field(&info, "connected_slaves").as_deref(),
        Some("2"),
        "{info}"
    );
    for r in replicas {
        // Each replica announced its TLS port: its link is a TLS connection.
        assert!(
            info.contains(&format!("port={},state=online", r.port)),
            "{info}"
        );
    }

    // A write as the app, from client.env's REDIS_URL, acknowledged by both replicas.
    let url = topo.client_env()["REDIS_URL"].clone();
    assert!(
        url.contains(&format!(":{}/", primary.port)),
        "REDIS_URL does not name the primary's port {}",
        primary.port
    );
    let script = format!(
        "{PY_CLIENT_ENV}
import redis
r = redis.Redis.from_url(env['REDIS_URL'], ssl_check_hostname=True)
r.set('before', 'failover')
print(r.execute_command('WAIT', 2, 2000))
"
    );
    let env = topo.path("client.env");
    let (ok, out) = python(&script, &[env.to_str().unwrap()], 20);
    assert!(ok && out.trim() == "2", "WAIT 2 did not return 2: {out}");

    wait_sentinels_know_all(topo);
    assert_acl_logs_empty(topo, d);
}

/// Node `name`'s INFO replication, which must say it is a primary.
#[track_caller]
fn assert_primary(topo: &Topology, name: &str) -> String {
    let info = topo.cli_as(name, OBSERVER).run(&["INFO", "replication"]);
    assert_eq!(
        info_field(&info, "role").as_deref(),
        Some("master"),
        "{name}: {info}"
    );
    info
}

/// A replica's link is up with an offset above 0.
fn linked(topo: &Topology, name: &str) -> Result<u64, String> {
    let info = topo.cli_as(name, OBSERVER).run(&["INFO", "replication"]);
    let up = info_field(&info, "master_link_status").as_deref() == Some("up");
    let offset: u64 = info_field(&info, "slave_repl_offset")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if up && offset > 0 {
        Ok(offset)
    } else {
        Err(info)
    }
}

/// Waits until every Sentinel knows the 2 replicas and the 2 other Sentinels: what a
/// failover needs (replicas come from the primary's INFO, asked for every 10 s; Sentinels
/// from hello messages every 2 s).
fn wait_sentinels_know_all(topo: &Topology) {
    for s in topo.sentinels() {
        wait_until(
            &format!("{} to see 2 replicas and 2 other Sentinels", s.name),
            Duration::from_secs(20),
            || sentinel_sees(topo, &s.name, 2, 2),
        );
    }
}

/// Whether Sentinel `name` reports the monitored primary with `replicas` replicas and
/// `others` other Sentinels (as SENTINEL MASTERS shows them).
fn sentinel_sees(topo: &Topology, name: &str, replicas: u32, others: u32) -> Result<(), String> {
    let out = topo.cli_as(name, OBSERVER).run(&["SENTINEL", "MASTERS"]);
    let lines: Vec<&str> = out.lines().collect();
    let field = |f: &str| {
        lines
            .windows(2)
            .find(|w| w[0] == f)
            .map(|w| w[1].to_owned())
    };
    let want = (Some(replicas.to_string()), Some(others.to_string()));
    if (field("num-slaves"), field("num-other-sentinels")) == want {
        Ok(())
    } else {
        Err(out)
    }
}

/// A redis-py `Sentinel` client configured only from client.env (argv[1]): it writes to the
/// primary it discovers (and pings a replica), and prints the primary's `host:port`. argv[2]
/// is a `host:port` or port that must not be the primary (`none`: any), argv[3] the bound in
/// seconds; it keeps
/// retrying until then, as an application does through a failover.
pub(crate) fn sentinel_client() -> String {
    format!(
        "{PY_CLIENT_ENV}
import time, urllib.parse
from redis.sentinel import Sentinel
u = urllib.parse.urlparse(env['REDIS_URL'])
user, pw = urllib.parse.unquote(u.username), urllib.parse.unquote(u.password)
tls = dict(ssl=True, ssl_ca_certs=env['REDIS_TLS_CA_FILE'], ssl_certfile=env['REDIS_TLS_CERT_FILE'],
           ssl_keyfile=env['REDIS_TLS_KEY_FILE'], ssl_cert_reqs='required', ssl_check_hostname=True)
hosts = [(h.rsplit(':', 1)[0], int(h.rsplit(':', 1)[1])) for h in env['REDIS_SENTINELS'].split(',')]
s = Sentinel(hosts, sentinel_kwargs=dict(username=user, password=pw, socket_timeout=2, **tls),
             username=user, password=pw, socket_timeout=2, **tls)
name = env['REDIS_SENTINEL_MASTER']
avoid = sys.argv[2]
deadline = time.monotonic() + float(sys.argv[3])
last = None
while time.monotonic() < deadline:
    try:
        addr = '%s:%d' % s.discover_master(name)
        if addr == avoid or addr.endswith(':' + avoid):
            raise Exception('still the old primary ' + addr)
        s.master_for(name).set('written-by', 'sentinel-client')
        assert s.slave_for(name).ping()
        print(addr)
        sys.exit(0)
    except Exception as e:
        last = repr(e)
        time.sleep(0.2)
sys.exit('no write within the bound; last error: %s' % last)
"
    )
}

/// The Sentinel client writes (to a primary other than port `avoid`) within 15 s; returns
/// the primary's port.
#[track_caller]
fn sentinel_client_writes(topo: &Topology, d: &Deployment, avoid: &str) -> u16 {
    let env = topo.path("client.env");
    let (ok, out) = python(
        &sentinel_client(),
        &[env.to_str().unwrap(), avoid, "15"],
        30,
    );
    assert!(
        ok,
        "the Sentinel client did not write within 15 s: {out}\n{}",
        d.logs()
    );
    out.trim().rsplit_once(':').unwrap().1.parse().unwrap()
}

/// `kill -9` of the primary: Sentinel promotes a replica, the client follows, and the old
/// primary, started again, rejoins as a replica of the new one.
fn failover(topo: &Topology, d: &mut Deployment) {
    let data = topo.data_nodes();
    let (primary, replicas) = (&data[0], &data[1..]);
    assert_eq!(sentinel_client_writes(topo, d, "none"), primary.port);

    d.kill9(&primary.name);
    let new_port = sentinel_client_writes(topo, d, &primary.port.to_string());
    let promoted = replicas
        .iter()
        .find(|r| r.port == new_port)
        .unwrap_or_else(|| panic!("promoted {new_port} is not a replica"));
    assert_primary(topo, &promoted.name);

    d.start_node(&primary.name);
    wait_until(
        "the old primary to rejoin as a replica",
        Duration::from_secs(45),
        || {
            let info = topo
                .cli_as(&primary.name, OBSERVER)
                .run(&["INFO", "replication"]);
            let ok = info_field(&info, "role").as_deref() == Some("slave")
                && info_field(&info, "master_port") == Some(new_port.to_string())
                && info_field(&info, "master_link_status").as_deref() == Some("up");
            if ok { Ok(()) } else { Err(info) }
        },
    );
    assert_acl_logs_empty(topo, d);
    // Sentinel rewrote its config (new primary, known replicas): still unreadable to others.
    for s in topo.sentinels() {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&s.conf).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}: sentinel.conf is {mode:o}", s.name);
        let conf = std::fs::read_to_string(&s.conf).unwrap();
        assert!(
            conf.contains(&format!(
                "sentinel monitor {} 127.0.0.1 {new_port} ",
                topo.client_env()["REDIS_SENTINEL_MASTER"]
            )),
            "{}: not rewritten",
            s.name
        );
    }
}

/// No denied command and no failed login on any running node: every rule set is enough
/// for what the deployment does.
#[track_caller]
fn assert_acl_logs_empty(topo: &Topology, d: &Deployment) {
    for node in topo.nodes() {
        if !d.is_running(&node.name) {
            continue;
        }
        let log = topo.cli_as(&node.name, OBSERVER).run(&["ACL", "LOG"]);
        assert_eq!(log, "", "{}: ACL LOG is not empty", node.name);
    }
}

/// Runs `command` with sh in the bundle directory, secrets.env's variables exported: how an
/// operator runs what `rotate` prints (with the server's cli on PATH, as on its machines).
fn operator_sh(topo: &Topology, command: &str) -> String {
    let cli = topo.server.cli_program();
    let mut path = std::env::var_os("PATH").unwrap_or_default();
    if let Some(dir) = cli.parent().filter(|d| !d.as_os_str().is_empty()) {
        path = std::env::join_paths(
            std::iter::once(dir.to_path_buf()).chain(std::env::split_paths(&path)),
        )
        .unwrap();
    }
    let mut sh = Command::new("timeout");
    sh.env("PATH", path)
        .args(["-k", "1", "20", "sh", "-c"])
        .arg(format!("set -a; . ./secrets.env; set +a; {command}"))
        .current_dir(&topo.dir);
    crate::support::netns::output(&mut sh).1.trim().to_owned()
}

/// The serial of a certificate file, and of the certificate a node presents.
fn file_serial(path: &Path) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-serial", "-in"])
        .arg(path)
        .output()
        .expect("openssl x509");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn presented_serial(topo: &Topology, node: &Node) -> String {
    let pem = topo.tmp.path().join("presented.pem");
    std::fs::write(&pem, s_client(topo, node, &[])).unwrap();
    file_serial(&pem)
}

/// What `openssl s_client` prints on stdout for a TLS connection to `node`, as the app
/// (the bundle's CA and client certificate), with `extra` options.
fn s_client(topo: &Topology, node: &Node, extra: &[&str]) -> String {
    let connect = format!("127.0.0.1:{}", node.port);
    let out = Command::new("timeout")
        .args(["-k", "1", "10", "openssl", "s_client", "-connect", &connect])
        .args(extra)
        .arg("-CAfile")
        .arg(topo.path("tls/ca.crt"))
        .arg("-cert")
        .arg(topo.path("tls/client.crt"))
        .arg("-key")
        .arg(topo.path("tls/client.key"))
        .stdin(Stdio::null())
        .output()
        .expect("openssl s_client");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs one step of a `rotate --format json` rollout as an operator would: a reload's
/// commands (each must answer OK), or a restart of the node followed by its check, repeated
/// until it prints OK; after a restart the deployment must still take writes.
fn run_step(topo: &Topology, d: &mut Deployment, step: &serde_json::Value) -> Node {
    let node = topo.node(step["node"].as_str().unwrap());
    if step["action"] == "reload" {
        for c in step["commands"].as_array().unwrap() {
            let out = operator_sh(topo, c.as_str().unwrap());
            assert_eq!(out, "OK", "{}: {c}", node.name);
        }
        return node;
    }
    assert_eq!(step["action"], "restart", "{step}");
    d.restart(&node.name);
    let check = step["wait_for_ok"].as_str().expect("a check to wait for");
    wait_until(
        &format!("{} back in the quorum", node.name),
        Duration::from_secs(30),
        || {
            let out = operator_sh(topo, check);
            if out.starts_with("OK") {
                Ok(())
            } else {
                Err(out)
            }
        },
    );
    // Still serving, with one Sentinel just restarted.
    sentinel_client_writes(topo, d, "none");
    node
}

/// `rotate ARGS --format json` on the bundle, then every step of its rollout.
fn rotate_and_roll_out(topo: &Topology, d: &mut Deployment, args: &[&str]) {
    let dir = topo.dir.to_str().unwrap();
    let mut full = vec!["rotate"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["--env", "production", "--out", dir, "--format", "json"]);
    let r = topo.run(&full);
    r.success();
    let summary: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let steps = summary["rollout"].as_array().expect("a rollout plan");
    assert_eq!(steps.len(), 6, "{}", r.stdout);
    for step in steps {
        run_step(topo, d, step);
    }
}

/// A CA rotation on a running deployment, in its three steps (`rotate ca`, `rotate certs`,
/// `rotate ca --finish`), each rolled out as printed: no moment without a quorum or a
/// writable primary, and afterwards every node presents a certificate of the new CA only
/// and a failover works.
#[test]
fn rotate_ca_rolls_through_a_running_sentinel_deployment() {
    let topo = sentinel_bundle(&crate::support::REDIS_7_0);
    let mut d = Deployment::start(&topo);
    wait_ready(&topo, &d);
    let old_ca = std::fs::read_to_string(topo.path("tls/ca.crt")).unwrap();
    rotate_and_roll_out(&topo, &mut d, &["ca"]);
    rotate_and_roll_out(&topo, &mut d, &["certs"]);
    rotate_and_roll_out(&topo, &mut d, &["ca", "--finish"]);
    let new_ca = std::fs::read_to_string(topo.path("tls/ca.crt")).unwrap();
    assert_ne!(new_ca, old_ca);
    assert_eq!(new_ca.matches("BEGIN CERTIFICATE").count(), 1);
    // Each node presents a certificate that verifies against the new CA alone.
    for node in topo.nodes() {
        let text = s_client(&topo, &node, &["-verify_return_error"]);
        assert!(
            text.contains("Verify return code: 0 (ok)"),
            "{}: {text}",
            node.name
        );
    }
    wait_sentinels_know_all(&topo);
    failover(&topo, &mut d);
}

/// `rotate certs` on a running deployment: every node's certificate is new, the printed
/// reloads work on the data nodes, and the Sentinels restarted one at a time (each waited
/// for with the printed check) keep the deployment serving; then a failover still works
/// with the new certificates, and `--finish` drops the old ones.
fn rotate_certs_rolls_through_a_running_sentinel_deployment(srv: &'static ServerUnderTest) {
    require("openssl", "apt-get install -y openssl");
    let topo = sentinel_bundle(srv);
    let mut d = Deployment::start(&topo);
    wait_ready(&topo, &d);
    let nodes = topo.nodes();
    let before: Vec<String> = nodes
        .iter()
        .map(|n| file_serial(&n.dir.join("tls/node.crt")))
        .collect();

    let r = topo.rotate("certs", &["--format", "json"]);
    r.success();
    let summary: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let steps = summary["rollout"]
        .as_array()
        .expect("a rollout plan")
        .clone();
    let order: Vec<(&str, &str)> = steps
        .iter()
        .map(|s| (s["node"].as_str().unwrap(), s["action"].as_str().unwrap()))
        .collect();
    assert_eq!(
        order,
        [
            ("data-0", "reload"),
            ("data-1", "reload"),
            ("data-2", "reload"),
            ("sentinel-0", "restart"),
            ("sentinel-1", "restart"),
            ("sentinel-2", "restart"),
        ],
        "{}",
        r.stdout
    );
    for (node, old) in nodes.iter().zip(&before) {
        let new = file_serial(&node.dir.join("tls/node.crt"));
        assert_ne!(&new, old, "{}: certificate not re-issued", node.name);
        assert_eq!(
            presented_serial(&topo, node),
            *old,
            "{} before the rollout",
            node.name
        );
    }

    for step in &steps {
        let node = run_step(&topo, &mut d, step);
        assert_eq!(
            presented_serial(&topo, &node),
            file_serial(&node.dir.join("tls/node.crt")),
            "{} does not present its new certificate",
            node.name
        );
    }
    // The restarted Sentinels kept their ids: each still counts exactly the two others.
    wait_sentinels_know_all(&topo);
    assert_acl_logs_empty(&topo, &d);
    // Every link now uses the new certificates: a failover still works.
    failover(&topo, &mut d);

    topo.rotate("certs", &["--finish"]).success();
    for node in &nodes {
        assert!(
            !node.dir.join("tls/node.previous.crt").exists(),
            "{}",
            node.name
        );
    }
}

/// Runs every command of a `rotate --format json` rollout whose steps all reload; each
/// must answer OK.
fn apply_reloads(topo: &Topology, stdout: &str) -> Vec<(String, String)> {
    let summary: serde_json::Value = serde_json::from_str(stdout).unwrap();
    let mut done = vec![];
    for step in summary["rollout"].as_array().expect("a rollout plan") {
        let node = step["node"].as_str().unwrap();
        assert_eq!(step["action"], "reload", "{stdout}");
        for c in step["commands"].as_array().unwrap() {
            let c = c.as_str().unwrap();
            assert_eq!(operator_sh(topo, c), "OK", "{node}: {c}");
            let what = c.split("--no-auth-warning ").nth(1).unwrap();
            let what = what.split(" \"").next().unwrap().to_owned();
            done.push((node.to_owned(), what));
        }
    }
    done
}

/// `rotate passwords` of every user, the topology's own included: the printed steps (ACL
/// LOAD everywhere first, then each server's own login passwords) work on the running nodes,
/// old and new passwords both work during the overlap; after `--finish` and its ACL LOADs
/// only the new ones do, and a failover (new links everywhere: Sentinel to the data nodes
/// and to each other, replicas to the new primary) works with them, ACL LOG empty.
fn rotate_passwords_reaches_every_node_of_a_running_sentinel_deployment(
    srv: &'static ServerUnderTest,
) {
    let topo = sentinel_bundle(srv);
    let mut d = Deployment::start(&topo);
    wait_ready(&topo, &d);
    let users = ["app", "admin", "replicator", "sentinel", "sentinel-peer"];
    let old: Vec<String> = users.iter().map(|u| topo.password(u)).collect();

    let r = topo.rotate("passwords", &["--format", "json"]);
    r.success();
    let done = apply_reloads(&topo, &r.stdout);
    let acl_loads = done.iter().take_while(|(_, w)| w == "ACL LOAD").count();
    assert_eq!(
        acl_loads, 6,
        "every node reloads its ACL file first: {done:?}"
    );
    let rest: Vec<(&str, &str)> = done[6..]
        .iter()
        .map(|(n, w)| (n.as_str(), w.as_str()))
        .collect();
    assert_eq!(
        rest,
        [
            ("data-0", "CONFIG SET masterauth"),
            ("data-1", "CONFIG SET masterauth"),
            ("data-2", "CONFIG SET masterauth"),
            ("sentinel-0", "SENTINEL SET redis auth-pass"),
            ("sentinel-0", "SENTINEL CONFIG SET sentinel-pass"),
            ("sentinel-1", "SENTINEL SET redis auth-pass"),
            ("sentinel-1", "SENTINEL CONFIG SET sentinel-pass"),
            ("sentinel-2", "SENTINEL SET redis auth-pass"),
            ("sentinel-2", "SENTINEL CONFIG SET sentinel-pass"),
        ]
    );
    // The overlap: old and new both log in, on a data node and on a Sentinel (each user
    // where it exists: replicator and sentinel on the data nodes, sentinel-peer on the
    // Sentinels, app and admin on both).
    for (user, old_pw) in users.iter().zip(&old) {
        let new_pw = topo.password(user);
        assert_ne!(&new_pw, old_pw, "{user}");
        let nodes: &[&str] = match *user {
            "replicator" | "sentinel" => &["data-0"],
            "sentinel-peer" => &["sentinel-0"],
            _ => &["data-0", "sentinel-0"],
        };
        for node in nodes {
            for pw in [old_pw, &new_pw] {
                let out = topo.cli(&topo.node(node)).user(user, pw).run(&["PING"]);
                assert_eq!(out, "PONG", "{user} on {node}");
            }
        }
    }
    sentinel_client_writes(&topo, &d, "none");
    assert_acl_logs_empty(&topo, &d);

    let r = topo.rotate("passwords", &["--finish", "--format", "json"]);
    r.success();
    let done = apply_reloads(&topo, &r.stdout);
    assert!(
        done.iter().all(|(_, w)| w == "ACL LOAD") && done.len() == 6,
        "{done:?}"
    );
    for (user, old_pw) in users.iter().zip(&old) {
        let out = topo
            .cli(&topo.node("data-0"))
            .user(user, old_pw)
            .run(&["PING"]);
        assert!(
            out.contains("WRONGPASS") || out.contains("AUTH failed"),
            "{user}'s old password still works: {out}"
        );
    }
    // The Sentinels and the data nodes keep their links with the new passwords: a failover.
    failover(&topo, &mut d);
    // Sentinel saved the new passwords itself, so the bundle's sentinel.conf is what it
    // runs with: `check` finds no drift there.
    for s in topo.sentinels() {
        let conf = std::fs::read_to_string(&s.conf).unwrap();
        assert!(
            conf.contains(&topo.password("sentinel")),
            "{}: auth-pass not saved",
            s.name
        );
        assert!(
            conf.contains("sentinel myid"),
            "{}: Sentinel's id lost",
            s.name
        );
    }
}

/// `audit`'s arguments for the bundle `dir` and one `--url`, with a JSON report.
fn audit_args<'a>(dir: &'a str, url: &'a str) -> [&'a str; 8] {
    [
        "--env",
        "production",
        "--out",
        dir,
        "--url",
        url,
        "--format",
        "json",
    ]
}

/// `audit --url rediss+sentinel://...` asks a Sentinel for the primary and replicas and
/// audits each (a fresh bundle: no finding); `--url` repeated audits each server named.
fn audit_follows_a_sentinel_to_every_data_node(srv: &'static ServerUnderTest) {
    let topo = sentinel_bundle(srv);
    let d = Deployment::start(&topo);
    wait_sentinels_know_all(&topo);
    let dir = topo.dir.to_str().unwrap();
    let sentinel = &topo.sentinels()[1];
    let master = topo.client_env()["REDIS_SENTINEL_MASTER"].clone();
    // As the admin (on the Sentinels too, with the same password): every check runs.
    let admin_pw = topo.password("admin");
    let url = format!(
        "rediss+sentinel://admin@localhost:{}/{master}",
        sentinel.port
    );
    let r = audit(topo.tmp.path(), &audit_args(dir, &url), Some(&admin_pw));
    r.success();
    let audited: Vec<(String, String)> = report(&r)["audited"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["target"].as_str().unwrap().to_owned(),
                a["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut want = vec![(url.clone(), "Sentinel".to_owned())];
    for n in topo.data_nodes() {
        want.push((
            format!("rediss://admin@127.0.0.1:{}", n.port),
            "live server".into(),
        ));
    }
    assert_eq!(audited, want, "{}", r.stdout);
    assert_eq!(
        report(&r)["findings"],
        serde_json::json!([]),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains(&admin_pw) && !r.stderr.contains(&admin_pw));

    // As the app, its password from client.env: what it may not read is only noted (info).
    let url = format!("rediss+sentinel://app@localhost:{}/{master}", sentinel.port);
    let r = audit(topo.tmp.path(), &audit_args(dir, &url), None);
    r.success();
    assert_eq!(
        report(&r)["audited"].as_array().unwrap().len(),
        4,
        "{}",
        r.stdout
    );
    assert_eq!(rules(&r), Vec::<String>::new(), "{}", r.stdout);

    // Several URLs: each audited, in order. A down replica is reported, not audited.
    let data = topo.data_nodes();
    let urls: Vec<String> = data
        .iter()
        .map(|n| format!("rediss://app@localhost:{}", n.port))
        .collect();
    let r = topo.run(&[
        "audit",
        "--env",
        "production",
        "--out",
        dir,
        "--url",
        &urls[2],
        "--url",
        &urls[0],
        "--format",
        "json",
    ]);
    r.success();
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let targets: Vec<&str> = report["audited"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["target"].as_str().unwrap())
        .collect();
    assert_eq!(targets, [urls[2].as_str(), urls[0].as_str()]);

    let mut d = d;
    d.kill9(&data[2].name);
    let r = wait_until(
        "Sentinel to report data-2 down",
        Duration::from_secs(30),
        || {
            let r = topo.run(&[&["audit"][..], &audit_args(dir, &url)].concat());
            if r.stdout.contains("not audited") {
                Ok(r)
            } else {
                Err(r.stdout)
            }
        },
    );
    r.success();
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        report["audited"].as_array().unwrap().len(),
        3,
        "{}",
        r.stdout
    );
    assert_eq!(
        report["findings"][0]["rule"], "check-skipped",
        "{}",
        r.stdout
    );
    assert!(
        report["findings"][0]["text"]
            .as_str()
            .unwrap()
            .contains(&format!(
                "replica 127.0.0.1:{} of {master} not audited",
                data[2].port
            )),
        "{}",
        r.stdout
    );
}

/// `certs status` of a topology bundle lists and verifies every node's certificate (no
/// server needed); one from another deployment's CA, or one inside the warning window, is
/// named and exits 1; after `rotate certs` it reports the new serials.
#[test]
fn certs_status_covers_every_node_certificate() {
    let shape = Shape::Sentinel {
        replicas: 2,
        sentinels: 3,
    };
    let topo = Topology::init(&crate::support::REDIS_7_0, "production", shape, &[]);
    let dir = topo.dir.to_str().unwrap();
    let status = |extra: &[&str]| {
        let status = ["certs", "status", "--env", "production", "--out", dir];
        let r = topo.run(&[&status[..], &["--format", "json"], extra].concat());
        let report: serde_json::Value = serde_json::from_str(&r.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}\n{}", r.stdout, r.stderr));
        (r, report)
    };
    let (r, report) = status(&[]);
    r.success();
    let certs = report["certificates"].as_array().unwrap();
    let sources: Vec<&str> = certs
        .iter()
        .map(|c| c["source"].as_str().unwrap())
        .collect();
    // No single-server pair beside the nodes' own: nothing would read it.
    assert!(!topo.path("tls/server.crt").exists() && !topo.path("tls/server.key").exists());
    let mut want = vec!["tls/ca.crt"];
    let nodes: Vec<String> = topo
        .nodes()
        .iter()
        .map(|n| format!("nodes/{}/tls/node.crt", n.name))
        .collect();
    want.extend(nodes.iter().map(String::as_str));
    want.push("tls/client.crt");
    assert_eq!(sources, want);
    for (c, node) in certs
        .iter()
        .filter(|c| c["source"].as_str().unwrap().starts_with("nodes/"))
        .zip(topo.nodes())
    {
        assert_eq!(c["chain"]["status"], "ok", "{c}");
        let serial = file_serial(&node.dir.join("tls/node.crt")).to_lowercase();
        assert_eq!(
            format!("serial={}", c["serial"].as_str().unwrap()),
            serial,
            "{}",
            node.name
        );
        assert!(
            c["sans"]
                .as_array()
                .unwrap()
                .contains(&"IP:127.0.0.1".into()),
            "{c}"
        );
    }

    // Leaves live 90 days: a 100-day window names each of them.
    let (r, report) = status(&["--warn-days", "100"]);
    r.failure(1);
    let problems = report["problems"].to_string();
    for n in &nodes {
        assert!(
            problems.contains(&format!("{n}: ")),
            "{n} not named: {problems}"
        );
    }

    // A node certificate from another deployment's CA does not verify.
    let other = Topology::init(&crate::support::REDIS_7_0, "production", shape, &[]);
    let stolen = other.path("nodes/data-1/tls/node.crt");
    let theirs = topo.path("nodes/data-1/tls/node.crt");
    let ours = std::fs::read(&theirs).unwrap();
    std::fs::copy(&stolen, &theirs).unwrap();
    let (r, report) = status(&[]);
    r.failure(1);
    assert_eq!(
        report["problems"].as_array().unwrap().len(),
        1,
        "{}",
        report["problems"]
    );
    assert!(
        report["problems"][0]
            .as_str()
            .unwrap()
            .starts_with("nodes/data-1/tls/node.crt: ")
            && report["problems"][0]
                .as_str()
                .unwrap()
                .contains("chain does not verify"),
        "{}",
        report["problems"]
    );
    std::fs::write(&theirs, ours).unwrap();

    topo.rotate("certs", &[]).success();
    let (r, report) = status(&[]);
    r.success();
    for node in topo.nodes() {
        let serial = file_serial(&node.dir.join("tls/node.crt")).to_lowercase();
        let source = format!("nodes/{}/tls/node.crt", node.name);
        let c = report["certificates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["source"] == source.as_str())
            .unwrap();
        assert_eq!(format!("serial={}", c["serial"].as_str().unwrap()), serial);
    }
}

/// `SENTINEL MYID` of a running Sentinel.
fn sentinel_myid(topo: &Topology, name: &str) -> String {
    topo.cli_as(name, OBSERVER).run(&["SENTINEL", "MYID"])
}

/// The ids of the other Sentinels `name` knows (`SENTINEL SENTINELS`), sorted.
fn sentinel_peers(topo: &Topology, name: &str) -> Vec<String> {
    let master = topo.client_env()["REDIS_SENTINEL_MASTER"].clone();
    let out = topo
        .cli_as(name, OBSERVER)
        .run(&["SENTINEL", "SENTINELS", &master]);
    let lines: Vec<&str> = out.lines().collect();
    let mut ids: Vec<String> = lines
        .windows(2)
        .filter(|w| w[0] == "runid")
        .map(|w| w[1].to_owned())
        .collect();
    ids.sort();
    ids
}

/// `rotate passwords` rewrites every sentinel.conf (new auth-pass and sentinel-pass) while the
/// Sentinels run: the files keep each Sentinel's `sentinel myid` and what it learnt. The
/// operator then loads the new ACL files and the data nodes' masterauth as printed, and
/// restarts the Sentinels one at a time (kill -9 and start: no final save) instead of the
/// live SENTINEL SET: each comes back with the same id, logs in with the new passwords, and
/// the others list it once, under that id (a new id would be a fourth Sentinel to them).
fn sentinels_keep_their_ids_through_a_password_rotation_and_restart(srv: &'static ServerUnderTest) {
    let topo = sentinel_bundle(srv);
    let mut d = Deployment::start(&topo);
    wait_ready(&topo, &d);
    let sentinels = topo.sentinels();
    let ids: Vec<String> = sentinels
        .iter()
        .map(|s| sentinel_myid(&topo, &s.name))
        .collect();
    for id in &ids {
        assert_eq!(id.len(), 40, "{ids:?}");
    }
    let old_auth = topo.password("sentinel");

    let r = topo.rotate("passwords", &["--format", "json"]);
    r.success();
    let new_auth = topo.password("sentinel");
    assert_ne!(old_auth, new_auth);
    // The rewritten files: our new lines, Sentinel's id and what it learnt.
    for (s, id) in sentinels.iter().zip(&ids) {
        let conf = std::fs::read_to_string(&s.conf).unwrap();
        assert!(conf.contains(&new_auth), "{}: no new auth-pass", s.name);
        assert!(
            conf.lines().any(|l| l == format!("sentinel myid {id}")),
            "{}: Sentinel's id lost by the rewrite:\n{conf}",
            s.name
        );
        assert_eq!(
            conf.lines()
                .filter(|l| l.starts_with("sentinel known-sentinel "))
                .count(),
            2,
            "{}: {conf}",
            s.name
        );
    }
    // `render` over the rewritten files changes nothing of Sentinel's.
    let dir = topo.dir.to_str().unwrap();
    topo.run(&["render", "--env", "production", "--out", dir])
        .success();
    for (s, id) in sentinels.iter().zip(&ids) {
        let conf = std::fs::read_to_string(&s.conf).unwrap();
        assert!(conf.contains(&format!("sentinel myid {id}")), "{}", s.name);
    }

    // The printed plan, but the Sentinels take their new passwords by a restart: every
    // ACL LOAD and the data nodes' CONFIG SET masterauth, no SENTINEL SET.
    let summary: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    for step in summary["rollout"].as_array().expect("a rollout plan") {
        let node = step["node"].as_str().unwrap();
        assert_eq!(step["action"], "reload", "{}", r.stdout);
        for c in step["commands"].as_array().unwrap() {
            let c = c.as_str().unwrap();
            if node.starts_with("sentinel-") && !c.contains("ACL LOAD") {
                continue;
            }
            assert_eq!(operator_sh(&topo, c), "OK", "{node}: {c}");
        }
    }
    // The ids of every Sentinel but the i-th, sorted.
    let others_of = |i: usize| -> Vec<String> {
        let mut others: Vec<String> = ids
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, id)| id.clone())
            .collect();
        others.sort();
        others
    };
    for (i, s) in sentinels.iter().enumerate() {
        d.restart(&s.name);
        wait_until(
            &format!("{} back, seeing 2 replicas and 2 other Sentinels", s.name),
            Duration::from_secs(30),
            || sentinel_sees(&topo, &s.name, 2, 2),
        );
        assert_eq!(sentinel_myid(&topo, &s.name), ids[i], "{}", s.name);
        let others = others_of(i);
        assert_eq!(sentinel_peers(&topo, &s.name), others, "{}", s.name);
    }
    // Every Sentinel lists exactly the two others, under their original ids.
    for (i, s) in sentinels.iter().enumerate() {
        let others = others_of(i);
        wait_until(
            &format!("{} to list the two others under their ids", s.name),
            Duration::from_secs(20),
            || {
                let peers = sentinel_peers(&topo, &s.name);
                if peers == others {
                    Ok(())
                } else {
                    Err(format!("{peers:?}"))
                }
            },
        );
    }
    sentinel_client_writes(&topo, &d, "none");
    assert_acl_logs_empty(&topo, &d);
}
