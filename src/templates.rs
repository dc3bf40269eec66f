//! The Tera templates. Built-ins are compiled into the binary, so an installed binary works
//! anywhere. Each built-in is registered twice: under its own name (what gets rendered) and as
//! `builtin/NAME`, so a team directory can replace a file outright or `{% extends %}` the
//! built-in and override one block.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use include_dir::{Dir, include_dir};
use tera::{Context, Kwargs, State, Tera};

use crate::error::Error;

static BUILTIN: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/templates");

pub const REDIS_CONF: &str = "redis.conf.tera";
pub const USERS_ACL: &str = "users.acl.tera";
pub const CLIENT_ENV: &str = "client.env.tera";
pub const GITIGNORE: &str = "gitignore.tera";
pub const NFTABLES: &str = "nftables.nft.tera";
pub const IPTABLES: &str = "iptables.rules.tera";
pub const IP6TABLES: &str = "ip6tables.rules.tera";
/// The body of both iptables files; they only choose the address family.
pub const XTABLES: &str = "xtables.rules.tera";
pub const UFW: &str = "ufw.sh.tera";
pub const DRAGONFLY_FLAGS: &str = "dragonfly.flags.tera";
pub const DRAGONFLY_ACL: &str = "dragonfly.acl.tera";
pub const DOCKER_COMPOSE: &str = "docker-compose.yml.tera";
pub const SERVER_ENV: &str = "server.env.tera";
/// A compose bundle of the sentinel kind: the Sentinels' healthcheck password.
pub const SENTINEL_ENV: &str = "sentinel.env.tera";
pub const OPENSSL_CNF: &str = "openssl.cnf.tera";
pub const EXPORTER_ENV: &str = "exporter.env.tera";
pub const SYSTEMD_DROPIN: &str = "systemd-dropin.conf.tera";
/// Topologies: each Sentinel's config and the Sentinels' ACL file.
pub const SENTINEL_CONF: &str = "sentinel.conf.tera";
pub const SENTINEL_ACL: &str = "sentinel-users.acl.tera";
/// Cluster: the script that forms the cluster.
pub const CLUSTER_CREATE: &str = "cluster-create.sh.tera";
/// Topologies: each node's nftables rules.
pub const NODE_NFTABLES: &str = "node-nftables.nft.tera";
pub const K8S_CONFIGMAP: &str = "k8s-configmap.yaml.tera";
pub const K8S_SECRETS: &str = "k8s-secrets.yaml.tera";
pub const K8S_SERVICES: &str = "k8s-services.yaml.tera";
pub const K8S_STATEFULSET: &str = "k8s-statefulset.yaml.tera";
pub const K8S_NETWORKPOLICY: &str = "k8s-networkpolicy.yaml.tera";
/// One container's hardening, resources and mounts (included by K8S_STATEFULSET).
pub const K8S_CONTAINER: &str = "k8s-container.yaml.tera";

/// Every template the renderer uses. A unit test checks each exists and parses.
pub const ALL: [&str; 27] = [
    REDIS_CONF,
    USERS_ACL,
    CLIENT_ENV,
    GITIGNORE,
    NFTABLES,
    IPTABLES,
    IP6TABLES,
    XTABLES,
    UFW,
    DRAGONFLY_FLAGS,
    DRAGONFLY_ACL,
    DOCKER_COMPOSE,
    SERVER_ENV,
    SENTINEL_ENV,
    OPENSSL_CNF,
    EXPORTER_ENV,
    SYSTEMD_DROPIN,
    SENTINEL_CONF,
    SENTINEL_ACL,
    CLUSTER_CREATE,
    NODE_NFTABLES,
    K8S_CONFIGMAP,
    K8S_SECRETS,
    K8S_SERVICES,
    K8S_STATEFULSET,
    K8S_NETWORKPOLICY,
    K8S_CONTAINER,
];

const BUILTIN_PREFIX: &str = "builtin/";

pub struct Templates {
    /// What is compiled so far.
    tera: RefCell<Tera>,
    /// Built-ins not compiled yet: each is compiled on its first render, with the templates
    /// it names, because one bundle renders about half of them and compiling all of them
    /// cost a third of `init`'s CPU time. With a team directory everything is compiled at
    /// load instead, so a broken team file is reported whether a bundle uses it or not.
    lazy: RefCell<BTreeMap<String, &'static str>>,
    overridden: BTreeSet<String>,
}

impl Templates {
    /// The built-in templates only.
    pub fn builtin() -> Result<Self, Error> {
        Self::load(None)
    }

    /// Built-ins, with files from `dir` (a team's directory) taking precedence by name.
    pub fn load(overrides: Option<&Path>) -> Result<Self, Error> {
        let mut tera = Tera::new();
        // Nothing here is HTML; escaping would corrupt configs.
        tera.autoescape_on(Vec::<&str>::new());
        tera.register_filter("conf_quote", conf_quote);
        tera.register_filter("compose_quote", compose_quote);
        tera.register_filter("yaml_quote", crate::kubernetes::yaml::yaml_quote);
        tera.register_filter("yaml_block", crate::kubernetes::yaml::yaml_block);
        let builtins = BUILTIN.files().map(|file| {
            let text = file.contents_utf8().expect("built-in templates are UTF-8");
            (file.path().to_string_lossy().into_owned(), text)
        });
        let Some(dir) = overrides else {
            return Ok(Self {
                tera: RefCell::new(tera),
                lazy: RefCell::new(builtins.collect()),
                overridden: BTreeSet::new(),
            });
        };
        let mut sources: Vec<(String, String)> = vec![];
        for (name, text) in builtins {
            // `builtin/NAME`, for team templates to extend.
            sources.push((format!("{BUILTIN_PREFIX}{name}"), text.to_owned()));
            sources.push((name, text.to_owned()));
        }
        let mut overridden = BTreeSet::new();
        for (name, text) in read_override_dir(dir)? {
            sources.retain(|(n, _)| *n != name);
            overridden.insert(name.clone());
            sources.push((name, text));
        }
        tera.add_raw_templates(sources)
            .map_err(|e| template_error(&e, &overridden))?;
        Ok(Self {
            tera: RefCell::new(tera),
            lazy: RefCell::default(),
            overridden,
        })
    }

    /// Compiles the built-in `name` if it is not yet, together with every built-in it names
    /// in quotes (what it includes, imports or extends; a name in a comment costs only time).
    fn compile(&self, name: &str) -> Result<(), Error> {
        let mut lazy = self.lazy.borrow_mut();
        let mut batch = vec![];
        let mut todo = vec![name.to_owned()];
        while let Some(next) = todo.pop() {
            let Some(text) = lazy.remove(&next) else {
                continue;
            };
            todo.extend(
                lazy.keys()
                    .filter(|other| {
                        ['"', '\'', '`']
                            .iter()
                            .any(|q| text.contains(&format!("{q}{other}{q}")))
                    })
                    .cloned(),
            );
            batch.push((next, text));
        }
        if batch.is_empty() {
            return Ok(());
        }
        self.tera
            .borrow_mut()
            .add_raw_templates(batch)
            .map_err(|e| template_error(&e, &self.overridden))
    }

    pub fn render(&self, name: &str, ctx: &Context) -> Result<String, Error> {
        self.compile(name)?;
        let out = self
            .tera
            .borrow()
            .render(name, ctx)
            .map_err(|e| template_error(&e, &self.overridden))?;
        Ok(normalize(&out))
    }

    pub fn is_overridden(&self, name: &str) -> bool {
        self.overridden.contains(name)
    }

    /// Team files that do not replace a built-in (partials, or typos worth noticing).
    pub fn extra_names(&self) -> Vec<String> {
        let builtins = builtin_names();
        self.overridden
            .iter()
            .filter(|n| !builtins.contains(n))
            .cloned()
            .collect()
    }
}

/// The names of the built-in templates, sorted.
pub fn builtin_names() -> Vec<String> {
    let mut names: Vec<String> = BUILTIN
        .files()
        .map(|f| f.path().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Writes the built-in templates into `dir` as a team's starting point. Never overwrites.
pub fn export(dir: &Path) -> Result<usize, Error> {
    let files: Vec<crate::writer::FileSpec> = BUILTIN
        .files()
        .map(|f| crate::writer::FileSpec {
            rel: f.path().to_string_lossy().into_owned(),
            content: f.contents().to_vec(),
            mode: 0o644,
            create_only: true,
        })
        .collect();
    for f in &files {
        let path = dir.join(&f.rel);
        if path.exists() && std::fs::read(&path).ok().as_deref() != Some(&f.content[..]) {
            return Err(Error::State {
                path,
                reason: "exists and differs from the built-in; export never overwrites a file"
                    .into(),
                help: "export into an empty directory, or move the file away".into(),
            });
        }
    }
    // Files already there with the same bytes are left alone and not counted.
    let count = files.iter().filter(|f| !dir.join(&f.rel).exists()).count();
    crate::writer::write_all(dir, &[], files)?;
    Ok(count)
}

fn read_override_dir(dir: &Path) -> Result<Vec<(String, String)>, Error> {
    let file_err = |reason: String| Error::File {
        path: dir.to_path_buf(),
        reason,
        help: "point --templates at a directory of .tera files".into(),
    };
    let mut out = vec![];
    let entries = fs_err::read_dir(dir).map_err(|e| file_err(format!("cannot read: {e}")))?;
    for entry in entries {
        let entry = entry.map_err(|e| file_err(format!("cannot read: {e}")))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".tera") {
            continue;
        }
        let text = fs_err::read_to_string(entry.path())
            .map_err(|e| file_err(format!("cannot read {name}: {e}")))?;
        out.push((name, text));
    }
    out.sort();
    Ok(out)
}

/// A built-in template failing is our bug; a team template failing is theirs. Either way the
/// message names the template and, where Tera knows it, the line.
fn template_error(e: &tera::Error, overridden: &BTreeSet<String>) -> Error {
    let mut report = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(cause) = src {
        report.push_str(&format!("\ncaused by: {cause}"));
        src = cause.source();
    }
    let name = match e.kind() {
        tera::ErrorKind::SyntaxError(r) | tera::ErrorKind::RenderingError(r) => {
            r.filename().to_owned()
        }
        _ => String::new(),
    };
    let name =
        if name.starts_with(BUILTIN_PREFIX) || (!name.is_empty() && !overridden.contains(&name)) {
            format!(
                "{BUILTIN_PREFIX}{}",
                name.trim_start_matches(BUILTIN_PREFIX)
            )
        } else if name.is_empty() {
            "(unknown)".into()
        } else {
            name
        };
    Error::Template { name, report }
}

/// Quotes a path for redis.conf. Values are validated before they get here; refusing quotes,
/// backslashes and control characters again means a team template cannot undo that.
fn conf_quote(value: &str, _: Kwargs, _: &State) -> tera::TeraResult<String> {
    if value
        .chars()
        .any(|c| c.is_control() || c == '"' || c == '\\')
    {
        return Err(tera::Error::message(format!(
            "conf_quote: {value:?} contains a quote, backslash or control character"
        )));
    }
    Ok(format!("\"{value}\""))
}

/// Quotes a string for docker-compose.yml: a JSON string is a YAML double-quoted scalar, and
/// `$$` keeps compose from interpolating `$`. Control characters are refused outright.
fn compose_quote(value: &str, _: Kwargs, _: &State) -> tera::TeraResult<String> {
    if value.chars().any(char::is_control) {
        return Err(tera::Error::message(format!(
            "compose_quote: {value:?} contains a control character"
        )));
    }
    let json = serde_json::to_string(value).expect("strings serialize");
    Ok(json.replace('$', "$$"))
}

/// LF line endings, no trailing whitespace on lines, exactly one trailing newline: output
/// bytes do not depend on how a template file was saved.
fn normalize(text: &str) -> String {
    let mut out: String = text
        .replace("\r\n", "\n")
        .lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n");
    while out.ends_with('\n') {
        out.pop();
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_template_is_built_in_and_parses() {
        let t = Templates::builtin().unwrap();
        for name in ALL {
            t.compile(name).unwrap();
        }
        assert!(t.lazy.borrow().is_empty(), "compiled on first use");
        let empty_team = tempfile::tempdir().unwrap();
        let with_team = Templates::load(Some(empty_team.path())).unwrap();
        for name in ALL {
            assert!(
                BUILTIN.get_file(name).is_some(),
                "{name} is not in templates/"
            );
            assert!(t.tera.borrow().contains_template(name));
            assert!(
                with_team
                    .tera
                    .borrow()
                    .contains_template(&format!("builtin/{name}"))
            );
        }
        assert_eq!(
            BUILTIN.files().count(),
            ALL.len(),
            "a template in templates/ is not in ALL"
        );
    }

    #[test]
    fn a_built_in_is_compiled_with_what_it_includes() {
        let t = Templates::builtin().unwrap();
        assert!(!t.tera.borrow().contains_template(XTABLES));
        t.compile(IPTABLES).unwrap();
        assert!(t.tera.borrow().contains_template(XTABLES));
        assert!(!t.tera.borrow().contains_template(REDIS_CONF));
    }

    #[test]
    fn undefined_variables_are_errors() {
        let t = Templates::builtin().unwrap();
        t.tera
            .borrow_mut()
            .add_raw_template("x.tera", "{{ nope }}")
            .unwrap();
        let err = t.render("x.tera", &Context::new()).unwrap_err();
        assert!(err.to_string().contains("x.tera"), "{err}");
    }

    #[test]
    fn conf_quote_refuses_breakouts() {
        let t = Templates::builtin().unwrap();
        t.tera
            .borrow_mut()
            .add_raw_template("q.tera", "dir {{ p | conf_quote }}")
            .unwrap();
        let mut ctx = Context::new();
        ctx.insert("p", "/srv/a b");
        assert_eq!(t.render("q.tera", &ctx).unwrap(), "dir \"/srv/a b\"\n");
        ctx.insert("p", "/x\"\nport 6379");
        assert!(t.render("q.tera", &ctx).is_err());
    }

    #[test]
    fn compose_quote_makes_one_yaml_scalar() {
        let t = Templates::builtin().unwrap();
        t.tera
            .borrow_mut()
            .add_raw_template("c.tera", "image: {{ v | compose_quote }}")
            .unwrap();
        let mut ctx = Context::new();
        ctx.insert("v", "a\"b: $X #c");
        assert_eq!(
            t.render("c.tera", &ctx).unwrap(),
            "image: \"a\\\"b: $$X #c\"\n"
        );
        ctx.insert("v", "x\n  privileged: true");
        assert!(t.render("c.tera", &ctx).is_err());
    }

    #[test]
    fn normalize_fixes_line_endings() {
        assert_eq!(normalize("a  \r\nb\n\n\n"), "a\nb\n");
    }
}
