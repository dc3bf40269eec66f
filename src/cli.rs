//! Command-line arguments (clap derive). Parsing only: the commands live in their own modules.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::bundle::Access;
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
    /// Print nothing on success (errors, warnings and findings still are).
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or refresh a deployment bundle: keys, certificates, secrets and configs.
    #[command(
        after_help = "Examples:\n  redis-harden init --env production\n  redis-server deploy/production/redis.conf\n\n  redis-harden init --env staging --out /srv/redis --target host --set 'tls.hostnames=[redis.internal]'\n  redis-harden init --env production --format json > summary.json\n  redis-harden init --env production --profile - < team.yaml\n\nRe-running is safe: existing secrets, keys and certificates are reused, never replaced,\nand configs are re-rendered from them byte for byte."
    )]
    Init(WriteArgs),
    /// Re-render every config from the profile, templates and the secrets already in DIR.
    /// Never creates or changes a secret or key.
    #[command(
        after_help = "Example:\n  redis-harden render --env production --out deploy/production --templates team-templates"
    )]
    Render(WriteArgs),
    /// Compare DIR with what the profile and templates render now: drift, missing files,
    /// wrong modes, certificates near expiry and policy violations. Writes nothing.
    #[command(
        after_help = "Examples:\n  redis-harden check --env production --out deploy/production\n  redis-harden check --env production --format json\n\nExit codes: 0 everything matches, 1 findings (listed), 2 bad input."
    )]
    Check(CheckArgs),
    /// Inspect certificates: a bundle's, files', or what a live server presents.
    #[command(
        subcommand,
        after_help = "Examples:\n  redis-harden certs status --env production\n  redis-harden certs status --env production --connect 127.0.0.1:6379"
    )]
    Certs(CertsCommand),
    /// Audit any redis.conf, ACL file or Dragonfly flagfile, or a running server, against an
    /// environment's security policy.
    #[command(
        after_help = "Examples:\n  redis-harden audit --env production /etc/redis/redis.conf\n  redis-harden audit --env production --kind dragonfly-flags dragonfly.conf\n  REDISCLI_AUTH=... redis-harden audit --env production --url rediss://app@10.0.1.5:6379 --ca ca.crt --cert client.crt --key client.key\n  redis-harden audit --env production --url rediss://app@localhost:6379   (password and TLS files from deploy/production)\n  redis-harden audit --env production --url rediss://app@10.0.1.5:6379 --url rediss://app@10.0.1.6:6379\n  redis-harden audit --env production --url rediss+sentinel://app@10.0.1.5:26379/cache   (the primary and replicas Sentinel reports)\n\nStatic findings show the file, the line, the offending text and the fix; live findings\nshow what the server did. Passwords come from REDISCLI_AUTH or the bundle's client.env,\nnever from the command line, and are never printed.\n\nExit codes: 0 no finding at or above --fail-on, 1 such findings (listed), 2 bad input or\nthe server could not be reached."
    )]
    Audit(AuditArgs),
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
    /// Rotate passwords, the encryption key, leaf certificates or the CA. Old and new both
    /// work until the same command is run with --finish.
    #[command(
        subcommand,
        after_help = "Examples:\n  redis-harden rotate passwords --env production --user app\n  redis-harden rotate passwords --env production --finish\n  redis-harden rotate ca --env production"
    )]
    Rotate(RotateCommand),
    /// Print a shell completion script: bash, zsh, fish, elvish or powershell.
    #[command(
        after_help = "Examples:\n  redis-harden completions bash > /etc/bash_completion.d/redis-harden\n  redis-harden completions zsh > \"${fpath[1]}/_redis-harden\"\n  redis-harden completions fish > ~/.config/fish/completions/redis-harden.fish"
    )]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) of redis-harden and all its commands.
    #[command(
        after_help = "Examples:\n  redis-harden man > redis-harden.1 && man -l redis-harden.1\n  redis-harden man > /usr/local/share/man/man1/redis-harden.1"
    )]
    Man,
}

#[derive(Debug, Subcommand)]
pub enum RotateCommand {
    /// New passwords; users.acl accepts old and new until --finish.
    #[command(after_help = "Example:\n  redis-harden rotate passwords --env production --user app")]
    Passwords {
        #[command(flatten)]
        bundle: WriteArgs,
        /// Only this user [default: every user with a password].
        #[arg(long, value_name = "NAME")]
        user: Option<String>,
        /// Drop the old passwords once every client has moved.
        #[arg(long)]
        finish: bool,
    },
    /// A new Fernet key becomes primary; the old one stays in REDIS_ENCRYPTION_KEYS until --finish.
    #[command(after_help = "Example:\n  redis-harden rotate encryption-key --env production")]
    EncryptionKey {
        #[command(flatten)]
        bundle: WriteArgs,
        /// Drop the previous key once stored data is re-encrypted (MultiFernet.rotate).
        #[arg(long)]
        finish: bool,
    },
    /// New server and client certificates from the same CA.
    #[command(after_help = "Example:\n  redis-harden rotate certs --env production")]
    Certs {
        #[command(flatten)]
        bundle: WriteArgs,
        /// Delete the previous certificates and keys once clients use the new ones.
        #[arg(long)]
        finish: bool,
    },
    /// A new CA; ca.crt trusts new and old until --finish, leaves are re-issued by the new CA.
    #[command(after_help = "Example:\n  redis-harden rotate ca --env production")]
    Ca {
        #[command(flatten)]
        bundle: WriteArgs,
        /// Drop the old CA from ca.crt once every certificate comes from the new one.
        #[arg(long)]
        finish: bool,
    },
}

#[derive(Debug, Args)]
pub struct ProfileArgs {
    /// The environment, with its built-in security policy.
    #[arg(long, value_enum)]
    pub env: Environment,
    /// Profile file, or - for standard input [default: ./redis-harden.yaml when it exists, else
    /// built-in defaults only].
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
    /// Where the server reads its files: paths written into redis.conf [default: as recorded
    /// in the bundle's manifest.json, else local].
    #[arg(long, value_enum)]
    pub target: Option<Target>,
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
            access: Access::Write { wait: false },
        }
    }
}

/// The options of a command that writes the bundle (init, render, rotate) and prints a
/// summary of what it did.
#[derive(Debug, Args)]
pub struct WriteArgs {
    #[command(flatten)]
    pub bundle: BundleArgs,
    /// The summary as text for people, or as JSON for scripts.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Print the plan (create, update, remove, keep per file, and the config diff) and
    /// write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// When another redis-harden is writing this bundle, wait for it instead of failing.
    #[arg(long)]
    pub wait: bool,
}

impl WriteArgs {
    pub fn options(&self) -> init::Options {
        init::Options {
            access: if self.dry_run {
                Access::DryRun
            } else {
                Access::Write { wait: self.wait }
            },
            ..self.bundle.options()
        }
    }
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub bundle: BundleArgs,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Report certificates that expire within this many days (the same flag as `certs status`
    /// and `audit`; `--renew-days` is an old spelling kept as a hidden alias).
    #[arg(long, value_name = "DAYS", default_value_t = 30, alias = "renew-days")]
    pub warn_days: u32,
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
    /// Print the JSON Schema of redis-harden.yaml, generated from the types the profile is
    /// read into. Editors use it for completion and checking (see examples/redis-harden.yaml).
    #[command(
        after_help = "Example:\n  redis-harden profile schema > redis-harden.schema.json\n\nThen start redis-harden.yaml with:\n  # yaml-language-server: $schema=redis-harden.schema.json"
    )]
    Schema,
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

#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// Subject, SANs, issuer, expiry and key of each certificate, and whether its chain
    /// verifies. Reads a bundle's tls/ (every certificate of ca.crt), the files given, or the
    /// chain a live server presents.
    #[command(
        after_help = "Examples:\n  redis-harden certs status --env production\n  redis-harden certs status --env production --warn-days 45 --format json\n  redis-harden certs status --ca tls/ca.crt tls/server.crt tls/client.crt\n  redis-harden certs status --env production --connect 127.0.0.1:6379\n\nnode_exporter textfile collector (the value is the not-after time as a Unix timestamp;\nalert on `redis_harden_cert_expiry_timestamp_seconds - time() < 30 * 86400`, and on\n`redis_harden_certs_last_run_success == 0`):\n  redis-harden certs status --env production --format prometheus --output DIR/redis-harden.prom\n\nExit codes: 0 fine, 1 a certificate expires within --warn-days (or has expired) or a chain\ndoes not verify, 2 bad input or the server could not be reached."
    )]
    Status {
        /// The bundle's environment: reads deploy/ENV/tls (or --out) and labels the metrics.
        #[arg(long, value_enum)]
        env: Option<Environment>,
        /// The bundle directory [default: deploy/ENV].
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Certificate files (PEM, one or more certificates each) instead of the bundle.
        #[arg(value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Handshake with a live server and report the chain it presents.
        #[arg(long, value_name = "HOST:PORT")]
        connect: Option<String>,
        /// CA certificates to verify against [default: the bundle's tls/ca.crt, or the CA
        /// certificates among FILE].
        #[arg(long, value_name = "FILE")]
        ca: Option<PathBuf>,
        /// Client certificate for --connect (mTLS) [default: the bundle's tls/client.crt].
        #[arg(long, value_name = "FILE", requires = "key")]
        cert: Option<PathBuf>,
        /// Client key for --connect [default: the bundle's tls/client.key].
        #[arg(long, value_name = "FILE", requires = "cert")]
        key: Option<PathBuf>,
        /// Exit 1 when a certificate expires within this many days.
        #[arg(long, value_name = "DAYS", default_value_t = 30)]
        warn_days: u32,
        #[arg(long, value_enum, default_value_t = crate::certs::Format::Text)]
        format: crate::certs::Format,
        /// Write the report to FILE (atomically: a temp file, then a rename) instead of
        /// stdout. With --format prometheus, a run that cannot read the certificates still
        /// writes FILE, with redis_harden_certs_last_run_success 0.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// The environment whose policy the audit applies.
    #[arg(long, value_enum)]
    pub env: Environment,
    /// Files to audit: redis.conf, ACL files, Dragonfly flagfiles, compose files [default: the
    /// bundle's, unless --url is given].
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// How to read FILE, when neither its content nor its name says [default: from the
    /// content, then the name, then redis.conf].
    #[arg(long, value_enum)]
    pub kind: Option<crate::audit::KindArg>,
    /// The server family whose rules judge FILE; shorthand for --set engine=ENGINE
    /// [default: what --url detects, else redis].
    #[arg(long, value_enum)]
    pub engine: Option<Engine>,
    /// `server.version=VERSION` (or `engine=ENGINE`): the version whose directives and command
    /// tables judge FILE [default: what --url detects, else the engine's default].
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// A firewall restricts the data port: binding every interface is not a finding.
    #[arg(long)]
    pub firewalled: bool,
    /// The server runs in a container: binding every interface of its own namespace is
    /// how containers work.
    #[arg(long)]
    pub container: bool,
    /// Audit a running server: rediss://USER@HOST:PORT (or redis:// for a plaintext one).
    /// Repeat for several servers. rediss+sentinel://USER@HOST:PORT[/NAME] asks that
    /// Sentinel for the primary and replicas it monitors (under NAME, else all) and audits
    /// each. No password here: it comes from REDISCLI_AUTH or the bundle's client.env.
    #[arg(long, value_name = "URL")]
    pub url: Vec<String>,
    /// The bundle directory: its files, client.env and tls/ [default: deploy/ENV].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// CA certificate(s) to verify the server with [default: the bundle's tls/ca.crt].
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Client certificate (mTLS) [default: the bundle's tls/client.crt].
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,
    /// Client key [default: the bundle's tls/client.key].
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
    /// The application user whose permissions are checked.
    #[arg(long, value_name = "NAME", default_value = "app")]
    pub app_user: String,
    /// Report a server certificate that expires within this many days.
    #[arg(long, value_name = "DAYS", default_value_t = 30)]
    pub warn_days: u32,
    /// Exit 1 when a finding of this severity or above exists.
    #[arg(long, value_enum, default_value_t = crate::audit::FailOn::High)]
    pub fail_on: crate::audit::FailOn,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// The man page: redis-harden(1) followed by a page for every subcommand
/// (redis-harden-init(1), redis-harden-rotate-ca(1), ...), which the first one refers to.
pub fn man_page(out: &mut dyn std::io::Write) -> std::io::Result<()> {
    use clap::CommandFactory;
    fn pages(
        cmd: clap::Command,
        name: String,
        out: &mut dyn std::io::Write,
    ) -> std::io::Result<()> {
        let cmd = cmd.name(name.clone()).display_name(name.clone());
        clap_mangen::Man::new(cmd.clone()).render(out)?;
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            pages(sub.clone(), format!("{name}-{}", sub.get_name()), out)?;
        }
        Ok(())
    }
    let mut cmd = Cli::command();
    cmd.build();
    pages(cmd, "redis-harden".into(), out)
}

/// The completion script for `shell`.
pub fn completions(shell: clap_complete::Shell) -> String {
    use clap::CommandFactory;
    let mut script = vec![];
    clap_complete::generate(shell, &mut Cli::command(), "redis-harden", &mut script);
    let script = String::from_utf8(script).expect("completion scripts are UTF-8");
    // clap_complete 4.6 spells a hyphenated binary's subcommand states two ways in bash (the
    // loop sets `redis__harden__subcmd__X`, the case arms match `redis__subcmd__harden__...`),
    // so nothing after a subcommand completes: clap-rs/clap#6421. Spell them one way.
    match shell {
        clap_complete::Shell::Bash => script.replace("redis__subcmd__harden", "redis__harden"),
        _ => script,
    }
}
