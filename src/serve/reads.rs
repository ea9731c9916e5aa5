//! Read endpoints: probes, the OpenAPI document, capabilities,
//! organizations, snapshot pages, per-kind listings, single objects, grants
//! and the audit history. Each answer reports the organization revision it
//! was read at (`X-Orgctl-Revision`), so a client can tell pages apart that
//! straddle a write.

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::value::RawValue;

use super::body::{self, cursor, limit, param, query};
use super::error::ApiError;
use super::AppState;
use crate::backend::http::wire::{
    self, CapabilitiesBody, DigestsAnswer, DigestsRequest, GrantsBody, ObjectList, OrgInfo, OrgList,
    WhoamiBody, WireObject, DEFAULT_HISTORY, MAX_DIGEST_VALUES, MAX_HISTORY, MAX_PAGE,
};
use crate::backend::sqlite::served::{PageQuery, StoredObject};
use crate::backend::Backend;
use crate::model::{Kind, Name, SecretValue};

/// A JSON answer with the organization revision header.
pub(super) fn json_answer<T: Serialize>(status: StatusCode, value: &T, revision: Option<u64>) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => {
            let mut response = (status, bytes).into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            if let Some(r) = revision {
                headers.insert(wire::REVISION_HEADER, HeaderValue::from(r));
            }
            response
        }
        Err(_) => ApiError::internal("encoding an answer").into_response(),
    }
}

/// `GET /healthz`: the process is alive.
pub async fn healthz() -> Response {
    json_answer(StatusCode::OK, &serde_json::json!({"status": "ok"}), None)
}

/// `GET /readyz`: the directory opens (a fresh handle, so a file gone or
/// damaged since start shows) and its schema is current.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let path = state.path.clone();
    let check = tokio::task::spawn_blocking(move || {
        crate::backend::sqlite::SqliteBackend::open_for_serving(&path).and_then(|db| db.ping())
    });
    match check.await.map_err(|_| ()).and_then(|r| {
        r.map_err(|e| {
            tracing::warn!(error = %crate::diagnostic::error_chain(&e), "not ready");
        })
    }) {
        Ok(()) => json_answer(StatusCode::OK, &serde_json::json!({"status": "ready"}), None),
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "the directory cannot be read",
        )
        .into_response(),
    }
}

/// `GET /openapi.json`.
pub async fn openapi() -> Response {
    json_answer(StatusCode::OK, &super::openapi::document(), None)
}

/// `GET /v1/capabilities`.
pub async fn capabilities(State(state): State<AppState>) -> Response {
    let body = CapabilitiesBody {
        unsupported: Vec::new(),
        transactional: false,
        max_page: MAX_PAGE,
        max_body_size: state.max_body,
    };
    json_answer(StatusCode::OK, &body, None)
}

/// `GET /v1/whoami`: the address this request came from, as the server
/// sees it (what a sign-in from the caller's machine would come from), so a
/// client can check that a plan does not lock its own address out.
pub async fn whoami(
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
) -> Response {
    let body = WhoamiBody {
        address: peer.ip().to_canonical().to_string(),
    };
    json_answer(StatusCode::OK, &body, None)
}

/// `GET /v1/orgs?limit&after`.
pub async fn organizations(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = query(raw.as_deref(), &["limit", "after"])?;
    let limit = limit(param(&q, "limit"))?;
    let after = param(&q, "after")
        .map(|a| body::name("organization", a))
        .transpose()?;
    let (orgs, more) = state
        .read(move |db| {
            db.organization_page(after.as_ref(), limit)
                .map_err(ApiError::backend)
        })
        .await?;
    let next = if more {
        orgs.last().map(|(n, _)| n.to_string())
    } else {
        None
    };
    let items = orgs
        .into_iter()
        .map(|(name, revision)| OrgInfo { name, revision })
        .collect();
    Ok(json_answer(StatusCode::OK, &OrgList { items, next }, None))
}

/// `GET /v1/orgs/{org}`: the organization's revision; 404 if never written.
pub async fn organization(
    State(state): State<AppState>,
    Path(org): Path<String>,
) -> Result<Response, ApiError> {
    let org = body::name("organization", &org)?;
    let lookup = org.clone();
    let revision = state
        .read(move |db| db.org_revision_if_known(&lookup).map_err(ApiError::backend))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("organization {:?}", org.as_str())))?;
    Ok(json_answer(
        StatusCode::OK,
        &OrgInfo { name: org, revision },
        Some(revision),
    ))
}

fn wire_object(o: StoredObject) -> Result<WireObject, ApiError> {
    let spec =
        RawValue::from_string(o.spec_json).map_err(|_| ApiError::internal("stored spec is not JSON"))?;
    Ok(WireObject {
        kind: o.kind,
        name: o.name,
        spec,
        managed: o.managed,
        revision: format!("r{}", o.revision),
    })
}

async fn page(state: &AppState, org: Name, q: PageQuery) -> Result<Response, ApiError> {
    let lookup = org.clone();
    let page = state
        .read(move |db| db.object_page(&lookup, &q).map_err(ApiError::backend))
        .await?;
    let next = if page.more {
        page.objects.last().map(|o| wire::cursor_of(o.kind, &o.name))
    } else {
        None
    };
    let revision = page.revision;
    let items = page
        .objects
        .into_iter()
        .map(wire_object)
        .collect::<Result<Vec<_>, _>>()?;
    let list = ObjectList {
        organization: org,
        revision,
        items,
        next,
    };
    Ok(json_answer(StatusCode::OK, &list, Some(revision)))
}

/// `GET /v1/orgs/{org}/snapshot?limit&after`: every object of the
/// organization, in pages of key order.
pub async fn snapshot(
    State(state): State<AppState>,
    Path(org): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let org = body::name("organization", &org)?;
    let q = query(raw.as_deref(), &["limit", "after"])?;
    let q = PageQuery {
        kind: None,
        after: cursor(param(&q, "after"))?,
        managed: None,
        prefix: None,
        limit: limit(param(&q, "limit"))?,
    };
    let mut answer = page(&state, org, q).await?;
    answer
        .headers_mut()
        .insert(wire::MAX_BODY_HEADER, HeaderValue::from(state.max_body));
    Ok(answer)
}

/// `POST /v1/orgs/{org}/secret-digests`: the keyed digest of each value
/// sent, as this directory's snapshots hold them, so a client compares its
/// secrets without the key leaving the server. Any valid token may ask (a
/// read-only token plans too): it learns a guess's digest one request at a
/// time, never a digest it could test guesses against offline. The values
/// are neither logged nor kept.
pub async fn secret_digests(
    State(state): State<AppState>,
    Path(org): Path<String>,
    headers: axum::http::HeaderMap,
    request_body: axum::body::Body,
) -> Result<Response, ApiError> {
    let org = body::name("organization", &org)?;
    let DigestsRequest { values } =
        body::json::<DigestsRequest>(&headers, request_body, false, state.body_timeout, state.max_body)
            .await?
            .ok_or_else(|| ApiError::bad_request("invalid_body", "a body is required"))?;
    if values.len() > MAX_DIGEST_VALUES {
        return Err(ApiError::bad_request(
            "invalid_body",
            format!("at most {MAX_DIGEST_VALUES} values per request"),
        )
        .field("values"));
    }
    let values: Vec<SecretValue> = values.into_iter().map(SecretValue::new).collect();
    let digests = state
        .read(move |db| {
            let refs: Vec<&SecretValue> = values.iter().collect();
            db.secret_digests(&org, &refs).map_err(ApiError::backend)
        })
        .await?;
    Ok(json_answer(StatusCode::OK, &DigestsAnswer { digests }, None))
}

/// `GET /v1/orgs/{org}/objects/{resource}?limit&after&managed&prefix`.
pub async fn list(
    State(state): State<AppState>,
    Path((org, resource)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let org = body::name("organization", &org)?;
    let kind = body::resource(&resource)?;
    let q = query(raw.as_deref(), &["limit", "after", "managed", "prefix"])?;
    let after = cursor(param(&q, "after"))?;
    if after.as_ref().is_some_and(|(k, _)| *k != kind) {
        return Err(
            ApiError::bad_request("invalid_cursor", "the cursor belongs to another resource").field("after"),
        );
    }
    let managed = match param(&q, "managed") {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => {
            return Err(
                ApiError::bad_request("invalid_filter", "managed must be true or false").field("managed"),
            )
        }
    };
    let prefix = match param(&q, "prefix") {
        None => None,
        Some(p)
            if !p.is_empty()
                && p.len() <= 63
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.') =>
        {
            Some(p.to_string())
        }
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_filter",
                "prefix must be 1 to 63 lowercase letters, digits, '-' or '.'",
            )
            .field("prefix"))
        }
    };
    let q = PageQuery {
        kind: Some(kind),
        after,
        managed,
        prefix,
        limit: limit(param(&q, "limit"))?,
    };
    page(&state, org, q).await
}

/// `GET /v1/orgs/{org}/objects/{resource}/{name}` (`ETag` is its revision).
pub async fn object(
    State(state): State<AppState>,
    Path((org, resource, name)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let org = body::name("organization", &org)?;
    let kind = body::resource(&resource)?;
    let name = body::name(kind.noun(), &name)?;
    let (lookup_org, lookup_name) = (org.clone(), name.clone());
    let (revision, found) = state
        .read(move |db| {
            db.object(&lookup_org, kind, &lookup_name)
                .map_err(ApiError::backend)
        })
        .await?;
    let found = found.ok_or_else(|| ApiError::not_found(label(kind, &name)))?;
    let object = wire_object(found)?;
    let tag = wire::etag(&object.revision);
    let mut response = json_answer(StatusCode::OK, &object, Some(revision));
    if let Ok(v) = HeaderValue::from_str(&tag) {
        response.headers_mut().insert(header::ETAG, v);
    }
    Ok(response)
}

/// `GET /v1/orgs/{org}/grants`: the materialized app assignments.
pub async fn grants(State(state): State<AppState>, Path(org): Path<String>) -> Result<Response, ApiError> {
    let org = body::name("organization", &org)?;
    let (revision, grants) = state
        .read(move |db| db.grants(&org).map_err(ApiError::backend))
        .await?;
    let body = GrantsBody {
        revision,
        sets: grants.sets,
        users: grants.users,
        manual: grants.manual,
    };
    Ok(json_answer(StatusCode::OK, &body, Some(revision)))
}

/// `GET /v1/history?org&limit`: the audit log, newest first.
pub async fn history(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let q = query(raw.as_deref(), &["org", "limit"])?;
    let org = param(&q, "org")
        .map(|o| body::name("organization", o))
        .transpose()?;
    let limit = match param(&q, "limit") {
        None => DEFAULT_HISTORY,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=MAX_HISTORY).contains(&n) => n,
            _ => {
                return Err(ApiError::bad_request(
                    "invalid_limit",
                    format!("limit must be a whole number from 1 to {MAX_HISTORY}"),
                )
                .field("limit"))
            }
        },
    };
    let entries = state
        .read(move |db| db.history(org.as_ref(), limit).map_err(ApiError::backend))
        .await?;
    Ok(json_answer(StatusCode::OK, &entries, None))
}

/// How answers name an object: `user "alice"`.
pub(super) fn label(kind: Kind, name: &Name) -> String {
    kind.label(name.as_str()).to_string()
}
