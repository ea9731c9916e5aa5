//! The server's error answers: every failure becomes `{"error": {code,
//! message, field?, object?, problems?}}` with a stable code and the right
//! status. Storage failures are logged with their cause and answered with a
//! generic message; no answer or log line ever holds a token or a secret.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::backend::http::wire::{ErrorBody, ErrorDetail, Problem};
use crate::backend::BackendError;

/// A failed request: status and the JSON error it answers with.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// The error body (boxed: errors are rare, results are everywhere).
    pub detail: Box<ErrorDetail>,
    /// `Retry-After` seconds, for 429/503.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with a status, a stable code and a message.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            detail: Box::new(ErrorDetail {
                code: code.to_string(),
                message: message.into(),
                field: None,
                object: None,
                problems: Vec::new(),
            }),
            retry_after: None,
        }
    }

    /// 400 with a code.
    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404 for a missing object.
    pub fn not_found(object: String) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{object} does not exist"),
        )
        .object(object)
    }

    /// Names the field at fault.
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.detail.field = Some(field.into());
        self
    }

    /// Names the object concerned.
    pub fn object(mut self, object: impl Into<String>) -> Self {
        self.detail.object = Some(object.into());
        self
    }

    /// 422: the write breaks domain rules, each named by field.
    pub fn invalid(object: String, problems: Vec<Problem>) -> Self {
        let first = problems.first().cloned();
        let message = match &first {
            Some(p) if problems.len() == 1 => format!("{object}: {}: {}", p.field, p.message),
            Some(p) => format!(
                "{object}: {}: {} (and {} more)",
                p.field,
                p.message,
                problems.len() - 1
            ),
            None => format!("{object} is invalid"),
        };
        let mut e = Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", message).object(object);
        e.detail.field = first.map(|p| p.field);
        e.detail.problems = problems;
        e
    }

    /// Maps a backend failure: conflicts are 412, storage failures 500.
    pub fn backend(e: BackendError) -> Self {
        match e {
            BackendError::Conflict { object, reason } => Self::new(
                StatusCode::PRECONDITION_FAILED,
                "precondition_failed",
                format!("conflict on {object}: {reason}; re-run plan"),
            )
            .object(object),
            other => {
                tracing::error!(error = %crate::diagnostic::error_chain(&other), "storage failure");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the directory could not be read or written; see the server log",
                )
            }
        }
    }

    /// 500 for a task that did not finish (a bug or a shutdown).
    pub fn internal(what: &str) -> Self {
        tracing::error!(what, "internal failure");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&ErrorBody { error: *self.detail }).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
