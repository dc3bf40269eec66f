//! Sentinel, live: a primary, two replicas and three sentinels on loopback, TLS-only with
//! mTLS, a real failover after `kill -9` of the primary, a redis-py `Sentinel` client
//! configured only from client.env, and every node's ACL LOG empty throughout.

use std::time::Duration;

use crate::support::ServerUnderTest;
use crate::support::topology::{
    Deployment, PY_CLIENT_ENV, Shape, Topology, info_field, python, wait_until,
};

/// The servers the Sentinel tests run on: Redis 7.0 (Debian 12's) and Valkey 8.1.
macro_rules! on_sentinel_servers {
    ($($name:ident),* $(,)?) => {
        mod redis_7_0 {
            $(#[test] fn $name() { super::$name(&crate::support::REDIS_7_0) })*
        }
        mod valkey_8_1 {
            $(#[test] fn $name() { super::$name(&crate::support::VALKEY_8_1) })*
        }
    };
}

on_sentinel_servers!(sentinel_failover_from_one_init);

/// The "Done means": a primary, two replicas and three Sentinels from one `init`,
/// TLS-only with mTLS, survive `kill -9` of the primary; the admin user (enabled here) reads
/// INFO and ACL LOG on every node.
fn sentinel_failover_from_one_init(srv: &'static ServerUnderTest) {
    let topo = Topology::init(
        srv,
        "production",
        Shape::Sentinel {
            replicas: 2,
            sentinels: 3,
        },
        &["--set", "acl.admin.enabled=true"],
    );
    failover(&topo, "admin");
}

/// The "Done means" scenario on a started deployment; `observer` is the user that reads
/// INFO and ACL LOG on every node.
fn failover(topo: &Topology, observer: &str) {
    let mut d = Deployment::start(topo);
    let data = topo.data_nodes();
    let sentinels = topo.sentinels();
    assert_eq!((data.len(), sentinels.len()), (3, 3), "{:?}", topo.nodes());
    let as_observer = |name: &str| topo.cli_as(name, observer);

    // TLS only: each process listens on its TLS port and nothing else, and a plaintext
    // client gets no answer there.
    for node in data.iter().chain(&sentinels) {
        assert!(node.tls, "{} has no TLS listener", node.name);
        assert_eq!(d.listening_ports(&node.name), [node.port], "{}", node.name);
        let out = topo.cli(node).plaintext().user("app", "x").run(&["PING"]);
        assert!(
            !out.contains("PONG"),
            "{} answered plaintext: {out}",
            node.name
        );
    }

    let primary = &data[0];
    let replicas = &data[1..];
    // Linked: both replicas up, and still up 3 s later (a missing +replconf makes the link
    // flap about once a second), with data flowing (offset above 0).
    let linked = |name: &str| -> Result<u64, String> {
        let info = as_observer(name).run(&["INFO", "replication"]);
        let up = info_field(&info, "master_link_status").as_deref() == Some("up");
        let offset: u64 = info_field(&info, "slave_repl_offset")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if up && offset > 0 {
            Ok(offset)
        } else {
            Err(info)
        }
    };
    for r in replicas {
        wait_until(
            &format!("{} linked", r.name),
            Duration::from_secs(20),
            || linked(&r.name),
        );
    }
    std::thread::sleep(Duration::from_secs(3));
    for r in replicas {
        linked(&r.name).unwrap_or_else(|info| panic!("{} unlinked after 3 s: {info}", r.name));
    }
    let info = as_observer(&primary.name).run(&["INFO", "replication"]);
    assert_eq!(
        info_field(&info, "role").as_deref(),
        Some("master"),
        "{info}"
    );
    assert_eq!(
        info_field(&info, "connected_slaves").as_deref(),
        Some("2"),
        "{info}"
    );
    for r in replicas {
        // The replica announced its TLS port: the link runs over TLS (no plaintext port exists).
        assert!(
            info.contains(&format!("port={},state=online", r.port)),
            "{info}"
        );
    }

    // A write as the app, acknowledged by both replicas.
    let env = topo.path("client.env");
    let script = format!(
        "{PY_CLIENT_ENV}
import redis
r = redis.Redis.from_url(env['REDIS_URL'], ssl_ca_certs=env['REDIS_TLS_CA_FILE'],
    ssl_certfile=env['REDIS_TLS_CERT_FILE'], ssl_keyfile=env['REDIS_TLS_KEY_FILE'],
    ssl_cert_reqs='required', ssl_check_hostname=True)
r.set('before', 'failover')
print(r.execute_command('WAIT', 2, 2000))
"
    );
    let url = topo.client_env()["REDIS_URL"].clone();
    assert!(
        url.contains(&format!(":{}", primary.port)),
        "REDIS_URL is not the primary: {url}"
    );
    let (ok, out) = python(&script, &[env.to_str().unwrap()], 20);
    assert!(ok && out.trim() == "2", "WAIT 2 did not return 2: {out}");

    // The sentinels found each other and both replicas.
    for s in &sentinels {
        wait_until(
            &format!("{} sees the deployment", s.name),
            Duration::from_secs(20),
            || {
                let out = as_observer(&s.name).run(&["SENTINEL", "MASTERS"]);
                let found = |field: &str, want: &str| {
                    out.lines()
                        .collect::<Vec<_>>()
                        .windows(2)
                        .any(|w| w[0] == field && w[1] == want)
                };
                if found("num-slaves", "2") && found("num-other-sentinels", "2") {
                    Ok(())
                } else {
                    Err(out)
                }
            },
        );
    }
    assert_acl_logs_empty(topo, &d, observer);

    // The Sentinel client, from client.env alone: before the failover it writes to the
    // primary; after `kill -9` of the primary it writes to the promoted replica within 15 s.
    let sentinel_client = format!(
        "{PY_CLIENT_ENV}
import time, urllib.parse, redis
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
        if addr.endswith(':' + avoid):
            raise Exception('still the old primary ' + addr)
        s.master_for(name).set('written-by', 'sentinel-client')
        assert s.slave_for(name).ping()
        print(addr.rsplit(':', 1)[1])
        sys.exit(0)
    except Exception as e:
        last = repr(e)
        time.sleep(0.2)
sys.exit('no write within the bound; last error: %s' % last)
"
    );
    let env_arg = env.to_str().unwrap();
    let (ok, out) = python(&sentinel_client, &[env_arg, "none", "15"], 30);
    assert!(
        ok,
        "Sentinel client could not write before the failover: {out}\n{}",
        d.logs()
    );
    assert_eq!(out.trim(), primary.port.to_string());

    d.kill9(&primary.name);
    let old = primary.port.to_string();
    let (ok, out) = python(&sentinel_client, &[env_arg, &old, "15"], 30);
    assert!(
        ok,
        "no write to a new primary within 15 s: {out}\n{}",
        d.logs()
    );
    let new_port: u16 = out.trim().parse().unwrap();
    let promoted = replicas
        .iter()
        .find(|r| r.port == new_port)
        .unwrap_or_else(|| panic!("promoted {new_port} is not a replica"));
    let info = as_observer(&promoted.name).run(&["INFO", "replication"]);
    assert_eq!(
        info_field(&info, "role").as_deref(),
        Some("master"),
        "{info}"
    );

    // The old primary comes back and Sentinel turns it into a replica of the new one.
    d.start_node(&primary.name);
    wait_until(
        "the old primary rejoins as a replica",
        Duration::from_secs(45),
        || {
            let info = as_observer(&primary.name).run(&["INFO", "replication"]);
            let ok = info_field(&info, "role").as_deref() == Some("slave")
                && info_field(&info, "master_port") == Some(new_port.to_string())
                && info_field(&info, "master_link_status").as_deref() == Some("up");
            if ok { Ok(()) } else { Err(info) }
        },
    );
    assert_acl_logs_empty(topo, &d, observer);
}

/// No denied command and no failed login on any running node: every rule set is enough
/// for what the deployment does.
#[track_caller]
fn assert_acl_logs_empty(topo: &Topology, d: &Deployment, observer: &str) {
    for node in topo.nodes() {
        if !d.is_running(&node.name) {
            continue;
        }
        let log = topo.cli_as(&node.name, observer).run(&["ACL", "LOG"]);
        assert_eq!(log, "", "{}: ACL LOG is not empty", node.name);
    }
}
