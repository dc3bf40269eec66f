//! Network namespaces for live tests: addresses and links that exist only for one test,
//! and the processes started in them, all removed when the test ends (also when it fails).

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use super::require;

pub fn output(cmd: &mut Command) -> (Output, String) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text)
}

/// Runs `cmd` and fails the test, with its output, unless it succeeds.
#[track_caller]
pub fn ok(cmd: &mut Command) -> String {
    let (out, text) = output(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{text}",
        out.status
    );
    text
}

pub fn cmd(program: &str, args: &[&str]) -> Command {
    let mut c = Command::new(program);
    c.args(args);
    c
}

static NEXT_LAB: AtomicU32 = AtomicU32::new(0);

/// Network namespaces made by one test, with the processes started in them. Drop removes
/// them all, also when the test fails.
pub struct Lab {
    pub prefix: String,
    namespaces: Vec<String>,
    children: Vec<Child>,
    /// /etc/netns/NS directories made by [`Lab::hosts`].
    etc: Vec<std::path::PathBuf>,
}

impl Lab {
    pub fn new() -> Lab {
        require("ip", "apt-get install -y iproute2");
        Lab {
            // Unique per process and test, so parallel tests and runs never share one.
            prefix: format!(
                "rh{}-{}",
                std::process::id(),
                NEXT_LAB.fetch_add(1, Ordering::SeqCst)
            ),
            namespaces: vec![],
            children: vec![],
            etc: vec![],
        }
    }

    /// Creates namespace `name` with loopback up; returns its full name.
    pub fn add(&mut self, name: &str) -> String {
        let ns = format!("{}-{name}", self.prefix);
        // Recorded first: a namespace half made is still removed.
        self.namespaces.push(ns.clone());
        let (out, text) = output(&mut cmd("ip", &["netns", "add", &ns]));
        assert!(
            out.status.success(),
            "ip netns add {ns} failed: network namespaces need root (run the tests as root):\n{text}"
        );
        ok(&mut cmd("ip", &["-n", &ns, "link", "set", "lo", "up"]));
        ns
    }

    /// A veth pair from `a` to `b`; each end gets its address (CIDR notation) and goes up.
    pub fn link(&self, (a, a_addr): (&str, &str), (b, b_addr): (&str, &str), name: &str) {
        let (a_if, b_if) = (format!("{name}0"), format!("{name}1"));
        ok(&mut cmd(
            "ip",
            &[
                "link", "add", &a_if, "netns", a, "type", "veth", "peer", "name", &b_if, "netns", b,
            ],
        ));
        for (ns, ifname, addr) in [(a, &a_if, a_addr), (b, &b_if, b_addr)] {
            ok(&mut cmd(
                "ip",
                &["-n", ns, "addr", "add", addr, "dev", ifname],
            ));
            ok(&mut cmd("ip", &["-n", ns, "link", "set", ifname, "up"]));
        }
    }

    /// A dummy interface `name` in `ns` holding `addrs` (CIDR notation), up: addresses a
    /// process in `ns` can bind and reach without any link to another namespace.
    pub fn dummy(&self, ns: &str, name: &str, addrs: &[String]) {
        ok(&mut cmd(
            "ip",
            &["-n", ns, "link", "add", name, "type", "dummy"],
        ));
        for addr in addrs {
            ok(&mut cmd(
                "ip",
                &["-n", ns, "addr", "add", addr, "dev", name],
            ));
        }
        ok(&mut cmd("ip", &["-n", ns, "link", "set", name, "up"]));
    }

    /// A bridge `name` in `ns`, up: the switch of a simulated compose network.
    pub fn bridge(&self, ns: &str, name: &str) {
        ok(&mut cmd(
            "ip",
            &["-n", ns, "link", "add", name, "type", "bridge"],
        ));
        ok(&mut cmd("ip", &["-n", ns, "link", "set", name, "up"]));
    }

    /// Plugs `ns` into the bridge `bridge` of `switch` through a veth pair `name0`/`name1`,
    /// `ns`'s end holding `addr` (CIDR notation): what Docker does for each container.
    pub fn plug(&self, ns: &str, addr: &str, (switch, bridge): (&str, &str), name: &str) {
        let (a_if, b_if) = (format!("{name}0"), format!("{name}1"));
        ok(&mut cmd(
            "ip",
            &[
                "link", "add", &a_if, "netns", ns, "type", "veth", "peer", "name", &b_if, "netns",
                switch,
            ],
        ));
        ok(&mut cmd(
            "ip",
            &["-n", ns, "addr", "add", addr, "dev", &a_if],
        ));
        ok(&mut cmd("ip", &["-n", ns, "link", "set", &a_if, "up"]));
        ok(&mut cmd(
            "ip",
            &["-n", switch, "link", "set", &b_if, "master", bridge],
        ));
        ok(&mut cmd("ip", &["-n", switch, "link", "set", &b_if, "up"]));
    }

    /// `ns`'s own /etc/hosts (`ip netns exec` mounts /etc/netns/NS/hosts over /etc/hosts):
    /// names resolve there as a compose network's DNS resolves service names.
    pub fn hosts(&mut self, ns: &str, entries: &[(String, String)]) {
        let dir = Path::new("/etc/netns").join(ns);
        std::fs::create_dir_all(&dir).unwrap();
        self.etc.push(dir.clone());
        let mut text = "127.0.0.1 localhost\n::1 localhost\n".to_owned();
        for (ip, name) in entries {
            text.push_str(&format!("{ip} {name}\n"));
        }
        std::fs::write(dir.join("hosts"), text).unwrap();
    }

    /// A command run inside namespace `ns`.
    pub fn exec(&self, ns: &str, args: &[&str]) -> Command {
        let mut c = cmd("ip", &["netns", "exec", ns]);
        c.args(args);
        c
    }

    /// Starts a long-running process in `ns`; it is killed when the lab is dropped.
    pub fn spawn(&mut self, ns: &str, args: &[&str], log: &Path) {
        let log = std::fs::File::create(log).unwrap();
        let child = self
            .exec(ns, args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("start {args:?} in {ns}: {e}"));
        self.children.push(child);
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        for dir in &self.etc {
            let _ = std::fs::remove_dir_all(dir);
        }
        for ns in self.namespaces.iter().rev() {
            // Whatever still runs in a namespace of ours was started by this test.
            if let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() {
                for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    let _ = Command::new("kill").args(["-KILL", pid]).status();
                }
            }
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
    }
}
