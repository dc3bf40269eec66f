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
    pub files: Vec<File>,
    /// How to start or reload the server with this bundle.
    pub next: Option<String>,
    /// What else the user should know or do (rotation steps, "nothing to do").
    pub notes: Vec<String>,
    /// The command that applies a rotation to a running server without a restart.
    pub apply: Option<String>,
}

/// What happened to one file of the bundle.
#[derive(Debug, Clone, Serialize)]
pub struct File {
    pub path: String,
    /// `created`, `updated`, `kept` or `mode-fixed`.
    pub action: &'static str,
    /// For `mode-fixed`: the mode the file had (octal), before it was set back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode_was: Option<String>,
    /// Certificate expiry, password strength and the like; empty when there is nothing to say.
    pub note: String,
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
                "{} bundle for project {:?} in {} (target: {})",
                self.environment, self.project, self.out, self.target
            )?;
        }
        for f in &self.files {
            let action = match &f.mode_was {
                Some(mode) => format!("kept, mode {mode} -> fixed"),
                None => f.action.to_owned(),
            };
            writeln!(out, "  {action:<10} {:<16} {}", f.path, f.note)?;
        }
        if let Some(next) = &self.next {
            writeln!(out, "next: {next}")?;
        }
        for note in &self.notes {
            writeln!(out, "{note}")?;
        }
        if let Some(apply) = &self.apply {
            writeln!(out, "apply without a restart:\n  {apply}")?;
        }
        Ok(())
    }
}
