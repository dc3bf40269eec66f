//! Errors that reach the user. Each variant knows its exit code and says what to do next.

use std::path::PathBuf;

/// Exit code for bad input, bad usage or a failed operation.
pub const EXIT_ERROR: i32 = 2;
/// Exit code for "the check found a problem": drift, or output that breaks the policy.
pub const EXIT_FINDINGS: i32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A profile value (from the built-ins, a profile file or `--set`) is not acceptable.
    #[error("{origin}: `{key}`{}: {reason}", value.as_ref().map(|v| format!(" = {v}")).unwrap_or_default())]
    Input {
        /// Where the value came from: a file (and section) or a `--set` argument.
        origin: String,
        key: String,
        /// The offending value, escaped so control characters are visible.
        value: Option<String>,
        reason: String,
    },

    /// A file could not be parsed or read.
    #[error("{path}: {reason}")]
    File {
        path: PathBuf,
        reason: String,
        help: String,
    },

    /// Something on the command line does not make sense.
    #[error("{message}")]
    Usage { message: String, help: String },

    /// The output directory holds a state we must not touch (a lone CA key, a broken secret).
    #[error("{path}: {reason}")]
    State {
        path: PathBuf,
        reason: String,
        help: String,
    },

    /// Writing the output failed. Nothing from this run was left behind.
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A template failed to parse or render.
    #[error("template {name}: {report}")]
    Template { name: String, report: String },

    /// Rendered output breaks the environment's security policy; nothing was written.
    #[error("the policy gate refused the output ({} finding{}):\n{}", findings.len(), if findings.len() == 1 { "" } else { "s" }, findings.iter().map(|f| format!("  {f}")).collect::<Vec<_>>().join("\n"))]
    Policy {
        findings: Vec<crate::policy::Finding>,
    },

    /// `check` found drift or problems; the findings were printed.
    #[error("{summary}")]
    Check { summary: String, help: String },
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Policy { .. } | Error::Check { .. } => EXIT_FINDINGS,
            _ => EXIT_ERROR,
        }
    }

    /// The `help:` line printed under the error.
    pub fn help(&self) -> Option<String> {
        match self {
            Error::Input { origin, .. } if origin.starts_with("--set") => {
                Some("fix the --set argument; `redis-harden profile show --env ENV` lists every key".into())
            }
            Error::Input { origin, .. } if origin.starts_with("built-in") => {
                Some("this is a bug in redis-harden; please report it".into())
            }
            Error::Input { .. } => Some(
                "fix the value in the profile; `redis-harden profile show --env ENV` lists every key and its current value"
                    .into(),
            ),
            Error::File { help, .. } | Error::Usage { help, .. } | Error::State { help, .. } => {
                Some(help.clone())
            }
            Error::Write { .. } => Some("choose a writable directory with --out".into()),
            Error::Template { name, .. } if name.starts_with("builtin/") => {
                Some("this is a bug in redis-harden's built-in templates; please report it".into())
            }
            Error::Template { .. } => Some("fix the template named above".into()),
            Error::Policy { findings } => Some(format!(
                "fix the template or profile value that produces these lines; to accept one rule on purpose, pass {}",
                findings
                    .iter()
                    .map(|f| format!("--allow-insecure {}", f.rule))
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect::<Vec<_>>()
                    .join(" ")
            )),
            Error::Check { help, .. } => Some(help.clone()),
        }
    }
}
