//! Command-line arguments (clap derive). Parsing only: the commands live in their own modules.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::init;
use crate::profile::{Engine, Environment};
use crate::render::Target;

#[derive(Debug, Parser)]
#[command(
    name = "redis-harden",
    version,
    about = "Render a hardened Redis deployment: private CA and mTLS certificates, secrets, redis.conf and ACL file.",
    after_help = "Examples:\n  redis-harden init --env production\n  redis-harden init --env staging --set 'redis.bind=[10.0.1.5, 127.0.0.1]' --set 'tls.ips=[10.0.1.5]'\n  redis-harden check --env production --out deploy/production\n  redis-harden profile show --env production\n\nExit codes: 0 success, 1 a check or the policy gate found a problem, 2 bad input or a failed operation."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or refresh a deployment bundle: keys, certificates, secrets and configs.
    #[command(after_help = "Examples:\n  redis-harden init --env production\n  redis-server deploy/production/redis.conf\n\n  redis-harden init --env staging --out /srv/redis --target host --set 'tls.hostnames=[redis.internal]'\n\nRe-running is safe: existing secrets, keys and certificates are reused, never replaced,\nand configs are re-rendered from them byte for byte.")]
    Init(BundleArgs),
    /// Re-render every config from the profile, templates and the secrets already in DIR.
    /// Never creates or changes a secret or key.
    #[command(after_help = "Example:\n  redis-harden render --env production --out deploy/production --templates team-templates")]
    Render(BundleArgs),
    /// Compare DIR with what the profile and templates render now: drift, missing files,
    /// wrong modes, certificates near expiry and policy violations. Writes nothing.
    #[command(after_help = "Examples:\n  redis-harden check --env production --out deploy/production\n  redis-harden check --env production --format json\n\nExit codes: 0 everything matches, 1 findings (listed), 2 bad input.")]
    Check(CheckArgs),
    /// Inspect the effective profile.
    #[command(
        subcommand,
        after_help = "Example:\n  redis-harden profile show --env production --set redis.port=6380"
    )]
    Profile(ProfileCommand),
    /// List or export the built-in templates a team can override.
    #[command(
        subcommand,
        after_help = "Examples:\n  redis-harden templates list --templates team-templates\n  redis-harden templates export team-templates"
    )]
    Templates(TemplatesCommand),
}

#[derive(Debug, Args)]
pub struct ProfileArgs {
    /// The environment, with its built-in security policy.
    #[arg(long, value_enum)]
    pub env: Environment,
    /// Profile file [default: ./redis-harden.yaml when it exists, else built-in defaults only].
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// Override one profile value; VALUE is YAML, so lists work: --set 'redis.bind=[10.0.1.5, 127.0.0.1]'.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// The server engine; shorthand for --set engine=ENGINE.
    #[arg(long, value_enum)]
    pub engine: Option<Engine>,
}

impl ProfileArgs {
    /// The `--set` overrides, with `--engine` applied last.
    pub fn all_sets(&self) -> Vec<String> {
        let mut sets = self.sets.clone();
        if let Some(engine) = self.engine {
            let name = engine.to_possible_value().expect("no skipped variants");
            sets.push(format!("engine={}", name.get_name()));
        }
        sets
    }
}

#[derive(Debug, Args)]
pub struct BundleArgs {
    #[command(flatten)]
    pub profile: ProfileArgs,
    /// Output directory [default: deploy/ENV].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Where the server reads its files: paths written into redis.conf.
    #[arg(long, value_enum, default_value_t = Target::Local)]
    pub target: Target,
    /// A team template directory: a file named like a built-in replaces it, or can
    /// {% extends "builtin/NAME" %} and override one block [default: `templates:` in the profile].
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
    /// Accept one policy rule on purpose (repeatable). The output carries a loud comment and
    /// every run warns. There is no switch that turns the whole gate off.
    #[arg(long = "allow-insecure", value_name = "RULE")]
    pub allow_insecure: Vec<String>,
    /// Derive every password and the Fernet key from the master key in FILE instead of
    /// drawing them at random [default: $REDIS_HARDEN_MASTER_KEY when set].
    #[arg(long, value_name = "FILE")]
    pub master_key_file: Option<PathBuf>,
}

impl BundleArgs {
    pub fn options(&self) -> init::Options {
        init::Options {
            env: self.profile.env,
            out: self.out.clone(),
            profile: self.profile.profile.clone(),
            sets: self.profile.all_sets(),
            target: self.target,
            templates: self.templates.clone(),
            allow_insecure: self.allow_insecure.clone(),
            master_key_file: self.master_key_file.clone(),
        }
    }
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub bundle: BundleArgs,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Report certificates that expire within this many days.
    #[arg(long, value_name = "DAYS", default_value_t = 30)]
    pub renew_days: u32,
}

#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Print the merged profile of one environment (built-ins, profile file, --set). Never prints a secret.
    #[command(
        after_help = "Examples:\n  redis-harden profile show --env production\n  redis-harden profile show --env staging --profile team.yaml --format json"
    )]
    Show {
        #[command(flatten)]
        profile: ProfileArgs,
        #[arg(long, value_enum, default_value_t = ShowFormat::Yaml)]
        format: ShowFormat,
    },
}

#[derive(Debug, Subcommand)]
pub enum TemplatesCommand {
    /// List every built-in template, and which ones a team directory overrides.
    #[command(after_help = "Example:\n  redis-harden templates list --templates team-templates")]
    List {
        /// The team template directory.
        #[arg(long, value_name = "DIR")]
        templates: Option<std::path::PathBuf>,
    },
    /// Write the built-in templates into DIR as a starting point for a team's own.
    #[command(after_help = "Example:\n  redis-harden templates export team-templates")]
    Export {
        /// Directory to write into; existing files are never overwritten.
        dir: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShowFormat {
    Yaml,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}
