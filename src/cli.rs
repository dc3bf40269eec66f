//! Command-line arguments (clap derive). Parsing only: the commands live in their own modules.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::profile::{Engine, Environment};
use crate::render::Target;

#[derive(Debug, Parser)]
#[command(
    name = "redis-harden",
    version,
    about = "Render a hardened Redis deployment: private CA and mTLS certificates, secrets, redis.conf and ACL file.",
    after_help = "Examples:\n  redis-harden init --env production\n  redis-harden init --env staging --set 'redis.bind=[10.0.1.5, 127.0.0.1]' --set 'tls.ips=[10.0.1.5]'\n  redis-harden profile show --env production\n\nExit codes: 0 success, 1 a check found a problem, 2 bad input or a failed operation."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or refresh a deployment bundle: keys, certificates, secrets and configs.
    #[command(
        after_help = "Examples:\n  redis-harden init --env production\n  redis-server deploy/production/redis.conf\n\n  redis-harden init --env staging --out /srv/redis --target host --set 'tls.hostnames=[redis.internal]'\n\nRe-running is safe: existing secrets, keys and certificates are reused, never replaced,\nand configs are re-rendered from them byte for byte."
    )]
    Init(InitArgs),
    /// Inspect the effective profile.
    #[command(
        subcommand,
        after_help = "Example:\n  redis-harden profile show --env production --set redis.port=6380"
    )]
    Profile(ProfileCommand),
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
pub struct InitArgs {
    #[command(flatten)]
    pub profile: ProfileArgs,
    /// Output directory [default: deploy/ENV].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Where the server reads its files: paths written into redis.conf.
    #[arg(long, value_enum, default_value_t = Target::Local)]
    pub target: Target,
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
        #[arg(long, value_enum, default_value_t = Format::Yaml)]
        format: Format,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Yaml,
    Json,
}
