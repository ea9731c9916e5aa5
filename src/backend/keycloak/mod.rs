//! The `keycloak+http(s)://HOST[:PORT][/PATH]` backend: an organization is a
//! Keycloak realm of the same name. Keycloak is a system orgctl does not own,
//! so it is the source of truth: reads map what it holds onto the model
//! (`read.rs`), writes change only what the plan changes and keep every
//! field of Keycloak's JSON they do not know (`write.rs`), app access and MFA
//! are enforced through authentication flows (`flows.rs`), and what Keycloak
//! cannot hold is a plan error with the reason (`mapping.rs`).
//!
//! Where orgctl keeps its own facts in Keycloak (ownership, the parts of a
//! spec Keycloak has no field for) it uses attributes named `orgctl.io/…`.

pub mod client;
mod flows;
pub mod mapping;
mod read;
mod wave;
mod write;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::backend::{
    AuditEntry, Backend, BackendError, Capabilities, LiveOrg, Preconditions, WriteOutcome, WriteRequest,
};
use crate::model::{DigestKey, Name, SecretValue};
pub use client::Credentials;

/// Ownership marker (`"true"`) on users, groups, clients, roles, IdPs and the realm.
pub const MANAGED: &str = "orgctl.io/managed";
/// Which kind a realm role or group stands for (`Role`, `RoleBinding`, `AppAssignment`).
const KIND_ATTR: &str = "orgctl.io/kind";
/// The parts of a spec Keycloak has no field for, as JSON.
const SPEC_ATTR: &str = "orgctl.io/spec";
/// The realm's organization fields Keycloak has no field for, as JSON.
const ORG_ATTR: &str = "orgctl.io/organization";
/// The realm attribute naming the super admin.
const SUPER_ADMIN_ATTR: &str = "orgctl.io/super-admin";
/// The realm attribute naming the default security policy.
const POLICY_ATTR: &str = "orgctl.io/policy";
/// The realm attribute saying whether orgctl requires OTP of everyone.
const MFA_ATTR: &str = "orgctl.io/mfa-required";
/// A client's application name when its clientId is not (SAML entity ids).
const NAME_ATTR: &str = "orgctl.io/name";
/// A client's application type (`oidc`, `catalog`).
const TYPE_ATTR: &str = "orgctl.io/type";
/// The digest of an identity provider's client secret (Keycloak masks the value).
const SECRET_DIGEST: &str = "orgctl.io/secret-digest";
/// The realm attribute holding the key of its secret digests (hex), made at
/// the first identity-provider secret orgctl writes to the realm.
const DIGEST_KEY_ATTR: &str = "orgctl.io/secret-digest-key";
/// The top-level group holding one group per AppAssignment rule.
const CONTAINER: &str = "orgctl-assignments";
/// The top-level group holding one group per distinct rule-made grant list.
const GRANTS: &str = "orgctl-grants";
/// A grant group's list (rule, app, role) as JSON pieces.
const GRANTS_ATTR: &str = "orgctl.io/grants";
/// Realm role name prefix of a grant list: a composite of the list's app roles.
const GRANTS_PREFIX: &str = "grants:";
/// Realm role name prefix of custom admin roles.
const ROLE_PREFIX: &str = "role:";
/// Realm role name prefix of role bindings.
const BINDING_PREFIX: &str = "binding:";
/// The client role every app role includes; the access flows check it.
const ACCESS_ROLE: &str = "orgctl-access";
/// Clients Keycloak makes in every realm: not applications of the organization.
const BUILTIN_CLIENTS: &[&str] = &[
    "account",
    "account-console",
    "admin-cli",
    "broker",
    "realm-management",
    "security-admin-console",
];

/// The name of the realm-wide policy when the realm names none.
fn default_policy_name() -> Name {
    "default"
        .parse()
        .unwrap_or_else(|_| unreachable!("\"default\" is a valid name"))
}

/// The binding that stands for the realm-admin holders of a realm orgctl
/// does not manage yet.
fn realm_admins_binding() -> Name {
    "realm-admins"
        .parse()
        .unwrap_or_else(|_| unreachable!("\"realm-admins\" is a valid name"))
}

/// Attributes of a Keycloak representation as name → values.
fn attrs_of(v: &Value) -> BTreeMap<String, Vec<String>> {
    v.get("attributes")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let vals = match v {
                        Value::Array(a) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
                        Value::String(s) => vec![s.clone()],
                        _ => Vec::new(),
                    };
                    (k.clone(), vals)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Longest piece of a long attribute value: Keycloak keeps group and role
/// attribute values in 255-character columns.
const PIECE: usize = 240;

/// A long text as attribute values `"000:…"`, `"001:…"` (the server does
/// not keep the order of an attribute's values, so each piece says where it goes).
fn pieces(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars
        .chunks(PIECE)
        .enumerate()
        .map(|(i, c)| format!("{i:03}:{}", c.iter().collect::<String>()))
        .collect()
}

/// The text [`pieces`] split, from the attribute's values in any order.
fn joined(values: &[String]) -> String {
    let mut parts: Vec<(&str, &str)> = values.iter().filter_map(|v| v.split_once(':')).collect();
    parts.sort();
    parts.into_iter().map(|(_, p)| p).collect()
}

/// The first value of an attribute.
fn attr<'a>(attrs: &'a BTreeMap<String, Vec<String>>, name: &str) -> Option<&'a str> {
    attrs.get(name).and_then(|v| v.first()).map(String::as_str)
}

fn is_managed(attrs: &BTreeMap<String, Vec<String>>) -> bool {
    attr(attrs, MANAGED) == Some("true")
}

/// A group's Keycloak id and parent.
#[derive(Debug, Clone, Default)]
struct GroupRef {
    id: String,
    parent: Option<String>,
}

/// A client's Keycloak ids.
#[derive(Debug, Clone, Default)]
struct ClientRef {
    uuid: String,
    client_id: String,
    /// Role name → id (the access role excluded).
    roles: BTreeMap<String, String>,
    /// The id of the access role, once made.
    access_role: Option<String>,
}

/// A grant group: one per distinct rule-made list, its members the users
/// holding exactly that list.
#[derive(Debug, Clone, Default)]
struct GrantGroup {
    id: String,
    /// Users in it.
    members: usize,
    /// True when its realm role or the role's composites differ from its
    /// list (changed behind orgctl's back): the next write to it repairs them.
    damaged: bool,
}

/// A grant list as its group's attribute holds it (sorted, so equal lists
/// read back equal and hash alike).
fn grants_text(list: &[crate::backend::RuleGrant]) -> String {
    let mut sorted = list.to_vec();
    sorted.sort();
    serde_json::to_string(&sorted).unwrap_or_default()
}

/// The key of a rule-made grant list: its grant group's name and the suffix
/// of its realm role (a content hash, so equal lists share one group).
fn grant_key(list: &[crate::backend::RuleGrant]) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(grants_text(list).as_bytes());
    digest[..12].iter().map(|b| format!("{b:02x}")).collect()
}

/// The Keycloak ids a write needs, from the last snapshot, kept up to date
/// as writes create and delete.
#[derive(Debug, Clone, Default)]
struct Index {
    users: BTreeMap<Name, String>,
    groups: BTreeMap<Name, GroupRef>,
    group_members: BTreeMap<Name, BTreeSet<Name>>,
    clients: BTreeMap<Name, ClientRef>,
    /// AppAssignment rule → its group id.
    rules: BTreeMap<Name, String>,
    container: Option<String>,
    grant_container: Option<String>,
    /// Grant list key → its group.
    grant_groups: BTreeMap<String, GrantGroup>,
    /// User → the key of the grant group it is in.
    grant_of: BTreeMap<Name, String>,
    realm_roles: BTreeMap<String, String>,
    realm_management: Option<String>,
    realm_management_roles: BTreeMap<String, String>,
    idps: BTreeSet<Name>,
    policy: Option<Name>,
    mfa_required: bool,
    /// True once the realm exists.
    exists: bool,
    /// True once the user profile keeps attributes orgctl writes.
    profile_ready: bool,
    /// The realm's digest key ([`DIGEST_KEY_ATTR`]), if it has one.
    digest_key: Option<DigestKey>,
}

/// The key a realm's digests are made with: its own when it has one, else
/// this process's (client secrets are read in clear and digested on each
/// read, so any key compares; identity-provider digests stored without the
/// realm's key match no value and are rewritten once, with it).
fn digest_key_of(index_key: Option<&DigestKey>) -> &DigestKey {
    index_key.unwrap_or_else(|| crate::backend::process_digest_key())
}

/// A Keycloak server reached through its admin API.
pub struct KeycloakBackend {
    client: client::Client,
    address: String,
    indexes: crate::backend::remote::IndexCache<Index>,
}

impl KeycloakBackend {
    /// Opens `keycloak+http(s)://HOST[:PORT][/PATH]` with credentials from
    /// the environment.
    pub fn open(address: &str) -> Result<KeycloakBackend, BackendError> {
        KeycloakBackend::open_with(address, Credentials::from_env()?)
    }

    /// Opens `address` with explicit credentials.
    pub fn open_with(address: &str, credentials: Credentials) -> Result<KeycloakBackend, BackendError> {
        let base = address
            .strip_prefix("keycloak+")
            .filter(|b| b.starts_with("http://") || b.starts_with("https://"))
            .filter(|b| {
                b.split("://")
                    .nth(1)
                    .is_some_and(|h| !h.is_empty() && !h.starts_with('/'))
            })
            .ok_or_else(|| BackendError::InvalidAddress(address.to_string()))?;
        Ok(KeycloakBackend {
            client: client::Client::new(base, credentials)?,
            address: address.trim_end_matches('/').to_string(),
            indexes: Default::default(),
        })
    }

    /// Requests sent to Keycloak so far (for benchmarks and tests).
    pub fn requests(&self) -> usize {
        self.client.requests()
    }

    fn snapshot_indexed(&self, organization: &Name) -> Result<(LiveOrg, Index), BackendError> {
        match read::snapshot(&self.client, organization)? {
            Some((live, mut index)) => {
                index.exists = true;
                Ok((live, index))
            }
            None => Ok((LiveOrg::default(), Index::default())),
        }
    }
}

impl Backend for KeycloakBackend {
    fn describe(&self) -> String {
        self.address.clone()
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            gaps: mapping::GAPS.to_vec(),
            check: Some(crate::backend::DesiredCheck::new(mapping::check)),
            transactional: false,
            revisions: false,
            preconditions: Preconditions::None,
            no_history: Some(
                "Keycloak keeps no audit log of orgctl's writes; its own admin events (Realm settings → Events → Admin events, when enabled) record every change",
            ),
            ..Capabilities::default()
        }
    }

    fn organizations(&self) -> Result<Vec<Name>, BackendError> {
        let list = self.client.get("", "realms")?;
        let mut names: Vec<Name> = list
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r.get("realm").and_then(Value::as_str))
            .filter_map(|r| r.parse().ok())
            .collect();
        names.sort();
        Ok(names)
    }

    fn snapshot(&self, organization: &Name) -> Result<LiveOrg, BackendError> {
        let (live, index) = self.snapshot_indexed(organization)?;
        self.indexes.keep(organization, index);
        Ok(live)
    }

    fn write(
        &mut self,
        request: WriteRequest,
        progress: &mut dyn FnMut(usize),
    ) -> Result<WriteOutcome, BackendError> {
        let cached = self.indexes.take(&request.organization);
        let index = match cached {
            Some(i) => i,
            None => self.snapshot_indexed(&request.organization)?.1,
        };
        let mut writer = write::Writer::new(&self.client, request.organization.clone(), index);
        let results = writer.run(&request.writes, progress);
        // The index is not trusted past an apply: the next write reads again.
        Ok(WriteOutcome { revision: 0, results })
    }

    fn history(&self, _organization: Option<&Name>, _limit: usize) -> Result<Vec<AuditEntry>, BackendError> {
        Ok(Vec::new())
    }

    /// With the key the last snapshot found in the realm (read again when
    /// there was none of this realm).
    fn secret_digests(
        &self,
        organization: &Name,
        values: &[&SecretValue],
    ) -> Result<Vec<String>, BackendError> {
        let cached = self.indexes.peek(organization, |i| i.digest_key.clone());
        let key = match cached {
            Some(k) => k,
            None => read::realm_digest_key(&self.client, organization)?,
        };
        let key = digest_key_of(key.as_ref());
        Ok(values.iter().map(|v| key.digest(v)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        Credentials::Client {
            realm: "master".into(),
            id: "x".into(),
            secret: crate::model::SecretValue::new("y"),
        }
    }

    #[test]
    fn long_values_travel_in_numbered_pieces_in_any_order() {
        let text = "x".repeat(300) + "é" + &"y".repeat(300);
        let mut p = pieces(&text);
        assert_eq!(p.len(), 3);
        assert!(p.iter().all(|v| v.chars().count() <= 255));
        p.reverse();
        assert_eq!(joined(&p), text);
    }

    #[test]
    fn addresses_name_the_server_and_refuse_anything_else() {
        let b = KeycloakBackend::open_with("keycloak+http://127.0.0.1:8080/", creds()).expect("open");
        assert_eq!(b.describe(), "keycloak+http://127.0.0.1:8080");
        assert_eq!(b.client.base(), "http://127.0.0.1:8080");
        let b = KeycloakBackend::open_with("keycloak+https://id.example/auth", creds()).expect("open");
        assert_eq!(b.client.base(), "https://id.example/auth");
        let e = KeycloakBackend::open_with("keycloak+ftp://x", creds())
            .err()
            .expect("refused");
        assert_eq!(
            e.to_string(),
            "invalid backend \"keycloak+ftp://x\": expected sqlite:PATH, http(s)://HOST:PORT, keycloak+http(s)://HOST[:PORT][/PATH] or kanidm+https://HOST[:PORT]"
        );
        for bad in [
            "keycloak+ftp://x",
            "keycloak+http://",
            "keycloak:x",
            "keycloak+http:///x",
        ] {
            assert!(
                matches!(
                    KeycloakBackend::open_with(bad, creds()),
                    Err(BackendError::InvalidAddress(_))
                ),
                "{bad}"
            );
        }
    }
}
