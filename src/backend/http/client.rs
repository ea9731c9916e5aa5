//! The HTTP transport of the `http(s)://` backend: one reqwest client
//! (connection reuse, per-request timeout, TLS verified unless told
//! otherwise), bearer auth, and retries with exponential backoff and full
//! jitter. What is retried: any request on connection errors, timeouts, 5xx
//! and 429 when it is safe to repeat (reads); writes only when the server
//! certainly did not act on them (429 and 503 answers, which the server sends
//! before looking at a request, and failed connects). `Retry-After` is
//! honoured. A refused server certificate is never retried; its error says
//! what is wrong and how to fix it. The token is a sensitive header value:
//! never logged or shown.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, RETRY_AFTER};
use reqwest::{Method, StatusCode};

use crate::backend::http::wire::ErrorBody;

/// Attempts per request (the first and up to four retries).
const ATTEMPTS: u32 = 5;
/// First backoff.
const BASE_DELAY: Duration = Duration::from_millis(100);
/// Longest single wait (backoff or Retry-After).
const MAX_DELAY: Duration = Duration::from_secs(10);

/// A failed request, already phrased for people (never holds the token).
#[derive(Debug, Clone, PartialEq)]
pub enum CallError {
    /// The server answered with an error status.
    Status {
        /// The status.
        status: u16,
        /// The server's stable error code (`precondition_failed`…), if any.
        code: String,
        /// The server's message.
        message: String,
        /// The object the server named, if any (`organization "acme"`).
        object: Option<String>,
    },
    /// No answer (connection refused or reset, timeout, TLS failure).
    Transport(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            CallError::Status { status, message, .. } => write!(f, "{message} (HTTP {status})"),
            CallError::Transport(m) => f.write_str(m),
        }
    }
}

/// The client and its counters.
pub struct Transport {
    client: Client,
    base: String,
    retries: AtomicUsize,
    requests: AtomicUsize,
    seed: AtomicU64,
}

impl Transport {
    /// Builds the transport; `token` goes into every request, marked sensitive.
    pub fn build(
        base: String,
        token: Option<&str>,
        timeout: Duration,
        ca: Option<reqwest::Certificate>,
        insecure: bool,
        pool: usize,
    ) -> Result<Transport, String> {
        let mut headers = HeaderMap::new();
        if let Some(token) = token {
            let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| "the token holds characters a header cannot carry".to_string())?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let mut builder = Client::builder()
            .default_headers(headers)
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .pool_max_idle_per_host(pool.max(1))
            // Below the server's default header timeout (10 s), which also
            // closes idle connections: a reused connection is never one the
            // server is closing.
            .pool_idle_timeout(Duration::from_secs(5))
            .user_agent(concat!("orgctl/", env!("CARGO_PKG_VERSION")));
        if let Some(ca) = ca {
            builder = builder.add_root_certificate(ca);
        }
        if insecure {
            builder = builder.danger_accept_invalid_certs(true);
        }
        let client = builder.build().map_err(|e| {
            format!(
                "failed to set up the HTTP client: {}",
                crate::diagnostic::error_chain(&e)
            )
        })?;
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0x9e37_79b9, |d| d.as_nanos() as u64)
            | 1;
        Ok(Transport {
            client,
            base,
            retries: AtomicUsize::new(0),
            requests: AtomicUsize::new(0),
            seed: AtomicU64::new(seed),
        })
    }

    /// Requests sent so far (retries included).
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }

    /// Retries made so far.
    pub fn retries(&self) -> usize {
        self.retries.load(Ordering::Relaxed)
    }

    /// A random fraction in [0, 1) (xorshift; jitter needs no more).
    fn random(&self) -> f64 {
        let mut x = self.seed.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.seed.store(x, Ordering::Relaxed);
        (x >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Sends a request built by `build` (called again per attempt) and
    /// returns the successful response. `what` names the request in errors
    /// and logs (`GET snapshot of "acme"`).
    pub fn call(
        &self,
        method: Method,
        path: &str,
        what: &str,
        build: &dyn Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response, CallError> {
        let url = format!("{}{path}", self.base);
        let repeatable = method == Method::GET || method == Method::HEAD;
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.requests.fetch_add(1, Ordering::Relaxed);
            let sent = build(self.client.request(method.clone(), &url)).send();
            let (retry, wait, error) = match sent {
                Ok(r) if r.status().is_success() => return Ok(r),
                Ok(r) => {
                    let status = r.status();
                    let after = r
                        .headers()
                        .get(RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let unprocessed =
                        status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE;
                    let retry = unprocessed || (repeatable && status.is_server_error());
                    (retry, after, status_error(status, r))
                }
                Err(e) => {
                    let refused = e.is_connect();
                    // A refused certificate stays refused: no retry, and a
                    // message saying what to change.
                    let certificate = certificate_problem(&e, &self.base);
                    let retry = certificate.is_none()
                        && (refused || (repeatable && (e.is_timeout() || e.is_request())));
                    let message = if let Some(problem) = certificate {
                        format!("{what}: {problem}")
                    } else if e.is_timeout() {
                        format!("{what}: no answer from {} in time", self.base)
                    } else if refused {
                        format!("{what}: cannot connect to {}: {}", self.base, root_cause(&e))
                    } else {
                        format!("{what}: the request to {} failed: {}", self.base, root_cause(&e))
                    };
                    (retry, None, CallError::Transport(message))
                }
            };
            if !retry || attempt >= ATTEMPTS {
                return Err(match error {
                    CallError::Status {
                        status,
                        code,
                        message,
                        object,
                    } => CallError::Status {
                        status,
                        code,
                        message: format!("{what}: {message}"),
                        object,
                    },
                    other => other,
                });
            }
            let backoff = BASE_DELAY.saturating_mul(1 << (attempt - 1)).min(MAX_DELAY);
            let jittered = backoff.mul_f64(self.random());
            let delay = wait.map_or(jittered, |w| w.min(MAX_DELAY).max(jittered));
            self.retries.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                "{what}: {error}; retrying in {} ms (attempt {} of {ATTEMPTS})",
                delay.as_millis(),
                attempt + 1
            );
            std::thread::sleep(delay);
        }
    }
}

/// What is wrong with the server's certificate, if that is why a request
/// failed, and how to fix it. rustls's error reaches us only as the text of a
/// cause ("invalid peer certificate: …") behind the connector's own error
/// type, so the text is what is matched.
fn certificate_problem(e: &dyn std::error::Error, base: &str) -> Option<String> {
    let mut cause: Option<&dyn std::error::Error> = Some(e);
    while let Some(c) = cause {
        let text = c.to_string();
        if let Some(detail) = text.strip_prefix("invalid peer certificate: ") {
            return Some(describe_certificate(detail, base));
        }
        cause = c.source();
    }
    None
}

fn describe_certificate(detail: &str, base: &str) -> String {
    if detail.contains("CaUsedAsEndEntity") {
        format!(
            "the certificate of {base} is a CA certificate (CaUsedAsEndEntity): a server must present a certificate of its own, signed by a CA, and --ca-file names that CA. Make a CA, sign a certificate for the server's host name with it, serve that one (--tls-cert/--tls-key), and pass the CA's certificate to --ca-file"
        )
    } else if detail.contains("UnknownIssuer") {
        format!(
            "the certificate of {base} is not signed by a trusted CA (UnknownIssuer): pass the CA that signed it with --ca-file"
        )
    } else if detail.contains("NotValidForName") {
        format!(
            "the certificate of {base} is not issued for that host name (NotValidForName): connect by a name the certificate lists, or issue one for this name"
        )
    } else if detail.contains("Expired") {
        format!("the certificate of {base} has expired ({detail}): renew it on the server")
    } else {
        format!("the certificate of {base} was refused: {detail}")
    }
}

/// The deepest cause of a transport error (the useful part: "Connection refused").
fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// Turns an error answer into a [`CallError`], reading the JSON error body.
fn status_error(status: StatusCode, response: Response) -> CallError {
    let text = response.text().unwrap_or_default();
    match serde_json::from_str::<ErrorBody>(&text) {
        Ok(body) => CallError::Status {
            status: status.as_u16(),
            code: body.error.code,
            message: body.error.message,
            object: body.error.object,
        },
        Err(_) => CallError::Status {
            status: status.as_u16(),
            code: String::new(),
            object: None,
            message: format!(
                "the server answered {status}{}",
                if text.is_empty() {
                    String::new()
                } else {
                    " (not an orgctl error body)".to_string()
                }
            ),
        },
    }
}
