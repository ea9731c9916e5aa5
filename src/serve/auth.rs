//! Bearer-token authentication. Tokens come from a file (one per line,
//! optionally followed by a scope, `read-only` or `read-write`; blank lines
//! and `#` comments ignored) and from `ORGCTL_SERVE_TOKEN`, never from a
//! flag. Comparison is constant-time per token; a token is never logged,
//! echoed or kept anywhere but here.

use std::fmt;
use std::path::Path;

use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::AppState;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Reads only.
    ReadOnly,
    /// Reads and writes.
    ReadWrite,
}

/// One accepted token.
#[derive(Clone)]
pub struct Token {
    value: Vec<u8>,
    scope: Scope,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "Token(<redacted>, {:?})", self.scope)
    }
}

/// Why tokens could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The token file could not be read.
    #[error("failed to read the token file {path}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A line of the token file is not `TOKEN [read-only|read-write]`.
    #[error("{path}:{line}: expected `TOKEN` or `TOKEN read-only|read-write`")]
    Syntax {
        /// The file.
        path: String,
        /// 1-based line number (the line itself is not repeated: it holds a token).
        line: usize,
    },
    /// No token at all: the server would be open to anyone.
    #[error("no token configured: set ORGCTL_SERVE_TOKEN or pass --token-file FILE")]
    None,
}

/// The accepted tokens.
#[derive(Debug, Clone, Default)]
pub struct Tokens(Vec<Token>);

impl Tokens {
    /// Reads tokens from an optional file and an optional env value.
    pub fn load(file: Option<&Path>, env: Option<String>) -> Result<Tokens, TokenError> {
        let mut tokens = Vec::new();
        if let Some(path) = file {
            let shown = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|source| TokenError::Read {
                path: shown.clone(),
                source,
            })?;
            tokens.extend(parse(&text, &shown)?);
        }
        if let Some(value) = env.map(|v| v.trim().to_string()).filter(|v| !v.is_empty()) {
            tokens.push(Token {
                value: value.into_bytes(),
                scope: Scope::ReadWrite,
            });
        }
        if tokens.is_empty() {
            return Err(TokenError::None);
        }
        Ok(Tokens(tokens))
    }

    /// True when any token is shorter than 16 bytes (worth a warning).
    pub fn any_short(&self) -> bool {
        self.0.iter().any(|t| t.value.len() < 16)
    }

    /// The scope of `presented`, if it is an accepted token.
    fn scope_of(&self, presented: &[u8]) -> Option<Scope> {
        // Every token is compared in full, so timing tells nothing.
        let mut found = None;
        for t in &self.0 {
            if constant_time_eq(&t.value, presented) {
                found = Some(t.scope);
            }
        }
        found
    }
}

fn parse(text: &str, path: &str) -> Result<Vec<Token>, TokenError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        let value = words.next().unwrap_or_default();
        let scope = match words.next() {
            None | Some("read-write") => Scope::ReadWrite,
            Some("read-only") => Scope::ReadOnly,
            Some(_) => {
                return Err(TokenError::Syntax {
                    path: path.to_string(),
                    line: i + 1,
                })
            }
        };
        if words.next().is_some() {
            return Err(TokenError::Syntax {
                path: path.to_string(),
                line: i + 1,
            });
        }
        out.push(Token {
            value: value.as_bytes().to_vec(),
            scope,
        });
    }
    Ok(out)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Middleware: 401 without a valid bearer token, 403 for a write with a
/// read-only one.
pub async fn require_token(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim);
    let scope = presented.and_then(|t| state.tokens.scope_of(t.as_bytes()));
    match scope {
        None => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer token is required (Authorization: Bearer TOKEN)",
        )
        .into_response(),
        Some(Scope::ReadOnly)
            if !matches!(*request.method(), Method::GET | Method::HEAD) && !asks_digests(&request) =>
        {
            ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this token may only read; writes need a read-write token",
            )
            .into_response()
        }
        Some(_) => next.run(request).await,
    }
}

/// `POST /v1/orgs/{org}/secret-digests` writes nothing: a read-only token
/// plans too, and a plan compares secrets by their keyed digests.
fn asks_digests(request: &Request) -> bool {
    let path = request.uri().path();
    request.method() == Method::POST
        && path
            .strip_prefix("/v1/orgs/")
            .and_then(|rest| rest.strip_suffix("/secret-digests"))
            .is_some_and(|org| !org.is_empty() && !org.contains('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_file_lines_take_scopes_comments_and_blanks() {
        let tokens = parse("# ops\n\nabc\n  def read-only \nghi read-write\n", "f").expect("parse");
        let t = Tokens(tokens);
        assert_eq!(t.scope_of(b"abc"), Some(Scope::ReadWrite));
        assert_eq!(t.scope_of(b"def"), Some(Scope::ReadOnly));
        assert_eq!(t.scope_of(b"ghi"), Some(Scope::ReadWrite));
        assert_eq!(t.scope_of(b"ab"), None);
        let err = parse("abc admin\n", "f").expect_err("bad scope");
        assert!(!err.to_string().contains("abc"), "{err}");
        assert!(format!("{t:?}").contains("redacted") && !format!("{t:?}").contains("abc"));
    }
}
