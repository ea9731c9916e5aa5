//! The backend boundary: the only place that knows a live directory's wire
//! format. A backend gives a snapshot of one organization in a few list reads,
//! takes primitive writes, keeps the ownership markers and the audit log, and
//! declares what it cannot hold. The engine sees nothing else of it.
//! [`asof`] rebuilds an organization as it was at a past time from a
//! snapshot and the audit log (which records each object's spec before).

pub mod asof;
pub mod http;
pub mod kanidm;
pub mod keycloak;
mod remote;
pub mod sqlite;

use std::collections::BTreeMap;

pub use crate::json_text::JsonText;
use serde::{Deserialize, Serialize};

use crate::model::{DigestKey, Kind, Name, SecretValue, Spec};

/// A live object as a backend holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveObject {
    /// The object's spec as stored (secrets as `{digest}` only).
    pub spec: Spec,
    /// True when orgctl created or adopted it (the ownership marker).
    pub managed: bool,
    /// Changes whenever the object is written (staleness checks compare it).
    pub fingerprint: String,
}

/// A rule-made grant list, shared by every user and write that has it.
pub type GrantList = std::sync::Arc<[RuleGrant]>;

/// An app a rule gives a user, as the backend holds it (materialized).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RuleGrant {
    /// The app.
    pub app: Name,
    /// The app role.
    pub role: Name,
    /// The AppAssignment rule that made the grant.
    pub rule: Name,
}

/// The app assignments materialized in a backend for one organization.
/// Rule-made lists are stored shared: many users hold the same list, so a
/// snapshot carries each distinct list once.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LiveGrants {
    /// Distinct rule-made grant lists, each sorted by app.
    pub sets: Vec<Vec<RuleGrant>>,
    /// Users holding rule-made grants → their list (an index into `sets`).
    pub users: BTreeMap<Name, u32>,
    /// Grants an admin made by hand: user → app → app role. A plan never
    /// writes these; on an app a user holds both ways, the hand-made role wins.
    pub manual: BTreeMap<Name, BTreeMap<Name, Name>>,
}

impl LiveGrants {
    /// The rule-made grants of `user` (empty when it holds none).
    pub fn of_user(&self, user: &str) -> &[RuleGrant] {
        self.users
            .get(user)
            .and_then(|s| self.sets.get(*s as usize))
            .map_or(&[], Vec::as_slice)
    }

    /// Number of rule-made (user, app) grants.
    pub fn rule_grant_count(&self) -> usize {
        self.users
            .values()
            .map(|s| self.sets.get(*s as usize).map_or(0, Vec::len))
            .sum()
    }
}

/// A snapshot of one organization.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LiveOrg {
    /// The organization's name.
    pub organization: Option<Name>,
    /// The organization's revision: moves only when something of it is written.
    pub revision: u64,
    /// Every object of the organization, the Organization object included.
    pub objects: BTreeMap<(Kind, Name), LiveObject>,
    /// The app assignments materialized for its users.
    pub grants: LiveGrants,
}

impl LiveOrg {
    /// Looks an object up by kind and name.
    pub fn get(&self, kind: Kind, name: &Name) -> Option<&LiveObject> {
        self.objects.get(&(kind, name.clone()))
    }
}

/// Something a backend cannot hold: a whole kind, a field, or one value of
/// a field. Setting it in the files is a plan error that names the object,
/// the field, the backend and `reason` — never a silent drop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    /// The kind concerned.
    pub kind: Kind,
    /// Dotted spec path; empty for the whole kind.
    pub path: &'static str,
    /// `Some(v)`: only this value of the field (its JSON text, e.g. `"saml"`)
    /// is out of reach; `None`: any value.
    pub value: Option<&'static str>,
    /// Why, in the backend's terms.
    pub reason: &'static str,
}

impl Gap {
    /// A field the backend cannot hold, whatever its value.
    pub const fn field(kind: Kind, path: &'static str, reason: &'static str) -> Gap {
        Gap {
            kind,
            path,
            value: None,
            reason,
        }
    }

    /// One value of a field the backend cannot hold.
    pub const fn value(kind: Kind, path: &'static str, value: &'static str, reason: &'static str) -> Gap {
        Gap {
            kind,
            path,
            value: Some(value),
            reason,
        }
    }
}

/// A gap found by a backend's own check of the desired objects (rules that
/// span objects or look inside a value, such as a group under two parents).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GapFound {
    /// The object's kind.
    pub kind: Kind,
    /// The object's name.
    pub name: Name,
    /// Dotted spec path.
    pub path: String,
    /// Why the backend cannot hold it.
    pub reason: String,
}

/// The function of a [`DesiredCheck`].
type CheckFn = dyn Fn(&mut dyn Iterator<Item = (Kind, &Name, &Spec)>) -> Vec<GapFound> + Send + Sync;

/// A backend's check over one organization's desired objects; it may hold
/// what the backend learnt from the server (the http backend's body limit).
#[derive(Clone)]
pub struct DesiredCheck(std::sync::Arc<CheckFn>);

impl DesiredCheck {
    /// A check running `f`.
    pub fn new(
        f: impl Fn(&mut dyn Iterator<Item = (Kind, &Name, &Spec)>) -> Vec<GapFound> + Send + Sync + 'static,
    ) -> Self {
        DesiredCheck(std::sync::Arc::new(f))
    }

    /// Runs the check over `objects`.
    pub fn run(&self, objects: &mut dyn Iterator<Item = (Kind, &Name, &Spec)>) -> Vec<GapFound> {
        (self.0)(objects)
    }
}

impl std::fmt::Debug for DesiredCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DesiredCheck")
    }
}

/// How strongly a backend guards its writes against concurrent changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Preconditions {
    /// The server checks each write's expected fingerprint or revision itself.
    #[default]
    ServerEnforced,
    /// The backend reads the object just before writing and compares; a
    /// change in between the two requests can still slip through.
    ReadCheckWrite,
    /// No check at write time: a change made after the plan's snapshot is
    /// overwritten (saved plans are still refused when anything moved).
    None,
}

/// How a backend combines the security policies that apply to one user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PolicyCombination {
    /// One policy applies: the first matching one by priority, else the default.
    #[default]
    Priority,
    /// Every matching policy and the default apply, each setting at its
    /// strictest value among them (Kanidm's account policy).
    Strictest,
}

/// What a backend can express.
#[derive(Debug, Clone, Default)]
pub struct Capabilities {
    /// What this backend cannot hold; setting one is a plan error.
    pub gaps: Vec<Gap>,
    /// The backend's own check of the desired objects, if it has rules the
    /// field list cannot say.
    pub check: Option<DesiredCheck>,
    /// True when a whole write request commits or rolls back as one.
    pub transactional: bool,
    /// True when the backend keeps an organization revision (staleness
    /// checks compare it); otherwise only fingerprints are compared.
    pub revisions: bool,
    /// How writes are guarded against concurrent changes.
    pub preconditions: Preconditions,
    /// `None` when the backend keeps an audit log of orgctl's writes;
    /// otherwise why `history` has nothing to show.
    pub no_history: Option<&'static str>,
    /// How the policies that apply to a user combine.
    pub policies: PolicyCombination,
}

/// One primitive write.
// Puts dominate and are built one per change, so boxing the spec buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Write {
    /// Create or replace an object's stored spec.
    Put {
        /// Kind of the object.
        kind: Kind,
        /// Name of the object.
        name: Name,
        /// The full spec to store (secret fields as `{digest}`).
        spec: Spec,
        /// Secret values by dotted spec path, stored apart from the spec.
        secrets: BTreeMap<String, SecretValue>,
        /// Ownership marker to store.
        managed: bool,
        /// Fingerprint the object must still have; `None`: it must not exist.
        expected: Option<String>,
        /// The spec paths the plan changes (dotted, as in the plan), so a
        /// backend with separate endpoints per part writes only those;
        /// `None`: the whole object (a create, a replace, a write by hand).
        changed: Option<Vec<String>>,
    },
    /// Delete an object; an object already gone is success.
    Delete {
        /// Kind of the object.
        kind: Kind,
        /// Name of the object.
        name: Name,
        /// Fingerprint the object must still have, if it exists.
        expected: Option<String>,
    },
    /// Replace the rule-made grants of one existing user (empty: remove
    /// them all). Hand-made grants are not touched.
    Grants {
        /// The user.
        user: Name,
        /// The user's whole rule-made list, sorted by app (shared: many
        /// users get the same list).
        grants: GrantList,
    },
    /// Make (`role: Some`) or remove (`None`) a grant by hand, as an admin
    /// would in the backend's console. Plans never produce this.
    ManualGrant {
        /// The user.
        user: Name,
        /// The app.
        app: Name,
        /// The app role, or `None` to remove the grant.
        role: Option<Name>,
    },
}

impl Write {
    /// Kind and name of the object written (a grant writes to its user).
    pub fn target(&self) -> (Kind, &Name) {
        match self {
            Write::Put { kind, name, .. } | Write::Delete { kind, name, .. } => (*kind, name),
            Write::Grants { user, .. } | Write::ManualGrant { user, .. } => (Kind::User, user),
        }
    }
}

/// One change as recorded in the audit log (secrets already redacted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditChange {
    /// Kind of the object.
    pub kind: Kind,
    /// Name of the object.
    pub name: String,
    /// create, update, replace, delete.
    pub action: String,
    /// The changed fields before (absent on create).
    pub before: Option<JsonText>,
    /// The changed fields after (absent on delete).
    pub after: Option<JsonText>,
    /// The object's whole stored spec just before the request, secret fields
    /// as [`crate::model::SENSITIVE`]; `null` when the object did not exist. Filled in by
    /// the backend when it writes the entry (callers leave it `None`), so a
    /// change can be undone exactly ([`asof`]). `None` (absent in the JSON)
    /// in entries recorded before backends kept it.
    #[serde(
        rename = "specBefore",
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub spec_before: Option<Option<serde_json::Value>>,
}

/// Reads a field that is present (even as `null`) as `Some`; an absent field
/// takes the `default` (`None`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<serde_json::Value>>, D::Error> {
    Option::<serde_json::Value>::deserialize(d).map(Some)
}

/// One applied write request as the audit log shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Backend revision the apply produced.
    pub revision: u64,
    /// RFC 3339 time of the apply.
    pub time: String,
    /// The organization written.
    pub organization: String,
    /// Each change.
    pub changes: Vec<AuditChange>,
}

/// A batch of writes to one organization.
#[derive(Debug, Clone)]
pub struct WriteRequest {
    /// The organization written.
    pub organization: Name,
    /// The organization revision the plan was made against.
    pub expected_revision: u64,
    /// The writes, in execution order.
    pub writes: Vec<Write>,
    /// What the audit log records for this request (redacted by the caller;
    /// the backend adds each change's `spec_before`).
    pub audit: Vec<AuditChange>,
}

/// What a write request achieved.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteOutcome {
    /// The organization's revision afterwards.
    pub revision: u64,
    /// Per write, in order: `Ok` or the reason it failed.
    pub results: Vec<Result<(), String>>,
}

/// Failures of a backend.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The backend address could not be understood.
    #[error("invalid backend {0:?}: expected sqlite:PATH, http(s)://HOST:PORT, keycloak+http(s)://HOST[:PORT][/PATH] or kanidm+https://HOST[:PORT]")]
    InvalidAddress(String),
    /// The backend's settings are unusable (token, CA file, TLS options).
    #[error("{0}")]
    Config(String),
    /// A remote backend refused or failed a request (the message names it;
    /// it never holds a token).
    #[error("{0}")]
    Remote(String),
    /// A remote backend did not answer (down, unreachable, connection cut):
    /// every later request would fail the same way.
    #[error("{0}")]
    Unavailable(String),
    /// The store could not be opened or read.
    #[error("failed to open {path}")]
    Open {
        /// The store's path.
        path: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The store is newer than this orgctl understands.
    #[error("{path} has schema version {found}; this orgctl understands up to {supported}: upgrade orgctl")]
    SchemaTooNew {
        /// The store's path.
        path: String,
        /// Version found.
        found: u32,
        /// Highest version understood.
        supported: u32,
    },
    /// Someone changed an object after the snapshot the plan was made from.
    #[error("conflict on {object}: {reason}; re-run plan")]
    Conflict {
        /// The object (`user "alice"`).
        object: String,
        /// What changed.
        reason: String,
    },
    /// A stored object could not be read back.
    #[error("stored {object} is unreadable: {message}")]
    Corrupt {
        /// The object.
        object: String,
        /// Why.
        message: String,
    },
    /// Any other storage failure.
    #[error("storage failure")]
    Storage(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A live identity backend.
pub trait Backend {
    /// Address shown to people (`sqlite:.orgctl/directory.db`).
    fn describe(&self) -> String;
    /// What this backend can express.
    fn capabilities(&self) -> Capabilities;
    /// Names of the organizations the backend holds.
    fn organizations(&self) -> Result<Vec<Name>, BackendError>;
    /// Every object of one organization, in a few list reads.
    fn snapshot(&self, organization: &Name) -> Result<LiveOrg, BackendError>;
    /// Applies a batch; `progress` is called with the count of writes done.
    fn write(
        &mut self,
        request: WriteRequest,
        progress: &mut dyn FnMut(usize),
    ) -> Result<WriteOutcome, BackendError>;
    /// The newest audit entries first, optionally of one organization. Each
    /// change carries `spec_before`, recorded by the backend's `write`.
    fn history(&self, organization: Option<&Name>, limit: usize) -> Result<Vec<AuditEntry>, BackendError>;
    /// The keyed digests of `values` (in order) as this backend's snapshots
    /// of `organization` report them, so a plan compares without the backend
    /// ever giving out its key. Values are never logged.
    fn secret_digests(
        &self,
        organization: &Name,
        values: &[&SecretValue],
    ) -> Result<Vec<String>, BackendError>;
    /// The caller's own addresses as the backend sees them (a sign-in from
    /// this machine would come from them), for the lockout guards; empty
    /// when the backend cannot tell (a local file has no network side).
    fn client_addresses(&self) -> Vec<std::net::IpAddr> {
        Vec::new()
    }
}

/// A new secret-digest key from the operating system's random source.
///
/// # Panics
/// When the system has no random source: no backend could keep a key then.
#[must_use]
pub fn random_digest_key() -> DigestKey {
    use ring::rand::SecureRandom;
    let mut key = [0u8; DigestKey::LEN];
    ring::rand::SystemRandom::new()
        .fill(&mut key)
        .expect("the operating system's random source failed");
    DigestKey::from_bytes(&key).expect("a key of DigestKey::LEN bytes")
}

/// A process's own digest key, for backends that read secrets in clear (no
/// stored digest): digests of one process compare with each other only.
pub fn process_digest_key() -> &'static DigestKey {
    static KEY: std::sync::OnceLock<DigestKey> = std::sync::OnceLock::new();
    KEY.get_or_init(random_digest_key)
}

/// Opens a backend from its address (`sqlite:PATH`, `http(s)://HOST:PORT`
/// with client settings from the environment).
pub fn open(address: &str) -> Result<Box<dyn Backend>, BackendError> {
    if address.starts_with("http://") || address.starts_with("https://") {
        return open_with(address, &http::HttpOptions::from_env()?);
    }
    open_with(address, &http::HttpOptions::default())
}

/// Opens a backend from its address, with explicit settings for `http(s)://`.
pub fn open_with(address: &str, options: &http::HttpOptions) -> Result<Box<dyn Backend>, BackendError> {
    if address.starts_with("keycloak+") {
        return Ok(Box::new(keycloak::KeycloakBackend::open(address)?));
    }
    if address.starts_with("kanidm+") {
        return Ok(Box::new(kanidm::KanidmBackend::open(address)?));
    }
    if address.starts_with("http://") || address.starts_with("https://") {
        return Ok(Box::new(http::HttpBackend::open(address, options)?));
    }
    match address.split_once(':') {
        Some(("sqlite", path)) if !path.is_empty() => Ok(Box::new(sqlite::SqliteBackend::open(path)?)),
        _ => Err(BackendError::InvalidAddress(address.to_string())),
    }
}

/// How the backend at `address` combines policies, known from the address
/// alone (so `explain -f` predicts what that backend would enforce).
pub fn policy_combination_of(address: &str) -> PolicyCombination {
    if address.starts_with("kanidm+") {
        PolicyCombination::Strictest
    } else {
        PolicyCombination::Priority
    }
}

/// The default backend address.
pub const DEFAULT_ADDRESS: &str = "sqlite:.orgctl/directory.db";
