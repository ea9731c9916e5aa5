//! What the clients of remote backends we do not own (Keycloak, Kanidm)
//! share: settings read from a variable or the file another names, and
//! transport failures worded for people.

use crate::backend::BackendError;

/// Reads `NAME`, or the file named by `NAME_FILE` (trailing newline trimmed).
pub(crate) fn env_or_file(
    name: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<String>, BackendError> {
    if let Some(v) = lookup(name).filter(|v| !v.is_empty()) {
        return Ok(Some(v));
    }
    let file_var = format!("{name}_FILE");
    let Some(path) = lookup(&file_var).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| BackendError::Config(format!("{file_var}: cannot read {path}: {e}")))?;
    Ok(Some(text.trim_end_matches(['\n', '\r']).to_string()))
}

/// A transport failure for people (no URL query, no headers); `server`
/// names the product in the hint (`is Keycloak running?`).
pub(crate) fn transport(e: reqwest::Error, server: &str) -> String {
    if e.is_timeout() {
        "no answer: timed out".into()
    } else if e.is_connect() {
        format!("no answer: connection refused or failed (is {server} running?)")
    } else {
        let e = e.without_url();
        let mut s = format!("no answer: {e}");
        let mut source = std::error::Error::source(&e);
        while let Some(inner) = source {
            s.push_str(": ");
            s.push_str(&inner.to_string());
            source = inner.source();
        }
        s
    }
}
