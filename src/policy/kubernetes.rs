//! Kubernetes manifests: every pod template is checked for what takes a pod out of its
//! confinement. The manifests are generated, but a team may override their templates: the
//! gate refuses the obvious regressions (privileged, root, the host's namespaces) whatever
//! the template says.

use serde_json::Value;

use super::{Findings, rules::*};

/// The rules a manifest can break.
pub const RULES: &[Rule] = &[KUBERNETES_HARDENING];

/// The pod spec of a workload object and the path to it, if it has one.
fn pod_spec(doc: &Value) -> Option<(&Value, &'static str)> {
    let kind = doc.get("kind")?.as_str()?;
    let spec = doc.get("spec")?;
    match kind {
        "Pod" => Some((spec, "spec")),
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "ReplicationController"
        | "Job" => Some((spec.get("template")?.get("spec")?, "spec.template.spec")),
        "CronJob" => Some((
            spec.get("jobTemplate")?
                .get("spec")?
                .get("template")?
                .get("spec")?,
            "spec.jobTemplate.spec.template.spec",
        )),
        _ => None,
    }
}

/// The 1-based line of the first line that mentions `key:` (the finding's text says where).
fn line_of(content: &str, key: &str) -> Option<usize> {
    let needle = format!("{key}:");
    content
        .lines()
        .position(|l| l.contains(&needle))
        .map(|i| i + 1)
}

pub fn check(content: &str, f: &mut Findings<'_>) {
    let options = serde_saphyr::options! {
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::Error,
    };
    let docs =
        match serde_saphyr::from_str_multiple_with_options::<Value, Vec<Value>>(content, options) {
            Ok(docs) => docs,
            Err(e) => {
                // Not the parser's message: it may quote the file, and Secrets are in it.
                let line = e
                    .location()
                    .and_then(|l| usize::try_from(l.line()).ok())
                    .filter(|&n| n > 0);
                f.add(
                KUBERNETES_HARDENING,
                line,
                "the file does not parse as YAML documents with unique keys: it cannot be checked",
            );
                return;
            }
        };
    for doc in &docs {
        let Some((spec, at)) = pod_spec(doc) else {
            continue;
        };
        let object = format!(
            "{}/{}",
            doc["kind"].as_str().unwrap_or("?"),
            doc.pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("?")
        );
        let mut flag = |key: &str, path: String, shown: &Value| {
            f.add(
                KUBERNETES_HARDENING,
                line_of(content, key),
                &format!(
                    "{object}: {at}.{path}: {}",
                    crate::values::visible(&shown.to_string())
                ),
            );
        };
        check_pod(spec, &mut flag);
    }
}

fn is_true(v: Option<&Value>) -> bool {
    v.and_then(Value::as_bool) == Some(true)
}

fn check_pod(spec: &Value, flag: &mut dyn FnMut(&str, String, &Value)) {
    for key in ["hostNetwork", "hostPID", "hostIPC"] {
        if is_true(spec.get(key)) {
            flag(key, key.to_owned(), &spec[key]);
        }
    }
    if spec
        .get("automountServiceAccountToken")
        .and_then(Value::as_bool)
        != Some(false)
    {
        let shown = spec
            .get("automountServiceAccountToken")
            .cloned()
            .unwrap_or(Value::from("missing (the token is mounted)"));
        flag(
            "automountServiceAccountToken",
            "automountServiceAccountToken".into(),
            &shown,
        );
    }
    for (i, v) in spec
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        if let Some(host) = v.get("hostPath") {
            flag("hostPath", format!("volumes[{i}].hostPath"), host);
        }
    }
    let pod_sc = spec.get("securityContext").cloned().unwrap_or(Value::Null);
    // Said outright at the pod, it is a regression even where each container says otherwise.
    if pod_sc.get("runAsNonRoot").and_then(Value::as_bool) == Some(false) {
        flag(
            "runAsNonRoot",
            "securityContext.runAsNonRoot".into(),
            &pod_sc["runAsNonRoot"],
        );
    }
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        for (i, c) in spec
            .get(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let sc = c.get("securityContext").cloned().unwrap_or(Value::Null);
            let at = |k: &str| format!("{list}[{i}].securityContext.{k}");
            check_container(&sc, &pod_sc, &at, flag);
        }
    }
}

/// One container's effective settings: its own securityContext, else the pod's.
fn check_container(
    sc: &Value,
    pod_sc: &Value,
    at: &dyn Fn(&str) -> String,
    flag: &mut dyn FnMut(&str, String, &Value),
) {
    let effective = |k: &str| sc.get(k).or_else(|| pod_sc.get(k)).cloned();
    let missing = |what: &str| Value::from(format!("missing ({what})"));
    if is_true(sc.get("privileged")) {
        flag("privileged", at("privileged"), &sc["privileged"]);
    }
    if effective("runAsNonRoot").and_then(|v| v.as_bool()) != Some(true) {
        let v = effective("runAsNonRoot").unwrap_or_else(|| missing("the image decides"));
        flag("runAsNonRoot", at("runAsNonRoot"), &v);
    }
    if let Some(uid) = effective("runAsUser").filter(|v| v.as_u64() == Some(0)) {
        flag("runAsUser", at("runAsUser"), &uid);
    }
    for (key, want) in [
        ("allowPrivilegeEscalation", false),
        ("readOnlyRootFilesystem", true),
    ] {
        if sc.get(key).and_then(Value::as_bool) != Some(want) {
            let v = sc.get(key).cloned().unwrap_or_else(|| missing("unset"));
            flag(key, at(key), &v);
        }
    }
    let caps = sc.get("capabilities");
    if let Some(add) = caps
        .and_then(|c| c.get("add"))
        .filter(|a| a.as_array().is_some_and(|a| !a.is_empty()))
    {
        flag("add", at("capabilities.add"), add);
    }
    let drops_all = caps
        .and_then(|c| c.get("drop"))
        .and_then(Value::as_array)
        .is_some_and(|d| d.iter().any(|c| c.as_str() == Some("ALL")));
    if !drops_all {
        let v = caps
            .and_then(|c| c.get("drop"))
            .cloned()
            .unwrap_or_else(|| missing("the runtime's default capabilities"));
        flag("drop", at("capabilities.drop"), &v);
    }
    let seccomp = effective("seccompProfile")
        .and_then(|s| s.get("type").and_then(Value::as_str).map(str::to_owned));
    if !matches!(seccomp.as_deref(), Some("RuntimeDefault" | "Localhost")) {
        let v = seccomp.map_or_else(|| missing("unconfined"), Value::from);
        flag("seccompProfile", at("seccompProfile.type"), &v);
    }
}
