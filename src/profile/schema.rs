//! The JSON Schema of `redis-harden.yaml`, generated from the types the profile is read into
//! (schemars follows their serde attributes), so it cannot drift from what `resolve` accepts.
//! `docs/profile.md`'s key table is generated from the same schema.

use std::borrow::Cow;
use std::collections::BTreeSet;

use schemars::{JsonSchema, Schema, SchemaGenerator, generate::SchemaSettings, json_schema};
use serde_json::{Map, Value};

use super::{EnvProfile, Environment, load::ProfileFile};
use crate::values::{
    AclRule, BindAddr, Cidr, Hostname, ImageRef, KeyPattern, MemorySize, Port, ProjectName,
    UserName,
};

/// The schema of the profile file, as `profile schema` prints it (pretty JSON, one newline).
pub fn json() -> String {
    serde_json::to_string_pretty(&value()).expect("schema serializes") + "\n"
}

/// The schema as a JSON value. Draft-07: the draft editors' YAML language servers support best.
pub fn value() -> Value {
    let mut generator = SchemaGenerator::new(SchemaSettings::draft07());
    let mut root = generator.root_schema_for::<ProfileFile>().to_value();
    partial_sections(&mut root);
    root
}

/// `environments:` maps each environment name to a section (or nothing); no other key.
pub(super) fn environments(generator: &mut SchemaGenerator) -> Schema {
    let section = generator.subschema_for::<Option<EnvProfile>>();
    let properties: Map<String, Value> = Environment::ALL
        .iter()
        .map(|env| (env.name().to_owned(), section.clone().to_value()))
        .collect();
    json_schema!({
        "type": "object",
        "properties": properties,
        "additionalProperties": false,
    })
}

/// A section is layered over the built-ins, so none of its settings is required. Items of a
/// list are not layered (a list replaces the built-in one whole), so their keys stay required.
fn partial_sections(root: &mut Value) {
    let mut in_lists = BTreeSet::new();
    collect_item_refs(root, &mut in_lists);
    if let Some(Value::Object(defs)) = root.get_mut("definitions") {
        for (name, def) in defs.iter_mut() {
            if let Some(obj) = def.as_object_mut().filter(|_| !in_lists.contains(name)) {
                obj.remove("required");
            }
        }
    }
}

fn collect_item_refs(node: &Value, out: &mut BTreeSet<String>) {
    match node {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("items").and_then(|i| i.get("$ref")) {
                out.insert(r.trim_start_matches("#/definitions/").to_owned());
            }
            map.values().for_each(|v| collect_item_refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_item_refs(v, out)),
        _ => {}
    }
}

/// A validated string value: its schema is a string with a description of what is accepted
/// (the parser is the authority; the schema helps editors).
macro_rules! string_schema {
    ($ty:ident, $desc:expr) => {
        string_schema!($ty, $desc, {});
    };
    ($ty:ident, $desc:expr, {$($extra:tt)*}) => {
        impl JsonSchema for $ty {
            fn schema_name() -> Cow<'static, str> {
                stringify!($ty).into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({ "type": "string", "description": $desc, $($extra)* })
            }
        }
    };
}

string_schema!(
    Hostname,
    "A DNS name (RFC 1123 labels, ASCII; stored lowercase), e.g. redis.internal.",
    { "pattern": "^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$", "maxLength": 253 }
);
string_schema!(
    BindAddr,
    "An IP address for redis.conf `bind`; a leading `-` makes it optional (skipped when the host lacks it), e.g. -::1."
);
string_schema!(
    Cidr,
    "An IP network in CIDR notation with no host bits set, e.g. 10.0.0.0/8."
);
string_schema!(
    UserName,
    "An ACL user name: a lowercase letter, then lowercase letters, digits, `_` and `-`.",
    { "pattern": "^[a-z][a-z0-9_-]*$", "maxLength": 64 }
);
string_schema!(
    KeyPattern,
    "A key or channel glob for an ACL rule, e.g. app:*. No whitespace, quotes or control characters."
);
string_schema!(
    AclRule,
    "One ACL command rule: +@read, -@dangerous, +get, -config|set."
);
string_schema!(
    ProjectName,
    "A project name: lowercase letters, digits, `-` and `_`, starting with a letter or digit.",
    { "pattern": "^[a-z0-9][a-z0-9_-]*$", "maxLength": 63 }
);
string_schema!(
    ImageRef,
    "A pinned container image reference, e.g. redis:7.0.15-bookworm or registry/name@sha256:...."
);

impl JsonSchema for crate::server::ServerVersion {
    fn schema_name() -> Cow<'static, str> {
        "ServerVersion".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A release line, MAJOR.MINOR (7.0, 8.0, 8.1); which ones an engine supports is in docs/servers.md.",
            "anyOf": [
                { "type": "string", "pattern": "^[0-9]+\\.[0-9]+(\\.[0-9]+)?$" },
                { "type": "number" }
            ]
        })
    }
}

impl JsonSchema for Port {
    fn schema_name() -> Cow<'static, str> {
        "Port".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "integer", "minimum": 1, "maximum": 65535, "description": "A TCP port, 1-65535." })
    }
}

impl JsonSchema for MemorySize {
    fn schema_name() -> Cow<'static, str> {
        "MemorySize".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A memory size as redis.conf writes it (256mb, 2gb), or a byte count.",
            "anyOf": [
                { "type": "string", "pattern": "^[0-9]+([kKmMgG][bB]?|[bB])?$" },
                { "type": "integer", "minimum": 1 }
            ]
        })
    }
}

/// The table of every key of an environment section, for docs/profile.md: key, type, built-in
/// default per environment and description, walked from the schema so it cannot drift.
pub fn keys_markdown() -> String {
    let root = value();
    let defs = root["definitions"].as_object().cloned().unwrap_or_default();
    let defaults: Vec<(Environment, Value)> = Environment::ALL
        .iter()
        .map(|env| {
            let v = serde_json::to_value(super::builtin(*env)).expect("profile serializes");
            (*env, v)
        })
        .collect();
    let mut rows = vec![];
    walk(&defs, &defs["EnvProfile"], "", &defaults, &mut rows);
    let mut out =
        String::from("| Key | Type | Built-in default | Description |\n|---|---|---|---|\n");
    for row in rows {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            row[0],
            cell(&row[1]),
            cell(&row[2]),
            cell(&row[3])
        ));
    }
    out
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The `$ref` of a schema: direct, or wrapped in a one-element `allOf` (draft-07 ignores
/// siblings of `$ref`, so schemars wraps a described reference that way).
fn reference(schema: &Value) -> Option<&str> {
    schema.get("$ref").and_then(Value::as_str).or_else(|| {
        match schema
            .get("allOf")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
        {
            Some([only]) => only.get("$ref").and_then(Value::as_str),
            _ => None,
        }
    })
}

/// The definition a `$ref` points at, or the schema itself.
fn deref<'a>(defs: &'a Map<String, Value>, schema: &'a Value) -> &'a Value {
    match reference(schema) {
        Some(r) => &defs[r.trim_start_matches("#/definitions/")],
        None => schema,
    }
}

fn walk(
    defs: &Map<String, Value>,
    schema: &Value,
    prefix: &str,
    defaults: &[(Environment, Value)],
    rows: &mut Vec<[String; 4]>,
) {
    let Some(props) = deref(defs, schema)["properties"].as_object() else {
        return;
    };
    for (name, prop) in props {
        let key = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        let target = deref(defs, prop);
        if target.get("properties").is_some() {
            walk(defs, prop, &key, defaults, rows);
            continue;
        }
        // The field's own words, then those of its type (or of its list's items).
        let item = target.get("items").map(|i| deref(defs, i));
        let type_words = if reference(prop).is_some() {
            target.get("description")
        } else {
            item.and_then(|i| i.get("description"))
        };
        let description = [prop.get("description"), type_words]
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" ");
        rows.push([
            key.clone(),
            type_name(defs, prop),
            default_of(&key, defaults),
            description,
        ]);
        // A list of settings groups (extra users): document the keys of one item too.
        if let Some(item) = target
            .get("items")
            .filter(|item| deref(defs, item).get("properties").is_some())
        {
            walk(defs, item, &format!("{key}[]"), &[], rows);
        }
    }
}

/// The values of an enum: `enum`, or (when a variant is documented) `oneOf` of `enum`s and
/// `const`s.
fn enum_values(schema: &Value) -> Option<Vec<&str>> {
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return Some(values.iter().filter_map(Value::as_str).collect());
    }
    if let Some(c) = schema.get("const").and_then(Value::as_str) {
        return Some(vec![c]);
    }
    let branches = schema.get("oneOf")?.as_array()?;
    branches.iter().try_fold(vec![], |mut all, b| {
        all.extend(enum_values(b)?);
        Some(all)
    })
}

fn type_name(defs: &Map<String, Value>, schema: &Value) -> String {
    let target = deref(defs, schema);
    if let Some(values) = enum_values(target) {
        let names: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
        return format!("one of {}", names.join(", "));
    }
    if let Some(r) = reference(schema) {
        return r.trim_start_matches("#/definitions/").to_owned();
    }
    match target.get("type").and_then(Value::as_str) {
        Some("array") => format!("list of {}", type_name(defs, &target["items"])),
        Some("object") => match target.get("additionalProperties") {
            Some(v) if v.is_object() => format!("map of name to {}", type_name(defs, v)),
            _ => "mapping".into(),
        },
        Some("integer") => "integer".into(),
        Some(t) => t.into(),
        None => "any".into(),
    }
}

/// The built-in default of `key` in each environment: one value when they agree.
fn default_of(key: &str, defaults: &[(Environment, Value)]) -> String {
    if defaults.is_empty() {
        return String::new();
    }
    let show = |v: Option<&Value>| match v {
        None => "(none)".to_owned(),
        Some(Value::String(s)) => format!("`{s}`"),
        Some(other) => format!("`{other}`"),
    };
    let values: Vec<(Environment, String)> = defaults
        .iter()
        .map(|(env, root)| {
            let v = key.split('.').try_fold(root, |node, part| node.get(part));
            (*env, show(v))
        })
        .collect();
    if values.iter().all(|(_, v)| *v == values[0].1) {
        values[0].1.clone()
    } else {
        values
            .iter()
            .map(|(env, v)| format!("{env}: {v}"))
            .collect::<Vec<_>>()
            .join("<br>")
    }
}
