//! `certs status`: every certificate of a bundle (each one of a multi-CA ca.crt), of files, or
//! of a live server, cross-checked with openssl; expiry within --warn-days and chains that do
//! not verify exit 1; the Prometheus output parses as the text exposition format.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::{Bundle, Run, Server, require, run};

/// `redis-harden ARGS` in the bundle's temp dir.
fn certs(b: &Bundle, args: &[&str]) -> Run {
    run(b.tmp.path(), args)
}

/// `redis-harden certs status --env production --out OUT ARGS`.
fn status(b: &Bundle, out: &str, args: &[&str]) -> Run {
    let mut all = vec!["certs", "status", "--env", "production", "--out", out];
    all.extend_from_slice(args);
    certs(b, &all)
}

fn json(r: &Run) -> Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", r.stdout))
}

/// `openssl x509 -noout -serial -enddate`: the serial (lowercase hex) and not-after (Unix).
fn openssl_facts(pem: &Path) -> (String, i64) {
    require("openssl", "apt-get install -y openssl");
    let out = Command::new("openssl")
        .args([
            "x509", "-noout", "-serial", "-enddate", "-dateopt", "iso_8601", "-in",
        ])
        .arg(pem)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "openssl x509: {text}");
    let serial = text
        .lines()
        .find_map(|l| l.strip_prefix("serial="))
        .unwrap()
        .to_lowercase();
    // "2027-02-22 04:38:53Z"
    let end = text
        .lines()
        .find_map(|l| l.strip_prefix("notAfter="))
        .unwrap();
    let n: Vec<i64> = end
        .trim_end_matches('Z')
        .split(['-', ' ', ':'])
        .map(|x| x.parse().unwrap_or_else(|e| panic!("{end}: {e}")))
        .collect();
    let month = time::Month::try_from(n[1] as u8).unwrap();
    let date = time::Date::from_calendar_date(n[0] as i32, month, n[2] as u8).unwrap();
    let end = date
        .with_hms(n[3] as u8, n[4] as u8, n[5] as u8)
        .unwrap()
        .assume_utc();
    (serial, end.unix_timestamp())
}

/// One sample of the Prometheus text format: name, labels, value. Panics on anything that
/// is not a comment or a well-formed sample.
fn parse_sample(line: &str) -> (String, BTreeMap<String, String>, f64) {
    let (name, rest) = line
        .split_once('{')
        .unwrap_or_else(|| panic!("no labels: {line}"));
    assert!(
        name.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
        "bad metric name: {line}"
    );
    let mut labels = BTreeMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        assert_eq!(chars.next(), Some('"'), "label value not quoted: {line}");
        let mut value = String::new();
        loop {
            match chars
                .next()
                .unwrap_or_else(|| panic!("unterminated label: {line}"))
            {
                '\\' => match chars.next().unwrap() {
                    'n' => value.push('\n'),
                    c @ ('\\' | '"') => value.push(c),
                    c => panic!("bad escape \\{c}: {line}"),
                },
                '"' => break,
                '\n' => panic!("raw newline in a label: {line}"),
                c => value.push(c),
            }
        }
        labels.insert(key, value);
        match chars.next() {
            Some(',') => continue,
            Some('}') => break,
            other => panic!("unexpected {other:?}: {line}"),
        }
    }
    let value: String = chars.collect();
    let value = value
        .strip_prefix(' ')
        .unwrap_or_else(|| panic!("no value: {line}"));
    (
        name.to_owned(),
        labels,
        value.parse().unwrap_or_else(|e| panic!("{value}: {e}")),
    )
}

#[test]
fn a_fresh_bundle_is_fine_and_matches_openssl() {
    let b = Bundle::init("production", &[]);
    let dir = b.dir.to_str().unwrap();
    let r = status(&b, dir, &[]);
    r.success()
        .stdout_has("tls/ca.crt\n")
        .stdout_has("tls/server.crt\n")
        .stdout_has("  SANs       DNS:localhost, IP:127.0.0.1\n")
        .stdout_has("  key        ECDSA P-256\n")
        .stdout_has("ok: 3 certificates");

    let r = status(&b, dir, &["--format", "json"]);
    r.success();
    let report = json(&r);
    assert_eq!(report["ok"], true);
    assert_eq!(report["environment"], "production");
    assert_eq!(report["warn_days"], 30);
    assert_eq!(report["problems"], serde_json::json!([]));
    let list = report["certificates"].as_array().unwrap();
    let sources: Vec<&str> = list.iter().map(|c| c["source"].as_str().unwrap()).collect();
    assert_eq!(sources, ["tls/ca.crt", "tls/server.crt", "tls/client.crt"]);
    for c in list {
        let source = c["source"].as_str().unwrap();
        let (serial, not_after) = openssl_facts(&b.path(source));
        assert_eq!(c["serial"], serial.as_str(), "{source}");
        assert_eq!(c["not_after_unix"], not_after, "{source}");
        assert_eq!(c["key_type"], "ECDSA P-256");
        assert_eq!(c["chain"]["status"], "ok", "{source}");
        assert_eq!(c["expiring"], false);
        for key in [
            "subject",
            "issuer",
            "not_before",
            "not_after",
            "days_left",
            "sans",
            "ca",
            "position",
        ] {
            assert!(!c[key].is_null(), "{source}: no {key}");
        }
    }
    let (ca, server) = (&list[0], &list[1]);
    assert_eq!(ca["ca"], true);
    assert_eq!(ca["subject"], ca["issuer"]);
    assert_eq!(ca["chain"]["by"], "self-signed CA");
    assert_eq!(server["issuer"], ca["subject"]);
    assert_eq!(server["chain"]["by"], ca["subject"]);
    assert_eq!(
        server["sans"],
        serde_json::json!(["DNS:localhost", "IP:127.0.0.1"])
    );
    // 90-day leaves, seconds old.
    assert!(
        matches!(server["days_left"].as_i64(), Some(89 | 90)),
        "{server}"
    );

    // Prometheus: HELP and TYPE before the samples, every sample parses, values are the
    // not-after timestamps, labels carry env/file/position (never the serial: a rotation
    // must not start a new series).
    let r = status(&b, dir, &["--format", "prometheus"]);
    r.success();
    let mut typed = vec![];
    let mut expiry = BTreeMap::new();
    for line in r.stdout.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert_eq!(kind, "gauge");
            typed.push(name.to_owned());
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        let (name, labels, value) = parse_sample(line);
        assert!(typed.contains(&name), "sample before its TYPE line: {line}");
        assert_eq!(labels["env"], "production");
        match name.as_str() {
            "redis_harden_certs_last_run_success" => {
                assert_eq!(labels.len(), 1, "{line}");
                assert_eq!(value, 1.0, "{line}");
                continue;
            }
            "redis_harden_certs_last_run_timestamp_seconds" => {
                assert_eq!(labels.len(), 1, "{line}");
                continue;
            }
            _ => {}
        }
        assert_eq!(
            labels.keys().collect::<Vec<_>>(),
            ["env", "file", "position"],
            "{line}"
        );
        assert_eq!(labels["position"], "1");
        if name == "redis_harden_cert_expiry_timestamp_seconds" {
            expiry.insert(labels["file"].clone(), value as i64);
        } else {
            assert_eq!(name, "redis_harden_cert_chain_ok");
            assert_eq!(value, 1.0, "{line}");
        }
    }
    assert_eq!(expiry.len(), 3, "{}", r.stdout);
    for c in list {
        assert_eq!(c["not_after_unix"], expiry[c["source"].as_str().unwrap()]);
    }
}

#[test]
fn warn_days_beyond_the_leaf_lifetime_exits_1() {
    let b = Bundle::init("production", &[]);
    let dir = b.dir.to_str().unwrap();
    let r = status(&b, dir, &["--warn-days", "100"]);
    r.failure(1)
        .stderr_has("certs status found 2 problems")
        .stderr_has("help: ");
    let problems: Vec<&str> = r
        .stdout
        .lines()
        .filter(|l| l.starts_with("problem: "))
        .collect();
    assert_eq!(problems.len(), 2, "{}", r.stdout);
    assert!(
        problems[0].contains("tls/server.crt") && problems[0].contains("warning window 100 days")
    );
    assert!(problems[1].contains("tls/client.crt"));
    // The 5-year CA is not within 100 days.
    assert!(!r.stdout.contains("problem: tls/ca.crt"), "{}", r.stdout);
    let r = status(&b, dir, &["--warn-days", "100", "--format", "json"]);
    r.failure(1);
    let report = json(&r);
    assert_eq!(report["ok"], false);
    let expiring: Vec<bool> = report["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["expiring"].as_bool().unwrap())
        .collect();
    assert_eq!(expiring, [false, true, true]);
}

#[test]
fn a_certificate_from_another_bundles_ca_does_not_verify() {
    let a = Bundle::init("production", &[]);
    let other = Bundle::init("production", &[]);
    // Both CAs are named "redis production CA": only the signature tells them apart.
    let (a_ca, other_server) = (a.path("tls/ca.crt"), other.path("tls/server.crt"));
    let r = certs(
        &a,
        &[
            "certs",
            "status",
            "--ca",
            a_ca.to_str().unwrap(),
            other_server.to_str().unwrap(),
        ],
    );
    r.failure(1)
        .stdout_has("DOES NOT VERIFY: not signed by the CA");
    assert!(
        r.stdout.contains("problem: ") && r.stdout.contains("chain does not verify"),
        "{}",
        r.stdout
    );

    // In a bundle too: a foreign server.crt is reported, the rest still verifies.
    std::fs::copy(&other_server, a.path("tls/server.crt")).unwrap();
    let dir = a.dir.to_str().unwrap();
    let r = status(&a, dir, &["--format", "json"]);
    r.failure(1);
    let report = json(&r);
    let status: Vec<&str> = report["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["chain"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(status, ["ok", "failed", "ok"]);
    let problems = report["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0].as_str().unwrap().starts_with("tls/server.crt"),
        "{problems:?}"
    );
}

#[test]
fn certificate_files_as_arguments_and_a_ca_bundle_during_rotation() {
    let a = Bundle::init("production", &[]);
    let b = Bundle::init("production", &[]);
    let (ca, server) = (a.path("tls/ca.crt"), a.path("tls/server.crt"));
    let (ca, server) = (ca.to_str().unwrap(), server.to_str().unwrap());

    // The CA among the files verifies the leaf.
    let r = certs(&a, &["certs", "status", "--format", "json", ca, server]);
    r.success();
    let report = json(&r);
    assert_eq!(report["environment"], Value::Null);
    let list = report["certificates"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["source"], ca);
    assert_eq!(list[1]["chain"]["status"], "ok");

    // A leaf alone: shown, chain not checked, not a failure.
    let r = certs(&a, &["certs", "status", "--format", "json", server]);
    r.success();
    assert_eq!(
        json(&r)["certificates"][0]["chain"]["status"],
        "not-checked"
    );

    // ca.crt holding old and new CA (as during `rotate ca`): each is reported, and leaves of
    // either CA verify.
    let both = format!(
        "{}{}",
        std::fs::read_to_string(a.path("tls/ca.crt")).unwrap(),
        std::fs::read_to_string(b.path("tls/ca.crt")).unwrap()
    );
    std::fs::write(a.path("tls/ca.crt"), &both).unwrap();
    std::fs::copy(b.path("tls/client.crt"), a.path("tls/client.crt")).unwrap();
    let dir = a.dir.to_str().unwrap();
    let r = status(&a, dir, &[]);
    r.success()
        .stdout_has("tls/ca.crt (1 of 2)\n")
        .stdout_has("tls/ca.crt (2 of 2)\n")
        .stdout_has("ok: 4 certificates");
    let r = status(&a, dir, &["--format", "prometheus"]);
    r.success();
    let series = r
        .stdout
        .lines()
        .filter(|l| l.starts_with("redis_harden_cert_expiry_timestamp_seconds{"))
        .count();
    assert_eq!(series, 4, "{}", r.stdout);

    // Not a certificate: bad input, exit 2, the file named.
    std::fs::write(a.tmp.path().join("junk.pem"), "hello\n").unwrap();
    certs(&a, &["certs", "status", "junk.pem"])
        .failure(2)
        .stderr_has("junk.pem: holds no PEM certificate");
    // Nothing to look at.
    certs(&a, &["certs", "status"])
        .failure(2)
        .stderr_has("help: ");
}

#[test]
fn connect_reports_the_chain_a_live_server_presents() {
    let b = Bundle::init("production", &[]);
    let _server = Server::start(&b);
    let dir = b.dir.to_str().unwrap();
    let target = format!("127.0.0.1:{}", b.port);
    let r = status(&b, dir, &["--connect", &target, "--format", "json"]);
    r.success();
    let report = json(&r);
    let leaf = &report["certificates"][0];
    let (serial, not_after) = openssl_facts(&b.path("tls/server.crt"));
    assert_eq!(leaf["source"], target.as_str());
    assert_eq!(leaf["serial"], serial.as_str());
    assert_eq!(leaf["not_after_unix"], not_after);
    assert_eq!(leaf["chain"]["status"], "ok");
    assert_eq!(
        leaf["sans"],
        serde_json::json!(["DNS:localhost", "IP:127.0.0.1"])
    );

    // Another bundle's CA: the handshake still shows the chain, which is reported as not
    // verifying (exit 1), not a crash.
    let other = Bundle::init("production", &[]);
    let r = status(
        &b,
        dir,
        &[
            "--connect",
            &target,
            "--ca",
            other.path("tls/ca.crt").to_str().unwrap(),
        ],
    );
    r.failure(1).stdout_has("DOES NOT VERIFY");
    assert!(r.stdout.contains(&serial), "{}", r.stdout);

    // Nothing listening: bad input (exit 2), not a finding.
    let closed = format!("127.0.0.1:{}", crate::support::free_port());
    status(&b, dir, &["--connect", &closed])
        .failure(2)
        .stderr_has("cannot connect");
}

/// The (name, labels) of every sample in a Prometheus text file.
fn series(text: &str) -> Vec<(String, BTreeMap<String, String>)> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (name, labels, _) = parse_sample(l);
            (name, labels)
        })
        .collect()
}

/// `promtool check metrics` (Prometheus's own linter) on `text`: its complaints, or "".
fn promtool(text: &str) -> String {
    require("promtool", "apt-get install -y prometheus");
    let out = crate::support::output_with_stdin(
        Command::new("promtool").args(["check", "metrics"]),
        text,
    );
    let said = crate::support::said(&out);
    if out.status.success() {
        said
    } else {
        format!("exit {:?}: {said}", out.status.code())
    }
}

/// `--format prometheus --output FILE` for node_exporter's textfile collector: promtool finds
/// nothing to lint, replacing every certificate keeps the same series, and a run that cannot
/// read the certificates leaves `last_run_success 0` (never an empty file) and no temp file.
#[test]
fn prometheus_textfile_is_lint_clean_stable_across_rotation_and_reports_failed_runs() {
    let b = Bundle::init("production", &[]);
    let dir = b.dir.to_str().unwrap();
    let textfile = b.tmp.path().join("textfile");
    std::fs::create_dir(&textfile).unwrap();
    let prom = textfile.join("redis-harden.prom");
    let status = |out: &str| {
        status(
            &b,
            out,
            &["--format", "prometheus", "--output", prom.to_str().unwrap()],
        )
    };
    let r = status(dir);
    r.success();
    assert_eq!(r.stdout, "", "--output writes the file, not stdout");
    let first = std::fs::read_to_string(&prom).unwrap();
    assert_eq!(promtool(&first), "", "{first}");
    assert!(first.contains("redis_harden_certs_last_run_success{env=\"production\"} 1\n"));
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&prom).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o644, "the collector runs as its own user");

    // New certificates in the same files (what a rotation does): new serials, same series.
    let other = Bundle::init("production", &[]);
    let serial = || {
        let r = certs(
            &b,
            &[
                "certs",
                "status",
                "--format",
                "json",
                "bundle/tls/server.crt",
            ],
        );
        json(&r)["certificates"][0]["serial"].clone()
    };
    let old_serial = serial();
    for f in ["tls/ca.crt", "tls/server.crt", "tls/client.crt"] {
        std::fs::copy(other.path(f), b.path(f)).unwrap();
    }
    status(dir).success();
    let second = std::fs::read_to_string(&prom).unwrap();
    assert_ne!(serial(), old_serial);
    assert_eq!(series(&first), series(&second), "{first}\n{second}");

    // The certificates cannot be read: exit 2, and the file says the run failed.
    status(b.tmp.path().join("missing").to_str().unwrap())
        .failure(2)
        .stderr_has("cannot be read");
    let failed = std::fs::read_to_string(&prom).unwrap();
    assert_eq!(promtool(&failed), "", "{failed}");
    assert!(
        failed.contains("redis_harden_certs_last_run_success{env=\"production\"} 0\n"),
        "{failed}"
    );
    assert!(
        !failed.contains("redis_harden_cert_expiry_timestamp_seconds{"),
        "{failed}"
    );
    let names: Vec<_> = std::fs::read_dir(&textfile)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["redis-harden.prom"], "a temp file was left behind");

    // A usage error is not a failed run: the file is left as it was.
    certs(
        &b,
        &[
            "certs",
            "status",
            "--format",
            "prometheus",
            "--output",
            prom.to_str().unwrap(),
        ],
    )
    .failure(2);
    assert_eq!(std::fs::read_to_string(&prom).unwrap(), failed);
}
