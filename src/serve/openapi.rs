//! The OpenAPI 3.1 document of the API, generated here from one table of
//! operations (the same paths [`super::router`] serves; a test checks every
//! documented operation is routed, and that the committed `openapi.json`
//! equals this document). Body schemas are written next to the table.

use serde_json::{json, Map, Value};

use crate::backend::http::wire::{
    bytes_text, DEFAULT_HISTORY, DEFAULT_PAGE, MAX_BODY, MAX_DIGEST_VALUES, MAX_HISTORY, MAX_PAGE,
};
use crate::model::Kind;

/// One documented operation.
struct Op {
    method: &'static str,
    path: &'static str,
    id: &'static str,
    summary: &'static str,
    auth: bool,
    query: &'static [&'static str],
    headers: &'static [&'static str],
    body: Option<&'static str>,
    ok: (&'static str, Option<&'static str>),
    errors: &'static [&'static str],
}

const READ_ERRORS: &[&str] = &["400", "401", "404", "429", "503"];
const WRITE_ERRORS: &[&str] = &[
    "400", "401", "403", "404", "408", "412", "413", "415", "422", "428", "429", "503",
];

const OPS: &[Op] = &[
    Op { method: "get", path: "/healthz", id: "healthz", summary: "The process is alive.", auth: false, query: &[], headers: &[], body: None, ok: ("200", Some("Status")), errors: &[] },
    Op { method: "get", path: "/readyz", id: "readyz", summary: "The directory opens and its schema is current.", auth: false, query: &[], headers: &[], body: None, ok: ("200", Some("Status")), errors: &["503"] },
    Op { method: "get", path: "/openapi.json", id: "openapi", summary: "This document.", auth: false, query: &[], headers: &[], body: None, ok: ("200", None), errors: &[] },
    Op { method: "get", path: "/v1/whoami", id: "whoami", summary: "The caller's address as the server sees it (for lockout guards).", auth: true, query: &[], headers: &[], body: None, ok: ("200", Some("Whoami")), errors: &["401"] },
    Op { method: "get", path: "/v1/capabilities", id: "capabilities", summary: "What the backend can express.", auth: true, query: &[], headers: &[], body: None, ok: ("200", Some("Capabilities")), errors: &["401"] },
    Op { method: "get", path: "/v1/orgs", id: "listOrganizations", summary: "Organizations and their revisions, in name order.", auth: true, query: &["limit", "afterName"], headers: &[], body: None, ok: ("200", Some("OrgList")), errors: READ_ERRORS },
    Op { method: "get", path: "/v1/orgs/{org}", id: "getOrganization", summary: "An organization's revision (404 if it was never written).", auth: true, query: &[], headers: &[], body: None, ok: ("200", Some("OrgInfo")), errors: READ_ERRORS },
    Op { method: "get", path: "/v1/orgs/{org}/snapshot", id: "snapshot", summary: "Every object of the organization in pages of (kind, name) order; each page carries the organization revision it was read at.", auth: true, query: &["limit", "after"], headers: &[], body: None, ok: ("200", Some("ObjectList")), errors: READ_ERRORS },
    Op { method: "post", path: "/v1/orgs/{org}/secret-digests", id: "secretDigests", summary: "The keyed digest (HMAC-SHA256 with the directory's key, which never leaves the server) of each secret value sent, in order, as the snapshot's secret fields hold them: how a client compares its secrets. Any valid token, read-only included; at most 1000 values; values are never logged.", auth: true, query: &[], headers: &[], body: Some("DigestsRequest"), ok: ("200", Some("DigestsAnswer")), errors: &["400", "401", "408", "413", "415", "429", "503"] },
    Op { method: "get", path: "/v1/orgs/{org}/grants", id: "getGrants", summary: "The materialized app assignments: distinct rule-made lists, user to list, hand-made grants.", auth: true, query: &[], headers: &[], body: None, ok: ("200", Some("Grants")), errors: READ_ERRORS },
    Op { method: "put", path: "/v1/orgs/{org}/grants", id: "putGrantsBatch", summary: "Replace the rule-made grants of many users in one transaction (empty list: remove them); 404 naming a user who does not exist, and nothing is written.", auth: true, query: &[], headers: &[], body: Some("GrantsBatch"), ok: ("200", Some("WriteAnswer")), errors: WRITE_ERRORS },
    Op { method: "put", path: "/v1/orgs/{org}/grants/{user}", id: "putGrants", summary: "Replace a user's rule-made grants (empty list: remove them).", auth: true, query: &[], headers: &[], body: Some("GrantsPut"), ok: ("200", Some("WriteAnswer")), errors: WRITE_ERRORS },
    Op { method: "put", path: "/v1/orgs/{org}/manual-grants/{user}/{app}", id: "putManualGrant", summary: "Make a grant by hand (plans never do); 404 when the user or the application does not exist.", auth: true, query: &[], headers: &[], body: Some("ManualGrantPut"), ok: ("200", Some("WriteAnswer")), errors: WRITE_ERRORS },
    Op { method: "delete", path: "/v1/orgs/{org}/manual-grants/{user}/{app}", id: "deleteManualGrant", summary: "Remove a grant made by hand.", auth: true, query: &[], headers: &[], body: None, ok: ("200", Some("WriteAnswer")), errors: WRITE_ERRORS },
    Op { method: "get", path: "/v1/orgs/{org}/objects/{resource}", id: "listObjects", summary: "The objects of one kind, in pages, filtered by ownership marker and name prefix.", auth: true, query: &["limit", "after", "managed", "prefix"], headers: &[], body: None, ok: ("200", Some("ObjectList")), errors: READ_ERRORS },
    Op { method: "get", path: "/v1/orgs/{org}/objects/{resource}/{name}", id: "getObject", summary: "One object; ETag is its revision.", auth: true, query: &[], headers: &[], body: None, ok: ("200", Some("Object")), errors: READ_ERRORS },
    Op { method: "put", path: "/v1/orgs/{org}/objects/{resource}/{name}", id: "putObject", summary: "Create (If-None-Match: *, 201) or replace (If-Match: \"r12\", 200) one object; one of the two is required (428 without). 412 when the precondition no longer holds, 422 naming each field that breaks a domain rule.", auth: true, query: &[], headers: &["If-Match", "If-None-Match"], body: Some("PutBody"), ok: ("200", Some("WriteAnswer")), errors: WRITE_ERRORS },
    Op { method: "delete", path: "/v1/orgs/{org}/objects/{resource}/{name}", id: "deleteObject", summary: "Delete one object (already gone is success); If-Match is required (428 without): the revision it must still have, or `*` for any.", auth: true, query: &[], headers: &["If-Match!"], body: Some("DeleteBody"), ok: ("200", Some("WriteAnswer")), errors: WRITE_ERRORS },
    Op { method: "get", path: "/v1/history", id: "history", summary: "The audit log, newest first.", auth: true, query: &["org", "historyLimit"], headers: &[], body: None, ok: ("200", Some("History")), errors: READ_ERRORS },
];

/// A query or header parameter (`If-Match!`: the header, required).
fn parameter(name: &str) -> Value {
    let name_schema =
        json!({"type": "string", "maxLength": 63, "pattern": "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"});
    match name {
        "limit" => {
            json!({"name": "limit", "in": "query", "description": format!("Page size (default {DEFAULT_PAGE})."), "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": DEFAULT_PAGE}})
        }
        "historyLimit" => {
            json!({"name": "limit", "in": "query", "description": format!("Entries to return, newest first (default {DEFAULT_HISTORY})."), "schema": {"type": "integer", "minimum": 1, "maximum": MAX_HISTORY, "default": DEFAULT_HISTORY}})
        }
        "after" => {
            json!({"name": "after", "in": "query", "description": "Cursor: the `next` of the previous page (`Kind/name`).", "schema": {"type": "string"}})
        }
        "afterName" => {
            json!({"name": "after", "in": "query", "description": "Cursor: the `next` of the previous page (an organization name).", "schema": name_schema})
        }
        "managed" => {
            json!({"name": "managed", "in": "query", "description": "Only objects with this ownership marker.", "schema": {"type": "boolean"}})
        }
        "prefix" => {
            json!({"name": "prefix", "in": "query", "description": "Only names starting with this text.", "schema": {"type": "string", "maxLength": 63}})
        }
        "org" => {
            json!({"name": "org", "in": "query", "description": "Only this organization.", "schema": name_schema})
        }
        "If-Match" => {
            json!({"name": "If-Match", "in": "header", "description": "Replace only this revision (`\"r12\"`), or `*`: any existing one. Send this or If-None-Match.", "schema": {"type": "string", "pattern": "^(\\*|(W/)?\"?r[0-9]{1,20}\"?)$"}})
        }
        "If-Match!" => {
            json!({"name": "If-Match", "in": "header", "required": true, "description": "Delete only this revision (`\"r12\"`), or `*`: whatever is there.", "schema": {"type": "string", "pattern": "^(\\*|(W/)?\"?r[0-9]{1,20}\"?)$"}})
        }
        "If-None-Match" => {
            json!({"name": "If-None-Match", "in": "header", "description": "`*`: create only if absent. Send this or If-Match.", "schema": {"type": "string", "enum": ["*"]}})
        }
        other => json!({"name": other, "in": "query", "schema": {"type": "string"}}),
    }
}

/// A path parameter: the resource segment or a name.
fn path_parameter(name: &str) -> Value {
    let name_schema =
        json!({"type": "string", "maxLength": 63, "pattern": "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"});
    let resources: Vec<&str> = Kind::ALL.iter().map(|k| k.plural()).collect();
    match name {
        "resource" => {
            json!({"name": "resource", "in": "path", "required": true, "schema": {"type": "string", "enum": resources}})
        }
        other => json!({"name": other, "in": "path", "required": true, "schema": name_schema}),
    }
}

fn schemas() -> Value {
    let name = json!({"type": "string", "maxLength": 63, "pattern": "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"});
    let kind = json!({"type": "string", "enum": ["Organization", "User", "Group", "Application", "IdentityProvider", "Role", "RoleBinding", "SecurityPolicy", "AppAssignment"]});
    let spec = json!({"type": "object", "description": "The kind's spec as in the YAML files (`orgctl schema KIND`); secret fields hold only {\"digest\": …}, keyed with the directory's key (`POST /v1/orgs/{org}/secret-digests` answers the digest of a value)."});
    let grant = json!({"type": "object", "required": ["app", "role", "rule"], "properties": {"app": name, "role": name, "rule": name}});
    let audit = json!({"type": "object", "required": ["kind", "name", "action"], "properties": {"kind": kind, "name": {"type": "string"}, "action": {"type": "string", "description": "`assign`: the rule-made app assignments an apply wrote (`name` empty; `after` counts users and grants).", "enum": ["create", "update", "replace", "delete", "assign"]}, "before": {}, "after": {}, "specBefore": {}}});
    json!({
        "Status": {"type": "object", "properties": {"status": {"type": "string"}}},
        "Whoami": {"type": "object", "required": ["address"], "properties": {"address": {"type": "string"}}},
        "Capabilities": {"type": "object", "required": ["unsupported", "transactional", "maxPage", "maxBodySize"], "properties": {"unsupported": {"type": "array", "description": "Pairs of a kind and the dotted spec path of a field it cannot hold.", "items": {"type": "array", "minItems": 2, "maxItems": 2, "items": {"type": "string"}}}, "transactional": {"type": "boolean"}, "maxPage": {"type": "integer"}, "maxBodySize": {"type": "integer", "description": "Largest request body the server reads, in bytes (`serve --max-body-size`)."}}},
        "DigestsRequest": {"type": "object", "additionalProperties": false, "required": ["values"], "properties": {"values": {"type": "array", "maxItems": MAX_DIGEST_VALUES, "items": {"type": "string"}, "description": "Secret values (never logged nor kept)."}}},
        "DigestsAnswer": {"type": "object", "required": ["digests"], "properties": {"digests": {"type": "array", "items": {"type": "string", "pattern": "^hmac-sha256:[0-9a-f]{32}$"}, "description": "One per value, in order."}}},
        "OrgInfo": {"type": "object", "required": ["name", "revision"], "properties": {"name": name, "revision": {"type": "integer", "minimum": 0}}},
        "OrgList": {"type": "object", "required": ["items"], "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/OrgInfo"}}, "next": {"type": "string"}}},
        "Object": {"type": "object", "required": ["kind", "name", "spec", "managed", "revision"], "properties": {"kind": kind, "name": name, "spec": spec, "managed": {"type": "boolean"}, "revision": {"type": "string", "pattern": "^r[0-9]+$"}}},
        "ObjectList": {"type": "object", "required": ["organization", "revision", "items"], "properties": {"organization": name, "revision": {"type": "integer"}, "items": {"type": "array", "items": {"$ref": "#/components/schemas/Object"}}, "next": {"type": "string", "description": "Cursor of the next page; absent on the last."}}},
        "Grants": {"type": "object", "required": ["revision", "sets", "users", "manual"], "properties": {"revision": {"type": "integer"}, "sets": {"type": "array", "items": {"type": "array", "items": grant}}, "users": {"type": "object", "additionalProperties": {"type": "integer"}}, "manual": {"type": "object", "additionalProperties": {"type": "object", "additionalProperties": name}}}},
        "GrantsBatch": {"type": "object", "additionalProperties": false, "required": ["users"], "properties": {"users": {"type": "object", "description": "Each user's whole rule-made list, by user name.", "propertyNames": name, "additionalProperties": {"type": "array", "items": grant}}, "audit": {"type": "array", "items": audit}}},
        "GrantsPut": {"type": "object", "additionalProperties": false, "required": ["grants"], "properties": {"grants": {"type": "array", "items": grant}}},
        "ManualGrantPut": {"type": "object", "additionalProperties": false, "required": ["role"], "properties": {"role": name}},
        "PutBody": {"type": "object", "additionalProperties": false, "required": ["spec"], "properties": {"spec": spec, "managed": {"type": "boolean", "default": true}, "secrets": {"type": "object", "description": "Secret values by dotted spec path (never logged).", "additionalProperties": {"type": "string"}}, "audit": audit}},
        "DeleteBody": {"type": "object", "additionalProperties": false, "properties": {"audit": audit}},
        "WriteAnswer": {"type": "object", "required": ["revision"], "properties": {"revision": {"type": "integer"}, "objectRevision": {"type": "string"}}},
        "History": {"type": "array", "items": {"type": "object", "required": ["revision", "time", "organization", "changes"], "properties": {"revision": {"type": "integer"}, "time": {"type": "string", "format": "date-time"}, "organization": {"type": "string"}, "changes": {"type": "array", "items": audit}}}},
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
            "code": {"type": "string", "description": "Stable code: malformed_request, uri_too_long, headers_too_large, body_timeout, malformed_json, duplicate_key, invalid_body, invalid_field, invalid_name, invalid_revision, invalid_cursor, invalid_limit, invalid_filter, unknown_parameter, unknown_resource, unsupported_media_type, payload_too_large, unauthorized, forbidden, not_found, no_route, method_not_allowed, precondition_required, precondition_failed, validation_failed, injected_fault, not_ready, internal."},
            "message": {"type": "string"},
            "field": {"type": "string", "description": "The field at fault (`spec.password.minLength`)."},
            "object": {"type": "string", "description": "The object concerned (`user \"alice\"`)."},
            "problems": {"type": "array", "items": {"type": "object", "properties": {"field": {"type": "string"}, "message": {"type": "string"}}}}
        }}}}
    })
}

fn error_text(code: &str) -> &'static str {
    match code {
        "400" => "Bad input (JSON error with the field at fault).",
        "401" => "No valid bearer token.",
        "403" => "The token may only read.",
        "404" => "No such organization or object.",
        "412" => "The object changed since it was read: re-plan.",
        "408" => "The body did not arrive within the server's body timeout.",
        "413" => "The body exceeds the limit.",
        "415" => "The body is not application/json.",
        "422" => "The write breaks a domain rule; `field` names it.",
        "428" => "A precondition is required: a put needs If-None-Match: * (create) or If-Match (replace), a delete If-Match.",
        "429" => "Too many requests; retry after Retry-After.",
        "503" => "Unavailable; retry after Retry-After.",
        _ => "Error.",
    }
}

/// The OpenAPI document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for op in OPS {
        let mut params: Vec<Value> = op
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(path_parameter)
            .collect();
        params.extend(op.query.iter().chain(op.headers).map(|q| parameter(q)));
        let mut responses = Map::new();
        let ok = match op.ok.1 {
            Some(schema) => {
                json!({"description": "OK", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}})
            }
            None => json!({"description": "OK", "content": {"application/json": {}}}),
        };
        // A put guarded by If-None-Match creates: 201.
        if op.headers.contains(&"If-None-Match") {
            let mut created = ok.clone();
            created["description"] = json!("Created");
            responses.insert("201".to_string(), created);
        }
        let mut ok = ok;
        if op.id == "snapshot" {
            ok["headers"] = json!({"X-Orgctl-Max-Body-Size": {"description": "The server's request body limit in bytes: a client plans objects to fit it.", "schema": {"type": "integer", "minimum": 1}}});
        }
        responses.insert(op.ok.0.to_string(), ok);
        for code in op.errors {
            responses.insert(
                code.to_string(),
                json!({"description": error_text(code), "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}),
            );
        }
        let mut operation = json!({
            "operationId": op.id,
            "summary": op.summary,
            "responses": responses,
        });
        if !params.is_empty() {
            operation["parameters"] = Value::Array(params);
        }
        if let Some(body) = op.body {
            operation["requestBody"] = json!({"required": op.method != "delete", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{body}")}}}});
        }
        if !op.auth {
            operation["security"] = json!([]);
        }
        let entry = paths.entry(op.path.to_string()).or_insert_with(|| json!({}));
        entry[op.method] = operation;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "orgctl directory API",
            "version": "v1",
            "description": format!("The orgctl directory served by `orgctl serve`. Bearer-token auth on /v1. Objects carry revisions (`r12`); every object write needs a precondition (put: If-None-Match: * to create or If-Match: \"r12\" to replace; delete: If-Match: \"r12\" or *), answers 428 without one and 412 when it no longer holds. Every error answer is JSON (`Error`), 404/405 of unknown routes and 400/414/431 of unparseable requests included. Bodies are JSON, at most {} unless the server was started with `--max-body-size` (the snapshot's `X-Orgctl-Max-Body-Size` and `maxBodySize` of /v1/capabilities say); pages hold at most {MAX_PAGE} items.", bytes_text(MAX_BODY)),
        },
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas(),
        },
    })
}

/// Every documented operation as `(METHOD, path template)`, for tests.
pub fn operations() -> Vec<(&'static str, &'static str)> {
    OPS.iter().map(|o| (o.method, o.path)).collect()
}
