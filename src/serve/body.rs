//! Request input at the edge: path names, query parameters, content types,
//! body size and JSON parsing. Every failure is a 4xx [`ApiError`] that names
//! what was wrong (with the field path for JSON), and none echoes a secret.

use std::cell::RefCell;
use std::collections::HashSet;
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::http::{header, HeaderMap, StatusCode};
use serde::de::{DeserializeOwned, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::error::ApiError;
use crate::backend::http::wire::{self, DEFAULT_PAGE, MAX_PAGE};
use crate::model::{Kind, Name};

/// Parses a name taken from the path (`..`, `/`, upper case… are refused).
pub fn name(what: &str, text: &str) -> Result<Name, ApiError> {
    text.parse::<Name>().map_err(|_| {
        ApiError::bad_request(
            "invalid_name",
            format!(
                "invalid {what} name in the path: expected at most 63 lowercase letters, digits, '-' or '.', starting and ending with a letter or digit"
            ),
        )
    })
}

/// The kind of a resource path segment (`users`).
pub fn resource(text: &str) -> Result<Kind, ApiError> {
    wire::kind_of(text).ok_or_else(|| {
        let known: Vec<&str> = Kind::ALL.iter().map(|k| k.plural()).collect();
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_resource",
            format!("unknown resource; expected one of {}", known.join(", ")),
        )
    })
}

/// A page size from the query: default 500, 1..=5000.
pub fn limit(value: Option<&str>) -> Result<usize, ApiError> {
    match value {
        None => Ok(DEFAULT_PAGE),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_request(
                "invalid_limit",
                format!("limit must be a whole number from 1 to {MAX_PAGE}"),
            )
            .field("limit")),
        },
    }
}

/// Query parameters as pairs; unknown parameters are refused.
pub fn query(raw: Option<&str>, allowed: &[&str]) -> Result<Vec<(String, String)>, ApiError> {
    let mut out = Vec::new();
    for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = decode(k)?;
        let v = decode(v)?;
        if !allowed.contains(&k.as_str()) {
            return Err(ApiError::bad_request(
                "unknown_parameter",
                format!(
                    "unknown query parameter {k:?}; expected one of {}",
                    allowed.join(", ")
                ),
            )
            .field(k));
        }
        if out.iter().any(|(seen, _): &(String, String)| *seen == k) {
            return Err(ApiError::bad_request(
                "duplicate_parameter",
                format!("query parameter {k:?} given twice"),
            )
            .field(k));
        }
        out.push((k, v));
    }
    Ok(out)
}

/// The value of one parameter in parsed pairs.
pub fn param<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// Percent-decoding of one query component (`+` is a space).
fn decode(s: &str) -> Result<String, ApiError> {
    let bad = || {
        ApiError::bad_request(
            "invalid_query",
            "the query string is not valid percent-encoded UTF-8",
        )
    };
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).ok_or_else(bad)?;
                let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

/// A cursor from the query (`after=Kind/name`).
pub fn cursor(value: Option<&str>) -> Result<Option<(Kind, Name)>, ApiError> {
    match value {
        None => Ok(None),
        Some(v) => wire::parse_cursor(v).map(Some).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_cursor",
                "after must be a cursor from a previous page's `next`",
            )
            .field("after")
        }),
    }
}

/// Reads a JSON body: `Content-Type: application/json`, at most `max`
/// bytes (`serve --max-body-size`), arriving within `timeout` (408 after), without an object key given twice,
/// parsed into `T` with the path of the first bad field. An empty body is
/// `None` when `optional`.
pub async fn json<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
    optional: bool,
    timeout: Duration,
    max: usize,
) -> Result<Option<T>, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large(max));
    }
    let bytes = tokio::time::timeout(timeout, to_bytes(body, max))
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                format!("the body did not arrive within {} s", timeout.as_secs()),
            )
        })?
        .map_err(|_| too_large(max))?;
    if bytes.is_empty() && optional {
        return Ok(None);
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime != "application/json" {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the body must be JSON sent with Content-Type: application/json",
        ));
    }
    if let Some((field, key)) = duplicate_key(&bytes) {
        return Err(ApiError::bad_request(
            "duplicate_key",
            format!("invalid body at {field}: the key {key:?} is given twice"),
        )
        .field(field));
    }
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::bad_request("malformed_json", format!("the body is not valid JSON: {inner}"))
        } else {
            let field = if path == "." { String::new() } else { path };
            let message = if field.is_empty() {
                format!("invalid body: {inner}")
            } else {
                format!("invalid body at {field}: {inner}")
            };
            let e = ApiError::bad_request("invalid_body", message);
            if field.is_empty() {
                e
            } else {
                e.field(field)
            }
        }
    })?;
    de.end()
        .map_err(|e| ApiError::bad_request("malformed_json", format!("the body is not valid JSON: {e}")))?;
    Ok(Some(value))
}

/// The first object key given twice in a JSON text: its path (`spec.email`)
/// and the key. serde_json keeps the last of two equal keys without a word,
/// and which one a sender meant is not ours to guess. `None` for text that is
/// not JSON (the typed parse reports that).
fn duplicate_key(bytes: &[u8]) -> Option<(String, String)> {
    let found = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let _ = Unique {
        path: String::new(),
        found: &found,
    }
    .deserialize(&mut de);
    found.into_inner()
}

/// A walk over one JSON value that records the first duplicate key in `found`.
struct Unique<'a> {
    path: String,
    found: &'a RefCell<Option<(String, String)>>,
}

impl Unique<'_> {
    fn child(&self, step: String) -> Self {
        Unique {
            path: step,
            found: self.found,
        }
    }
}

impl<'de> DeserializeSeed<'de> for Unique<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Unique<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        while seq
            .next_element_seed(self.child(format!("{}[{i}]", self.path)))?
            .is_some()
        {
            i += 1;
        }
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = if self.path.is_empty() {
                key.clone()
            } else {
                format!("{}.{key}", self.path)
            };
            if !seen.insert(key.clone()) {
                *self.found.borrow_mut() = Some((path, key));
                return Err(serde::de::Error::custom("duplicate key"));
            }
            map.next_value_seed(self.child(path))?;
        }
        Ok(())
    }
}

fn too_large(max: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("the body exceeds {}", wire::bytes_text(max)),
    )
}
