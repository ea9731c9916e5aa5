//! The Keycloak admin client: credentials from the environment, an access
//! token kept fresh (master-realm tokens live 60 s), JSON calls under
//! `/admin/realms/{realm}`, and errors that name the object and never a token
//! or secret. Reads are retried on no answer and on 5xx; writes only when the
//! connection failed before the request was sent.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::blocking::{Client as Http, Response};
use reqwest::header::LOCATION;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::backend::remote::{bearer_request, env_or_file, transport};
use crate::backend::BackendError;
use crate::model::SecretValue;

/// Per-request timeout.
const TIMEOUT: Duration = Duration::from_secs(60);
/// A token is renewed when it has less than this left.
const RENEW_BEFORE: Duration = Duration::from_secs(15);
/// Attempts of a read (the first and two retries).
const READ_ATTEMPTS: u32 = 3;

/// How orgctl signs in to Keycloak's admin API.
#[derive(Clone)]
pub enum Credentials {
    /// Client credentials of a confidential client with a service account.
    Client {
        /// The realm the client lives in (`master` unless told otherwise).
        realm: String,
        /// `client_id`.
        id: String,
        /// `client_secret`.
        secret: SecretValue,
    },
    /// The password grant of an admin user through `admin-cli`.
    Password {
        /// The realm the user lives in.
        realm: String,
        /// The user name.
        username: String,
        /// The password.
        password: SecretValue,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            Credentials::Client { realm, id, .. } => write!(f, "client {id:?} of realm {realm:?}"),
            Credentials::Password { realm, username, .. } => {
                write!(f, "user {username:?} of realm {realm:?}")
            }
        }
    }
}

impl Credentials {
    /// Credentials from `ORGCTL_KEYCLOAK_CLIENT_ID` + `…_CLIENT_SECRET` or
    /// `ORGCTL_KEYCLOAK_USERNAME` + `…_PASSWORD` (each also as `…_FILE`), in
    /// the realm `ORGCTL_KEYCLOAK_AUTH_REALM` (default `master`).
    pub fn from_env() -> Result<Credentials, BackendError> {
        Credentials::from_lookup(&|k| std::env::var(k).ok())
    }

    /// [`Credentials::from_env`] over any variable lookup.
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Credentials, BackendError> {
        let realm = env_or_file("ORGCTL_KEYCLOAK_AUTH_REALM", lookup)?.unwrap_or_else(|| "master".into());
        let id = env_or_file("ORGCTL_KEYCLOAK_CLIENT_ID", lookup)?;
        let secret = env_or_file("ORGCTL_KEYCLOAK_CLIENT_SECRET", lookup)?;
        let user = env_or_file("ORGCTL_KEYCLOAK_USERNAME", lookup)?;
        let password = env_or_file("ORGCTL_KEYCLOAK_PASSWORD", lookup)?;
        match (id, secret, user, password) {
            (Some(id), Some(secret), _, _) => Ok(Credentials::Client {
                realm,
                id,
                secret: SecretValue::new(secret),
            }),
            (_, _, Some(username), Some(password)) => Ok(Credentials::Password {
                realm,
                username,
                password: SecretValue::new(password),
            }),
            (Some(_), None, _, _) => Err(BackendError::Config(
                "ORGCTL_KEYCLOAK_CLIENT_ID is set but ORGCTL_KEYCLOAK_CLIENT_SECRET (or _FILE) is not".into(),
            )),
            (_, _, Some(_), None) => Err(BackendError::Config(
                "ORGCTL_KEYCLOAK_USERNAME is set but ORGCTL_KEYCLOAK_PASSWORD (or _FILE) is not".into(),
            )),
            _ => Err(BackendError::Config(
                "no Keycloak credentials: set ORGCTL_KEYCLOAK_CLIENT_ID and ORGCTL_KEYCLOAK_CLIENT_SECRET (a service-account client), or ORGCTL_KEYCLOAK_USERNAME and ORGCTL_KEYCLOAK_PASSWORD; each also as …_FILE".into(),
            )),
        }
    }
}

/// A token and when it expires.
struct Token {
    value: SecretValue,
    expires: Instant,
}

/// One answer: status, body and the `Location` header.
pub struct Answer {
    /// The HTTP status.
    pub status: StatusCode,
    /// The body as JSON (`Null` when empty or not JSON).
    pub body: Value,
    /// The `Location` header, if any.
    pub location: Option<String>,
}

impl Answer {
    /// The id at the end of `Location` (what a create returns).
    pub fn created_id(&self) -> Option<String> {
        self.location
            .as_deref()
            .and_then(|l| l.rsplit('/').next())
            .map(str::to_string)
    }
}

/// The admin client of one Keycloak server.
pub struct Client {
    http: Http,
    /// `http://host:port[/path]` without a trailing slash.
    base: String,
    credentials: Credentials,
    token: Mutex<Option<Token>>,
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

/// Keycloak's error text from a body (`errorMessage`, `error_description`, `error`).
fn error_text(body: &Value, raw: &str) -> String {
    for key in ["errorMessage", "error_description", "error"] {
        if let Some(s) = body.get(key).and_then(Value::as_str) {
            return s.to_string();
        }
    }
    let raw = raw.trim();
    if raw.is_empty() || raw.starts_with('<') {
        String::new()
    } else {
        raw.chars().take(200).collect()
    }
}

impl Client {
    /// A client of the server at `base`.
    pub fn new(base: &str, credentials: Credentials) -> Result<Client, BackendError> {
        let http = Http::builder()
            .timeout(TIMEOUT)
            .pool_max_idle_per_host(8)
            .build()
            .map_err(|e| BackendError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Client {
            http,
            base: base.trim_end_matches('/').to_string(),
            credentials,
            token: Mutex::new(None),
            requests: AtomicUsize::new(0),
        })
    }

    /// The server's base address.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Requests sent so far (token requests included).
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }

    /// A fresh token (renewed when it is about to expire).
    fn token(&self) -> Result<SecretValue, BackendError> {
        let mut slot = self.token.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = slot.as_ref() {
            if t.expires > Instant::now() + RENEW_BEFORE {
                return Ok(t.value.clone());
            }
        }
        let (realm, form): (&str, Vec<(&str, &str)>) = match &self.credentials {
            Credentials::Client { realm, id, secret } => (
                realm,
                vec![
                    ("grant_type", "client_credentials"),
                    ("client_id", id),
                    ("client_secret", secret.expose()),
                ],
            ),
            Credentials::Password {
                realm,
                username,
                password,
            } => (
                realm,
                vec![
                    ("grant_type", "password"),
                    ("client_id", "admin-cli"),
                    ("username", username),
                    ("password", password.expose()),
                ],
            ),
        };
        let url = format!(
            "{}/realms/{}/protocol/openid-connect/token",
            self.base,
            seg(realm)
        );
        self.requests.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let response = self.http.post(&url).form(&form).send().map_err(|e| {
            BackendError::Unavailable(format!(
                "keycloak at {}: the token request: {}",
                self.base,
                transport(e, "Keycloak")
            ))
        })?;
        let status = response.status();
        let raw = response.text().unwrap_or_default();
        let body: Value = serde_json::from_str(&raw).unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(BackendError::Remote(format!(
                "keycloak at {}: signing in as {:?} failed (HTTP {}): {}",
                self.base,
                self.credentials,
                status.as_u16(),
                error_text(&body, &raw)
            )));
        }
        let value = body.get("access_token").and_then(Value::as_str).ok_or_else(|| {
            BackendError::Remote(format!(
                "keycloak at {}: the token answer holds no access_token",
                self.base
            ))
        })?;
        let lifetime = body.get("expires_in").and_then(Value::as_u64).unwrap_or(60);
        let token = Token {
            value: SecretValue::new(value),
            expires: started + Duration::from_secs(lifetime),
        };
        let v = token.value.clone();
        *slot = Some(token);
        Ok(v)
    }

    /// Sends one request to `path` (under `/admin/realms`), `what` naming the
    /// object for errors. Any status is returned; transport errors are errors.
    pub fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        what: &str,
    ) -> Result<Answer, BackendError> {
        let read = method == Method::GET;
        self.attempt(method, path, body, what, read)
    }

    /// The realm's partial export: a POST that only reads, so retried like
    /// a read (a busy server may drop the first one).
    pub fn export(&self, path: &str, what: &str) -> Result<Answer, BackendError> {
        let a = self.attempt(Method::POST, path, None, what, true)?;
        if a.status.is_success() {
            return Ok(a);
        }
        Err(self.refused(&Method::POST, what, &a))
    }

    /// One request, retried on a server error or a lost connection when it
    /// only reads (`read`), or on a connection never made.
    fn attempt(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        what: &str,
        read: bool,
    ) -> Result<Answer, BackendError> {
        let url = format!("{}/admin/realms{}", self.base, path);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let token = self.token()?;
            let request = bearer_request(&self.http, method.clone(), &url, &token, body, || {
                BackendError::Remote("keycloak issued a token a header cannot carry".into())
            })?;
            self.requests.fetch_add(1, Ordering::Relaxed);
            let started = Instant::now();
            match request.send() {
                Ok(response) => {
                    let status = response.status();
                    if read && status.is_server_error() && attempt < READ_ATTEMPTS {
                        std::thread::sleep(Duration::from_millis(200 * u64::from(attempt)));
                        continue;
                    }
                    if status == StatusCode::UNAUTHORIZED && attempt < 2 {
                        // The token may have been revoked or expired early.
                        *self.token.lock().unwrap_or_else(|p| p.into_inner()) = None;
                        continue;
                    }
                    let a = answer(response);
                    // The path names ids only, never a value or a token.
                    tracing::debug!(%method, path, status = status.as_u16(), ms = started.elapsed().as_millis() as u64, "keycloak");
                    return Ok(a);
                }
                Err(e) => {
                    let retry = (read || e.is_connect()) && attempt < READ_ATTEMPTS;
                    if retry {
                        std::thread::sleep(Duration::from_millis(200 * u64::from(attempt)));
                        continue;
                    }
                    return Err(BackendError::Unavailable(format!(
                        "keycloak at {}: {method} {what}: {}",
                        self.base,
                        transport(e, "Keycloak")
                    )));
                }
            }
        }
    }

    /// Like [`Client::call`], but an error status is an error naming `what`.
    pub fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        what: &str,
    ) -> Result<Answer, BackendError> {
        let a = self.call(method.clone(), path, body, what)?;
        if a.status.is_success() {
            return Ok(a);
        }
        Err(self.refused(&method, what, &a))
    }

    /// The error for a refused request.
    pub fn refused(&self, method: &Method, what: &str, a: &Answer) -> BackendError {
        let text = error_text(&a.body, "");
        let verb = match *method {
            Method::GET => "reading",
            Method::DELETE => "deleting",
            Method::POST => "creating",
            _ => "writing",
        };
        let detail = if text.is_empty() {
            String::new()
        } else {
            format!(": {text}")
        };
        if a.status == StatusCode::CONFLICT {
            return BackendError::Conflict {
                object: what.to_string(),
                reason: format!("Keycloak refused {verb} it (HTTP 409{detail})"),
            };
        }
        BackendError::Remote(format!(
            "keycloak: {verb} {what} failed (HTTP {}{detail})",
            a.status.as_u16()
        ))
    }

    /// GETs JSON; 404 is `None`.
    pub fn get_opt(&self, path: &str, what: &str) -> Result<Option<Value>, BackendError> {
        let a = self.call(Method::GET, path, None, what)?;
        if a.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !a.status.is_success() {
            return Err(self.refused(&Method::GET, what, &a));
        }
        Ok(Some(a.body))
    }

    /// GETs JSON; 404 is an error.
    pub fn get(&self, path: &str, what: &str) -> Result<Value, BackendError> {
        Ok(self.send(Method::GET, path, None, what)?.body)
    }

    /// GETs every page of a list (`first`/`max` paging), `page` items a page.
    pub fn get_all(&self, path: &str, page: usize, what: &str) -> Result<Vec<Value>, BackendError> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut out = Vec::new();
        loop {
            let body = self.get(&format!("{path}{sep}first={}&max={page}", out.len()), what)?;
            let Value::Array(items) = body else {
                return Err(BackendError::Remote(format!(
                    "keycloak: reading {what}: expected a list"
                )));
            };
            let n = items.len();
            out.extend(items);
            if n < page {
                return Ok(out);
            }
        }
    }
}

fn answer(response: Response) -> Answer {
    let status = response.status();
    let location = response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let raw = response.text().unwrap_or_default();
    let body = serde_json::from_str(&raw).unwrap_or(Value::Null);
    Answer {
        status,
        body,
        location,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    }

    #[test]
    fn credentials_come_from_the_environment_and_name_what_is_missing() {
        let c = Credentials::from_lookup(&lookup(&[
            ("ORGCTL_KEYCLOAK_CLIENT_ID", "orgctl"),
            ("ORGCTL_KEYCLOAK_CLIENT_SECRET", "s3cret"),
        ]))
        .expect("client credentials");
        assert_eq!(format!("{c:?}"), "client \"orgctl\" of realm \"master\"");
        let c = Credentials::from_lookup(&lookup(&[
            ("ORGCTL_KEYCLOAK_USERNAME", "admin"),
            ("ORGCTL_KEYCLOAK_PASSWORD", "pw"),
            ("ORGCTL_KEYCLOAK_AUTH_REALM", "ops"),
        ]))
        .expect("password");
        assert_eq!(format!("{c:?}"), "user \"admin\" of realm \"ops\"");
        let e = Credentials::from_lookup(&lookup(&[("ORGCTL_KEYCLOAK_CLIENT_ID", "orgctl")]))
            .expect_err("no secret");
        assert_eq!(
            e.to_string(),
            "ORGCTL_KEYCLOAK_CLIENT_ID is set but ORGCTL_KEYCLOAK_CLIENT_SECRET (or _FILE) is not"
        );
        assert!(Credentials::from_lookup(&lookup(&[]))
            .expect_err("none")
            .to_string()
            .starts_with("no Keycloak credentials"));
    }

    #[test]
    fn a_secret_file_is_read_and_its_newline_trimmed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("secret");
        std::fs::write(&path, "from-file\n").expect("write");
        let p = path.display().to_string();
        let c = Credentials::from_lookup(&move |k: &str| match k {
            "ORGCTL_KEYCLOAK_CLIENT_ID" => Some("orgctl".into()),
            "ORGCTL_KEYCLOAK_CLIENT_SECRET_FILE" => Some(p.clone()),
            _ => None,
        })
        .expect("credentials");
        match c {
            Credentials::Client { secret, .. } => assert_eq!(secret.expose(), "from-file"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(seg("orgctl direct grant"), "orgctl%20direct%20grant");
        assert_eq!(seg("a/b"), "a%2Fb");
    }
}
