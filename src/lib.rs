//! redis-harden: turns an environment profile into a hardened Redis deployment.
//!
//! The binary is a thin wrapper around [`run`]. Each concept has its own module: validated
//! [`values`], the [`profile`], [`secrets`], the [`pki`], [`templates`] and [`render`]ing, and
//! the atomic [`writer`].

pub mod audit;
pub mod build;
pub mod bundle;
pub mod certs;
pub mod check;
pub mod cli;
pub mod compose;
pub mod dragonfly;
pub mod error;
pub mod exporter;
pub mod firewall;
pub mod gate;
pub mod init;
pub mod inputs;
pub mod masterkey;
pub mod mozilla;
pub mod openssl;
pub mod pki;
pub mod policy;
pub mod profile;
pub mod render;
pub mod rotate;
pub mod secrets;
pub mod server;
pub mod summary;
pub mod systemd;
pub mod target;
pub mod templates;
pub mod tlsprobe;
pub mod topology;
pub mod values;
pub mod writer;

use std::io::Write;

use clap::Parser;

pub use error::Error;

/// Runs the command line `args` and returns the process exit code. Errors are printed here,
/// with their `help:` line, so `main` stays a one-liner.
pub fn main_with_args(args: impl IntoIterator<Item = std::ffi::OsString>) -> i32 {
    let args: Vec<std::ffi::OsString> = args.into_iter().collect();
    let cli = match cli::Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { error::EXIT_ERROR } else { 0 };
        }
    };
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    match run(cli, &args, &mut stdout, &mut stderr) {
        Ok(()) => 0,
        // The reader went away (`check | head`): nothing more to say, and no one to say it to.
        Err(Error::Write { path, source })
            if path.as_os_str() == "<stdout>"
                && source.kind() == std::io::ErrorKind::BrokenPipe =>
        {
            error::EXIT_ERROR
        }
        Err(e) => {
            let _ = writeln!(stderr, "error: {e}");
            if let Some(help) = e.help() {
                let _ = writeln!(stderr, "help: {help}");
            }
            e.exit_code()
        }
    }
}

/// Runs a parsed command with the real clock and the operating system's CSPRNG.
/// `argv` is the command line `cli` was parsed from; `check` repeats it in its fix command.
///
/// With `-q`, a command's report is held back and printed only if the command fails, so a
/// script sees nothing on success and everything it needs on failure. Commands whose output
/// is the point (`profile show`, `completions`, ...) print regardless.
pub fn run(
    cli: cli::Cli,
    argv: &[std::ffi::OsString],
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<(), Error> {
    use cli::Command as C;
    let reports = matches!(
        cli.command,
        C::Init(_)
            | C::Render(_)
            | C::Check(_)
            | C::Certs(_)
            | C::Audit(_)
            | C::Rotate(_)
            | C::Templates(cli::TemplatesCommand::Export { .. })
    );
    if !(cli.quiet && reports) {
        return dispatch(cli, argv, stdout, stderr);
    }
    let mut held = vec![];
    let result = dispatch(cli, argv, &mut held, stderr);
    if result.is_err() {
        stdout.write_all(&held).map_err(|source| Error::Write {
            path: "<stdout>".into(),
            source,
        })?;
    }
    result
}

fn dispatch(
    cli: cli::Cli,
    argv: &[std::ffi::OsString],
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<(), Error> {
    let cwd = std::env::current_dir().map_err(|e| Error::Usage {
        message: format!("cannot read the current directory: {e}"),
        help: "run redis-harden from an existing directory".into(),
    })?;
    let mut rng = secrets::OsRandom::default();
    let mut rt = init::Runtime {
        cwd: &cwd,
        now: time::OffsetDateTime::now_utc(),
        rng: &mut rng,
    };
    let io = |source| Error::Write {
        path: "<stdout>".into(),
        source,
    };
    match cli.command {
        cli::Command::Init(args) => {
            init::execute(&args.options(), init::Mode::Init, &mut rt, stderr)?
                .print(args.format, stdout)
                .map_err(io)
        }
        cli::Command::Render(args) => {
            init::execute(&args.options(), init::Mode::Render, &mut rt, stderr)?
                .print(args.format, stdout)
                .map_err(io)
        }
        cli::Command::Check(args) => check::run(
            &args.bundle.options(),
            args.format,
            args.warn_days,
            &mut rt,
            stdout,
            stderr,
            &rerun_hint(argv),
        ),
        cli::Command::Certs(cmd) => certs_status(cmd, rt.now, &cwd, stdout),
        cli::Command::Audit(args) => audit::run(&args, rt.now, &cwd, stdout),
        cli::Command::Profile(cli::ProfileCommand::Show { profile, format }) => {
            let resolved = profile::resolve(
                profile.env,
                profile.profile.as_deref(),
                &profile.all_sets(),
                &cwd,
            )?;
            stdout
                .write_all(show_profile(&resolved, format).as_bytes())
                .map_err(io)
        }
        cli::Command::Profile(cli::ProfileCommand::Schema) => stdout
            .write_all(profile::schema::json().as_bytes())
            .map_err(io),
        cli::Command::Completions { shell } => stdout
            .write_all(cli::completions(shell).as_bytes())
            .map_err(io),
        cli::Command::Man => cli::man_page(stdout).map_err(io),
        cli::Command::Templates(cli::TemplatesCommand::List { templates: dir }) => {
            list_templates(dir.map(|d| cwd.join(d)).as_deref(), stdout)
        }
        cli::Command::Rotate(cmd) => rotate(cmd, &mut rt, stdout, stderr),
        cli::Command::Templates(cli::TemplatesCommand::Export { dir }) => {
            let written = templates::export(&cwd.join(&dir))?;
            writeln!(stdout, "wrote {written} templates to {}; point --templates (or `templates:` in the profile) at it", dir.display()).map_err(io)
        }
    }
}

fn stdout_error(source: std::io::Error) -> Error {
    Error::Write {
        path: "<stdout>".into(),
        source,
    }
}

/// `certs status`.
fn certs_status(
    cmd: cli::CertsCommand,
    now: time::OffsetDateTime,
    cwd: &std::path::Path,
    stdout: &mut dyn Write,
) -> Result<(), Error> {
    let cli::CertsCommand::Status {
        env,
        out,
        files,
        connect,
        ca,
        cert,
        key,
        warn_days,
        format,
        output,
    } = cmd;
    let opts = certs::Options {
        env,
        out,
        files,
        connect,
        ca,
        cert,
        key,
        warn_days,
        format,
        output,
    };
    certs::run(&opts, now, cwd, stdout)
}

/// `templates list`: every built-in name and whether the team directory overrides it.
fn list_templates(dir: Option<&std::path::Path>, stdout: &mut dyn Write) -> Result<(), Error> {
    let t = templates::Templates::load(dir)?;
    for name in templates::builtin_names() {
        let state = if t.is_overridden(&name) {
            "overridden"
        } else {
            "built-in"
        };
        writeln!(stdout, "{name:<28} {state}").map_err(stdout_error)?;
    }
    for name in t.extra_names() {
        writeln!(
            stdout,
            "{name:<28} team (not a built-in name: only used via include/extends)"
        )
        .map_err(stdout_error)?;
    }
    Ok(())
}

/// `rotate passwords|encryption-key|certs|ca [--finish]`.
fn rotate<R: rand::CryptoRng + ?Sized>(
    cmd: cli::RotateCommand,
    rt: &mut init::Runtime<'_, R>,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<(), Error> {
    let (bundle, what, finish) = match cmd {
        cli::RotateCommand::Passwords {
            bundle,
            user,
            finish,
        } => (bundle, rotate::What::Passwords { user }, finish),
        cli::RotateCommand::EncryptionKey { bundle, finish } => {
            (bundle, rotate::What::EncryptionKey, finish)
        }
        cli::RotateCommand::Certs { bundle, finish } => (bundle, rotate::What::Certs, finish),
        cli::RotateCommand::Ca { bundle, finish } => (bundle, rotate::What::Ca, finish),
    };
    rotate::run(
        &bundle.options(),
        &what,
        finish,
        bundle.format,
        rt,
        stdout,
        stderr,
    )
}

/// This invocation's arguments without the ones only `check` takes, shell-quoted where needed:
/// the base of the fix command `check` suggests, so a team's --set, --templates and friends
/// are not lost when they follow it.
fn rerun_hint(argv: &[std::ffi::OsString]) -> String {
    let mut out = vec![];
    let mut args = argv
        .iter()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned());
    while let Some(a) = args.next() {
        const CHECK_ONLY: [&str; 3] = ["--format", "--warn-days", "--renew-days"];
        if CHECK_ONLY.contains(&a.as_str()) {
            args.next();
            continue;
        }
        if CHECK_ONLY.iter().any(|f| a.starts_with(&format!("{f}="))) {
            continue;
        }
        let plain = a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@,".contains(c));
        out.push(if plain {
            a
        } else {
            format!("'{}'", a.replace('\'', "'\\''"))
        });
    }
    values::visible(&out.join(" "))
}

/// The effective profile as text. It holds no secrets: those live only in the output directory.
pub fn show_profile(resolved: &profile::Resolved, format: cli::ShowFormat) -> String {
    let effective = profile::Effective {
        project: &resolved.project,
        environment: resolved.env,
        settings: &resolved.settings,
    };
    match format {
        cli::ShowFormat::Yaml => serde_saphyr::to_string(&effective).expect("profile serializes"),
        cli::ShowFormat::Json => {
            serde_json::to_string_pretty(&effective).expect("profile serializes") + "\n"
        }
    }
}
