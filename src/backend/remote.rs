//! What the clients of remote backends we do not own (Keycloak, Kanidm)
//! share: settings read from a variable or the file another names,
//! transport failures worded for people, and live objects read from the
//! JSON spec a snapshot builds (these servers keep no revision per object).

use serde_json::Value;

use crate::backend::{BackendError, LiveObject};
use crate::model::{Kind, Name, Spec};

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

/// A JSON request with the bearer `token` as a sensitive header (never
/// logged); `bad_token` is the error when the token cannot be a header value.
pub(crate) fn bearer_request(
    http: &reqwest::blocking::Client,
    method: reqwest::Method,
    url: &str,
    token: &crate::model::SecretValue,
    body: Option<&serde_json::Value>,
    bad_token: impl FnOnce() -> BackendError,
) -> Result<reqwest::blocking::RequestBuilder, BackendError> {
    use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
    let mut header = HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| bad_token())?;
    header.set_sensitive(true);
    let mut request = http.request(method, url).header(AUTHORIZATION, header);
    if let Some(b) = body {
        request = request
            .header(CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(b).unwrap_or_default());
    }
    Ok(request)
}

/// A content fingerprint of what a server returned for one object.
pub(crate) fn fingerprint(spec: &Value, managed: bool) -> String {
    let text = format!("{managed}{spec}");
    format!("xxh3:{:016x}", xxhash_rust::xxh3::xxh3_64(text.as_bytes()))
}

/// A live object from the spec JSON a snapshot built of `server`'s
/// entries, fingerprinted by its content and ownership: these servers have
/// no revision per object, so a saved plan compares content.
pub(crate) fn live_object(
    kind: Kind,
    name: &Name,
    spec: Value,
    managed: bool,
    server: &str,
) -> Result<LiveObject, BackendError> {
    let fingerprint = fingerprint(&spec, managed);
    let spec = Spec::from_json(kind, spec).map_err(|e| BackendError::Corrupt {
        object: kind.label(name.as_str()).to_string(),
        message: format!("{server} holds a value orgctl cannot read: {e}"),
    })?;
    Ok(LiveObject {
        spec,
        managed,
        fingerprint,
    })
}

/// The ids a snapshot found, per organization, kept until the next write of
/// that organization takes them (so an apply does not read them again).
pub(crate) struct IndexCache<I>(std::sync::Mutex<std::collections::BTreeMap<Name, I>>);

impl<I> Default for IndexCache<I> {
    fn default() -> Self {
        IndexCache(std::sync::Mutex::new(std::collections::BTreeMap::new()))
    }
}

impl<I> IndexCache<I> {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::BTreeMap<Name, I>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps the index a snapshot of `organization` built.
    pub(crate) fn keep(&self, organization: &Name, index: I) {
        self.lock().insert(organization.clone(), index);
    }

    /// Takes the kept index of `organization`: a write trusts it only once.
    pub(crate) fn take(&self, organization: &Name) -> Option<I> {
        self.lock().remove(organization)
    }

    /// Reads something of the kept index of `organization`, if any.
    pub(crate) fn peek<R>(&self, organization: &Name, f: impl FnOnce(&I) -> R) -> Option<R> {
        self.lock().get(organization).map(f)
    }
}
