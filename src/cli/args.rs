//! Command-line arguments (clap derive types only). Secrets never come from
//! flag values.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use time::OffsetDateTime;

const EXIT_CODES: &str = "Exit codes:
  0  success (for plan/diff: no changes; for explain signin: allowed)
  1  error (invalid files, failed changes, refused plan)
  2  changes present (plan, diff and apply --dry-run with --detailed-exitcode)
  3  explain signin: the sign-in would be denied
  4  posture: an open finding at or above --fail-on";

/// The exit code of `explain signin` when the sign-in would be denied.
pub const EXIT_DENIED: u8 = 3;

const SIGNIN_HELP: &str = "Exit codes:
  0  the sign-in would be allowed
  1  error (unknown user, invalid files, unreadable history, a time before the organization existed)
  3  the sign-in would be denied (every reason is printed)

Unset policy fields mean the backend defaults: any address, MFA not required
(any mode), federated sign-in allowed through every provider, SSO not enforced,
sessions of 30d, 50 concurrent sessions, no idle timeout.

Example:
  orgctl explain signin --user priya.raman --ip 198.51.100.7 --mfa totp -f examples/acme";

/// orgctl keeps an identity organization's security set-up as code.
// Parse with `command()` (which hides the backend flags written before the
// command), not with `Cli::parse`.
#[derive(Debug, Parser)]
#[command(name = "orgctl", version = super::about::VERSION, about, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(flatten, next_help_heading = "Global options")]
    pub global: GlobalArgs,
    /// Backend flags written before the command (`orgctl --backend X plan`),
    /// the form earlier versions documented; hidden from help, and refused
    /// by the settings layer on commands that read no backend.
    #[command(flatten)]
    pub before_command: BeforeCommandArgs,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The clap command of orgctl, as parsing, help, completions and man pages
/// see it: the flags of [`BeforeCommandArgs`] are accepted but not shown.
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    BEFORE_COMMAND_IDS
        .iter()
        .fold(Cli::command(), |cmd, id| cmd.mut_arg(*id, |a| a.hide(true)))
}

/// orgctl keeps an identity organization's security set-up as code.
// The same command line without the flags accepted before the command, for
// completion scripts (clap_complete offers hidden options too) and man pages.
#[derive(Debug, Parser)]
#[command(name = "orgctl", version = super::about::VERSION, about, after_help = EXIT_CODES)]
struct Documented {
    #[command(flatten, next_help_heading = "Global options")]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

/// The command line as completions and man pages describe it: only the
/// options each command lists in its help.
pub fn documented() -> clap::Command {
    use clap::CommandFactory;
    Documented::command()
}

/// The argument ids of [`BeforeCommandArgs`].
const BEFORE_COMMAND_IDS: [&str; 7] = [
    "backend",
    "token_file",
    "ca_file",
    "insecure_skip_tls_verify",
    "request_timeout",
    "parallelism",
    "progress",
];

/// Options meaningful for every command (accepted before or after it).
#[derive(Debug, Args, Clone, Default)]
pub struct GlobalArgs {
    /// When to colour the output: auto colours terminals only [default: auto].
    #[arg(long, global = true, value_name = "WHEN", conflicts_with = "no_color")]
    pub color: Option<ColorWhen>,
    /// Never colour the output, as --color never [env: NO_COLOR].
    #[arg(long, global = true)]
    pub no_color: bool,
    /// Log more to stderr (-v info, -vv debug, -vvv trace; ORGCTL_LOG takes a tracing filter).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Print only results, warnings and errors: no notes, no progress, logs at error level.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

/// When output is coloured (`--color`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ColorWhen {
    /// On a terminal only, decided for stdout and stderr apart.
    #[default]
    Auto,
    /// Always, even into a pipe or file.
    Always,
    /// Never.
    Never,
}

/// The backend flags as accepted before the command name (hidden).
#[derive(Debug, Args, Clone, Default)]
pub struct BeforeCommandArgs {
    #[command(flatten)]
    pub backend: BackendArgs,
    #[command(flatten)]
    pub writes: WriteArgs,
    #[command(flatten)]
    pub progress: ProgressArgs,
}

/// Where the live backend is and how to reach it: the options of every
/// command that reads or writes a backend. Defaults and environment
/// variables are applied by the settings layer (`cli::settings`).
#[derive(Debug, Args, Clone, Default)]
pub struct BackendArgs {
    /// Live backend: sqlite:PATH (default sqlite:.orgctl/directory.db), http(s)://HOST:PORT (orgctl serve), keycloak+http(s)://HOST[:PORT][/PATH] (a Keycloak server; the organization is the realm), or kanidm+https://HOST[:PORT] (a Kanidm server; the organization is its domain). [env: ORGCTL_BACKEND]
    #[arg(long, value_name = "ADDRESS")]
    pub backend: Option<String>,
    /// http(s) backends: file holding the bearer token [env: ORGCTL_TOKEN_FILE; or the token itself in ORGCTL_TOKEN].
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// https backends: PEM CA certificate to trust besides the system roots.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// https backends: do not verify the certificate (insecure; warned about).
    #[arg(long)]
    pub insecure_skip_tls_verify: bool,
    /// http(s) backends: timeout of each request, in seconds [default: 30].
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub request_timeout: Option<u64>,
}

/// Options of commands that write to a backend.
#[derive(Debug, Args, Clone, Default)]
pub struct WriteArgs {
    /// http(s) backends: concurrent writes [default: 8].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub parallelism: Option<u16>,
}

/// Options of commands that show progress (`plan`, `apply`).
#[derive(Debug, Args, Clone, Default)]
pub struct ProgressArgs {
    /// Show progress phases on stderr even when it is not a terminal (CI logs).
    #[arg(long)]
    pub progress: bool,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the files without touching any backend.
    Validate(ValidateArgs),
    /// Show what apply would change.
    Plan(PlanArgs),
    /// Change the live backend to match the files.
    Apply(ApplyArgs),
    /// Show a unified YAML diff of live and desired objects.
    Diff(DiffArgs),
    /// Write the live organization as YAML files.
    Export(ExportArgs),
    /// Show the audit log of applied changes.
    History(HistoryArgs),
    /// Print the JSON Schema of one kind, or of every kind.
    Schema(SchemaArgs),
    /// Print the Kubernetes CustomResourceDefinitions of every kind as YAML.
    Crds(CrdsArgs),
    /// Explain effective access: why a user has what they have.
    Explain(ExplainArgs),
    /// Check the security posture of the files, the live backend, or both.
    #[command(after_help = POSTURE_HELP)]
    Posture(PostureArgs),
    /// Serve the embedded directory as a REST API (the http(s) backend).
    Serve(ServeArgs),
    /// Run the Kubernetes controller: reconcile orgctl custom resources into their backends.
    Controller(ControllerArgs),
    /// Print the version and the git commit it was built from.
    Version(VersionArgs),
    /// Print a shell completion script (e.g. `orgctl completions bash > /etc/bash_completion.d/orgctl`).
    Completions(CompletionsArgs),
    /// Write man pages (orgctl.1 and one per command) into a directory.
    Man(ManArgs),
}

/// `orgctl version`.
#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: TextOrJson,
}

/// `orgctl completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `orgctl man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// The directory to write into (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// `orgctl serve`. Tokens come from --token-file (one per line, optionally
/// `TOKEN read-only`) and ORGCTL_SERVE_TOKEN, never from a flag value.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// File of the accepted bearer tokens, one per line (`TOKEN` or `TOKEN read-only`) [env: ORGCTL_TOKEN_FILE; or one token in ORGCTL_SERVE_TOKEN].
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// The directory file to serve (created if missing).
    #[arg(long, value_name = "PATH")]
    pub db: PathBuf,
    /// Address to listen on (port 0 picks a free one; the bound address is printed).
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: std::net::SocketAddr,
    /// PEM certificate chain for HTTPS (with --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for HTTPS (with --tls-cert).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Seconds a connection gets to send a whole request head, from its start or its previous answer (so also how long an idle connection stays open).
    #[arg(long, default_value_t = 10, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout: u64,
    /// Seconds a request gets to send its whole body (408 after).
    #[arg(long, default_value_t = 30, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub body_timeout: u64,
    /// Connections served at once; further ones are closed as they arrive.
    #[arg(long, default_value_t = 512, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub max_connections: u64,
    /// Largest request body read, in bytes (413 above it); clients learn it from the snapshot and plan within it.
    #[arg(long, default_value_t = crate::backend::http::wire::MAX_BODY as u64, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(4096..=1_073_741_824))]
    pub max_body_size: u64,
    /// Test only: answer every N-th API request with STATUS (STATUS:N[:RETRY_AFTER]).
    #[cfg(feature = "dev")]
    #[arg(long, value_name = "STATUS:N", hide = true)]
    pub inject_fault: Vec<crate::serve::Fault>,
}

/// Where the desired state comes from.
#[derive(Debug, Args, Clone)]
pub struct FileArgs {
    /// Files or directories (recursive, .yaml/.yml); `-` reads stdin.
    #[arg(short = 'f', long = "filename", value_name = "PATH", required = true)]
    pub files: Vec<PathBuf>,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    /// For people.
    #[default]
    Text,
    /// For scripts.
    Json,
    /// For a pull-request comment.
    Markdown,
}

/// Output formats of commands that have no Markdown form, so `-o markdown`
/// there is a usage error instead of silently printing text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum TextOrJson {
    /// For people.
    #[default]
    Text,
    /// For scripts.
    Json,
}

/// Options that shape a plan.
#[derive(Debug, Args, Clone)]
pub struct PlanFlags {
    /// Delete managed objects that are no longer in the files.
    #[arg(long)]
    pub prune: bool,
    /// Take existing unmanaged objects with declared names under management.
    #[arg(long)]
    pub adopt: bool,
    /// Refuse plans that delete more than N objects.
    #[arg(long, value_name = "N")]
    pub max_deletes: Option<usize>,
    /// List every affected user in the access impact (default: a few per line, with counts).
    #[arg(long)]
    pub impact_detail: bool,
    /// The user applying the plan: the plan fails if they would lose admin rights [env: ORGCTL_AS].
    #[arg(long = "as", value_name = "USER")]
    pub applier: Option<String>,
    /// An address you sign in from: the plan fails if your policy would refuse it (repeatable, or comma-separated) [env: ORGCTL_MY_IP].
    #[arg(long = "my-ip", value_name = "ADDR", value_delimiter = ',')]
    pub my_ip: Vec<std::net::IpAddr>,
    /// Refuse the plan when it introduces a posture finding of this severity or higher (not accepted by an exception).
    #[arg(long, value_enum, value_name = "SEVERITY")]
    pub fail_on_posture: Option<SeverityArg>,
    /// Posture exception files (kind PostureException), for --fail-on-posture and the plan's posture section.
    #[arg(long = "exceptions", value_name = "FILE")]
    pub posture_exceptions: Vec<PathBuf>,
    /// Apply even though a lockout guard fails (no super admin left, losing your
    /// own admin rights, your address refused); the plan shows what was overridden.
    #[arg(long)]
    pub force: bool,
}

/// A finding severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SeverityArg {
    /// Low and above (every finding).
    Low,
    /// Medium and high.
    Medium,
    /// High only.
    High,
}

/// Output formats of `posture`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum PostureFormat {
    /// For people.
    #[default]
    Text,
    /// For scripts.
    Json,
    /// For a pull-request comment.
    Markdown,
    /// SARIF 2.1.0, for code scanning.
    Sarif,
}

const POSTURE_HELP: &str = "Exit codes:
  0  no open finding at or above --fail-on (or no --fail-on)
  1  error (invalid files or exceptions, unreadable backend)
  4  an open finding at or above --fail-on

Examples:
  orgctl posture -f examples/acme
  orgctl posture -f examples/acme --exceptions posture/exceptions.yaml -o sarif > posture.sarif
  orgctl posture --backend sqlite:.orgctl/directory.db --fail-on high";

/// `orgctl posture`.
#[derive(Debug, Args)]
pub struct PostureArgs {
    /// Check the files (or directories); without -f, the live backend.
    #[arg(short = 'f', long = "filename", value_name = "PATH")]
    pub files: Vec<PathBuf>,
    /// With -f: check the live backend too (each organization of the files, as it is live).
    #[arg(long)]
    pub live: bool,
    /// Only this organization.
    #[arg(long = "org", value_name = "NAME")]
    pub organization: Option<String>,
    /// Posture exception files (kind PostureException): accepted findings show as accepted.
    #[arg(long = "exceptions", value_name = "FILE")]
    pub exceptions: Vec<PathBuf>,
    /// Exit 4 when an open finding is this severe or more.
    #[arg(long, value_enum, value_name = "SEVERITY")]
    pub fail_on: Option<SeverityArg>,
    /// More users than this holding every admin permission is a finding.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub max_full_admins: usize,
    /// An app held by at least this percentage of users is given to "nearly everyone".
    #[arg(long, default_value_t = 90, value_name = "PERCENT", value_parser = clap::value_parser!(u32).range(1..=100))]
    pub everyone_percent: u32,
    /// Evaluate exception expiry as of this day (YYYY-MM-DD) instead of today (reproducible reports).
    #[arg(long, value_name = "DATE", hide = true, value_parser = parse_day)]
    pub today: Option<time::Date>,
    /// A group the organization considers sensitive (repeatable), besides groups holding admin roles.
    #[arg(long = "sensitive-group", value_name = "GROUP")]
    pub sensitive_groups: Vec<String>,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: PostureFormat,
    #[command(flatten, next_help_heading = "Backend")]
    pub backend: BackendArgs,
}

/// `orgctl validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub files: FileArgs,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: TextOrJson,
}

/// `orgctl plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub files: FileArgs,
    #[command(flatten)]
    pub flags: PlanFlags,
    /// Save the plan to FILE for `apply --plan FILE`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Exit 2 when there are changes, 0 when none, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: OutputFormat,
    #[command(flatten)]
    pub progress: ProgressArgs,
    #[command(flatten, next_help_heading = "Backend")]
    pub backend: BackendArgs,
}

/// `orgctl apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Files or directories (recursive, .yaml/.yml); `-` reads stdin.
    #[arg(
        short = 'f',
        long = "filename",
        value_name = "PATH",
        required_unless_present = "plan"
    )]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub flags: PlanFlags,
    /// Apply a plan saved by `plan --out`, without asking again (refused if the live state changed since).
    #[arg(long, value_name = "FILE", conflicts_with = "files")]
    pub plan: Option<PathBuf>,
    /// Apply without asking for confirmation (a saved plan never asks).
    #[arg(long)]
    pub auto_approve: bool,
    /// Show the plan and stop.
    #[arg(long)]
    pub dry_run: bool,
    /// With --dry-run: exit 2 when there are changes (without it, a usage error).
    #[arg(long, requires = "dry_run")]
    pub detailed_exitcode: bool,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: OutputFormat,
    #[command(flatten)]
    pub progress: ProgressArgs,
    #[command(flatten, next_help_heading = "Backend")]
    pub backend: BackendArgs,
    #[command(flatten, next_help_heading = "Backend")]
    pub writes: WriteArgs,
}

/// `orgctl diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    #[command(flatten)]
    pub files: FileArgs,
    #[command(flatten)]
    pub flags: PlanFlags,
    /// Exit 2 when there are differences.
    #[arg(long)]
    pub detailed_exitcode: bool,
    #[command(flatten, next_help_heading = "Backend")]
    pub backend: BackendArgs,
}

/// How export lays out files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Layout {
    /// One file per kind (`users.yaml`).
    #[default]
    Kind,
    /// One file per object (`user/alice.yaml`).
    Object,
}

/// `orgctl export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The organization to export.
    #[arg(long = "org", value_name = "NAME")]
    pub organization: String,
    /// Directory to write; without it, all documents go to stdout.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// One file per kind or per object.
    #[arg(long, value_enum, default_value_t)]
    pub layout: Layout,
    #[command(flatten, next_help_heading = "Backend")]
    pub backend: BackendArgs,
}

/// `orgctl history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Only this organization.
    #[arg(long = "org", value_name = "NAME")]
    pub organization: Option<String>,
    /// How many entries, newest first.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: TextOrJson,
    #[command(flatten, next_help_heading = "Backend")]
    pub backend: BackendArgs,
}

/// `orgctl schema`.
#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// A kind (User, Group, …); without it, one schema accepting every kind.
    pub kind: Option<String>,
}

/// `orgctl crds`.
#[derive(Debug, Args)]
pub struct CrdsArgs {
    /// Write one file per CRD (`orgctl.io_<plural>.yaml`) into DIR instead of printing one stream.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// `orgctl explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// What to explain.
    #[command(subcommand)]
    pub what: ExplainWhat,
}

/// The things `explain` can explain.
#[derive(Debug, Subcommand)]
pub enum ExplainWhat {
    /// A user's apps and app roles, security policy and admin permissions, and why.
    User(ExplainUserArgs),
    /// Whether a sign-in would be allowed under the user's security policy, and every reason why not.
    #[command(after_help = SIGNIN_HELP)]
    Signin(ExplainSigninArgs),
}

/// `orgctl explain user`.
#[derive(Debug, Args)]
pub struct ExplainUserArgs {
    /// The user's name (`metadata.name`).
    pub name: String,
    /// Explain the state the files declare instead of the live backend.
    #[arg(short = 'f', long = "filename", value_name = "PATH")]
    pub files: Vec<PathBuf>,
    /// The organization (needed when there are several).
    #[arg(long = "org", value_name = "NAME")]
    pub organization: Option<String>,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: TextOrJson,
    #[command(flatten, next_help_heading = "Backend")]
    pub backend: BackendArgs,
}

/// A second factor presented at sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MfaArg {
    /// Push notification to the authenticator app.
    PushApp,
    /// One-time code by SMS.
    Sms,
    /// Time-based one-time password.
    Totp,
    /// FIDO2/WebAuthn security key.
    SecurityKey,
}

impl From<MfaArg> for crate::model::MfaMode {
    fn from(m: MfaArg) -> Self {
        match m {
            MfaArg::PushApp => crate::model::MfaMode::PushApp,
            MfaArg::Sms => crate::model::MfaMode::Sms,
            MfaArg::Totp => crate::model::MfaMode::Totp,
            MfaArg::SecurityKey => crate::model::MfaMode::SecurityKey,
        }
    }
}

/// Parses a day (`2026-12-01`).
fn parse_day(s: &str) -> Result<time::Date, String> {
    time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
        .map_err(|_| "expected a day such as 2026-12-01".to_string())
}

/// Parses an RFC 3339 time (`2026-11-24T09:00:00Z`).
fn parse_time(s: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|_| "expected an RFC 3339 time such as 2026-11-24T09:00:00Z".to_string())
}

/// `orgctl explain signin`.
#[derive(Debug, Args)]
pub struct ExplainSigninArgs {
    /// The user's name (`metadata.name`).
    #[arg(long, value_name = "NAME")]
    pub user: String,
    /// The address the sign-in comes from (IPv4 or IPv6).
    #[arg(long, value_name = "ADDR")]
    pub ip: IpAddr,
    /// The second factor presented; without it, none.
    #[arg(long, value_enum, value_name = "MODE")]
    pub mfa: Option<MfaArg>,
    /// Sign in through this IdentityProvider; without it, with a password.
    #[arg(long, value_name = "PROVIDER")]
    pub via: Option<String>,
    /// Evaluate the organization as it was at TIME (RFC 3339), rebuilt from the live backend's audit log.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub at: Option<OffsetDateTime>,
    /// Explain the state the files declare instead of the live backend.
    #[arg(short = 'f', long = "filename", value_name = "PATH")]
    pub files: Vec<PathBuf>,
    /// The organization (needed when there are several).
    #[arg(long = "org", value_name = "NAME")]
    pub organization: Option<String>,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: TextOrJson,
    #[command(flatten, next_help_heading = "Backend")]
    pub backend: BackendArgs,
}

/// Parses a duration such as `30s`, `5m`, `1h` (or plain seconds).
fn parse_period(s: &str) -> Result<std::time::Duration, String> {
    let (digits, unit) = s
        .find(|c: char| !c.is_ascii_digit())
        .map_or((s, "s"), |i| s.split_at(i));
    let n: u64 = digits
        .parse()
        .map_err(|_| "expected a duration such as 30s, 5m or 1h".to_string())?;
    let seconds = match unit {
        "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        _ => return Err("expected a duration such as 30s, 5m or 1h".to_string()),
    };
    if seconds == 0 {
        return Err("the duration must be positive".to_string());
    }
    Ok(std::time::Duration::from_secs(seconds))
}

/// Log line formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LogFormat {
    /// For people.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `orgctl controller`.
#[derive(Debug, Args)]
pub struct ControllerArgs {
    /// Re-plan every organization this often; drift found is corrected.
    #[arg(long, default_value = "5m", value_parser = parse_period, value_name = "DURATION")]
    pub resync: std::time::Duration,
    /// Serve /metrics, /healthz and /readyz on this address.
    #[arg(long, default_value = "0.0.0.0:8080", value_name = "ADDR")]
    pub listen: String,
    /// Elect a leader through a coordination.k8s.io Lease (for several replicas).
    #[arg(long)]
    pub leader_election: bool,
    /// The Lease's name.
    #[arg(long, default_value = "orgctl-controller", value_name = "NAME")]
    pub lease_name: String,
    /// The Lease's namespace [env: POD_NAMESPACE].
    #[arg(long, value_name = "NS")]
    pub lease_namespace: Option<String>,
    /// Reconcile only this namespace (repeatable; default: every namespace).
    #[arg(long = "namespace", value_name = "NS")]
    pub namespaces: Vec<String>,
    /// Log level (error, warn, info, debug, trace) or a tracing filter.
    #[arg(long, default_value = "info", value_name = "LEVEL")]
    pub log_level: String,
    /// Log format.
    #[arg(long, value_enum, default_value_t)]
    pub log_format: LogFormat,
    #[command(flatten, next_help_heading = "Backend")]
    pub backend: BackendArgs,
    #[command(flatten, next_help_heading = "Backend")]
    pub writes: WriteArgs,
}
