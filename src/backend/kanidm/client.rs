//! The Kanidm REST client: a service account's API token from the
//! environment, JSON calls under `/v1`, and errors that name the object and
//! never the token. Reads are retried on no answer and on 5xx; writes only
//! when the connection failed before the request was sent.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::blocking::Client as Http;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::backend::remote::{bearer_request, env_or_file, transport};
use crate::backend::BackendError;
use crate::model::SecretValue;

/// Per-request timeout.
const TIMEOUT: Duration = Duration::from_secs(60);
/// Attempts of a read (the first and two retries).
const READ_ATTEMPTS: u32 = 3;

/// How orgctl reaches a Kanidm server: its API token and, for a server with
/// a private CA, that CA.
#[derive(Clone)]
pub struct Settings {
    /// A read-write API token of a service account.
    pub token: SecretValue,
    /// PEM of an extra root certificate (`ORGCTL_KANIDM_CA_FILE`).
    pub ca_pem: Option<Vec<u8>>,
}

impl Settings {
    /// Settings from `ORGCTL_KANIDM_TOKEN` (or `ORGCTL_KANIDM_TOKEN_FILE`)
    /// and `ORGCTL_KANIDM_CA_FILE`.
    pub fn from_env() -> Result<Settings, BackendError> {
        Settings::from_lookup(&|k| std::env::var(k).ok())
    }

    /// [`Settings::from_env`] over any variable lookup.
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Settings, BackendError> {
        let token = env_or_file("ORGCTL_KANIDM_TOKEN", lookup)?.ok_or_else(|| {
            BackendError::Config(
                "no Kanidm token: set ORGCTL_KANIDM_TOKEN or ORGCTL_KANIDM_TOKEN_FILE to a read-write API token of a service account (kanidm service-account api-token generate --readwrite)".into(),
            )
        })?;
        Ok(Settings {
            token: SecretValue::new(token),
            ca_pem: ca_pem(lookup)?,
        })
    }

    /// Settings with a token from elsewhere (the controller's Secret) and the
    /// CA from `ORGCTL_KANIDM_CA_FILE`.
    pub fn with_token(token: SecretValue) -> Result<Settings, BackendError> {
        Ok(Settings {
            token,
            ca_pem: ca_pem(&|k| std::env::var(k).ok())?,
        })
    }
}

/// The PEM of `ORGCTL_KANIDM_CA_FILE`, if set.
fn ca_pem(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Option<Vec<u8>>, BackendError> {
    match lookup("ORGCTL_KANIDM_CA_FILE").filter(|v| !v.is_empty()) {
        Some(path) => Ok(Some(std::fs::read(&path).map_err(|e| {
            BackendError::Config(format!("ORGCTL_KANIDM_CA_FILE: cannot read {path}: {e}"))
        })?)),
        None => Ok(None),
    }
}

/// One answer: status and body (`Null` when empty or not JSON).
pub struct Answer {
    /// The HTTP status.
    pub status: StatusCode,
    /// The body as JSON.
    pub body: Value,
}

/// The REST client of one Kanidm server.
pub struct Client {
    http: Http,
    /// `https://host:port` without a trailing slash.
    base: String,
    token: SecretValue,
    requests: AtomicUsize,
}

/// Percent-encodes one path segment.
pub fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Kanidm's error text: the serialized `OperationError` (a string or an object).
fn error_text(body: &Value) -> String {
    match body {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string().chars().take(200).collect(),
    }
}

impl Client {
    /// A client of the server at `base`.
    pub fn new(base: &str, settings: Settings) -> Result<Client, BackendError> {
        let mut builder = Http::builder().timeout(TIMEOUT).pool_max_idle_per_host(8);
        if let Some(pem) = &settings.ca_pem {
            let cert = reqwest::Certificate::from_pem(pem).map_err(|e| {
                BackendError::Config(format!("ORGCTL_KANIDM_CA_FILE: not a PEM certificate: {e}"))
            })?;
            builder = builder.add_root_certificate(cert);
        }
        let http = builder
            .build()
            .map_err(|e| BackendError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Client {
            http,
            base: base.trim_end_matches('/').to_string(),
            token: settings.token,
            requests: AtomicUsize::new(0),
        })
    }

    /// The server's base address.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Requests sent so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }

    /// Sends one request to `path` (under `/v1`); any status is returned,
    /// transport errors are errors naming `what`.
    pub fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        what: &str,
    ) -> Result<Answer, BackendError> {
        let url = format!("{}/v1{}", self.base, path);
        let read = method == Method::GET;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let request = bearer_request(&self.http, method.clone(), &url, &self.token, body, || {
                BackendError::Config("the Kanidm token cannot travel in a header".into())
            })?;
            self.requests.fetch_add(1, Ordering::Relaxed);
            match request.send() {
                Ok(response) => {
                    let status = response.status();
                    if read && status.is_server_error() && attempt < READ_ATTEMPTS {
                        std::thread::sleep(Duration::from_millis(200 * u64::from(attempt)));
                        continue;
                    }
                    let raw = response.text().unwrap_or_default();
                    let body = serde_json::from_str(&raw).unwrap_or(Value::Null);
                    return Ok(Answer { status, body });
                }
                Err(e) => {
                    if (read || e.is_connect()) && attempt < READ_ATTEMPTS {
                        std::thread::sleep(Duration::from_millis(200 * u64::from(attempt)));
                        continue;
                    }
                    return Err(BackendError::Unavailable(format!(
                        "kanidm at {}: {method} {what}: {}",
                        self.base,
                        transport(e, "Kanidm")
                    )));
                }
            }
        }
    }

    /// The error for a refused request.
    pub fn refused(&self, method: &Method, what: &str, a: &Answer) -> BackendError {
        let verb = match *method {
            Method::GET => "reading",
            Method::DELETE => "deleting",
            Method::POST => "creating",
            _ => "writing",
        };
        let text = error_text(&a.body);
        let detail = if text.is_empty() {
            String::new()
        } else {
            format!(": {text}")
        };
        match a.status {
            StatusCode::UNAUTHORIZED => BackendError::Remote(format!(
                "kanidm at {}: {verb} {what}: the token was refused (HTTP 401{detail}); it may have expired (a password session's token lasts at most 1 hour): use a service account's read-write API token",
                self.base
            )),
            StatusCode::FORBIDDEN => BackendError::Remote(format!(
                "kanidm at {}: {verb} {what}: access denied (HTTP 403{detail}); the service account needs idm_admins, idm_people_admins, idm_group_admins, idm_oauth2_admins and idm_account_policy_admins",
                self.base
            )),
            StatusCode::CONFLICT => BackendError::Conflict {
                object: what.to_string(),
                reason: format!("Kanidm refused {verb} it (HTTP 409{detail}); the name is taken, perhaps by another kind of entry"),
            },
            s => BackendError::Remote(format!("kanidm: {verb} {what} failed (HTTP {}{detail})", s.as_u16())),
        }
    }

    /// Sends a write; a 200 is success, anything else an error naming `what`.
    pub fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        what: &str,
    ) -> Result<(), BackendError> {
        let a = self.call(method.clone(), path, body, what)?;
        if a.status.is_success() {
            return Ok(());
        }
        Err(self.refused(&method, what, &a))
    }

    /// Deletes; 404 (already gone) is success.
    pub fn delete(&self, path: &str, body: Option<&Value>, what: &str) -> Result<(), BackendError> {
        let a = self.call(Method::DELETE, path, body, what)?;
        if a.status.is_success() || a.status == StatusCode::NOT_FOUND {
            return Ok(());
        }
        Err(self.refused(&Method::DELETE, what, &a))
    }

    /// GETs JSON (a missing entry is `null` with 200 on Kanidm).
    pub fn get(&self, path: &str, what: &str) -> Result<Value, BackendError> {
        let a = self.call(Method::GET, path, None, what)?;
        if !a.status.is_success() {
            return Err(self.refused(&Method::GET, what, &a));
        }
        Ok(a.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_comes_from_the_environment_or_a_file_and_its_absence_says_how() {
        let s = Settings::from_lookup(&|k| (k == "ORGCTL_KANIDM_TOKEN").then(|| "tok".to_string()))
            .expect("token");
        assert_eq!(s.token.expose(), "tok");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("token");
        std::fs::write(&path, "from-file\n").expect("write");
        let p = path.display().to_string();
        let s = Settings::from_lookup(&move |k: &str| (k == "ORGCTL_KANIDM_TOKEN_FILE").then(|| p.clone()))
            .expect("token file");
        assert_eq!(s.token.expose(), "from-file");
        let e = Settings::from_lookup(&|_| None).err().expect("no token");
        assert!(
            e.to_string()
                .starts_with("no Kanidm token: set ORGCTL_KANIDM_TOKEN"),
            "{e}"
        );
    }
}
