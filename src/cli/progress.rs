//! Progress on stderr while long work runs: a phase line while the files and
//! the live directory are read and planned, a bar while changes are written,
//! then a phase line while the rule-made app assignments are written (the bar
//! would sit at 100% meanwhile). Animated on a terminal; with `--progress`
//! and no terminal (a CI log), one plain line per phase; otherwise nothing.
//! Never on stdout.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::plan::Plan;

/// Where progress goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Nowhere (stderr is not a terminal and `--progress` was not given).
    Off,
    /// Spinners and bars on the terminal, cleared when done.
    Terminal,
    /// One plain stderr line per phase.
    Lines,
}

impl Mode {
    /// The mode for this process: a terminal wins, `--progress` asks for lines.
    pub fn detect(flag: bool) -> Mode {
        if std::io::stderr().is_terminal() {
            Mode::Terminal
        } else if flag {
            Mode::Lines
        } else {
            Mode::Off
        }
    }
}

/// A phase being shown; its spinner is cleared when dropped.
pub struct Phase(Option<ProgressBar>);

impl Drop for Phase {
    fn drop(&mut self) {
        if let Some(s) = self.0.take() {
            s.finish_and_clear();
        }
    }
}

fn spinner(text: String) -> ProgressBar {
    let s = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
        s.set_style(style);
    }
    s.set_message(text);
    s.enable_steady_tick(Duration::from_millis(100));
    s
}

/// Shows `text` (without a trailing `…`) until the returned phase is dropped.
pub fn phase(mode: Mode, text: &str) -> Phase {
    match mode {
        Mode::Off => Phase(None),
        Mode::Terminal => Phase(Some(spinner(format!("{text}…")))),
        Mode::Lines => {
            eprintln!("{text}…");
            Phase(None)
        }
    }
}

/// `1 user` / `3 users` (regular plurals only).
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The progress of an apply: changes written, then the rule-made app
/// assignments (written after the last change).
pub struct Writing {
    mode: Mode,
    bar: Option<ProgressBar>,
    assignment_users: usize,
    assigning: Option<Phase>,
}

impl Writing {
    /// Starts showing the writes of `plan`.
    pub fn start(mode: Mode, plan: &Plan) -> Writing {
        let total: usize = plan.organizations.iter().map(|o| o.changes.len()).sum();
        let assignment_users = plan.organizations.iter().map(|o| o.assignments.users.len()).sum();
        let bar = match mode {
            Mode::Off => None,
            Mode::Lines => {
                eprintln!("Applying {}…", count(total, "change"));
                None
            }
            Mode::Terminal => {
                let bar = ProgressBar::new(total as u64);
                if let Ok(style) = ProgressStyle::with_template(
                    "{spinner} applying [{bar:30}] {pos}/{len} changes ({elapsed})",
                ) {
                    bar.set_style(style.progress_chars("=> "));
                }
                Some(bar)
            }
        };
        Writing {
            mode,
            bar,
            assignment_users,
            assigning: None,
        }
    }

    /// `done` of `total` changes are written; once all are, the assignments
    /// phase begins (when the plan has any).
    pub fn update(&mut self, done: usize, total: usize) {
        if let Some(b) = &self.bar {
            b.set_length(total as u64);
            b.set_position(done as u64);
        }
        if done >= total && self.assignment_users > 0 && self.assigning.is_none() {
            if let Some(b) = self.bar.take() {
                b.finish_and_clear();
            }
            let text = format!(
                "Writing the rule-made app assignments of {}",
                count(self.assignment_users, "user")
            );
            self.assigning = Some(phase(self.mode, &text));
        }
    }

    /// Clears what is shown.
    pub fn finish(mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
        self.assigning = None;
    }
}
