//! The one place that writes to the terminal: results to stdout, messages,
//! logs and progress to stderr. It owns the decisions about them, made once
//! from [`GlobalSettings`]: colour per stream (`--color auto` colours a
//! terminal only; `always`, `never`; `--no-color`/`NO_COLOR` mean never),
//! the log level (`-v`), quiet (`-q`: no notes, no progress), the progress
//! mode, the command's output format (results are emitted through
//! [`Printer::result`] and [`Printer::rendered`]) and the JSON envelope of
//! results. Commands ask it; they never look at a terminal or a colour flag
//! themselves. A closed pipe ends output quietly instead of failing.

use std::io::{IsTerminal, Write};

use serde::Serialize;

use super::args::ColorWhen;
use super::settings::GlobalSettings;

/// The `formatVersion` of the JSON that `validate`, `history` and `explain
/// user` print. It changes only when a field changes meaning or goes away, so
/// scripts can refuse a format they do not know.
pub const JSON_FORMAT_VERSION: u32 = 1;

/// A JSON result: `formatVersion` first, then the fields of `body`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Versioned<'a, T: Serialize> {
    format_version: u32,
    #[serde(flatten)]
    body: &'a T,
}

/// `body` (a struct or map) as pretty JSON carrying `formatVersion`.
pub fn versioned_json<T: Serialize>(body: &T) -> String {
    let v = Versioned {
        format_version: JSON_FORMAT_VERSION,
        body,
    };
    // Plain data with string keys: serializing cannot fail.
    serde_json::to_string_pretty(&v).unwrap_or_default()
}

/// What a command's result is printed as, resolved from its `--output`
/// (each command's clap value enum refuses a format it does not support).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Output {
    /// For people.
    #[default]
    Text,
    /// For scripts, carrying `formatVersion`.
    Json,
    /// For a pull-request comment (`plan`, `apply`, `posture`).
    Markdown,
    /// SARIF 2.1.0, for code scanning (`posture`).
    Sarif,
}

impl From<crate::render::Format> for Output {
    fn from(f: crate::render::Format) -> Self {
        match f {
            crate::render::Format::Text => Output::Text,
            crate::render::Format::Json => Output::Json,
            crate::render::Format::Markdown => Output::Markdown,
        }
    }
}

impl From<super::args::PostureFormat> for Output {
    fn from(f: super::args::PostureFormat) -> Self {
        use super::args::PostureFormat;
        match f {
            PostureFormat::Text => Output::Text,
            PostureFormat::Json => Output::Json,
            PostureFormat::Markdown => Output::Markdown,
            PostureFormat::Sarif => Output::Sarif,
        }
    }
}

/// A result that renders itself in the formats its command offers.
pub trait Rendered {
    /// The result as `output`; `color` only affects text.
    fn render(&self, output: Output, color: bool) -> String;
}

impl From<super::args::TextOrJson> for Output {
    fn from(o: super::args::TextOrJson) -> Self {
        match o {
            super::args::TextOrJson::Text => Output::Text,
            super::args::TextOrJson::Json => Output::Json,
        }
    }
}

/// Whether a stream is coloured: `auto` colours a terminal only.
fn colors(when: ColorWhen, terminal: bool) -> bool {
    match when {
        ColorWhen::Auto => terminal,
        ColorWhen::Always => true,
        ColorWhen::Never => false,
    }
}

/// Writes results and messages.
#[derive(Debug, Clone)]
pub struct Printer {
    /// The format of the command's result.
    output: Output,
    /// Colour stdout.
    pub color: bool,
    /// Colour stderr.
    pub color_err: bool,
    /// Where progress goes (stderr only).
    pub progress: super::progress::Mode,
    /// `-v` count: how much is logged to stderr.
    verbose: u8,
    /// `-q`: notes and progress are not shown, only errors are logged.
    quiet: bool,
}

impl Printer {
    /// A printer for this process's terminals, as the settings ask.
    pub fn new(settings: &GlobalSettings) -> Self {
        Printer {
            output: Output::Text,
            color: colors(settings.color, std::io::stdout().is_terminal()),
            color_err: colors(settings.color, std::io::stderr().is_terminal()),
            progress: if settings.quiet {
                super::progress::Mode::Off
            } else {
                super::progress::Mode::detect(settings.progress)
            },
            verbose: settings.verbose,
            quiet: settings.quiet,
        }
    }

    /// Sends `tracing` logs to stderr at the `-v` level, or at least
    /// `floor` (the server logs each request at info). `ORGCTL_LOG`, a
    /// tracing filter, overrides both.
    pub fn start_logging(&self, floor: u8) {
        let level = match self.verbose.max(floor) {
            _ if self.quiet => "error",
            0 => "warn",
            1 => "info",
            2 => "debug",
            _ => "trace",
        };
        let filter = tracing_subscriber::EnvFilter::try_from_env("ORGCTL_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("orgctl={level}")));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(self.color_err)
            .with_target(false)
            .try_init();
    }

    /// This printer for a command whose result is printed as `output`.
    pub fn with_output(&self, output: Output) -> Printer {
        Printer {
            output,
            ..self.clone()
        }
    }

    /// The format of the command's result.
    pub fn output(&self) -> Output {
        self.output
    }

    /// Writes the command's result to stdout in its format: `body` as JSON
    /// carrying `formatVersion`, or `text(body)`.
    pub fn result<T: Serialize>(&self, body: &T, text: impl FnOnce(&T) -> String) {
        match self.output {
            Output::Json => self.json(body),
            // Commands with only text and JSON: clap refuses the others.
            Output::Text | Output::Markdown | Output::Sarif => self.out(&text(body)),
        }
    }

    /// Writes a rendered result to stdout in the printer's format and
    /// colour.
    pub fn rendered<R: Rendered + ?Sized>(&self, result: &R) {
        self.out(&result.render(self.output, self.color));
    }

    /// Writes `body` to stdout as JSON carrying `formatVersion`.
    pub fn json<T: Serialize>(&self, body: &T) {
        self.out(&versioned_json(body));
    }

    /// Shows a phase of long work on stderr until the result is dropped.
    pub fn phase(&self, text: &str) -> super::progress::Phase {
        super::progress::phase(self.progress, text)
    }

    /// Writes a result to stdout (ignoring a closed pipe).
    pub fn out(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        if !text.ends_with('\n') && !text.is_empty() {
            let _ = out.write_all(b"\n");
        }
        let _ = out.flush();
    }

    /// Writes a message to stderr.
    pub fn err(&self, text: &str) {
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(text.as_bytes());
        if !text.ends_with('\n') {
            let _ = err.write_all(b"\n");
        }
    }

    /// Writes a note about what was done (a file written…) to stderr,
    /// unless quiet.
    pub fn note(&self, text: &str) {
        if !self.quiet {
            self.err(text);
        }
    }

    /// Writes an error line (`error: …`) to stderr.
    pub fn error(&self, text: &str) {
        if self.color_err {
            self.err(&format!("\x1b[1;31merror\x1b[0m: {text}"));
        } else {
            self.err(&format!("error: {text}"));
        }
    }

    /// Writes a warning line to stderr.
    pub fn warn(&self, text: &str) {
        if self.color_err {
            self.err(&format!("\x1b[1;33mwarning\x1b[0m: {text}"));
        } else {
            self.err(&format!("warning: {text}"));
        }
    }
}
