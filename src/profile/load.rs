//! Reading `redis-harden.yaml` and `--set` arguments, layering them over the built-in policy,
//! and reporting a bad value with the file or argument it came from.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use super::{EnvProfile, Environment, defaults, lines};
use crate::error::Error;
use crate::server;
use crate::values::ProjectName;

pub const PROFILE_FILE_NAME: &str = "redis-harden.yaml";
const DEFAULT_PROJECT: &str = "redis";
const SUPPORTED_VERSION: u32 = 1;

/// The profile file as written by a team. Environment sections stay untyped here: they are
/// partial and only become an [`EnvProfile`] after layering over the built-ins.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "redis-harden.yaml")]
pub(super) struct ProfileFile {
    /// The profile format version: 1.
    #[schemars(range(min = 1, max = 1))]
    version: u32,
    /// Names the deployment: certificate subjects, compose project, network and volume names.
    project: Option<ProjectName>,
    /// A team template directory, relative to the profile file.
    templates: Option<PathBuf>,
    /// One section per environment, each layered over that environment's built-in policy:
    /// only the keys that differ need to be written.
    #[serde(default)]
    #[schemars(schema_with = "super::schema::environments")]
    environments: BTreeMap<Environment, Option<Value>>,
    /// The file's text, for the line numbers in errors.
    #[serde(skip)]
    text: String,
}

/// Where the profile file came from, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileSource {
    BuiltIn,
    File(PathBuf),
}

/// A fully resolved, validated profile for one environment.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub project: ProjectName,
    pub env: Environment,
    pub settings: EnvProfile,
    pub source: ProfileSource,
    /// The team template directory named in the profile file, resolved against its folder.
    pub templates: Option<PathBuf>,
}

/// Resolves the profile of `env`: built-ins, then `file` (or `./redis-harden.yaml` when it
/// exists and no file is given), then `sets`. Every environment in the file is validated, not
/// only `env`, so a typo in `staging` is found while working on `production`.
pub fn resolve(
    env: Environment,
    file: Option<&Path>,
    sets: &[String],
    cwd: &Path,
) -> Result<Resolved, Error> {
    let path = match file {
        Some(p) if p == Path::new(lines::STDIN_ARG) => Some(PathBuf::from(lines::STDIN_NAME)),
        Some(p) => Some(p.to_path_buf()),
        None => Some(cwd.join(PROFILE_FILE_NAME)).filter(|p| p.is_file()),
    };
    let parsed = match &path {
        Some(p) => Some(read_profile_file(p)?),
        None => None,
    };
    let sets = parse_sets(sets)?;
    let project = parsed
        .as_ref()
        .and_then(|f| f.project.clone())
        .unwrap_or_else(|| ProjectName::parse(DEFAULT_PROJECT).expect("valid default"));

    if let (Some(file), Some(p)) = (&parsed, &path) {
        for (other, section) in &file.environments {
            if *other != env {
                layer(*other, p, section.as_ref(), &file.text, &[])?;
            }
        }
    }
    let section = parsed
        .as_ref()
        .and_then(|f| f.environments.get(&env))
        .and_then(Option::as_ref);
    let settings = match &path {
        Some(p) => layer(env, p, section, &parsed.as_ref().expect("read").text, &sets)?,
        None => layer(env, Path::new(PROFILE_FILE_NAME), None, "", &sets)?,
    };
    let templates = match (&parsed, &path) {
        (Some(f), Some(p)) => f
            .templates
            .as_ref()
            .map(|t| p.parent().unwrap_or(Path::new(".")).join(t)),
        _ => None,
    };
    Ok(Resolved {
        project,
        env,
        templates,
        settings,
        source: path.map_or(ProfileSource::BuiltIn, ProfileSource::File),
    })
}

fn yaml_options() -> serde_saphyr::Options {
    // A duplicated key is almost always a mistake, and "last one wins" hides it; `yes`/`on`
    // as booleans surprise people, so only true/false are booleans.
    serde_saphyr::options! {
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::Error,
        strict_booleans: true,
    }
}

fn read_profile_file(path: &Path) -> Result<ProfileFile, Error> {
    // std, not fs_err: the error already names the path once.
    let text = lines::read_source(path).map_err(|e| Error::File {
        path: path.to_path_buf(),
        reason: format!("cannot read the profile: {e}"),
        help: "pass an existing file with --profile, or omit it to use the built-in defaults"
            .into(),
    })?;
    let mut file: ProfileFile = serde_saphyr::from_str_with_options(&text, yaml_options())
        .map_err(|e| Error::File {
            path: path.to_path_buf(),
            // The parser's hint is for programmers embedding it, not for profile authors.
            reason: format!("not a valid profile: {e}").replace(
                ", set DuplicateKeyPolicy in Options if acceptable",
                " (each key may appear once)",
            ),
            help: "see examples/redis-harden.yaml for the expected layout".into(),
        })?;
    if file.version != SUPPORTED_VERSION {
        return Err(Error::File {
            path: path.to_path_buf(),
            reason: format!("`version: {}` is not supported", file.version),
            help: format!("this redis-harden reads profile version {SUPPORTED_VERSION}"),
        });
    }
    file.text = text;
    Ok(file)
}

/// One `--set KEY=VALUE`, with the value already read as YAML.
struct Set {
    arg: String,
    key: Vec<String>,
    value: Value,
}

fn parse_sets(sets: &[String]) -> Result<Vec<Set>, Error> {
    sets.iter()
        .map(|arg| {
            let usage = |message: String| Error::Usage {
                message,
                help: "write --set KEY=VALUE, e.g. --set redis.port=6380 or \
                       --set 'redis.bind=[10.0.1.5, 127.0.0.1]'"
                    .into(),
            };
            let Some((key, raw)) = arg.split_once('=') else {
                return Err(usage(format!(
                    "--set {arg:?}: missing '=' between key and value"
                )));
            };
            let key: Vec<String> = key.trim().split('.').map(str::to_owned).collect();
            if key.iter().any(String::is_empty) {
                return Err(usage(format!("--set {arg:?}: the key has an empty part")));
            }
            if raw.trim().is_empty() {
                return Err(usage(format!("--set {arg:?}: the value is empty")));
            }
            let value: Value = serde_saphyr::from_str_with_options(raw, yaml_options())
                .map_err(|e| usage(format!("--set {arg:?}: the value is not valid YAML: {e}")))?;
            Ok(Set {
                arg: arg.clone(),
                key,
                value,
            })
        })
        .collect()
}

/// Layers a profile section and `--set` values over the built-ins of `env` and validates the
/// result. Errors name where the offending value came from.
fn layer(
    env: Environment,
    file: &Path,
    section: Option<&Value>,
    text: &str,
    sets: &[Set],
) -> Result<EnvProfile, Error> {
    let file_origin = format!("{} (environments.{env})", file.display());
    let mut merged = serde_json::to_value(defaults::builtin(env)).expect("profile serializes");
    if let Some(section) = section {
        if !section.is_object() {
            return Err(Error::Input {
                origin: file_origin,
                key: format!("environments.{env}"),
                value: Some(compact(section)),
                reason: "must be a mapping of settings (redis:, tls:, secrets:, acl:)".into(),
            });
        }
        merge(&mut merged, section);
    }
    for set in sets {
        apply_set(&mut merged, set)?;
    }
    // Where a key's value came from; None for a built-in default.
    let user_origin = |key: &str| -> Option<String> {
        if let Some(set) = sets.iter().rev().find(|s| is_prefix(&s.key.join("."), key)) {
            return Some(format!("--set {}", crate::values::visible(&set.arg)));
        }
        if section.is_some_and(|s| lookup(s, key).is_some()) {
            let line = lines::line_of(text, &format!("environments.{env}.{key}"));
            return Some(match line {
                Some(n) => format!("{file_origin}, line {n}"),
                None => file_origin.clone(),
            });
        }
        None
    };
    let origin_of =
        |key: &str| user_origin(key).unwrap_or_else(|| format!("built-in {env} defaults"));
    follow_engine(&mut merged, |key| user_origin(key).is_some());

    let profile: EnvProfile = serde_path_to_error::deserialize(&merged).map_err(|e| {
        let key = path_string(e.path());
        Error::Input {
            origin: origin_of(&key),
            value: lookup(&merged, &key).map(compact),
            reason: clean_serde_message(&e.inner().to_string()),
            key,
        }
    })?;
    profile.validate().map_err(|v| {
        // Blame the value the user set: a rule between two keys is broken by the one changed.
        let key = v
            .keys
            .iter()
            .find(|k| user_origin(k).is_some())
            .unwrap_or(&v.keys[0])
            .clone();
        Error::Input {
            origin: origin_of(&key),
            value: lookup(&merged, &key).map(compact),
            key,
            reason: v.reason,
        }
    })?;
    Ok(profile)
}

/// The built-in server version and image are Redis 7.0's. Where the profile names another
/// engine or version but not these, they follow it: `--engine valkey` alone means Valkey's
/// default version in its own image. A value the user set is kept (and validated later).
fn follow_engine(merged: &mut Value, user_set: impl Fn(&str) -> bool) {
    let Ok(engine) = serde_json::from_value::<super::Engine>(merged["engine"].clone()) else {
        return;
    };
    if !user_set("server.version") {
        merged["server"]["version"] = Value::from(server::default_version(engine).to_string());
    }
    if !user_set("docker.redis_image")
        && let Ok(version) =
            serde_json::from_value::<server::ServerVersion>(merged["server"]["version"].clone())
        && let Some(facts) = server::facts(engine, version)
        && engine.reads_redis_conf()
    {
        merged["docker"]["redis_image"] = Value::from(facts.image);
    }
}

/// Deep-merges `over` into `base`: mappings merge key by key, anything else replaces.
fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

fn apply_set(merged: &mut Value, set: &Set) -> Result<(), Error> {
    let mut node = merged;
    for (i, part) in set.key.iter().enumerate() {
        let here = set.key[..i].join(".");
        let Value::Object(map) = node else {
            return Err(Error::Input {
                origin: format!("--set {}", crate::values::visible(&set.arg)),
                key: here,
                value: None,
                reason: "is not a group of settings, so it has no sub-keys".into(),
            });
        };
        // Maps keyed by name (not settings) take new keys; their values are checked later.
        let open_map = OPEN_MAPS.contains(&here.as_str());
        if !map.contains_key(part) && !open_map {
            let known: Vec<&str> = map.keys().map(String::as_str).collect();
            return Err(Error::Input {
                origin: format!("--set {}", crate::values::visible(&set.arg)),
                key: set.key[..=i].join("."),
                value: None,
                reason: format!("unknown key; expected one of: {}", known.join(", ")),
            });
        }
        node = map.entry(part.clone()).or_insert(Value::Null);
    }
    *node = set.value.clone();
    Ok(())
}

/// Profile keys whose values are maps from a free name (not a fixed set of settings).
const OPEN_MAPS: &[&str] = &["secrets.generations"];

fn is_prefix(prefix: &str, key: &str) -> bool {
    key == prefix
        || key
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with(['.', '[']))
}

fn path_string(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => {}
        }
    }
    out
}

/// Finds the value at a key like `acl.users[0].name`.
fn lookup<'a>(root: &'a Value, key: &str) -> Option<&'a Value> {
    let mut node = root;
    for part in key.split('.') {
        let (name, indices) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            node = node.get(name)?;
        }
        for idx in indices.split('[').filter(|s| !s.is_empty()) {
            node = node.get(idx.trim_end_matches(']').parse::<usize>().ok()?)?;
        }
    }
    Some(node)
}

/// A value as one line of JSON: strings quoted, newlines and controls escaped.
fn compact(v: &Value) -> String {
    v.to_string()
}

/// serde says "unknown field `prot`, expected one of ..."; profiles call them keys.
fn clean_serde_message(msg: &str) -> String {
    msg.replace("unknown field", "unknown key")
        .replace("missing field", "missing key")
        .replace("expected i64", "expected a whole number")
        .replace("expected u32", "expected a whole number")
        .replace("expected f64", "expected a number")
        .replace(
            "data did not match any variant of untagged enum Raw",
            "expected a size such as 256mb, 2gb or a byte count",
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sets(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    fn resolve_sets(env: Environment, args: &[&str]) -> Result<Resolved, Error> {
        resolve(env, None, &sets(args), Path::new("/nonexistent-dir"))
    }

    #[test]
    fn set_overrides_lists_and_scalars() {
        let r = resolve_sets(
            Environment::Production,
            &[
                "redis.port=6380",
                "redis.bind=[10.0.1.5, 127.0.0.1]",
                "tls.ips=[10.0.1.5]",
            ],
        )
        .unwrap();
        assert_eq!(r.settings.redis.port.get(), 6380);
        assert_eq!(r.settings.redis.bind.len(), 2);
        assert_eq!(r.settings.tls.ips[0].to_string(), "10.0.1.5");
    }

    #[test]
    fn set_unknown_key_lists_known_keys() {
        let err = resolve_sets(Environment::Production, &["redis.prot=1"]).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("--set redis.prot=1") && msg.contains("`redis.prot`"),
            "{msg}"
        );
        assert!(msg.contains("port"), "{msg}");
    }

    #[test]
    fn set_injection_is_rejected_with_key_and_value() {
        let err = resolve_sets(
            Environment::Production,
            &["tls.hostnames=[\"a.example\\nport 6379\"]"],
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("`tls.hostnames[0]`"), "{msg}");
        assert!(msg.contains("newline"), "{msg}");
        assert!(msg.contains(r#""a.example\nport 6379""#), "{msg}");
    }

    #[test]
    fn plaintext_must_stay_on_loopback() {
        let err = resolve_sets(Environment::Testing, &["redis.bind=[10.0.0.5]"]).unwrap_err();
        assert!(err.to_string().contains("loopback"), "{err}");
    }

    #[test]
    fn lookup_walks_lists() {
        let v: Value = serde_json::json!({"acl": {"users": [{"name": "x"}]}});
        assert_eq!(lookup(&v, "acl.users[0].name"), Some(&Value::from("x")));
        assert_eq!(lookup(&v, "acl.users[1].name"), None);
    }
}
