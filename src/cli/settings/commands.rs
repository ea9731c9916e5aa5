//! The settings of the commands that do not plan: `validate`, `export`,
//! `history`, `schema`, `crds`, `explain`, `serve`, `version`,
//! `completions`, `man` and the controller's process options. Each is built
//! from its clap args with [`super::backend`] where it reads a backend, so
//! the command functions take settings only.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use time::OffsetDateTime;

use super::{backend, BackendSettings, Environment, SettingsError};
use crate::cli::args::{
    BeforeCommandArgs, CompletionsArgs, ControllerArgs, CrdsArgs, ExplainSigninArgs, ExplainUserArgs,
    ExportArgs, FileArgs, HistoryArgs, Layout, LogFormat, ManArgs, MfaArg, SchemaArgs, ServeArgs, TextOrJson,
    ValidateArgs, VersionArgs,
};
use crate::model::{Kind, Name};

/// `orgctl validate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidateCommand {
    /// The files and directories (`-` is stdin).
    pub files: Vec<PathBuf>,
    /// Text or JSON.
    pub format: TextOrJson,
}

/// The settings of `orgctl validate`.
pub fn validate_command(a: &ValidateArgs) -> ValidateCommand {
    let ValidateArgs {
        files: FileArgs { files },
        output,
    } = a;
    ValidateCommand {
        files: files.clone(),
        format: *output,
    }
}

/// The organization named by `--org`.
fn org_name(value: &str) -> Result<Name, SettingsError> {
    value
        .parse::<Name>()
        .map_err(|reason| SettingsError::InvalidName {
            origin: "--org",
            reason,
        })
}

/// `orgctl export`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportCommand {
    /// The organization exported (`--org`).
    pub organization: Name,
    /// The directory written (stdout without one).
    pub dir: Option<PathBuf>,
    /// One file per kind or per object.
    pub layout: Layout,
    /// The backend read.
    pub backend: BackendSettings,
}

/// The settings of `orgctl export`: `--org` must be a valid name.
pub fn export_command(
    a: &ExportArgs,
    before: &BeforeCommandArgs,
    env: &dyn Environment,
) -> Result<ExportCommand, SettingsError> {
    let ExportArgs {
        organization,
        dir,
        layout,
        backend: backend_args,
    } = a;
    Ok(ExportCommand {
        organization: org_name(organization)?,
        dir: dir.clone(),
        layout: *layout,
        backend: backend(backend_args, None, before, env),
    })
}

/// `orgctl history`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryCommand {
    /// Only this organization's changes (`--org`).
    pub organization: Option<Name>,
    /// At most this many entries.
    pub limit: usize,
    /// Text or JSON.
    pub format: TextOrJson,
    /// The backend read.
    pub backend: BackendSettings,
}

/// The settings of `orgctl history`: `--org` must be a valid name.
pub fn history_command(
    a: &HistoryArgs,
    before: &BeforeCommandArgs,
    env: &dyn Environment,
) -> Result<HistoryCommand, SettingsError> {
    let HistoryArgs {
        organization,
        limit,
        output,
        backend: backend_args,
    } = a;
    Ok(HistoryCommand {
        organization: organization.as_deref().map(org_name).transpose()?,
        limit: *limit,
        format: *output,
        backend: backend(backend_args, None, before, env),
    })
}

/// `orgctl schema`: one kind's schema, or the one accepting any kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaCommand {
    /// The kind, `None` for all.
    pub kind: Option<Kind>,
}

/// The settings of `orgctl schema`: an unknown kind is refused with a
/// did-you-mean.
pub fn schema_command(a: &SchemaArgs) -> Result<SchemaCommand, SettingsError> {
    let SchemaArgs { kind } = a;
    let kind = match kind {
        None => None,
        Some(k) => Some(k.parse::<Kind>().map_err(|_| {
            let names = Kind::ALL.map(Kind::as_str);
            let hint = crate::diagnostic::did_you_mean(k, names)
                .map(|s| format!(", did you mean {s:?}?"))
                .unwrap_or_else(|| format!("; expected one of: {}", names.join(", ")));
            SettingsError::UnknownKind {
                value: k.clone(),
                hint,
            }
        })?),
    };
    Ok(SchemaCommand { kind })
}

/// `orgctl crds`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrdsCommand {
    /// The directory written (one stream on stdout without one).
    pub dir: Option<PathBuf>,
}

/// The settings of `orgctl crds`.
pub fn crds_command(a: &CrdsArgs) -> CrdsCommand {
    let CrdsArgs { dir } = a;
    CrdsCommand { dir: dir.clone() }
}

/// Where `explain` reads the organization from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExplainSource {
    /// The files (`-f`); empty means the live backend.
    pub files: Vec<PathBuf>,
    /// The organization named (`--org`); otherwise the only one.
    pub organization: Option<String>,
    /// The backend (read when there are no files; its policy combination
    /// applies to files too).
    pub backend: BackendSettings,
    /// Text or JSON.
    pub format: TextOrJson,
}

/// The source of an `explain` from its flags.
fn explain_source(
    files: &[PathBuf],
    organization: &Option<String>,
    format: TextOrJson,
    backend: BackendSettings,
) -> ExplainSource {
    ExplainSource {
        files: files.to_vec(),
        organization: organization.clone(),
        backend,
        format,
    }
}

/// `orgctl explain user NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExplainUserCommand {
    /// The user.
    pub name: String,
    /// Where the organization comes from.
    pub source: ExplainSource,
}

/// The settings of `orgctl explain user`.
pub fn explain_user_command(
    a: &ExplainUserArgs,
    before: &BeforeCommandArgs,
    env: &dyn Environment,
) -> ExplainUserCommand {
    let ExplainUserArgs {
        name,
        files,
        organization,
        output,
        backend: backend_args,
    } = a;
    ExplainUserCommand {
        name: name.clone(),
        source: explain_source(
            files,
            organization,
            *output,
            backend(backend_args, None, before, env),
        ),
    }
}

/// `orgctl explain signin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExplainSigninCommand {
    /// The user signing in.
    pub user: String,
    /// From this address.
    pub ip: IpAddr,
    /// With this second factor.
    pub mfa: Option<MfaArg>,
    /// Through this app.
    pub via: Option<String>,
    /// As the organization was then (live backend only).
    pub at: Option<OffsetDateTime>,
    /// Where the organization comes from.
    pub source: ExplainSource,
}

/// The settings of `orgctl explain signin`: `--at` needs the live backend.
pub fn explain_signin_command(
    a: &ExplainSigninArgs,
    before: &BeforeCommandArgs,
    env: &dyn Environment,
) -> Result<ExplainSigninCommand, SettingsError> {
    let ExplainSigninArgs {
        user,
        ip,
        mfa,
        via,
        at,
        files,
        organization,
        output,
        backend: backend_args,
    } = a;
    if at.is_some() && !files.is_empty() {
        return Err(SettingsError::AtWithFiles);
    }
    Ok(ExplainSigninCommand {
        user: user.clone(),
        ip: *ip,
        mfa: *mfa,
        via: via.clone(),
        at: *at,
        source: explain_source(
            files,
            organization,
            *output,
            backend(backend_args, None, before, env),
        ),
    })
}

/// `orgctl serve`: where it stores, listens and takes its tokens from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeSettings {
    /// The token file (`--token-file` or `ORGCTL_TOKEN_FILE`).
    pub token_file: Option<PathBuf>,
    /// One more accepted token (`ORGCTL_SERVE_TOKEN`).
    pub token: Option<String>,
    /// The SQLite directory file served.
    pub db: PathBuf,
    /// The address listened on.
    pub listen: SocketAddr,
    /// Certificate and key, when serving https.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Connection limits and timeouts.
    pub limits: crate::serve::Limits,
    /// Faults injected into responses (tests only).
    #[cfg(feature = "dev")]
    pub faults: Vec<crate::serve::Fault>,
}

/// The settings of `orgctl serve`.
pub fn serve(args: &ServeArgs, before: &BeforeCommandArgs, env: &dyn Environment) -> ServeSettings {
    ServeSettings {
        token_file: args
            .token_file
            .clone()
            .or_else(|| before.backend.token_file.clone())
            .or_else(|| {
                env.var("ORGCTL_TOKEN_FILE")
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
            }),
        token: env.var("ORGCTL_SERVE_TOKEN"),
        db: args.db.clone(),
        listen: args.listen,
        tls: args.tls_cert.clone().zip(args.tls_key.clone()),
        limits: crate::serve::Limits {
            header_timeout: Duration::from_secs(args.header_timeout),
            body_timeout: Duration::from_secs(args.body_timeout),
            max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
            max_body: usize::try_from(args.max_body_size).unwrap_or(usize::MAX),
        },
        #[cfg(feature = "dev")]
        faults: args.inject_fault.clone(),
    }
}

/// `orgctl version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionCommand {
    /// Text or JSON.
    pub format: TextOrJson,
}

/// The settings of `orgctl version`.
pub fn version_command(a: &VersionArgs) -> VersionCommand {
    let VersionArgs { output } = a;
    VersionCommand { format: *output }
}

/// `orgctl completions SHELL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompletionsCommand {
    /// The shell the script is for.
    pub shell: clap_complete::Shell,
}

/// The settings of `orgctl completions`.
pub fn completions_command(a: &CompletionsArgs) -> CompletionsCommand {
    let CompletionsArgs { shell } = a;
    CompletionsCommand { shell: *shell }
}

/// `orgctl man --out DIR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManCommand {
    /// The directory the pages are written to.
    pub out: PathBuf,
}

/// The settings of `orgctl man`.
pub fn man_command(a: &ManArgs) -> ManCommand {
    let ManArgs { out } = a;
    ManCommand { out: out.clone() }
}

/// The controller process's own options besides [`crate::controller::Settings`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerProcess {
    /// Where health and metrics are served.
    pub listen: String,
    /// A level or a tracing filter.
    pub log_level: String,
    /// Text or JSON logs.
    pub log_format: LogFormat,
}

/// The controller's process options.
pub fn controller_process(a: &ControllerArgs) -> ControllerProcess {
    ControllerProcess {
        listen: a.listen.clone(),
        log_level: a.log_level.clone(),
        log_format: a.log_format,
    }
}
