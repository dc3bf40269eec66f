//! Sentinel, live: a primary, two replicas and three sentinels on loopback, TLS-only with
//! mTLS, a real failover after `kill -9` of the primary, a redis-py `Sentinel` client
//! configured only from client.env, and every node's ACL LOG empty throughout.

use std::time::Duration;

use crate::support::topology::{
    Deployment, PY_CLIENT_ENV, Topology, info_field, python, wait_until,
};
use crate::support::{ServerUnderTest, env_file, run};

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

on_sentinel_servers!(harness_boots_a_hand_made_sentinel_deployment);

/// TEMPORARY: a Sentinel deployment written by hand from topology-facts.md on top of a
/// standalone production bundle (its server certificate has serverAuth and clientAuth), to
/// prove the harness until `init` writes topology bundles.
fn fixture(srv: &'static ServerUnderTest) -> Topology {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bundle");
    let first = crate::support::topology::free_port_run(6);
    let port = format!("redis.port={first}");
    let mut args = vec![
        "init",
        "--env",
        "production",
        "--out",
        dir.to_str().unwrap(),
        "--set",
        &port,
        "--set",
        "acl.admin.enabled=true",
    ];
    args.extend_from_slice(srv.init_args);
    run(tmp.path(), &args).success();
    let d = dir.to_str().unwrap();
    let base = std::fs::read_to_string(dir.join("redis.conf")).unwrap();
    let (repl_pw, sent_pw, peer_pw) =
        ("repl-pw-123456789", "sent-pw-123456789", "peer-pw-12345678");
    let secrets = env_file(&dir.join("secrets.env"));
    let app_pw = &secrets["REDIS_PASSWORD_APP"];
    let admin_pw = &secrets["REDIS_PASSWORD_ADMIN"];
    let mut acl = std::fs::read_to_string(dir.join("users.acl")).unwrap();
    acl.push_str(&format!(
        "user replicator on >{repl_pw} resetkeys resetchannels -@all +psync +replconf +ping\n\
         user sentinel on >{sent_pw} resetkeys resetchannels -@all +ping +info +publish +subscribe +multi +exec +slaveof +config|rewrite +client|kill +client|setname +script|kill &__sentinel__:hello\n"
    ));
    std::fs::write(dir.join("users.acl"), acl).unwrap();
    for i in 0..3u16 {
        let node = dir.join(format!("nodes/data-{i}"));
        std::fs::create_dir_all(node.join("data")).unwrap();
        let mut conf: String = base
            .lines()
            .filter(|l| {
                !l.starts_with("tls-port") && !l.starts_with("dir ") && !l.starts_with("save ")
            })
            .map(|l| format!("{l}\n"))
            .collect();
        conf.push_str(&format!(
            "tls-port {}\ndir \"{}/data\"\nsave \"\"\nmasteruser replicator\nmasterauth {repl_pw}\nreplica-read-only yes\nrepl-diskless-sync-delay 0\n",
            first + i,
            node.display()
        ));
        if i > 0 {
            conf.push_str(&format!("replicaof 127.0.0.1 {first}\n"));
        }
        std::fs::write(node.join("redis.conf"), conf).unwrap();
    }
    let mut sentinels = vec![];
    for i in 0..3u16 {
        let node = dir.join(format!("nodes/sentinel-{i}"));
        std::fs::create_dir_all(&node).unwrap();
        let port = first + 3 + i;
        sentinels.push(format!("127.0.0.1:{port}"));
        let conf = format!(
            "port 0\ntls-port {port}\nbind 127.0.0.1\ndir \"{n}\"\n\
             tls-cert-file \"{d}/tls/server.crt\"\ntls-key-file \"{d}/tls/server.key\"\ntls-ca-cert-file \"{d}/tls/ca.crt\"\n\
             tls-auth-clients yes\ntls-protocols \"TLSv1.3\"\ntls-replication yes\n\
             user default off resetpass resetkeys resetchannels -@all\n\
             user sentinel-peer on >{peer_pw} resetkeys resetchannels -@all +ping +publish +sentinel|is-master-down-by-addr +client|setname &__sentinel__:hello\n\
             user app on >{app_pw} resetkeys resetchannels -@all +sentinel|masters +sentinel|slaves +sentinel|get-master-addr-by-name +ping{setinfo}\n\
             user admin on >{admin_pw} ~* &* +@all\n\
             sentinel sentinel-user sentinel-peer\nsentinel sentinel-pass {peer_pw}\n\
             sentinel monitor redis 127.0.0.1 {first} 2\n\
             sentinel down-after-milliseconds redis 2000\nsentinel failover-timeout redis 10000\n\
             sentinel parallel-syncs redis 1\nsentinel auth-user redis sentinel\nsentinel auth-pass redis {sent_pw}\n",
            n = node.display(),
            setinfo = if srv.version == (7, 0) {
                ""
            } else {
                " +client|setinfo"
            },
        );
        std::fs::write(node.join("sentinel.conf"), conf).unwrap();
    }
    let mut client = std::fs::read_to_string(dir.join("client.env")).unwrap();
    client.push_str(&format!(
        "REDIS_SENTINELS={}\nREDIS_SENTINEL_MASTER=redis\n",
        sentinels.join(",")
    ));
    std::fs::write(dir.join("client.env"), client).unwrap();
    let _ = d;
    Topology::open(tmp, dir, "production", srv)
}

fn harness_boots_a_hand_made_sentinel_deployment(srv: &'static ServerUnderTest) {
    let topo = fixture(srv);
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
