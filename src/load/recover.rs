//! The error sink of a document being deserialized. The loader's deserializer
//! records every problem here and feeds serde a stand-in value so it can go on
//! and find the next one; domain scalar types report parse failures here too.
//! Outside a loader run (e.g. serde_json) the sink is inactive and errors stay
//! ordinary serde errors.

use std::cell::RefCell;

/// One recorded problem: position, field path and message.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// Field path such as `spec.password.minLength`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

#[derive(Default)]
pub(crate) struct Sink {
    /// The current field path, rendered (`spec.members.users[2]`).
    path: String,
    /// Lengths of `path` before each pushed segment.
    marks: Vec<usize>,
    pub line: usize,
    pub col: usize,
    pub errors: Vec<Recorded>,
}

impl Sink {
    /// Enters a map key (or, for `[i]` text, a list element).
    pub fn push(&mut self, seg: &str) {
        self.marks.push(self.path.len());
        if seg.is_empty() {
            return;
        }
        if !seg.starts_with('[') && !self.path.is_empty() {
            self.path.push('.');
        }
        self.path.push_str(seg);
    }

    /// Enters list element `i`.
    pub fn push_index(&mut self, i: usize) {
        use std::fmt::Write;
        self.marks.push(self.path.len());
        let _ = write!(self.path, "[{i}]");
    }

    /// Leaves the innermost segment.
    pub fn pop(&mut self) {
        if let Some(len) = self.marks.pop() {
            self.path.truncate(len);
        }
    }
}

thread_local! {
    static SINK: RefCell<Option<Sink>> = const { RefCell::new(None) };
}

/// Records a problem at the value being read; false when no loader is active.
/// A value gets one problem: a second one at the same field path comes from
/// the stand-in fed after the first (an empty string read as a name, an
/// e-mail…) and would only repeat it less clearly.
pub fn report(message: String) -> bool {
    SINK.with(|s| match s.borrow_mut().as_mut() {
        Some(sink) if sink.errors.iter().any(|e| e.path == sink.path) => true,
        Some(sink) => {
            let rec = Recorded {
                line: sink.line,
                col: sink.col,
                path: sink.path.clone(),
                message,
            };
            sink.errors.push(rec);
            true
        }
        None => false,
    })
}

/// Runs `f` with an active sink starting at `path`; returns what it recorded.
pub(crate) fn with_sink<T>(path: &str, f: impl FnOnce() -> T) -> (T, Vec<Recorded>) {
    let previous = SINK.with(|s| {
        s.borrow_mut().replace(Sink {
            path: path.to_string(),
            ..Sink::default()
        })
    });
    let out = f();
    let sink = SINK.with(|s| std::mem::replace(&mut *s.borrow_mut(), previous));
    (out, sink.map(|s| s.errors).unwrap_or_default())
}

/// Runs `f` on the active sink (no-op when none is active).
pub(crate) fn with<R>(f: impl FnOnce(&mut Sink) -> R) -> Option<R> {
    SINK.with(|s| s.borrow_mut().as_mut().map(f))
}
