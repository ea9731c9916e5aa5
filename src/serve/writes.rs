//! Write endpoints: put and delete one object, replace a user's rule-made
//! grants, make or remove a hand-made grant. Guarantees: the body is parsed
//! and every per-object domain rule checked (422 naming each field) before
//! anything is written; a put needs a precondition (`If-Match: "r12"` to
//! replace that revision, `If-None-Match: *` to create) and answers 412 when
//! it no longer holds; each write is one transaction. Secret values are
//! accepted only for the object's secret fields, must match the digest the
//! spec carries (keyed with the directory's key), and are never logged or
//! echoed.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use super::body;
use super::error::ApiError;
use super::reads::{json_answer, label};
use super::AppState;
use crate::backend::http::wire::{
    self, DeleteBody, GrantsBatch, GrantsPut, ManualGrantPut, Problem, PutBody, WriteAnswer,
};
use crate::backend::sqlite::SqliteBackend;
use crate::backend::{AuditChange, Backend, BackendError, JsonText, Write};
use crate::model::{secret_paths, Kind, Name, SecretValue, Spec};
use crate::validate;

/// What a put's preconditions ask.
enum Precondition {
    /// `If-None-Match: *`: the object must not exist.
    Absent,
    /// `If-Match: "r12"`: the object must have this revision.
    Revision(String),
    /// `If-Match: *`: the object must exist, whatever its revision.
    Exists,
}

fn precondition(headers: &HeaderMap) -> Result<Precondition, ApiError> {
    let text = |name: header::HeaderName| -> Result<Option<String>, ApiError> {
        headers
            .get(&name)
            .map(|v| {
                v.to_str().map(|s| s.trim().to_string()).map_err(|_| {
                    ApiError::bad_request("invalid_revision", format!("{name} is not valid text"))
                        .field(name.as_str())
                })
            })
            .transpose()
    };
    let if_match = text(header::IF_MATCH)?;
    let if_none = text(header::IF_NONE_MATCH)?;
    match (if_match, if_none) {
        (Some(_), Some(_)) => Err(ApiError::bad_request(
            "invalid_revision",
            "send either If-Match or If-None-Match, not both",
        )),
        (None, Some(v)) if v == "*" => Ok(Precondition::Absent),
        (None, Some(_)) => Err(ApiError::bad_request(
            "invalid_revision",
            "If-None-Match takes only `*` (create only if absent)",
        )
        .field("If-None-Match")),
        (Some(v), None) if v == "*" => Ok(Precondition::Exists),
        (Some(v), None) => match wire::parse_etag(&v) {
            Some(fp) => Ok(Precondition::Revision(fp)),
            None => Err(ApiError::bad_request(
                "invalid_revision",
                "If-Match must be an object revision such as \"r12\" (from ETag or `revision`)",
            )
            .field("If-Match")),
        },
        (None, None) => Err(ApiError::new(
            StatusCode::PRECONDITION_REQUIRED,
            "precondition_required",
            "a write needs If-Match: \"<revision>\" to update or delete (If-Match: * for any revision) or If-None-Match: * to create",
        )),
    }
}

/// Parses a spec of `kind`, naming the first bad field.
fn parse_spec(kind: Kind, value: Value) -> Result<Spec, ApiError> {
    fn de<T: DeserializeOwned>(v: Value) -> Result<Box<T>, ApiError> {
        serde_path_to_error::deserialize(v).map(Box::new).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." {
                "spec".to_string()
            } else {
                format!("spec.{path}")
            };
            let inner = e.into_inner();
            ApiError::bad_request("invalid_field", format!("{field}: {inner}")).field(field)
        })
    }
    Ok(match kind {
        Kind::Organization => Spec::Organization(de(value)?),
        Kind::User => Spec::User(de(value)?),
        Kind::Group => Spec::Group(de(value)?),
        Kind::Application => Spec::Application(de(value)?),
        Kind::IdentityProvider => Spec::IdentityProvider(de(value)?),
        Kind::Role => Spec::Role(de(value)?),
        Kind::RoleBinding => Spec::RoleBinding(de(value)?),
        Kind::SecurityPolicy => Spec::SecurityPolicy(de(value)?),
        Kind::AppAssignment => Spec::AppAssignment(de(value)?),
    })
}

/// A secret value sent with a put and the digest its field carries.
struct SentSecret {
    value: SecretValue,
    digest: Option<String>,
}

/// Checks secret fields (digest-only, values only for secret fields) and
/// returns the values to store with the digest each field carries.
fn secrets_of(
    kind: Kind,
    spec: &Value,
    sent: BTreeMap<String, String>,
    object: &str,
) -> Result<BTreeMap<String, SentSecret>, ApiError> {
    let paths = secret_paths(kind);
    let mut problems = Vec::new();
    for path in paths {
        let pointer = crate::model::path::pointer(path);
        match spec.pointer(&pointer) {
            None | Some(Value::Null) => {}
            Some(Value::Object(m)) if m.len() == 1 && m.get("digest").is_some_and(Value::is_string) => {}
            Some(_) => problems.push(Problem {
                field: format!("spec.{path}"),
                message: "a secret field holds only {\"digest\": …}; send the value in `secrets`".to_string(),
            }),
        }
    }
    let mut values = BTreeMap::new();
    for (path, value) in sent {
        if !paths.contains(&path.as_str()) {
            problems.push(Problem {
                field: format!("secrets.{path}"),
                message: format!("not a secret field of a {}", kind.noun()),
            });
            continue;
        }
        let pointer = format!("{}/digest", crate::model::path::pointer(&path));
        let digest = spec.pointer(&pointer).and_then(Value::as_str).map(str::to_string);
        values.insert(
            path,
            SentSecret {
                value: SecretValue::new(value),
                digest,
            },
        );
    }
    if problems.is_empty() {
        Ok(values)
    } else {
        Err(ApiError::invalid(object.to_string(), problems))
    }
}

/// Checks that each secret sent carries, in its spec field, the value's
/// digest under this directory's key (what `POST …/secret-digests`
/// answers), and returns the values to store.
fn keyed_values(
    db: &SqliteBackend,
    org: &Name,
    sent: BTreeMap<String, SentSecret>,
    object: &str,
) -> Result<BTreeMap<String, SecretValue>, ApiError> {
    let values: Vec<&SecretValue> = sent.values().map(|s| &s.value).collect();
    let digests = db.secret_digests(org, &values).map_err(ApiError::backend)?;
    let problems: Vec<Problem> = sent
        .iter()
        .zip(&digests)
        .filter(|((_, s), d)| s.digest.as_deref() != Some(d.as_str()))
        .map(|((path, _), _)| Problem {
            field: format!("spec.{path}.digest"),
            message: "does not match the digest of the value sent in `secrets` (ask POST /v1/orgs/{org}/secret-digests)".to_string(),
        })
        .collect();
    if !problems.is_empty() {
        return Err(ApiError::invalid(object.to_string(), problems));
    }
    Ok(sent.into_iter().map(|(path, s)| (path, s.value)).collect())
}

/// The per-object domain rules, on a spec whose secrets are digests.
fn check_rules(kind: Kind, org: &Name, name: &Name, spec: &Spec, object: &str) -> Result<(), ApiError> {
    let mut problems = Vec::new();
    match kind {
        Kind::Organization if name != org => problems.push(Problem {
            field: "metadata.name".to_string(),
            message: format!(
                "an Organization object must be named after its organization {:?}",
                org.as_str()
            ),
        }),
        Kind::Organization => {}
        _ => match spec.organization() {
            Some(o) if o == org => {}
            Some(o) => problems.push(Problem {
                field: "spec.organization".to_string(),
                message: format!(
                    "is {:?}, but the object is written to organization {:?}",
                    o.as_str(),
                    org.as_str()
                ),
            }),
            None => problems.push(Problem {
                field: "spec.organization".to_string(),
                message: "missing required field \"organization\"".to_string(),
            }),
        },
    }
    let secret_fields: Vec<String> = secret_paths(kind).iter().map(|p| format!("spec.{p}")).collect();
    for d in validate::check_spec(kind, name, spec) {
        // Stored secret fields are digests by design: their source rules are the files'.
        if secret_fields
            .iter()
            .any(|s| d.path == *s || d.path.starts_with(&format!("{s}.")))
        {
            continue;
        }
        problems.push(Problem {
            field: d.path,
            message: d.message,
        });
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(object.to_string(), problems))
    }
}

fn written(status: StatusCode, revision: u64, object_revision: Option<String>) -> Response {
    let tag = object_revision.as_deref().map(wire::etag);
    let mut response = json_answer(
        status,
        &WriteAnswer {
            revision,
            object_revision,
        },
        Some(revision),
    );
    if let Some(v) = tag.and_then(|t| HeaderValue::from_str(&t).ok()) {
        response.headers_mut().insert(header::ETAG, v);
    }
    response
}

fn check_audit(audit: &Option<AuditChange>, kind: Kind, name: &Name) -> Result<(), ApiError> {
    match audit {
        Some(a) if a.kind != kind || a.name != name.as_str() => Err(ApiError::bad_request(
            "invalid_body",
            "audit names another object than the one written",
        )
        .field("audit")),
        _ => Ok(()),
    }
}

/// The organization revision a write expects (`X-Orgctl-Expected-Revision`),
/// checked in the write's transaction: a client sends it on the first write
/// of an apply so that of two appliers planned from one state only one starts.
fn expected_org_revision(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    match headers.get(crate::backend::http::EXPECTED_REVISION_HEADER) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Some)
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_revision",
                    "X-Orgctl-Expected-Revision must be a whole number",
                )
                .field(crate::backend::http::EXPECTED_REVISION_HEADER)
            }),
    }
}

/// The apply a write belongs to (`X-Orgctl-Apply`, 1-64 letters, digits or
/// `-`), recorded with its audit row so `history` shows one entry per apply.
fn apply_id(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    match headers.get(crate::backend::http::APPLY_HEADER) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .filter(|v| {
                (1..=64).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
            .map(|v| Some(v.to_string()))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_apply",
                    "X-Orgctl-Apply must be 1 to 64 letters, digits or '-'",
                )
                .field(crate::backend::http::APPLY_HEADER)
            }),
    }
}

/// `PUT /v1/orgs/{org}/objects/{resource}/{name}`.
pub async fn put_object(
    State(state): State<AppState>,
    Path((org, resource, name)): Path<(String, String, String)>,
    headers: HeaderMap,
    request_body: Body,
) -> Result<Response, ApiError> {
    let org = body::name("organization", &org)?;
    let org_rev = expected_org_revision(&headers)?;
    let apply = apply_id(&headers)?;
    let kind = body::resource(&resource)?;
    let name = body::name(kind.noun(), &name)?;
    let object = label(kind, &name);
    let pre = precondition(&headers)?;
    let PutBody {
        spec: spec_json,
        managed,
        secrets,
        audit,
    } = body::json::<PutBody>(&headers, request_body, false, state.body_timeout, state.max_body)
        .await?
        .ok_or_else(|| ApiError::bad_request("invalid_body", "a body is required"))?;
    check_audit(&audit, kind, &name)?;
    let values = secrets_of(kind, &spec_json, secrets, &object)?;
    let spec = parse_spec(kind, spec_json)?;
    check_rules(kind, &org, &name, &spec, &object)?;
    let creating = matches!(pre, Precondition::Absent);
    let audit = audit.unwrap_or_else(|| AuditChange {
        kind,
        name: name.to_string(),
        action: if creating { "create" } else { "update" }.to_string(),
        spec_before: None,
        before: None,
        after: Some(JsonText::new(&spec.to_json())),
    });
    let outcome = state
        .write(move |db| {
            let values = keyed_values(db, &org, values, &object)?;
            let expected = match pre {
                Precondition::Absent => None,
                Precondition::Revision(fp) => Some(fp),
                Precondition::Exists => {
                    let (_, found) = db.object(&org, kind, &name).map_err(ApiError::backend)?;
                    let found =
                        found.ok_or_else(|| ApiError::backend(conflict(kind, &name, "it does not exist")))?;
                    Some(format!("r{}", found.revision))
                }
            };
            let write = Write::Put {
                kind,
                name: name.clone(),
                spec,
                secrets: values,
                managed,
                expected,
                changed: None,
            };
            db.write_one(&org, write, vec![audit], org_rev, apply.as_deref())
                .map_err(ApiError::backend)
        })
        .await?;
    let status = if creating {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(written(
        status,
        outcome.revision,
        Some(format!("r{}", outcome.revision)),
    ))
}

fn conflict(kind: Kind, name: &Name, reason: &str) -> BackendError {
    BackendError::Conflict {
        object: label(kind, name),
        reason: reason.to_string(),
    }
}

/// `DELETE /v1/orgs/{org}/objects/{resource}/{name}`: an object already gone
/// is success; `If-Match` is required (428 without), like a put's
/// precondition: `"r12"` must hold if the object exists, `*` deletes
/// whatever revision it has.
pub async fn delete_object(
    State(state): State<AppState>,
    Path((org, resource, name)): Path<(String, String, String)>,
    headers: HeaderMap,
    request_body: Body,
) -> Result<Response, ApiError> {
    let org = body::name("organization", &org)?;
    let org_rev = expected_org_revision(&headers)?;
    let apply = apply_id(&headers)?;
    let kind = body::resource(&resource)?;
    let name = body::name(kind.noun(), &name)?;
    let expected = match precondition(&headers)? {
        Precondition::Exists => None,
        Precondition::Revision(fp) => Some(fp),
        Precondition::Absent => {
            return Err(ApiError::bad_request(
                "invalid_revision",
                "If-None-Match does not apply to a delete",
            ))
        }
    };
    let DeleteBody { audit } =
        body::json::<DeleteBody>(&headers, request_body, true, state.body_timeout, state.max_body)
            .await?
            .unwrap_or_default();
    check_audit(&audit, kind, &name)?;
    let audit = audit.unwrap_or_else(|| AuditChange {
        kind,
        name: name.to_string(),
        action: "delete".to_string(),
        spec_before: None,
        before: Some(JsonText::new(&json!({}))),
        after: None,
    });
    let outcome = state
        .write(move |db| {
            if kind == Kind::User {
                guard_super_admin(db, &org, &name)?;
            }
            let write = Write::Delete {
                kind,
                name: name.clone(),
                expected,
            };
            db.write_one(&org, write, vec![audit], org_rev, apply.as_deref())
                .map_err(ApiError::backend)
        })
        .await?;
    Ok(written(StatusCode::OK, outcome.revision, None))
}

/// Refuses to delete the user the Organization names as its super admin.
fn guard_super_admin(
    db: &crate::backend::sqlite::SqliteBackend,
    org: &Name,
    user: &Name,
) -> Result<(), ApiError> {
    let (_, found) = db
        .object(org, Kind::Organization, org)
        .map_err(ApiError::backend)?;
    let Some(found) = found else { return Ok(()) };
    let Ok(Spec::Organization(o)) = Spec::from_json_str(Kind::Organization, &found.spec_json) else {
        return Ok(());
    };
    if o.super_admin.as_ref() == Some(user) {
        return Err(ApiError::invalid(
            label(Kind::User, user),
            vec![Problem {
                field: "metadata.name".to_string(),
                message: format!(
                    "is the super admin of organization {:?}; name another super admin first",
                    org.as_str()
                ),
            }],
        ));
    }
    Ok(())
}

/// `PUT /v1/orgs/{org}/grants/{user}`: the user's whole rule-made list.
pub async fn put_grants(
    State(state): State<AppState>,
    Path((org, user)): Path<(String, String)>,
    headers: HeaderMap,
    request_body: Body,
) -> Result<Response, ApiError> {
    let org = body::name("organization", &org)?;
    let org_rev = expected_org_revision(&headers)?;
    let apply = apply_id(&headers)?;
    let user = body::name("user", &user)?;
    let GrantsPut { mut grants } =
        body::json::<GrantsPut>(&headers, request_body, false, state.body_timeout, state.max_body)
            .await?
            .ok_or_else(|| ApiError::bad_request("invalid_body", "a body is required"))?;
    grants.sort();
    grants.dedup();
    let missing = label(Kind::User, &user);
    let outcome = state
        .write(move |db| {
            db.write_one(
                &org,
                Write::Grants {
                    user,
                    grants: grants.into(),
                },
                Vec::new(),
                org_rev,
                apply.as_deref(),
            )
            .map_err(|e| match e {
                BackendError::Conflict { .. } => ApiError::not_found(missing),
                other => ApiError::backend(other),
            })
        })
        .await?;
    Ok(written(StatusCode::OK, outcome.revision, None))
}

/// `PUT /v1/orgs/{org}/grants`: the rule-made lists of many users in one
/// transaction (an apply's assignments in a few requests); a user who does
/// not exist fails the whole batch with 404 naming them.
pub async fn put_grants_batch(
    State(state): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    request_body: Body,
) -> Result<Response, ApiError> {
    let org = body::name("organization", &org)?;
    let org_rev = expected_org_revision(&headers)?;
    let apply = apply_id(&headers)?;
    let GrantsBatch { users, audit } =
        body::json::<GrantsBatch>(&headers, request_body, false, state.body_timeout, state.max_body)
            .await?
            .ok_or_else(|| ApiError::bad_request("invalid_body", "a body is required"))?;
    let writes: Vec<Write> = users
        .into_iter()
        .map(|(user, mut grants)| {
            grants.sort();
            grants.dedup();
            Write::Grants {
                user,
                grants: grants.into(),
            }
        })
        .collect();
    let outcome = state
        .write(move |db| {
            db.write_many(&org, writes, audit, org_rev, apply.as_deref())
                .map_err(|e| match e {
                    BackendError::Conflict { object, .. } if object.starts_with("user ") => {
                        ApiError::not_found(object)
                    }
                    other => ApiError::backend(other),
                })
        })
        .await?;
    Ok(written(StatusCode::OK, outcome.revision, None))
}

/// `PUT /v1/orgs/{org}/manual-grants/{user}/{app}`: a grant made by hand.
pub async fn put_manual_grant(
    State(state): State<AppState>,
    Path((org, user, app)): Path<(String, String, String)>,
    headers: HeaderMap,
    request_body: Body,
) -> Result<Response, ApiError> {
    let ManualGrantPut { role } =
        body::json::<ManualGrantPut>(&headers, request_body, false, state.body_timeout, state.max_body)
            .await?
            .ok_or_else(|| ApiError::bad_request("invalid_body", "a body is required"))?;
    manual_grant(state, &headers, org, user, app, Some(role)).await
}

/// `DELETE /v1/orgs/{org}/manual-grants/{user}/{app}`.
pub async fn delete_manual_grant(
    State(state): State<AppState>,
    Path((org, user, app)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    manual_grant(state, &headers, org, user, app, None).await
}

async fn manual_grant(
    state: AppState,
    headers: &HeaderMap,
    org: String,
    user: String,
    app: String,
    role: Option<Name>,
) -> Result<Response, ApiError> {
    let org = body::name("organization", &org)?;
    let org_rev = expected_org_revision(headers)?;
    let apply = apply_id(headers)?;
    let user = body::name("user", &user)?;
    let app = body::name("application", &app)?;
    let missing = label(Kind::User, &user);
    let outcome = state
        .write(move |db| {
            // A grant of an app the organization does not have would sit
            // unseen by every plan; removing one is "already gone".
            if role.is_some()
                && db
                    .object(&org, Kind::Application, &app)
                    .map_err(ApiError::backend)?
                    .1
                    .is_none()
            {
                return Err(ApiError::not_found(label(Kind::Application, &app)).field("app"));
            }
            db.write_one(
                &org,
                Write::ManualGrant { user, app, role },
                Vec::new(),
                org_rev,
                apply.as_deref(),
            )
            .map_err(|e| match e {
                BackendError::Conflict { .. } => ApiError::not_found(missing),
                other => ApiError::backend(other),
            })
        })
        .await?;
    Ok(written(StatusCode::OK, outcome.revision, None))
}
