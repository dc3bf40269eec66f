//! The policy checks, format by format.

use super::*;

fn prod() -> Policy {
    Policy::for_env(Environment::Production, false, false)
}

fn ids(name: &str, content: &str, p: &Policy) -> Vec<&'static str> {
    check(name, content, p)
        .into_iter()
        .map(|f| f.rule)
        .collect()
}

const GOOD_CONF: &str = "bind 127.0.0.1\nprotected-mode yes\nport 0\ntls-port 6379\n\
    tls-auth-clients yes\ntls-protocols \"TLSv1.3\"\naclfile \"/etc/redis/users.acl\"\n\
    enable-debug-command no\nenable-module-command no\nenable-protected-configs no\n";

#[test]
fn a_hardened_conf_passes() {
    assert!(ids("redis.conf", GOOD_CONF, &prod()).is_empty());
}

#[test]
fn each_weakening_is_found() {
    let cases = [
        ("port 0", "port 6379", PLAINTEXT_PORT.id),
        (
            "tls-protocols \"TLSv1.3\"",
            "tls-protocols \"TLSv1.2 TLSv1.3\"",
            TLS_PROTOCOLS.id,
        ),
        (
            "tls-auth-clients yes",
            "tls-auth-clients optional",
            TLS_AUTH_CLIENTS.id,
        ),
        ("protected-mode yes", "protected-mode no", PROTECTED_MODE.id),
        (
            "enable-debug-command no",
            "enable-debug-command local",
            DEBUG_COMMAND.id,
        ),
        (
            "enable-module-command no",
            "enable-module-command yes",
            MODULE_COMMAND.id,
        ),
        (
            "enable-protected-configs no",
            "enable-protected-configs yes",
            PROTECTED_CONFIGS.id,
        ),
        ("aclfile \"/etc/redis/users.acl\"", "", ACLFILE.id),
        ("bind 127.0.0.1", "bind 0.0.0.0", BIND_ALL.id),
        ("bind 127.0.0.1", "bind * -::*", BIND_ALL.id),
        ("bind 127.0.0.1", "bind ::0", BIND_ALL.id),
        ("bind 127.0.0.1", "bind 0:0:0:0:0:0:0:0", BIND_ALL.id),
        (
            "tls-protocols \"TLSv1.3\"",
            "tls-protocols \"\"",
            TLS_PROTOCOLS.id,
        ),
        (
            "aclfile \"/etc/redis/users.acl\"",
            "aclfile \"\"",
            ACLFILE.id,
        ),
        (
            "bind 127.0.0.1",
            "bind 127.0.0.1\ninclude /etc/redis/extra.conf",
            INCLUDE.id,
        ),
    ];
    for (from, to, rule) in cases {
        let conf = GOOD_CONF.replace(from, to);
        assert_eq!(ids("redis.conf", &conf, &prod()), [rule], "{to}");
    }
    let conf = format!("{GOOD_CONF}user app on >secret ~* +@all\nrequirepass hunter2\n");
    let found = check("redis.conf", &conf, &prod());
    // The inline user gets the ACL checks too.
    assert_eq!(
        found.iter().map(|f| f.rule).collect::<Vec<_>>(),
        [
            USER_IN_CONF.id,
            ACL_PLAINTEXT_PASSWORD.id,
            APP_PERMISSIONS.id,
            PASSWORD_IN_CONF.id
        ]
    );
    assert!(
        found
            .iter()
            .all(|f| !f.text.contains("secret") && !f.text.contains("hunter2")),
        "{found:?}"
    );
}

#[test]
fn firewall_allows_binding_all_interfaces() {
    let conf = GOOD_CONF.replace("bind 127.0.0.1", "bind 0.0.0.0");
    assert!(
        ids(
            "redis.conf",
            &conf,
            &Policy::for_env(Environment::Production, true, false)
        )
        .is_empty()
    );
}

#[test]
fn testing_allows_plaintext_on_loopback_only() {
    let p = Policy::for_env(Environment::Testing, false, false);
    let conf = "bind 127.0.0.1 -::1\nport 6379\naclfile x\n";
    assert!(ids("redis.conf", conf, &p).is_empty());
    assert_eq!(
        ids(
            "redis.conf",
            &conf.replace("127.0.0.1 -::1", "10.0.0.1"),
            &p
        ),
        [PLAINTEXT_BIND.id]
    );
}

#[test]
fn acl_rules() {
    let good = "user default off resetpass -@all\nuser app on #ab ~* +@all -@dangerous -@admin -@scripting\nuser admin off #cd ~* +@all\n";
    assert!(ids("users.acl", good, &prod()).is_empty());
    for (bad, rule) in [
        ("user default on resetpass ~* +@all\n", DEFAULT_USER.id),
        ("user app on >pw ~* -@all +get\n", ACL_PLAINTEXT_PASSWORD.id),
        (
            "user app on #ab ~* +@all -@dangerous -@admin\n",
            APP_PERMISSIONS.id,
        ),
        (
            "user app on #ab ~* -@all +@read +eval\n",
            APP_PERMISSIONS.id,
        ),
        (
            "user worker on #ab ~* -@all +@read +config|set\n",
            APP_PERMISSIONS.id,
        ),
    ] {
        let acl = format!("user default off -@all\n{bad}");
        let acl = if bad.starts_with("user default") {
            bad.to_owned()
        } else {
            acl
        };
        assert_eq!(ids("users.acl", &acl, &prod()), [rule], "{bad}");
    }
    assert_eq!(
        ids("users.acl", "user app on #ab ~* -@all +get\n", &prod()),
        [DEFAULT_USER.id]
    );
    // Removing a forbidden command again makes it fine.
    assert!(
        ids(
            "users.acl",
            "user default off\nuser app on #a ~* -@all +get +eval -eval\n",
            &prod()
        )
        .is_empty()
    );
}

#[test]
fn dragonfly_flags() {
    // Staging: TLS and client certificates required, TLS 1.2 allowed.
    let staging = Policy::for_env(Environment::Staging, false, false);
    assert_eq!(
        ids("dragonfly.flags", "--bind=127.0.0.1\n", &staging),
        [
            DRAGONFLY_HTTP.id,
            PLAINTEXT_PORT.id,
            ACLFILE.id,
            DRAGONFLY_VERSION_CHECK.id
        ]
    );
    let ok = "--version_check=false\n--primary_port_http_enabled=false\n--admin_port=9999\n--admin_bind=127.0.0.1\n--admin_nopass=false\n\
        --tls=true\n--tls_ca_cert_file=/c/ca.crt\n--aclfile=/c/users.acl\n";
    assert!(ids("dragonfly.flags", ok, &staging).is_empty());
    for (from, to, rule) in [
        ("--tls=true", "--tls=false", PLAINTEXT_PORT.id),
        ("--tls_ca_cert_file=/c/ca.crt", "", TLS_AUTH_CLIENTS.id),
        ("--aclfile=/c/users.acl", "--aclfile=", ACLFILE.id),
    ] {
        assert_eq!(
            ids("dragonfly.flags", &ok.replace(from, to), &staging),
            [rule],
            "{to}"
        );
    }
    // Testing has no TLS: a plaintext Dragonfly is what it asks for.
    let testing = Policy::for_env(Environment::Testing, false, false);
    assert!(ids("dragonfly.flags", &ok.replace("--tls=true", ""), &testing).is_empty());
    assert_eq!(
        ids(
            "dragonfly.flags",
            &ok.replace("127.0.0.1", "0.0.0.0"),
            &staging
        ),
        [DRAGONFLY_ADMIN.id]
    );
}

const GOOD_FLAGS: &str = "--version_check=false\n--bind=10.0.0.5\n--port=6379\n--memcached_port=0\n--primary_port_http_enabled=false\n\
    --admin_port=0\n--admin_nopass=false\n--tls=true\n--tls_ca_cert_file=/c/ca.crt\n--aclfile=/c/users.acl\n";

#[test]
fn dragonfly_flags_are_read_like_absl() {
    let staging = Policy::for_env(Environment::Staging, false, false);
    let flags = |from: &str, to: &str| GOOD_FLAGS.replace(from, to);
    assert!(ids("dragonfly.flags", GOOD_FLAGS, &staging).is_empty());
    // --noX is X=false; booleans are true/false, t/f, yes/no, y/n, 1/0 in any case.
    for off in [
        "--notls",
        "--tls=f",
        "--tls=0",
        "--tls=NO",
        "--tls=n",
        "--tls=False",
        "-tls=false",
        "--tls=maybe",
        "--tls=",
    ] {
        assert_eq!(
            ids("dragonfly.flags", &flags("--tls=true", off), &staging),
            [PLAINTEXT_PORT.id],
            "{off}"
        );
    }
    for on in [
        "--tls",
        "--tls=t",
        "--tls=YES",
        "--tls=y",
        "--tls=1",
        "--tls= true ",
        "-tls",
    ] {
        assert!(
            ids("dragonfly.flags", &flags("--tls=true", on), &staging).is_empty(),
            "{on}"
        );
    }
    // The last one wins.
    assert_eq!(
        ids(
            "dragonfly.flags",
            &format!("{GOOD_FLAGS}--notls\n"),
            &staging
        ),
        [PLAINTEXT_PORT.id]
    );
    for on in [
        "--primary_port_http_enabled",
        "--primary_port_http_enabled=t",
        "--primary_port_http_enabled=bogus",
    ] {
        assert_eq!(
            ids(
                "dragonfly.flags",
                &flags("--primary_port_http_enabled=false", on),
                &staging
            ),
            [DRAGONFLY_HTTP.id],
            "{on}"
        );
    }
    for off in [
        "--noprimary_port_http_enabled",
        "--primary_port_http_enabled=N",
    ] {
        assert!(
            ids(
                "dragonfly.flags",
                &flags("--primary_port_http_enabled=false", off),
                &staging
            )
            .is_empty(),
            "{off}"
        );
    }
    // --noadmin_nopass is admin_nopass=false; an open admin port needs it and loopback.
    let admin = "--admin_port=9999\n--admin_bind=127.0.0.1\n--noadmin_nopass";
    assert!(
        ids(
            "dragonfly.flags",
            &flags("--admin_port=0\n--admin_nopass=false", admin),
            &staging
        )
        .is_empty()
    );
    let admin = "--admin_port=0x270f\n--admin_bind=127.0.0.1\n--admin_nopass";
    assert_eq!(
        ids(
            "dragonfly.flags",
            &flags("--admin_port=0\n--admin_nopass=false", admin),
            &staging
        ),
        [DRAGONFLY_ADMIN.id]
    );
    // A flag that is itself named no...: not a negation.
    assert!(
        ids(
            "dragonfly.flags",
            &format!("{GOOD_FLAGS}--no_tls_on_admin_port\n"),
            &staging
        )
        .is_empty()
    );
}

#[test]
fn dragonfly_unauthenticated_listeners() {
    let staging = Policy::for_env(Environment::Staging, false, false);
    for (from, to) in [
        ("--memcached_port=0", "--memcached_port=11211"),
        ("--memcached_port=0", "--memcached_port=0x2bcb"),
        ("--memcached_port=0", "--memcached_port= 11211"),
        (
            "--memcached_port=0",
            "--memcached_port=0\n--memcached_port=11211",
        ),
        (
            "--memcached_port=0",
            "--memcached_port=0\n--unixsocket=/run/dfly.sock",
        ),
    ] {
        assert_eq!(
            ids("dragonfly.flags", &GOOD_FLAGS.replace(from, to), &staging),
            [DRAGONFLY_UNAUTHENTICATED.id],
            "{to}"
        );
    }
    for fine in [
        "--memcached_port=00",
        "--unixsocket=",
        "--memcached_port=0\n--unixsocket= ",
    ] {
        assert!(
            ids(
                "dragonfly.flags",
                &GOOD_FLAGS.replace("--memcached_port=0", fine),
                &staging
            )
            .is_empty(),
            "{fine}"
        );
    }
    assert_eq!(DRAGONFLY_UNAUTHENTICATED.severity, Severity::Critical);
}

#[test]
fn dragonfly_bind_and_nested_flagfiles() {
    let staging = Policy::for_env(Environment::Staging, false, false);
    for all in [
        "--bind=0.0.0.0",
        "--bind=::",
        "--bind=",
        "--bind=[::]",
        "--bind=0:0:0:0:0:0:0:0",
    ] {
        let flags = GOOD_FLAGS.replace("--bind=10.0.0.5", all);
        assert_eq!(
            ids("dragonfly.flags", &flags, &staging),
            [BIND_ALL.id],
            "{all}"
        );
        // Allowed behind a firewall, and in a container (its own network namespace).
        for (firewalled, container) in [(true, false), (false, true)] {
            let p = Policy::for_env(Environment::Staging, firewalled, container);
            assert!(ids("dragonfly.flags", &flags, &p).is_empty(), "{all}");
        }
    }
    for include in [
        "--flagfile=/etc/dragonfly/more.flags",
        "--fromenv=tls",
        "--tryfromenv=tls",
    ] {
        let flags = format!("{GOOD_FLAGS}{include}\n");
        assert_eq!(
            ids("dragonfly.flags", &flags, &staging),
            [INCLUDE.id],
            "{include}"
        );
    }
}

#[test]
fn dragonfly_cannot_refuse_tls12_which_is_a_note_in_production() {
    let found = check("dragonfly.flags", GOOD_FLAGS, &prod());
    assert_eq!(
        found.iter().map(|f| (f.rule, f.line)).collect::<Vec<_>>(),
        [(DRAGONFLY_TLS12.id, Some(8))]
    );
    assert_eq!(DRAGONFLY_TLS12.severity, Severity::Low);
    // Not where TLS 1.2 is allowed, and not without TLS.
    let staging = Policy::for_env(Environment::Staging, false, false);
    assert!(ids("dragonfly.flags", GOOD_FLAGS, &staging).is_empty());
    assert_eq!(
        ids(
            "dragonfly.flags",
            &GOOD_FLAGS.replace("--tls=true", "--notls"),
            &prod()
        ),
        [PLAINTEXT_PORT.id]
    );
}

#[test]
fn compose_hardening() {
    let base = "services:\n  redis:\n    image: \"redis:7.0.15-bookworm\"\n    user: \"999:999\"\n    cap_drop: [ALL]\n    read_only: true\n    security_opt: [\"no-new-privileges:true\"]\n";
    assert!(ids("docker-compose.yml", base, &prod()).is_empty());
    for (extra, line) in [
        ("    network_mode: host\n", 8),
        ("    network_mode: \"host\"\n", 8),
        ("    network_mode: \"service:x\"\n", 8),
        ("    network_mode: \"container:abc\"\n", 8),
        ("    pid: host\n", 8),
        ("    ipc: host\n", 8),
        ("    userns_mode: host\n", 8),
        ("    devices: [\"/dev/sda:/dev/sda\"]\n", 8),
        ("    privileged: true\n", 8),
        ("    privileged: \"yes\"\n", 8),
        ("    cap_add: [NET_ADMIN]\n", 8),
        ("    cap_add:\n      - SYS_PTRACE\n", 8),
    ] {
        let compose = format!("{base}{extra}");
        let found = check("docker-compose.yml", &compose, &prod());
        assert_eq!(
            found.iter().map(|f| (f.rule, f.line)).collect::<Vec<_>>(),
            [(COMPOSE_HARDENING.id, Some(line))],
            "{extra}"
        );
    }
    for fine in [
        "    privileged: false\n",
        "    cap_add: []\n",
        "    network_mode: bridge\n",
    ] {
        let compose = format!("{base}{fine}");
        assert!(
            ids("docker-compose.yml", &compose, &prod()).is_empty(),
            "{fine}"
        );
    }
    for root in [
        "\"0\"",
        "\"0:0\"",
        "root",
        "\"root:root\"",
        "0",
        "\"0:999\"",
    ] {
        let compose = base.replace("\"999:999\"", root);
        let found = check("docker-compose.yml", &compose, &prod());
        assert_eq!(
            found.iter().map(|f| (f.rule, f.line)).collect::<Vec<_>>(),
            [(COMPOSE_HARDENING.id, Some(4))],
            "{root}"
        );
    }
    // A missing user is the image's, root for the Redis and Dragonfly images; group 0 is root's.
    for weakened in [
        base.replace("    user: \"999:999\"\n", ""),
        base.replace("\"999:999\"", "\"999:0\""),
        base.replace("\"999:999\"", "\"999:root\""),
        base.replace("read_only: true", "read_only: false"),
        base.replace("    read_only: true\n", ""),
        base.replace("cap_drop: [ALL]", "cap_drop: []"),
        base.replace("cap_drop: [ALL]", "cap_drop: [NET_RAW]"),
        base.replace("no-new-privileges:true", "no-new-privileges:false"),
        base.replace(
            "[\"no-new-privileges:true\"]",
            "[\"no-new-privileges:true\", \"no-new-privileges:false\"]",
        ),
        base.replace("    security_opt: [\"no-new-privileges:true\"]\n", ""),
        format!("{base}networks:\n  backend:\n    internal: false\n"),
    ] {
        assert_eq!(
            ids("docker-compose.yml", &weakened, &prod()),
            [COMPOSE_HARDENING.id],
            "{weakened}"
        );
    }
    for fine in [
        base.replace("no-new-privileges:true", "no-new-privileges"),
        base.replace("no-new-privileges:true", "no-new-privileges=true"),
        format!("{base}networks:\n  backend:\n    internal: true\n  published: {{}}\n"),
    ] {
        assert!(
            ids("docker-compose.yml", &fine, &prod()).is_empty(),
            "{fine}"
        );
    }
    assert_eq!(COMPOSE_HARDENING.severity, Severity::High);
}

#[test]
fn a_compose_file_that_does_not_parse_is_a_finding() {
    // A duplicate key: which `ports` counts depends on the parser.
    let dup =
        "services:\n  redis:\n    ports: [\"127.0.0.1:6379:6379\"]\n    ports: [\"6379:6379\"]\n";
    let found = check("docker-compose.yml", dup, &prod());
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].rule, COMPOSE_HARDENING.id);
    assert!(found[0].line.is_some(), "{found:?}");
    let dup_service = "services:\n  redis:\n    image: a\n  redis:\n    privileged: true\n";
    assert_eq!(
        ids("docker-compose.yml", dup_service, &prod()),
        [COMPOSE_HARDENING.id]
    );
    let broken =
        "services:\n  redis:\n    image: [unclosed\n    environment: [REDIS_PASSWORD=s3cret]\n";
    let found = check("docker-compose.yml", broken, &prod());
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].rule, COMPOSE_HARDENING.id);
    assert!(!found[0].text.contains("s3cret"), "{found:?}");
}

#[test]
fn compose_published_ports() {
    const HARDENED: &str = "    user: \"999:999\"\n    cap_drop: [ALL]\n    read_only: true\n    security_opt: [no-new-privileges]\n";
    let open = &format!("services:\n  redis:\n{HARDENED}    ports:\n      - \"6379:6379\"\n");
    assert_eq!(
        ids("docker-compose.yml", open, &prod()),
        [COMPOSE_PUBLISH.id]
    );
    let local =
        &format!("services:\n  redis:\n{HARDENED}    ports:\n      - \"127.0.0.1:6379:6379\"\n");
    assert!(ids("docker-compose.yml", local, &prod()).is_empty());
    let long = &format!(
        "services:\n  redis:\n{HARDENED}    ports:\n      - target: 6379\n        published: 6379\n"
    );
    assert_eq!(
        ids("docker-compose.yml", long, &prod()),
        [COMPOSE_PUBLISH.id]
    );
}

/// `split_args` as strings, for readable assertions.
fn split(line: &str) -> Option<Vec<String>> {
    split_args(line.as_bytes()).map(|args| {
        args.into_iter()
            .map(|a| String::from_utf8_lossy(&a).into_owned())
            .collect()
    })
}

#[test]
fn split_args_like_redis() {
    assert_eq!(
        split(r#"tls-protocols "TLSv1.2 TLSv1.3""#).unwrap(),
        ["tls-protocols", "TLSv1.2 TLSv1.3"]
    );
    assert_eq!(split(r#"dir "/a b/\"c""#).unwrap(), ["dir", "/a b/\"c"]);
    assert!(split(r#"dir "unterminated"#).is_none());
}

/// Each case checked against redis-server 7.0.15 (`CONFIG GET` after a start, or its
/// "Unbalanced quotes" refusal).
#[test]
fn split_args_is_sdssplitargs() {
    let ok: &[(&str, &[&str])] = &[
        // A quote inside an unquoted token opens a quoted section.
        (r#"p"ort" 6380"#, &["port", "6380"]),
        (r#"protected-m"ode" n"o""#, &["protected-mode", "no"]),
        (r#"a'b c'"#, &["ab c"]),
        // \xHH and the C escapes inside double quotes; any other \c is c.
        (r#""p\x6frt" "\x36\x33\x38\x30""#, &["port", "6380"]),
        (r#""\x4A\x4b""#, &["JK"]),
        (r#""a\n\r\t\b\a\q\\\"""#, &["a\n\r\t\u{8}\u{7}q\\\""]),
        // \x without two hex digits is just x.
        (r#""\x6""#, &["x6"]),
        (r#""\xZZ""#, &["xZZ"]),
        // Single quotes: only \' is an escape.
        (r"'n\o' 'it\'s'", &["n\\o", "it's"]),
        // Separators: space, tab, CR, LF; \v and \f only between tokens.
        ("a\tb\rc", &["a", "b", "c"]),
        ("\u{b}a\u{c} b", &["a\u{c}", "b"]),
        ("\"a\"\tb", &["a", "b"]),
        ("", &[]),
        ("   ", &[]),
        ("\"\"", &[""]),
        // The line is a C string: a NUL ends it.
        ("port 0\0 6380", &["port", "0"]),
    ];
    for (line, want) in ok {
        let got = split(line).unwrap_or_else(|| panic!("{line:?} refused"));
        assert_eq!(got, *want, "{line:?}");
    }
    for bad in [
        r#"protected-mode "no"x"#,
        r#""a"b"#,
        r#"'a'b"#,
        r#""unterminated"#,
        r#"'unterminated"#,
        r#""ends in backslash\"#,
        r"'a\'",
    ] {
        assert_eq!(split(bad), None, "{bad:?}");
    }
    // Hex escapes make any byte, UTF-8 or not.
    assert_eq!(split_args(br#""\xff\x00""#).unwrap(), [vec![0xff, 0]]);
}

#[test]
fn parse_redis_conf_like_redis() {
    let ds = parse_redis_conf(
        "  # comment\n\t\r\n  PORT 6380  \r\n\"Protected-Mode\" \"n\\x6f\"\nbad \"quote\"x\n",
    );
    let got: Vec<(usize, &str, &[String])> = ds
        .iter()
        .map(|d| (d.line, d.name.as_str(), d.args.as_slice()))
        .collect();
    assert_eq!(
        got,
        [
            (3, "port", &["6380".to_owned()][..]),
            (4, "protected-mode", &["no".to_owned()][..])
        ]
    );
    // fgets reads 1024 bytes at a time and sdscat stops each chunk at a NUL: what follows
    // the NUL in the same chunk is lost, the next chunk of the same line is kept.
    let pad = "x".repeat(1024 - "protected-mode \0".len());
    let conf = format!("protected-mode \0{pad}no\n");
    let ds = parse_redis_conf(&conf);
    assert_eq!(
        (ds[0].name.as_str(), ds[0].args.as_slice()),
        ("protected-mode", &["no".to_owned()][..])
    );
    let conf = format!("{GOOD_CONF}protected-mode \0{pad}no\n");
    assert_eq!(ids("redis.conf", &conf, &prod()), [PROTECTED_MODE.id]);
    // A NUL in a short line drops the rest of the line, newline included: redis-server
    // 7.0.15 then reads `port 0bind 127.0.0.1` (and refuses it).
    let ds = parse_redis_conf("port 0\0 6380\nbind 127.0.0.1\n");
    assert_eq!(ds.len(), 1);
    assert_eq!(ds[0].args, ["0bind", "127.0.0.1"]);
}

/// The bypasses of the review: a team block that hides directives behind quotes and
/// escapes. Each one is found.
#[test]
fn escaped_and_quoted_directives_are_found() {
    for (line, rule) in [
        (r#""protected-mode" "n\x6f""#, PROTECTED_MODE.id),
        (r#""p\x6frt" 6380"#, PLAINTEXT_PORT.id),
        (r#""enable-debug-comm\x61nd" "y\x65s""#, DEBUG_COMMAND.id),
        (r#"protected-m"ode" n"o""#, PROTECTED_MODE.id),
        (r#"'enable-module-command' 'yes'"#, MODULE_COMMAND.id),
        (r#"ENABLE-PROTECTED-CONFIGS "YES""#, PROTECTED_CONFIGS.id),
        (r#"tls-auth-clients "n\x6f""#, TLS_AUTH_CLIENTS.id),
        (r#"a"clfile" """#, ACLFILE.id),
        (r#"b"ind" "0.0.0.0""#, BIND_ALL.id),
        (r#"i"nclude" /etc/redis/x.conf"#, INCLUDE.id),
    ] {
        let conf = format!("{GOOD_CONF}{line}\n");
        assert_eq!(ids("redis.conf", &conf, &prod()), [rule], "{line}");
    }
    // A line Redis refuses configures nothing, and Redis would not start: refused.
    let conf = format!("{GOOD_CONF}protected-mode \"no\"x\n");
    assert_eq!(ids("redis.conf", &conf, &prod()), [UNLOADABLE_LINE.id]);
    for (line, unloadable) in [
        ("port 0 6380", true),
        ("replicaof", true),
        ("rename-command CONFIG", true),
        ("replicaof 10.0.0.1 6379", false),
        ("save 3600 1 300 100", false),
        ("client-output-buffer-limit normal 0 0 0", false),
    ] {
        let conf = format!("{GOOD_CONF}{line}\n");
        assert_eq!(
            ids("redis.conf", &conf, &prod()).contains(&UNLOADABLE_LINE.id),
            unloadable,
            "{line}"
        );
    }
}

#[test]
fn loadmodule_is_found_without_its_arguments() {
    let conf = format!("{GOOD_CONF}loadmodule /opt/m.so PASSWORD s3cret\n");
    let found = check("redis.conf", &conf, &prod());
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].rule, MODULE_COMMAND.id);
    assert_eq!(found[0].text, "loadmodule /opt/m.so <arguments redacted>");
    let conf = format!("{GOOD_CONF}LOADMODULE \"/opt/m.so\"\n");
    assert_eq!(ids("redis.conf", &conf, &prod()), [MODULE_COMMAND.id]);
}

#[test]
fn weak_ciphers_are_found_where_tls_is_required() {
    let intermediate = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305";
    for good in [
        intermediate,
        "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:!aNULL:!MD5:!DSS",
        "HIGH:!aNULL:!eNULL:!EXPORT:!DES:!RC4:!MD5:-3DES",
    ] {
        let conf = format!("{GOOD_CONF}tls-ciphers \"{good}\"\n");
        assert!(ids("redis.conf", &conf, &prod()).is_empty(), "{good}");
    }
    for weak in [
        "ALL",
        "ALL:!aNULL",
        "HIGH:NULL",
        "aNULL",
        "eNULL:HIGH",
        "EXPORT",
        "EXP-RC4-MD5",
        "RC4-SHA",
        "DES-CBC3-SHA",
        "3DES",
        "ECDHE+AESGCM:MD5",
        "ADH-AES128-SHA",
        "COMPLEMENTOFALL",
        "HIGH,RC4",
        "high:rc4",
    ] {
        let conf = format!("{GOOD_CONF}tls-ciphers \"{weak}\"\n");
        assert_eq!(
            ids("redis.conf", &conf, &prod()),
            [WEAK_CIPHERS.id],
            "{weak}"
        );
    }
    // Escaped, too.
    let conf = format!("{GOOD_CONF}tls-ciphers \"\\x41LL\"\n");
    assert_eq!(ids("redis.conf", &conf, &prod()), [WEAK_CIPHERS.id]);
    // Testing has no TLS requirement.
    let testing = Policy::for_env(Environment::Testing, false, false);
    let conf = "bind 127.0.0.1\nport 6379\naclfile x\ntls-ciphers ALL\n";
    assert!(ids("redis.conf", conf, &testing).is_empty());
    assert_eq!(WEAK_CIPHERS.severity, Severity::High);
}

#[test]
fn tls_replication_no_is_found_where_tls_is_required() {
    for (line, found) in [
        ("tls-replication no", true),
        ("tls-replication \"NO\"", true),
        ("tls-replication yes", false),
        ("tls-replication yes\ntls-replication no", true),
        ("tls-replication no\ntls-replication yes", false),
    ] {
        let conf = format!("{GOOD_CONF}{line}\n");
        let want: &[&str] = if found { &[TLS_REPLICATION.id] } else { &[] };
        assert_eq!(ids("redis.conf", &conf, &prod()), want, "{line}");
    }
    let testing = Policy::for_env(Environment::Testing, false, false);
    let conf = "bind 127.0.0.1\nport 6379\naclfile x\ntls-replication no\n";
    assert!(ids("redis.conf", conf, &testing).is_empty());
    assert_eq!(TLS_REPLICATION.severity, Severity::Medium);
}

#[test]
fn user_lines_in_redis_conf_get_the_acl_checks() {
    let check_line = |line: &str| {
        let conf = format!("{GOOD_CONF}{line}\n");
        check("redis.conf", &conf, &prod())
    };
    let rules = |found: &[Finding]| found.iter().map(|f| f.rule).collect::<Vec<_>>();
    let found = check_line(r#"user default on nopass ~* +@all"#);
    assert_eq!(
        rules(&found),
        [USER_IN_CONF.id, ACL_PLAINTEXT_PASSWORD.id, DEFAULT_USER.id]
    );
    // A quoted password is a password: found, and never printed.
    let found = check_line(r#"user app on ">hunter2" ~* "+@all""#);
    assert_eq!(
        rules(&found),
        [
            USER_IN_CONF.id,
            ACL_PLAINTEXT_PASSWORD.id,
            APP_PERMISSIONS.id
        ]
    );
    assert!(
        found.iter().all(|f| !f.text.contains("hunter2")),
        "{found:?}"
    );
    assert_eq!(found[0].text, "user app on >… ~* +@all");
    let found = check_line(r#"user app on ">hunter 2" '<old pw' #ab ~* -@all +get"#);
    assert!(
        found
            .iter()
            .all(|f| !f.text.contains("hunter") && !f.text.contains("old pw")),
        "{found:?}"
    );
    let found = check_line(r#"user app on ">hu\x6eter2" ~* -@all +get"#);
    assert!(
        found.iter().all(|f| !f.text.contains("hunter2")),
        "{found:?}"
    );
    // Escaped permissions are permissions.
    let found = check_line(r#"user app on #ab ~* -@all "+fl\x75shall""#);
    assert_eq!(rules(&found), [USER_IN_CONF.id, APP_PERMISSIONS.id]);
    let found = check_line(r#"user monitoring on #ab ~* -@all +info"#);
    assert_eq!(rules(&found), [USER_IN_CONF.id, MONITORING_PERMISSIONS.id]);
    // A confined user with a hash is only misplaced.
    let found = check_line("user app on #ab ~* -@all +get");
    assert_eq!(rules(&found), [USER_IN_CONF.id]);
}

#[test]
fn first_arg_rules_grant_the_command() {
    let acl = |rules: &str| format!("user default off\nuser w on #ab ~* -@all +get {rules}\n");
    for granting in [
        "+flushall|async",
        "+shutdown|nosave",
        "+replicaof|no",
        "+debug|sleep",
        "+FLUSHALL|ASYNC",
        "-flushall +flushall|async",
        "+eval +script|flush",
        "+script",
        "+function|load",
        "+fcall",
        "+@scripting",
    ] {
        assert_eq!(
            ids("users.acl", &acl(granting), &prod()),
            [APP_PERMISSIONS.id],
            "{granting}"
        );
    }
    // A first-arg rule cannot be taken away: Redis refuses `-flushall|async` (and the file).
    assert_eq!(
        ids(
            "users.acl",
            &acl("+flushall|async -flushall|async"),
            &prod()
        ),
        [APP_PERMISSIONS.id, UNKNOWN_COMMAND.id]
    );
    // What acl.app.scripting grants (or a part of it) is a low-severity warning.
    for scripting in [
        "+eval +evalsha +eval_ro +evalsha_ro +script|load +script|exists",
        "+evalsha",
        "+eval|x",
    ] {
        assert_eq!(
            ids("users.acl", &acl(scripting), &prod()),
            [APP_SCRIPTING.id],
            "{scripting}"
        );
    }
    assert_eq!(APP_SCRIPTING.severity, Severity::Low);
    for denied in [
        "+flushall|async -flushall",
        "+flushall|async -@dangerous",
        "+flushall|async -@all",
        "+flushall|async reset",
        // A subcommand that is not forbidden, and a first-arg rule of a harmless command.
        "+client|setname",
        "+get|x",
    ] {
        assert!(
            ids("users.acl", &acl(denied), &prod()).is_empty(),
            "{denied}"
        );
    }
    // `+config|` grants nothing, and Redis refuses it (an empty subcommand).
    assert_eq!(
        ids("users.acl", &acl("+config|"), &prod()),
        [UNKNOWN_COMMAND.id]
    );
    // A command with subcommands: `+config|set` grants CONFIG SET, `-config|set` revokes it.
    assert_eq!(
        ids("users.acl", &acl("+config|set"), &prod()),
        [APP_PERMISSIONS.id]
    );
    assert!(
        ids(
            "users.acl",
            &acl("+config -config|get -config|set -config|rewrite -config|resetstat"),
            &prod()
        )
        .is_empty()
    );
}

#[test]
fn the_monitoring_user_is_confined() {
    let acl = |rules: &str| format!("user default off\nuser monitoring on #ab {rules}\n");
    for ok in [
        // users.acl.tera's and dragonfly.acl.tera's monitoring users.
        "resetkeys resetchannels -@all +ping +info +dbsize +latency|latest +latency|history +latency|histogram +slowlog|get +slowlog|len",
        "resetkeys resetchannels -@all +ping +info +dbsize +latency +slowlog",
        "-@all +info +memory|stats +memory|doctor +latency|reset +slowlog|reset",
        "~* resetkeys -@all +info",
        "&* resetchannels -@all +info",
    ] {
        assert!(ids("users.acl", &acl(ok), &prod()).is_empty(), "{ok}");
    }
    for bad in [
        "~* -@all +info",
        "%R~metrics:* -@all +info",
        "allkeys -@all +info",
        "&* -@all +info",
        "allchannels -@all +info",
        "-@all +info +config|get",
        "-@all +info +client|list",
        "-@all +info +keys",
        "-@all +info +flushall|async",
        "-@all +@admin",
        "-@all +@dangerous",
        "+@all",
        "-@all +info (+get ~*)",
    ] {
        assert_eq!(
            ids("users.acl", &acl(bad), &prod()),
            [MONITORING_PERMISSIONS.id],
            "{bad}"
        );
    }
    // Off, it can do nothing.
    assert!(
        ids(
            "users.acl",
            "user default off\nuser monitoring off #ab ~* +@all\n",
            &prod()
        )
        .is_empty()
    );
    // Dragonfly's ACL file spells the keyword USER.
    assert_eq!(
        ids(
            "dragonfly.acl",
            "USER default off\nUSER monitoring on #ab ~* -@all +info\n",
            &prod()
        ),
        [MONITORING_PERMISSIONS.id]
    );
    assert_eq!(MONITORING_PERMISSIONS.severity, Severity::High);
}

#[test]
fn rename_command_is_found_and_never_shows_the_new_name() {
    let conf =
        format!("{GOOD_CONF}rename-command CONFIG \"\"\nrename-command SHUTDOWN SHUTDOWN_s3cret\n");
    let found = check("redis.conf", &conf, &prod());
    let texts: Vec<(&str, &str)> = found.iter().map(|f| (f.rule, f.text.as_str())).collect();
    assert_eq!(
        texts,
        [
            (RENAME_COMMAND.id, "rename-command CONFIG \"\""),
            (RENAME_COMMAND.id, "rename-command SHUTDOWN <redacted>")
        ]
    );
    assert_eq!(RENAME_COMMAND.severity, Severity::Low);
}

#[test]
fn a_missing_tls_protocols_matters_only_with_a_tls_listener() {
    let conf = GOOD_CONF.replace("tls-protocols \"TLSv1.3\"\n", "");
    assert_eq!(ids("redis.conf", &conf, &prod()), [TLS_PROTOCOLS.id]);
    let plaintext = conf.replace("port 0\ntls-port 6379\n", "port 6379\n");
    assert_eq!(ids("redis.conf", &plaintext, &prod()), [PLAINTEXT_PORT.id]);
}

#[test]
fn old_tls_versions_are_found_even_where_tls_is_optional() {
    let testing = Policy::for_env(Environment::Testing, false, false);
    let conf = "bind 127.0.0.1\nport 6379\naclfile x\ntls-protocols \"TLSv1.2 TLSv1.3\"\n";
    assert!(ids("redis.conf", conf, &testing).is_empty());
    for old in ["TLSv1 TLSv1.2", "TLSv1.1"] {
        let conf = conf.replace("TLSv1.2 TLSv1.3", old);
        assert_eq!(
            ids("redis.conf", &conf, &testing),
            [TLS_PROTOCOLS.id],
            "{old}"
        );
    }
}

#[test]
fn content_decides_the_kind_where_it_is_unambiguous() {
    let sniff = Kind::sniff;
    assert_eq!(
        sniff("# flags\n--bind=127.0.0.1\n--tls\n"),
        Some(Kind::DragonflyFlags)
    );
    assert_eq!(
        sniff("user default off\nUSER app on #ab ~* +get\n"),
        Some(Kind::Acl)
    );
    assert_eq!(
        sniff("services:\n  redis:\n    image: redis\n"),
        Some(Kind::Compose)
    );
    assert_eq!(sniff("bind 127.0.0.1\nuser app on #ab\n"), None);
    assert_eq!(sniff("# only comments\n\n"), None);
    // A flagfile named like a redis.conf is still checked as a flagfile.
    let flags = "--primary_port_http_enabled=true\n";
    assert_eq!(
        check_as(Kind::DragonflyFlags, "dragonfly.conf", flags, &prod())[0].rule,
        DRAGONFLY_HTTP.id
    );
}

#[test]
fn rule_ids_are_unique() {
    let mut ids: Vec<_> = RULES.iter().map(|r| r.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), RULES.len());
}

#[test]
fn dragonfly_replication_masterauth_and_version_check() {
    let staging = Policy::for_env(Environment::Staging, false, false);
    for (extra, rule) in [
        // The last flag wins: a later false undoes the built-in true.
        (
            "--tls_replication=true\n--tls_replication=false\n",
            TLS_REPLICATION.id,
        ),
        ("--notls_replication\n", TLS_REPLICATION.id),
        ("--masterauth=x\n", PASSWORD_IN_CONF.id),
        ("--version_check=true\n", DRAGONFLY_VERSION_CHECK.id),
        ("--version_check\n", DRAGONFLY_VERSION_CHECK.id),
    ] {
        let flags = format!("{GOOD_FLAGS}{extra}");
        assert_eq!(ids("dragonfly.flags", &flags, &staging), [rule], "{extra}");
    }
    let found = check(
        "dragonfly.flags",
        &format!("{GOOD_FLAGS}--masterauth=s3cret\n"),
        &staging,
    );
    assert_eq!(found[0].text, "--masterauth=<redacted>");
    let flags = format!("{GOOD_FLAGS}--tls_replication=true\n");
    assert!(ids("dragonfly.flags", &flags, &staging).is_empty());
}

#[test]
fn unix_socket_and_trust_anchor() {
    for (line, rule) in [
        (
            "unixsocket /run/redis/r.sock\nunixsocketperm 777",
            UNIX_SOCKET.id,
        ),
        ("\"unix\\x73ocket\" /tmp/r.sock", UNIX_SOCKET.id),
        ("tls-ca-cert-dir /etc/ssl/certs", TRUST_ANCHOR.id),
    ] {
        let conf = format!("{GOOD_CONF}{line}\n");
        assert_eq!(ids("redis.conf", &conf, &prod()), [rule], "{line}");
    }
    // An empty value is no socket and no directory.
    for fine in ["unixsocket \"\"", "tls-ca-cert-dir \"\""] {
        let conf = format!("{GOOD_CONF}{fine}\n");
        assert!(ids("redis.conf", &conf, &prod()).is_empty(), "{fine}");
    }
    // Where the gate knows the CA file it rendered, any other is refused.
    let pinned = prod().with_trust_anchor("/etc/redis/tls/ca.crt");
    let conf = format!("{GOOD_CONF}tls-ca-cert-file /etc/redis/tls/ca.crt\n");
    assert!(ids("redis.conf", &conf, &pinned).is_empty());
    let conf = format!("{conf}tls-ca-cert-file /etc/ssl/other-ca.pem\n");
    assert_eq!(ids("redis.conf", &conf, &pinned), [TRUST_ANCHOR.id]);
    // Testing has no TLS requirement: a socket there is its business.
    let testing = Policy::for_env(Environment::Testing, false, false);
    let conf = "bind 127.0.0.1\nport 6379\naclfile x\nunixsocket /tmp/r.sock\n";
    assert!(ids("redis.conf", conf, &testing).is_empty());
}

#[test]
fn findings_never_show_password_hashes() {
    let hash = "a".repeat(64);
    let acl = format!("user default off\nuser app on #{hash} ~* +@all\n");
    let found = check("users.acl", &acl, &prod());
    assert_eq!(found[0].text, "user app on #<hash> ~* +@all");
    let conf = format!("{GOOD_CONF}user app on #{hash} ~* -@all +get\n");
    let found = check("redis.conf", &conf, &prod());
    assert!(found.iter().all(|f| !f.text.contains(&hash)), "{found:?}");
}

#[test]
fn command_rules_are_judged_by_the_data_servers_or_the_sentinels_table() {
    let rules = |name: &str, content: &str| {
        ids(name, content, &prod())
            .into_iter()
            .filter(|r| *r == UNKNOWN_COMMAND.id)
            .count()
    };
    let acl = |rule: &str| format!("user default off\nuser x off resetpass {rule}\n");
    // A Sentinel's ACL file (by its name) has SENTINEL and no GET; a data server's the reverse.
    assert_eq!(rules("sentinel-users.acl", &acl("+sentinel|masters")), 0);
    assert_eq!(rules("sentinel-users.acl", &acl("+get")), 1);
    let found = check("sentinel-users.acl", &acl("+get"), &prod());
    assert_eq!(
        found.last().unwrap().text,
        "user x: +get: Redis 7.0 Sentinel has no such command (a data server's command: a Sentinel runs only its own)"
    );
    assert_eq!(rules("nodes/s1/sentinel-users.acl", &acl("+get")), 1);
    assert_eq!(rules("users.acl", &acl("+sentinel|masters")), 1);
    assert_eq!(
        rules("users.acl", &acl("+get (+nonsense ~x) (~y -flushal)")),
        2
    );
    // In a config, `sentinel monitor` makes it a Sentinel's.
    let conf = |extra: &str, rule: &str| format!("port 0\n{extra}user x off resetpass {rule}\n");
    let sentinel = "sentinel monitor m 127.0.0.1 6379 2\n";
    assert_eq!(
        rules("sentinel.conf", &conf(sentinel, "+sentinel|masters")),
        0
    );
    assert_eq!(rules("sentinel.conf", &conf(sentinel, "+get")), 1);
    assert_eq!(rules("redis.conf", &conf("", "+get")), 0);
    assert_eq!(rules("redis.conf", &conf("", "-flushal")), 1);
    // Dragonfly's ACL file is not judged by Redis's table.
    assert_eq!(rules("dragonfly.acl", &acl("+nonsensecmd")), 0);
}
