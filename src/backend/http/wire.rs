//! The JSON bodies of the directory's REST API (`/v1`), shared by the
//! server (`orgctl serve`) and the client backend so the two cannot drift.
//! Field names are camelCase; unknown fields in request bodies are errors.
//! Nothing here does I/O.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::backend::{AuditChange, RuleGrant};
use crate::model::{Kind, Name};

/// The API's path prefix.
pub const PREFIX: &str = "/v1";
/// Largest page a list may ask for.
pub const MAX_PAGE: usize = 5000;
/// Page size when a list does not say.
pub const DEFAULT_PAGE: usize = 500;
/// Largest `limit` of the audit history.
pub const MAX_HISTORY: usize = 1000;
/// History entries when a request does not say.
pub const DEFAULT_HISTORY: usize = 20;
/// Largest request body the server reads unless started with another
/// (`serve --max-body-size`); it advertises its own in [`MAX_BODY_HEADER`].
pub const MAX_BODY: usize = 4 * 1024 * 1024;
/// Response header of the snapshot pages: the server's body limit in bytes,
/// which the client's plan-time size check follows.
pub const MAX_BODY_HEADER: &str = "x-orgctl-max-body-size";
/// Most values one `POST …/secret-digests` may carry.
pub const MAX_DIGEST_VALUES: usize = 1000;

/// A byte count as people read it: `4 MiB`, `96 KiB`, `1000 bytes`.
pub fn bytes_text(n: usize) -> String {
    const KIB: usize = 1024;
    if n >= KIB * KIB && n.is_multiple_of(KIB * KIB) {
        format!("{} MiB", n / (KIB * KIB))
    } else if n >= KIB && n.is_multiple_of(KIB) {
        format!("{} KiB", n / KIB)
    } else {
        format!("{n} bytes")
    }
}
/// Response header carrying the organization's revision after a read or write.
pub const REVISION_HEADER: &str = "x-orgctl-revision";

/// The kind of a resource path segment (a kind's plural, `security-policies`).
pub fn kind_of(resource: &str) -> Option<Kind> {
    Kind::ALL.into_iter().find(|k| k.plural() == resource)
}

/// An object's revision as an entity tag value (`"r12"`, quotes included).
pub fn etag(fingerprint: &str) -> String {
    format!("\"{fingerprint}\"")
}

/// The fingerprint in an `If-Match` value (`"r12"` or `r12`), if it is one.
pub fn parse_etag(value: &str) -> Option<String> {
    let v = value.trim();
    let v = v.strip_prefix("W/").unwrap_or(v);
    let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v);
    let digits = v.strip_prefix('r')?;
    if digits.is_empty() || digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok().map(|n| format!("r{n}"))
}

/// A page cursor: the last key of the page (`Kind/name`).
pub fn cursor_of(kind: Kind, name: &Name) -> String {
    format!("{}/{}", kind.as_str(), name.as_str())
}

/// Parses a cursor made by [`cursor_of`].
pub fn parse_cursor(text: &str) -> Option<(Kind, Name)> {
    let (kind, name) = text.split_once('/')?;
    Some((kind.parse().ok()?, name.parse().ok()?))
}

/// An object as the API shows it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireObject {
    /// Its kind.
    pub kind: Kind,
    /// Its name.
    pub name: Name,
    /// Its stored spec (secret fields as `{digest}` only).
    pub spec: Box<RawValue>,
    /// The ownership marker.
    pub managed: bool,
    /// The object's revision (its fingerprint, `r12`).
    pub revision: String,
}

/// A page of objects (a snapshot page or a per-kind listing).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectList {
    /// The organization.
    pub organization: Name,
    /// The organization's revision the page was read at.
    pub revision: u64,
    /// The objects in key order.
    pub items: Vec<WireObject>,
    /// Cursor of the next page (`after=`), absent on the last one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// An organization and its revision.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrgInfo {
    /// The organization's name.
    pub name: Name,
    /// Its revision.
    pub revision: u64,
}

/// A page of organizations.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrgList {
    /// The organizations in name order.
    pub items: Vec<OrgInfo>,
    /// Cursor of the next page, absent on the last one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// The app assignments materialized for an organization's users.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GrantsBody {
    /// The organization's revision they were read at.
    pub revision: u64,
    /// Distinct rule-made lists.
    pub sets: Vec<Vec<RuleGrant>>,
    /// User → index into `sets`.
    pub users: BTreeMap<Name, u32>,
    /// Hand-made grants: user → app → app role.
    pub manual: BTreeMap<Name, BTreeMap<Name, Name>>,
}

/// What the backend can express.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CapabilitiesBody {
    /// `Kind` and dotted spec path of each field the backend cannot hold.
    pub unsupported: Vec<(Kind, String)>,
    /// False: each write commits on its own.
    pub transactional: bool,
    /// Largest page size.
    pub max_page: usize,
    /// Largest request body the server reads, in bytes.
    pub max_body_size: usize,
}

/// Body of `POST /v1/orgs/{org}/secret-digests`: secret values (at most
/// [`MAX_DIGEST_VALUES`]) to digest with the directory's key. No `Debug`:
/// it holds values.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DigestsRequest {
    /// The values.
    pub values: Vec<String>,
}

/// Answer of `POST …/secret-digests`: one keyed digest per value, in order.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DigestsAnswer {
    /// `hmac-sha256:…`, as the snapshot's secret fields hold them.
    pub digests: Vec<String>,
}

/// Answer of `GET /v1/whoami`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WhoamiBody {
    /// The caller's address as the server sees it.
    pub address: String,
}

/// Body of `PUT …/{resource}/{name}`: the object to store.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PutBody {
    /// The full spec (secret fields as `{digest}` only).
    pub spec: serde_json::Value,
    /// Ownership marker (default true: orgctl manages what it writes).
    #[serde(default = "yes")]
    pub managed: bool,
    /// Secret values by dotted spec path; each must match its field's digest.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, String>,
    /// What the audit log records (already redacted); a generic one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<AuditChange>,
}

fn yes() -> bool {
    true
}

/// Body of `DELETE …/{resource}/{name}` (optional).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteBody {
    /// What the audit log records (already redacted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<AuditChange>,
}

/// Body of `PUT /v1/orgs/{org}/grants`: the whole rule-made lists of many
/// users, written in one transaction.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GrantsBatch {
    /// Each user's list, sorted by app (empty: remove them all).
    pub users: BTreeMap<Name, Vec<RuleGrant>>,
    /// What the audit log records with them (the apply's `assign` summary).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audit: Vec<AuditChange>,
}

/// Most users per `PUT /v1/orgs/{org}/grants` the client sends.
pub const GRANTS_BATCH: usize = 2000;
/// Most grants per `PUT /v1/orgs/{org}/grants` the client sends: about 60
/// bytes each as JSON, so a batch stays near 1 MiB, far below [`MAX_BODY`].
pub const GRANTS_BATCH_GRANTS: usize = 16_000;

/// Body of `PUT …/users/{name}/grants`: the user's whole rule-made list.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GrantsPut {
    /// The list, sorted by app (empty: remove them all).
    pub grants: Vec<RuleGrant>,
}

/// Body of `PUT …/users/{name}/manual-grants/{app}`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ManualGrantPut {
    /// The app role.
    pub role: Name,
}

/// What a write answers.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WriteAnswer {
    /// The organization's revision after the write.
    pub revision: u64,
    /// The object's new revision (absent after a delete or a grant write).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_revision: Option<String>,
}

/// An error answer: `{"error": {...}}`.
#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong, with a stable code.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetail {
    /// Stable, machine-readable code (`precondition_failed`, `validation_failed`…).
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
    /// The field at fault (`spec.password.minLength`), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The object concerned (`user "alice"`), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// Every problem, for a write that breaks several rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Problem>,
}

/// One broken rule of a rejected write.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// The field path.
    pub field: String,
    /// The rule broken.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_round_trip_and_reject_garbage() {
        assert_eq!(parse_etag("\"r12\"").as_deref(), Some("r12"));
        assert_eq!(parse_etag("W/\"r3\"").as_deref(), Some("r3"));
        assert_eq!(parse_etag("r7").as_deref(), Some("r7"));
        for bad in [
            "",
            "\"\"",
            "\"12\"",
            "\"r\"",
            "\"r-1\"",
            "\"r1x\"",
            "\"r99999999999999999999999\"",
        ] {
            assert_eq!(parse_etag(bad), None, "{bad}");
        }
    }

    #[test]
    fn every_kind_has_a_resource() {
        for k in Kind::ALL {
            assert_eq!(kind_of(k.plural()), Some(k));
        }
        let name: Name = "alice".parse().expect("name");
        assert_eq!(
            parse_cursor(&cursor_of(Kind::User, &name)),
            Some((Kind::User, name))
        );
        assert_eq!(parse_cursor("User/../etc"), None);
    }
}
