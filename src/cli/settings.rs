//! The settings layer: parsed arguments, the environment and defaults become
//! the settings each command runs with (uv's args → settings → command).
//! Precedence is the same everywhere: the flag after the command, then the
//! same flag written before it (the form earlier versions documented), then
//! its environment variable, then the default. Nothing else in the CLI reads
//! the environment for an option, and nothing here does I/O besides reading
//! variables (token files are read when the backend is opened).

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::args::{
    ApplyArgs, BackendArgs, BeforeCommandArgs, Cli, ColorWhen, Command, ControllerArgs, DiffArgs,
    ExplainWhat, FileArgs, OutputFormat, PlanArgs, PlanFlags, PostureArgs, PostureFormat, ProgressArgs,
    SeverityArg, WriteArgs,
};
use crate::backend::http::{token_from, HttpOptions};
use crate::backend::{self, BackendError, PolicyCombination};
use crate::model::{Name, SecretValue};
use crate::plan::{GuardOptions, PlanOptions};
use crate::render::Format;

/// Where settings read environment variables from (the process, or a table
/// in tests).
pub trait Environment {
    /// The variable's value, if set.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnvironment;

impl Environment for ProcessEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

/// A value the settings layer refuses.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// A value that does not parse; `origin` is the flag or the variable.
    #[error("{origin} {value:?}: {reason}")]
    Invalid {
        /// `--as`, `ORGCTL_MY_IP`, …
        origin: String,
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A backend flag written before a command that has no such option.
    #[error("{flag} is not an option of `orgctl {command}`")]
    NotAnOption {
        /// The flag.
        flag: &'static str,
        /// The command it was written before.
        command: &'static str,
    },
    /// A name that is not valid; the reason already quotes the value.
    #[error("{origin}: {reason}")]
    InvalidName {
        /// `--org`.
        origin: &'static str,
        /// What is wrong with it, value included.
        reason: String,
    },
    /// `--leader-election` without a namespace for its Lease.
    #[error("--leader-election needs --lease-namespace (or POD_NAMESPACE)")]
    LeaseNamespaceMissing,
    /// `schema` given a kind that does not exist; `hint` is a did-you-mean
    /// or the list of kinds.
    #[error("unknown kind {value:?}{hint}")]
    UnknownKind {
        /// The kind given.
        value: String,
        /// `, did you mean "User"?` or `; expected one of: …`.
        hint: String,
    },
    /// `explain signin --at` with files: only the backend has a history.
    #[error("--at needs the live backend's history; it cannot be used with -f")]
    AtWithFiles,
}

/// The default of `--request-timeout`, in seconds.
const DEFAULT_REQUEST_TIMEOUT: u64 = 30;
/// The default of `--parallelism`.
const DEFAULT_PARALLELISM: u16 = 8;

/// What every command runs with: the printer's colour, verbosity and
/// progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalSettings {
    /// When to colour: `--color`, else `never` with `--no-color` or a
    /// truthy `NO_COLOR`, else `auto` (the printer decides per stream).
    pub color: ColorWhen,
    /// `-v` count.
    pub verbose: u8,
    /// `-q`: results, warnings and errors only.
    pub quiet: bool,
    /// `--progress`: phase lines even without a terminal (plan and apply).
    pub progress: bool,
}

/// Where the bearer token of an http(s) backend comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// No token.
    None,
    /// A file (`--token-file` or `ORGCTL_TOKEN_FILE`), read when the
    /// backend is opened.
    File(PathBuf),
    /// `ORGCTL_TOKEN` itself.
    Variable(SecretValue),
}

/// The live backend of a command and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendSettings {
    /// The backend's address (`sqlite:…`, `https://…`, `keycloak+…`, `kanidm+…`).
    pub address: String,
    /// The bearer token of an http(s) backend.
    pub token: TokenSource,
    /// A CA to trust for an https backend.
    pub ca_file: Option<PathBuf>,
    /// Skip certificate verification (warned about when the backend opens).
    pub insecure_skip_tls_verify: bool,
    /// Timeout of each request.
    pub request_timeout: Duration,
    /// Concurrent writes (the default where the command writes nothing).
    pub parallelism: usize,
}

impl BackendSettings {
    /// Whether the backend is an `orgctl serve` (http or https).
    pub fn is_http(&self) -> bool {
        self.address.starts_with("http://") || self.address.starts_with("https://")
    }

    /// How the backend combines policies, known from its address alone.
    pub fn policy_combination(&self) -> PolicyCombination {
        backend::policy_combination_of(&self.address)
    }

    /// The options of the http client, with the token read from its file.
    pub fn http_options(&self) -> Result<HttpOptions, BackendError> {
        if !self.is_http() {
            return Ok(HttpOptions::default());
        }
        let token = match &self.token {
            TokenSource::None => None,
            TokenSource::File(path) => token_from(None, Some(path))?,
            TokenSource::Variable(token) => Some(token.clone()),
        };
        Ok(self.client_options(token))
    }

    /// The client options besides the token.
    pub fn client_options(&self, token: Option<SecretValue>) -> HttpOptions {
        HttpOptions {
            token,
            parallelism: self.parallelism,
            ca_file: self.ca_file.clone(),
            insecure_skip_tls_verify: self.insecure_skip_tls_verify,
            request_timeout: self.request_timeout,
        }
    }
}

/// What `plan`, `apply` and `diff` plan with.
#[derive(Debug, Clone)]
pub struct PlanSettings {
    /// The engine's plan options.
    pub options: PlanOptions,
    /// `--fail-on-posture`.
    pub fail_on_posture: Option<SeverityArg>,
    /// `--exceptions` files.
    pub posture_exceptions: Vec<PathBuf>,
}

/// `orgctl plan`.
#[derive(Debug, Clone)]
pub struct PlanCommand {
    /// The files and directories (`-` is stdin).
    pub files: Vec<PathBuf>,
    /// The live backend.
    pub backend: BackendSettings,
    /// What the plan is made with.
    pub plan: PlanSettings,
    /// Where to save the plan (`--out`).
    pub out: Option<PathBuf>,
    /// Exit 2 when there are changes.
    pub detailed_exitcode: bool,
    /// How the plan is rendered on stdout.
    pub format: Format,
}

/// `orgctl apply`.
#[derive(Debug, Clone)]
pub struct ApplyCommand {
    /// The files and directories, when no saved plan is applied.
    pub files: Vec<PathBuf>,
    /// A plan saved by `plan --out`.
    pub saved_plan: Option<PathBuf>,
    /// The live backend.
    pub backend: BackendSettings,
    /// What the plan is made with (and its posture gate).
    pub plan: PlanSettings,
    /// Apply without asking.
    pub auto_approve: bool,
    /// Show the plan and stop.
    pub dry_run: bool,
    /// With `dry_run`: exit 2 when there are changes.
    pub detailed_exitcode: bool,
    /// How the plan and the report are rendered on stdout.
    pub format: Format,
}

/// `orgctl diff`.
#[derive(Debug, Clone)]
pub struct DiffCommand {
    /// The files and directories.
    pub files: Vec<PathBuf>,
    /// The live backend.
    pub backend: BackendSettings,
    /// What the plan behind the diff is made with.
    pub plan: PlanSettings,
    /// Exit 2 when there are differences.
    pub detailed_exitcode: bool,
}

/// The renderer's format of an `--output` value.
fn format_of(o: OutputFormat) -> Format {
    match o {
        OutputFormat::Text => Format::Text,
        OutputFormat::Json => Format::Json,
        OutputFormat::Markdown => Format::Markdown,
    }
}

/// The settings of `orgctl plan`.
pub fn plan_command(
    a: &PlanArgs,
    before: &BeforeCommandArgs,
    env: &dyn Environment,
) -> Result<PlanCommand, SettingsError> {
    // `progress` is the printer's (see [`global`]).
    let PlanArgs {
        files: FileArgs { files },
        flags,
        out,
        detailed_exitcode,
        output,
        progress: ProgressArgs { progress: _ },
        backend: backend_args,
    } = a;
    Ok(PlanCommand {
        files: files.clone(),
        backend: backend(backend_args, None, before, env),
        plan: plan(flags, env)?,
        out: out.clone(),
        detailed_exitcode: *detailed_exitcode,
        format: format_of(*output),
    })
}

/// The settings of `orgctl apply`.
pub fn apply_command(
    a: &ApplyArgs,
    before: &BeforeCommandArgs,
    env: &dyn Environment,
) -> Result<ApplyCommand, SettingsError> {
    let ApplyArgs {
        files,
        flags,
        plan: saved_plan,
        auto_approve,
        dry_run,
        detailed_exitcode,
        output,
        progress: ProgressArgs { progress: _ },
        backend: backend_args,
        writes,
    } = a;
    Ok(ApplyCommand {
        files: files.clone(),
        saved_plan: saved_plan.clone(),
        backend: backend(backend_args, Some(writes), before, env),
        plan: plan(flags, env)?,
        auto_approve: *auto_approve,
        dry_run: *dry_run,
        detailed_exitcode: *detailed_exitcode,
        format: format_of(*output),
    })
}

/// The settings of `orgctl diff`.
pub fn diff_command(
    a: &DiffArgs,
    before: &BeforeCommandArgs,
    env: &dyn Environment,
) -> Result<DiffCommand, SettingsError> {
    let DiffArgs {
        files: FileArgs { files },
        flags,
        detailed_exitcode,
        backend: backend_args,
    } = a;
    Ok(DiffCommand {
        files: files.clone(),
        backend: backend(backend_args, None, before, env),
        plan: plan(flags, env)?,
        detailed_exitcode: *detailed_exitcode,
    })
}

/// `orgctl posture`.
#[derive(Debug, Clone)]
pub struct PostureCommand {
    /// The files to check (none: the live backend only).
    pub files: Vec<PathBuf>,
    /// Check the live backend (asked with `--live`, or no files given).
    pub live: bool,
    /// Only this organization.
    pub organization: Option<String>,
    /// Exception files.
    pub exceptions: Vec<PathBuf>,
    /// Exit 4 at or above this severity.
    pub fail_on: Option<SeverityArg>,
    /// The checks' thresholds and sensitive groups.
    pub checks: crate::posture::Settings,
    /// The day exceptions expire against (`--today`, else today in UTC).
    pub today: time::Date,
    /// How the report is rendered.
    pub format: PostureFormat,
    /// The live backend (also consulted with files alone when it is not
    /// the embedded directory: for what it cannot hold).
    pub backend: BackendSettings,
}

/// The settings of `orgctl posture`; a `--sensitive-group` that is no
/// valid name is an error naming the flag.
pub fn posture_command(
    a: &PostureArgs,
    before: &BeforeCommandArgs,
    env: &dyn Environment,
) -> Result<PostureCommand, SettingsError> {
    let PostureArgs {
        files,
        live,
        organization,
        exceptions,
        fail_on,
        max_full_admins,
        everyone_percent,
        today,
        sensitive_groups,
        output,
        backend: backend_args,
    } = a;
    let sensitive_groups = sensitive_groups
        .iter()
        .map(|g| parse_name(g, "--sensitive-group"))
        .collect::<Result<_, _>>()?;
    Ok(PostureCommand {
        files: files.clone(),
        live: *live || files.is_empty(),
        organization: organization.clone(),
        exceptions: exceptions.clone(),
        fail_on: *fail_on,
        checks: crate::posture::Settings {
            max_full_admins: *max_full_admins,
            everyone_percent: *everyone_percent,
            sensitive_groups,
            ..crate::posture::Settings::default()
        },
        today: today.unwrap_or_else(|| time::OffsetDateTime::now_utc().date()),
        format: *output,
        backend: backend(backend_args, None, before, env),
    })
}

/// The kinds of option a command may take before its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Takes {
    /// The backend options (`--backend`, `--token-file`, TLS, timeout).
    Backend,
    /// `--token-file` alone (`serve`: its accepted tokens).
    TokenFile,
    /// `--parallelism`.
    Writes,
    /// `--progress`.
    Progress,
}

/// The flags written before the command, by name, with their kind, when given.
fn before_flags(b: &BeforeCommandArgs) -> Vec<(&'static str, Takes)> {
    let BeforeCommandArgs {
        backend:
            BackendArgs {
                backend,
                token_file,
                ca_file,
                insecure_skip_tls_verify,
                request_timeout,
            },
        writes: WriteArgs { parallelism },
        progress,
    } = b;
    [
        ("--backend", Takes::Backend, backend.is_some()),
        ("--token-file", Takes::TokenFile, token_file.is_some()),
        ("--ca-file", Takes::Backend, ca_file.is_some()),
        (
            "--insecure-skip-tls-verify",
            Takes::Backend,
            *insecure_skip_tls_verify,
        ),
        ("--request-timeout", Takes::Backend, request_timeout.is_some()),
        ("--parallelism", Takes::Writes, parallelism.is_some()),
        ("--progress", Takes::Progress, progress.progress),
    ]
    .into_iter()
    .filter_map(|(flag, takes, given)| given.then_some((flag, takes)))
    .collect()
}

/// The command's name and the kinds of option it takes.
fn accepts(command: &Command) -> (&'static str, &'static [Takes]) {
    use Takes::{Backend, Progress, TokenFile, Writes};
    const READS: &[Takes] = &[Backend, TokenFile];
    match command {
        Command::Validate(_) => ("validate", &[]),
        Command::Plan(_) => ("plan", &[Backend, TokenFile, Progress]),
        Command::Apply(_) => ("apply", &[Backend, TokenFile, Progress, Writes]),
        Command::Diff(_) => ("diff", READS),
        Command::Export(_) => ("export", READS),
        Command::History(_) => ("history", READS),
        Command::Schema(_) => ("schema", &[]),
        Command::Crds(_) => ("crds", &[]),
        Command::Explain(e) => match e.what {
            ExplainWhat::User(_) => ("explain user", READS),
            ExplainWhat::Signin(_) => ("explain signin", READS),
        },
        Command::Posture(_) => ("posture", READS),
        Command::Serve(_) => ("serve", &[TokenFile]),
        Command::Controller(_) => ("controller", &[Backend, TokenFile, Writes]),
        Command::Version(_) => ("version", &[]),
        Command::Completions(_) => ("completions", &[]),
        Command::Man(_) => ("man", &[]),
    }
}

/// The settings every command has; refuses a backend flag written before a
/// command that does not take it.
pub fn global(cli: &Cli, env: &dyn Environment) -> Result<GlobalSettings, SettingsError> {
    let (command, accepted) = accepts(&cli.command);
    if let Some((flag, _)) = before_flags(&cli.before_command)
        .into_iter()
        .find(|(_, takes)| !accepted.contains(takes))
    {
        return Err(SettingsError::NotAnOption { flag, command });
    }
    let progress = match &cli.command {
        Command::Plan(a) => a.progress.progress,
        Command::Apply(a) => a.progress.progress,
        _ => false,
    } || cli.before_command.progress.progress;
    Ok(GlobalSettings {
        color: match cli.global.color {
            Some(when) => when,
            None if cli.global.no_color || env.var("NO_COLOR").is_some_and(|v| truthy(&v)) => {
                ColorWhen::Never
            }
            None => ColorWhen::Auto,
        },
        verbose: cli.global.verbose,
        quiet: cli.global.quiet,
        progress,
    })
}

/// Whether a variable's value means "on" (clap's falsey values and the empty
/// string mean off, as `NO_COLOR=0` always did here).
fn truthy(value: &str) -> bool {
    let v = value.trim().to_ascii_lowercase();
    !matches!(v.as_str(), "" | "0" | "false" | "no" | "n" | "off" | "f")
}

/// The backend of a command that reads one (`writes`: its `--parallelism`,
/// for commands that write).
pub fn backend(
    args: &BackendArgs,
    writes: Option<&WriteArgs>,
    before: &BeforeCommandArgs,
    env: &dyn Environment,
) -> BackendSettings {
    let b = &before.backend;
    let address = args
        .backend
        .clone()
        .or_else(|| b.backend.clone())
        .or_else(|| env.var("ORGCTL_BACKEND").filter(|v| !v.is_empty()))
        .unwrap_or_else(|| backend::DEFAULT_ADDRESS.to_string());
    let token_file = args
        .token_file
        .clone()
        .or_else(|| b.token_file.clone())
        .or_else(|| {
            env.var("ORGCTL_TOKEN_FILE")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        });
    let token = match token_file {
        Some(path) => TokenSource::File(path),
        None => env
            .var("ORGCTL_TOKEN")
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .map_or(TokenSource::None, |t| TokenSource::Variable(SecretValue::new(t))),
    };
    let parallelism = writes
        .and_then(|w| w.parallelism)
        .or(before.writes.parallelism)
        .unwrap_or(DEFAULT_PARALLELISM);
    BackendSettings {
        address,
        token,
        ca_file: args.ca_file.clone().or_else(|| b.ca_file.clone()),
        insecure_skip_tls_verify: args.insecure_skip_tls_verify || b.insecure_skip_tls_verify,
        request_timeout: Duration::from_secs(
            args.request_timeout
                .or(b.request_timeout)
                .unwrap_or(DEFAULT_REQUEST_TIMEOUT),
        ),
        parallelism: usize::from(parallelism),
    }
}

/// The plan options of `plan`, `apply` and `diff`: `--as` / `ORGCTL_AS` must
/// be a valid name, `--my-ip` / `ORGCTL_MY_IP` addresses.
pub fn plan(flags: &PlanFlags, env: &dyn Environment) -> Result<PlanSettings, SettingsError> {
    let PlanFlags {
        prune,
        adopt,
        max_deletes,
        impact_detail,
        applier,
        my_ip,
        fail_on_posture,
        posture_exceptions,
        force,
    } = flags;
    let applier = match applier {
        Some(a) => Some(parse_name(a, "--as")?),
        None => match env.var("ORGCTL_AS").filter(|v| !v.is_empty()) {
            Some(a) => Some(parse_name(&a, "ORGCTL_AS")?),
            None => None,
        },
    };
    let addresses = if my_ip.is_empty() {
        match env.var("ORGCTL_MY_IP") {
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    s.parse::<IpAddr>().map_err(|e| SettingsError::Invalid {
                        origin: "ORGCTL_MY_IP".to_string(),
                        value: s.to_string(),
                        reason: e.to_string(),
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        }
    } else {
        my_ip.clone()
    };
    Ok(PlanSettings {
        options: PlanOptions {
            prune: *prune,
            adopt: *adopt,
            max_deletes: *max_deletes,
            impact_detail: *impact_detail,
            guard: GuardOptions {
                applier,
                addresses,
                force: *force,
            },
            prune_only: None,
            // The engine takes it from the backend's capabilities.
            policies: Default::default(),
        },
        fail_on_posture: *fail_on_posture,
        posture_exceptions: posture_exceptions.clone(),
    })
}

fn parse_name(value: &str, origin: &str) -> Result<Name, SettingsError> {
    value.parse::<Name>().map_err(|reason| SettingsError::Invalid {
        origin: origin.to_string(),
        value: value.to_string(),
        reason,
    })
}

/// The controller's settings: its default backend (the token file is
/// re-read at every reconcile, so only its path is kept), the Lease and the
/// replica's name (`POD_NAME`, else `HOSTNAME`).
pub fn controller(
    args: &ControllerArgs,
    before: &BeforeCommandArgs,
    env: &dyn Environment,
) -> Result<crate::controller::Settings, SettingsError> {
    use crate::controller::leader::LeaseSettings;
    let backend = backend(&args.backend, Some(&args.writes), before, env);
    let token_file = match &backend.token {
        TokenSource::File(path) => Some(path.clone()),
        TokenSource::None | TokenSource::Variable(_) => None,
    };
    let leader = if args.leader_election {
        let namespace = args
            .lease_namespace
            .clone()
            .or_else(|| env.var("POD_NAMESPACE").filter(|v| !v.is_empty()))
            .ok_or(SettingsError::LeaseNamespaceMissing)?;
        Some(LeaseSettings::new(args.lease_name.clone(), namespace))
    } else {
        None
    };
    let identity = env
        .var("POD_NAME")
        .filter(|s| !s.is_empty())
        .or_else(|| env.var("HOSTNAME").filter(|s| !s.is_empty()))
        .unwrap_or_else(|| format!("orgctl-controller-{}", std::process::id()));
    Ok(crate::controller::Settings {
        http: backend.client_options(None),
        backend: backend.address,
        token_file,
        resync: args.resync,
        namespaces: args.namespaces.clone(),
        leader,
        identity,
        ..crate::controller::Settings::default()
    })
}

mod commands;
pub use commands::*;

#[cfg(test)]
mod tests;
