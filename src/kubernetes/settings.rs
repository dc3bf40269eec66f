//! The profile's `kubernetes:` section and its validated values.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use crate::profile::Violation;
use crate::values::Hostname;

/// Where and how `--target kubernetes` deploys: every object is namespaced, named from `name`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KubernetesSettings {
    /// The namespace of every object (a DNS label). Not `default` or a `kube-` namespace:
    /// a database gets a namespace of its own.
    pub namespace: K8sName,
    /// The prefix of every object's name (a DNS label of at most 40 characters, so
    /// `NAME-sentinel-headless` stays within 63).
    pub name: K8sName,
    /// The cluster's DNS domain: the shared certificate names `*.NAME-headless.NS.svc.DOMAIN`.
    pub cluster_domain: Hostname,
    /// The size of each data pod's PersistentVolumeClaim, e.g. 1Gi or 512Mi.
    pub storage_size: Quantity,
    /// The image digest (`sha256:` and 64 hex digits) that pins `docker.redis_image` by
    /// content; without one the version tag pins it, and checkov's digest check is skipped
    /// with that reason.
    #[serde(default)]
    pub image_digest: Option<Digest>,
    /// The pods' user id: fixed, not root; 10000 or above keeps it apart from host users
    /// (checkov CKV_K8S_40).
    pub uid: u32,
    /// The pods' group id (also the volumes' fsGroup).
    pub gid: u32,
}

impl Default for KubernetesSettings {
    fn default() -> Self {
        Self::builtin()
    }
}

impl KubernetesSettings {
    pub fn builtin() -> Self {
        Self {
            namespace: K8sName::parse("redis").expect("valid"),
            name: K8sName::parse("redis").expect("valid"),
            cluster_domain: Hostname::parse("cluster.local").expect("valid"),
            storage_size: Quantity::parse("1Gi").expect("valid"),
            image_digest: None,
            uid: 10001,
            gid: 10001,
        }
    }

    /// Rules between values and what Kubernetes refuses; single values were checked when parsed.
    pub fn validate(&self) -> Result<(), Violation> {
        let fail = |key: &str, reason: String| {
            Err(Violation {
                keys: vec![key.to_owned()],
                reason,
            })
        };
        let ns = self.namespace.as_str();
        if ns == "default" || ns.starts_with("kube-") {
            return fail(
                "kubernetes.namespace",
                format!(
                    "{ns:?} is shared with other workloads: give the database a namespace of its own (e.g. redis)"
                ),
            );
        }
        if self.name.as_str().len() > 40 {
            return fail(
                "kubernetes.name",
                "is longer than 40 characters: NAME-sentinel-headless must fit in a 63-character DNS label".into(),
            );
        }
        for (key, id) in [("kubernetes.uid", self.uid), ("kubernetes.gid", self.gid)] {
            if id == 0 {
                return fail(key, "0 is root: pods must not run as root".into());
            }
            // Kubernetes takes ids as int64 but the kernel as uid_t; (uid_t)-1 means "unchanged".
            if id >= i32::MAX as u32 {
                return fail(key, format!("{id} is not below 2147483647"));
            }
        }
        Ok(())
    }
}

fn invalid<T>(what: &str, s: &str, why: &str) -> Result<T, crate::values::Invalid> {
    Err(crate::values::Invalid(format!(
        "{what} {}: {why}",
        crate::values::visible(s)
    )))
}

/// A Kubernetes object name or namespace: an RFC 1123 label (lowercase letters, digits, `-`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct K8sName(String);

impl K8sName {
    pub fn parse(s: &str) -> Result<Self, crate::values::Invalid> {
        let ok = !s.is_empty()
            && s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && !s.ends_with('-');
        if !ok {
            return invalid(
                "name",
                s,
                "expected a DNS label: lowercase letters, digits and '-', starting with a letter, at most 63",
            );
        }
        Ok(Self(s.to_owned()))
    }
}

/// A storage quantity: digits and a binary unit (`1Gi`, `512Mi`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quantity(String);

impl Quantity {
    pub fn parse(s: &str) -> Result<Self, crate::values::Invalid> {
        let digits = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
        let unit = &s[digits.len()..];
        let ok = !digits.is_empty()
            && digits.len() <= 12
            && digits.bytes().all(|b| b.is_ascii_digit())
            && digits.bytes().any(|b| b != b'0')
            && ["Ki", "Mi", "Gi", "Ti"].contains(&unit);
        if !ok {
            return invalid(
                "storage size",
                s,
                "expected a positive whole number and Ki, Mi, Gi or Ti, e.g. 1Gi",
            );
        }
        Ok(Self(s.to_owned()))
    }
}

/// An image digest: `sha256:` and 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest(String);

impl Digest {
    pub fn parse(s: &str) -> Result<Self, crate::values::Invalid> {
        let ok = s.strip_prefix("sha256:").is_some_and(|h| {
            h.len() == 64
                && h.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        });
        if !ok {
            return invalid(
                "image digest",
                s,
                "expected sha256: and 64 lowercase hex digits (`docker buildx imagetools inspect IMAGE` shows it)",
            );
        }
        Ok(Self(s.to_owned()))
    }
}

macro_rules! k8s_string {
    ($ty:ident, $desc:expr, $pattern:expr) => {
        impl $ty {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(|e| {
                    serde::de::Error::custom(format_args!("invalid value {s:?}: {e}"))
                })
            }
        }
        impl JsonSchema for $ty {
            fn schema_name() -> Cow<'static, str> {
                stringify!($ty).into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({ "type": "string", "description": $desc, "pattern": $pattern })
            }
        }
    };
}

k8s_string!(
    K8sName,
    "A Kubernetes name: a DNS label (lowercase letters, digits, `-`), e.g. redis.",
    "^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$"
);
k8s_string!(
    Quantity,
    "A storage size in binary units, e.g. 1Gi.",
    "^[0-9]{1,12}(Ki|Mi|Gi|Ti)$"
);
k8s_string!(
    Digest,
    "An image digest, sha256: and 64 lowercase hex digits.",
    "^sha256:[0-9a-f]{64}$"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_what_kubernetes_accepts() {
        K8sName::parse("redis-1").unwrap();
        for bad in [
            "",
            "Redis",
            "1redis",
            "redis-",
            "re_dis",
            "a\nb",
            &"a".repeat(64),
        ] {
            assert!(K8sName::parse(bad).is_err(), "{bad:?}");
        }
        Quantity::parse("512Mi").unwrap();
        for bad in ["1G", "0Gi", "Gi", "1.5Gi", "-1Gi", "1Gi\n"] {
            assert!(Quantity::parse(bad).is_err(), "{bad:?}");
        }
        Digest::parse(&format!("sha256:{}", "a".repeat(64))).unwrap();
        for bad in [
            "sha256:abc",
            &format!("sha512:{}", "a".repeat(64)),
            &"A".repeat(71),
        ] {
            assert!(Digest::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn shared_namespaces_and_root_are_refused() {
        let ok = KubernetesSettings::builtin();
        ok.validate().unwrap();
        for ns in ["default", "kube-system"] {
            let s = KubernetesSettings {
                namespace: K8sName::parse(ns).unwrap(),
                ..ok.clone()
            };
            assert_eq!(s.validate().unwrap_err().keys, ["kubernetes.namespace"]);
        }
        let s = KubernetesSettings {
            uid: 0,
            ..ok.clone()
        };
        assert_eq!(s.validate().unwrap_err().keys, ["kubernetes.uid"]);
        let s = KubernetesSettings {
            name: K8sName::parse(&"a".repeat(41)).unwrap(),
            ..ok
        };
        assert_eq!(s.validate().unwrap_err().keys, ["kubernetes.name"]);
    }
}
