//! What `init`, `render` and `rotate` report when they are done, as one value with two
//! printers: the text people read and the JSON (`--format json`) scripts parse. The commands
//! only fill it in; the field names here are the JSON contract.

use std::io::Write;

use serde::Serialize;

pub use crate::cli::Format;

/// One run's report. Never holds a secret.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// `init`, `render`, or `rotate passwords` and friends.
    pub command: String,
    pub environment: String,
    pub project: String,
    /// The bundle directory as given (relative paths stay relative).
    pub out: String,
    pub target: String,
    /// --dry-run: nothing was written; `files` is the plan.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    /// What recovery of an interrupted transaction did first, if anything.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovered: Option<String>,
    /// Inputs that differ from the ones the bundle's manifest recorded: `redis.port: 6390 -> 6400`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<String>,
    pub files: Vec<File>,
    /// How to start or reload the server with this bundle.
    pub next: Option<String>,
    /// What else the user should know or do (rotation steps, "nothing to do").
    pub notes: Vec<String>,
    /// The command that applies a rotation to a running server without a restart.
    pub apply: Option<String>,
    /// A multi-node bundle's rotation: what to run on each node, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rollout: Vec<crate::topology::rollout::Step>,
}

/// What happened to one file of the bundle.
#[derive(Debug, Clone, Serialize)]
pub struct File {
    pub path: String,
    /// `created`, `updated`, `kept`, `mode-fixed` or `removed` (a file of another target or
    /// engine). The text summary says `create`, `update`, `keep`, `remove`.
    pub action: &'static str,
    /// For `mode-fixed`: the mode the file had (octal), before it was set back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode_was: Option<String>,
    /// Certificate expiry, password strength and the like; empty when there is nothing to say.
    pub note: String,
    /// --dry-run: the unified diff of an updated file that holds no secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

impl Summary {
    pub fn print(&self, format: Format, out: &mut dyn Write) -> std::io::Result<()> {
        match format {
            Format::Text => self.text(out),
            Format::Json => {
                let json = serde_json::to_string_pretty(self).expect("summary serializes");
                writeln!(out, "{json}")
            }
        }
    }

    fn text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        if !self.files.is_empty() || self.next.is_some() {
            writeln!(
                out,
                "{}{} bundle for project {:?} in {} (target: {})",
                if self.dry_run {
                    "dry run, nothing written: "
                } else {
                    ""
                },
                self.environment,
                self.project,
                self.out,
                self.target
            )?;
        }
        if let Some(r) = &self.recovered {
            writeln!(out, "recovered: {r}")?;
        }
        for change in &self.changes {
            writeln!(out, "  change {change}")?;
        }
        for f in &self.files {
            let note = match &f.mode_was {
                Some(mode) => format!("mode {mode} -> fixed {}", f.note),
                None => f.note.clone(),
            };
            let verb = match f.action {
                "created" => "create",
                "kept" => "keep",
                "removed" => "remove",
                _ => "update",
            };
            let line = format!("  {verb:<6} {:<22} {note}", f.path);
            writeln!(out, "{}", line.trim_end())?;
            if let Some(diff) = &f.diff {
                write!(out, "{diff}")?;
            }
        }
        if let Some(next) = &self.next {
            // A numbered list starts on its own line: no space before it.
            let sep = if next.starts_with('\n') { "" } else { " " };
            writeln!(out, "next:{sep}{next}")?;
        }
        for note in &self.notes {
            writeln!(out, "{note}")?;
        }
        if let Some(apply) = &self.apply {
            writeln!(out, "apply without a restart:\n  {apply}")?;
        }
        if !self.rollout.is_empty() {
            write!(out, "{}", crate::topology::rollout::text(&self.rollout))?;
        }
        Ok(())
    }
}
