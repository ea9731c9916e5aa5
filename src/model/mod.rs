//! The domain model: every kind of object an organization holds, in the
//! Kubernetes-style envelope. Pure data with serde and JSON Schema; no I/O,
//! no backend and no Kubernetes types.

mod application;
mod assignment;
mod attributes;
mod collection;
mod field;
mod group;
mod idp;
mod organization;
pub mod path;
mod policy;
mod role;
pub mod rules;
mod scalar;
pub mod secret;
mod user;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use application::{AppType, ApplicationSpec, OidcApp, SamlApp};
pub use assignment::{AppAssignmentSpec, AppGrant, Condition, Operator};
pub use attributes::Attributes;
pub use collection::{Collection, CollectionMode};
pub use field::Field;
pub use group::{GroupSpec, Members};
pub use idp::{IdentityProviderSpec, ProviderType, SamlIdp};
pub use organization::{Contact, DisplayNameFormat, OrganizationSpec};
pub use policy::{
    FederatedSignInPolicy, MfaMode, MfaPolicy, NetworkPolicy, PasswordPolicy, PolicyTargets,
    SecurityPolicySpec, SessionPolicy, SsoPolicy, TrustedBrowser,
};
pub use role::{describe_permissions, Action, Module, RoleBindingSpec, RoleSpec, BUILTIN_ROLES};
pub use scalar::{check_domain, Duration, Email, IpRule, Name};
pub use secret::{
    redact_secrets, secret_paths, DigestKey, SecretKeyRef, SecretRef, SecretValue, DIGEST_PREFIX, SENSITIVE,
};
pub use user::{UserSpec, UserStatus};

/// The one API version objects are written in.
pub const API_VERSION: &str = "orgctl.io/v1alpha1";

/// The kinds of object, in dependency order (what may be referenced comes first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Kind {
    /// An organization.
    Organization,
    /// A user.
    User,
    /// A group.
    Group,
    /// An application.
    Application,
    /// A federated sign-in provider.
    IdentityProvider,
    /// A custom admin role.
    Role,
    /// An admin role binding.
    RoleBinding,
    /// A security policy.
    SecurityPolicy,
    /// A conditional app assignment.
    AppAssignment,
}

impl Kind {
    /// Every kind in dependency order.
    pub const ALL: [Kind; 9] = [
        Kind::Organization,
        Kind::User,
        Kind::Group,
        Kind::Application,
        Kind::IdentityProvider,
        Kind::Role,
        Kind::RoleBinding,
        Kind::SecurityPolicy,
        Kind::AppAssignment,
    ];

    /// The kind's name as written in `kind:`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Organization => "Organization",
            Kind::User => "User",
            Kind::Group => "Group",
            Kind::Application => "Application",
            Kind::IdentityProvider => "IdentityProvider",
            Kind::Role => "Role",
            Kind::RoleBinding => "RoleBinding",
            Kind::SecurityPolicy => "SecurityPolicy",
            Kind::AppAssignment => "AppAssignment",
        }
    }

    /// The lowercase word used in plan headers (`user "alice"`).
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Organization => "organization",
            Kind::User => "user",
            Kind::Group => "group",
            Kind::Application => "application",
            Kind::IdentityProvider => "identity provider",
            Kind::Role => "role",
            Kind::RoleBinding => "role binding",
            Kind::SecurityPolicy => "security policy",
            Kind::AppAssignment => "app assignment",
        }
    }

    /// How messages and plans name an object of this kind: `user "alice"`.
    pub fn label(self, name: &str) -> Label<'_> {
        Label { kind: self, name }
    }

    /// The plural, lowercase and hyphenated (`security-policies`): the HTTP
    /// API's resource segment and the file name of `export`.
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Organization => "organizations",
            Kind::User => "users",
            Kind::Group => "groups",
            Kind::Application => "applications",
            Kind::IdentityProvider => "identity-providers",
            Kind::Role => "roles",
            Kind::RoleBinding => "role-bindings",
            Kind::SecurityPolicy => "security-policies",
            Kind::AppAssignment => "app-assignments",
        }
    }

    /// Position in dependency order.
    pub fn rank(self) -> usize {
        Kind::ALL.iter().position(|k| *k == self).unwrap_or(0)
    }

    /// The JSON Schema of this kind's whole object (envelope and spec).
    pub fn json_schema(self) -> serde_json::Value {
        let spec = match self {
            Kind::Organization => schemars::schema_for!(OrganizationSpec),
            Kind::User => schemars::schema_for!(UserSpec),
            Kind::Group => schemars::schema_for!(GroupSpec),
            Kind::Application => schemars::schema_for!(ApplicationSpec),
            Kind::IdentityProvider => schemars::schema_for!(IdentityProviderSpec),
            Kind::Role => schemars::schema_for!(RoleSpec),
            Kind::RoleBinding => schemars::schema_for!(RoleBindingSpec),
            Kind::SecurityPolicy => schemars::schema_for!(SecurityPolicySpec),
            Kind::AppAssignment => schemars::schema_for!(AppAssignmentSpec),
        };
        let mut spec = spec.to_value();
        let defs = spec.as_object_mut().and_then(|o| o.remove("$defs"));
        if let Some(o) = spec.as_object_mut() {
            o.remove("$schema");
            o.remove("title");
        }
        let mut root = serde_json::json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": self.as_str(),
            "type": "object",
            "additionalProperties": false,
            "required": ["apiVersion", "kind", "metadata", "spec"],
            "properties": {
                "apiVersion": { "const": API_VERSION },
                "kind": { "const": self.as_str() },
                "metadata": schemars::schema_for!(Metadata).to_value(),
                "spec": spec,
            }
        });
        if let (Some(defs), Some(o)) = (defs, root.as_object_mut()) {
            o.insert("$defs".into(), defs);
        }
        root
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An object named as messages and plans name it: `user "alice"`
/// ([`Kind::label`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Label<'a> {
    kind: Kind,
    name: &'a str,
}

impl fmt::Display for Label<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{} {:?}", self.kind.noun(), self.name)
    }
}

impl FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown kind {s:?}"))
    }
}

/// Labels and annotations, and the object's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metadata {
    /// The object's name, unique per kind within its organization.
    pub name: Name,
    /// Free-form labels (not sent to the backend).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Free-form annotations (not sent to the backend).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// The spec of an object of any kind. Boxed so a collection of mostly
/// small specs (users) does not pay for the largest kind inline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spec {
    /// An organization.
    Organization(Box<OrganizationSpec>),
    /// A user.
    User(Box<UserSpec>),
    /// A group.
    Group(Box<GroupSpec>),
    /// An application.
    Application(Box<ApplicationSpec>),
    /// A federated sign-in provider.
    IdentityProvider(Box<IdentityProviderSpec>),
    /// A custom admin role.
    Role(Box<RoleSpec>),
    /// An admin role binding.
    RoleBinding(Box<RoleBindingSpec>),
    /// A security policy.
    SecurityPolicy(Box<SecurityPolicySpec>),
    /// A conditional app assignment.
    AppAssignment(Box<AppAssignmentSpec>),
}

impl Spec {
    /// This spec's kind.
    pub fn kind(&self) -> Kind {
        match self {
            Spec::Organization(_) => Kind::Organization,
            Spec::User(_) => Kind::User,
            Spec::Group(_) => Kind::Group,
            Spec::Application(_) => Kind::Application,
            Spec::IdentityProvider(_) => Kind::IdentityProvider,
            Spec::Role(_) => Kind::Role,
            Spec::RoleBinding(_) => Kind::RoleBinding,
            Spec::SecurityPolicy(_) => Kind::SecurityPolicy,
            Spec::AppAssignment(_) => Kind::AppAssignment,
        }
    }

    /// `spec.organization`, for every kind but Organization.
    pub fn organization(&self) -> Option<&Name> {
        match self {
            Spec::Organization(_) => None,
            Spec::User(s) => s.organization.as_ref(),
            Spec::Group(s) => s.organization.as_ref(),
            Spec::Application(s) => s.organization.as_ref(),
            Spec::IdentityProvider(s) => s.organization.as_ref(),
            Spec::Role(s) => s.organization.as_ref(),
            Spec::RoleBinding(s) => s.organization.as_ref(),
            Spec::SecurityPolicy(s) => s.organization.as_ref(),
            Spec::AppAssignment(s) => s.organization.as_ref(),
        }
    }

    /// The spec as JSON (unmanaged fields absent, cleared ones null).
    pub fn to_json(&self) -> serde_json::Value {
        let r = match self {
            Spec::Organization(s) => serde_json::to_value(s),
            Spec::User(s) => serde_json::to_value(s),
            Spec::Group(s) => serde_json::to_value(s),
            Spec::Application(s) => serde_json::to_value(s),
            Spec::IdentityProvider(s) => serde_json::to_value(s),
            Spec::Role(s) => serde_json::to_value(s),
            Spec::RoleBinding(s) => serde_json::to_value(s),
            Spec::SecurityPolicy(s) => serde_json::to_value(s),
            Spec::AppAssignment(s) => serde_json::to_value(s),
        };
        // Serializing these plain data types cannot fail (string keys only).
        r.unwrap_or(serde_json::Value::Null)
    }

    /// Parses a spec of `kind` from JSON text, without an intermediate value.
    pub fn from_json_str(kind: Kind, text: &str) -> Result<Spec, serde_json::Error> {
        Ok(match kind {
            Kind::Organization => Spec::Organization(serde_json::from_str(text)?),
            Kind::User => Spec::User(serde_json::from_str(text)?),
            Kind::Group => Spec::Group(serde_json::from_str(text)?),
            Kind::Application => Spec::Application(serde_json::from_str(text)?),
            Kind::IdentityProvider => Spec::IdentityProvider(serde_json::from_str(text)?),
            Kind::Role => Spec::Role(serde_json::from_str(text)?),
            Kind::RoleBinding => Spec::RoleBinding(serde_json::from_str(text)?),
            Kind::SecurityPolicy => Spec::SecurityPolicy(serde_json::from_str(text)?),
            Kind::AppAssignment => Spec::AppAssignment(serde_json::from_str(text)?),
        })
    }

    /// Parses a spec of `kind` from JSON (e.g. as a backend returns it).
    pub fn from_json(kind: Kind, v: serde_json::Value) -> Result<Spec, serde_json::Error> {
        Ok(match kind {
            Kind::Organization => Spec::Organization(serde_json::from_value(v)?),
            Kind::User => Spec::User(serde_json::from_value(v)?),
            Kind::Group => Spec::Group(serde_json::from_value(v)?),
            Kind::Application => Spec::Application(serde_json::from_value(v)?),
            Kind::IdentityProvider => Spec::IdentityProvider(serde_json::from_value(v)?),
            Kind::Role => Spec::Role(serde_json::from_value(v)?),
            Kind::RoleBinding => Spec::RoleBinding(serde_json::from_value(v)?),
            Kind::SecurityPolicy => Spec::SecurityPolicy(serde_json::from_value(v)?),
            Kind::AppAssignment => Spec::AppAssignment(serde_json::from_value(v)?),
        })
    }
}

/// The natural key of an object: kind, organization and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectKey {
    /// The kind.
    pub kind: Kind,
    /// The organization (for an Organization, its own name).
    pub organization: Name,
    /// `metadata.name`.
    pub name: Name,
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.kind.label(self.name.as_str()).fmt(f)
    }
}

/// A whole object: envelope and spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// Name, labels, annotations.
    pub metadata: Metadata,
    /// The kind-specific part.
    pub spec: Spec,
}

impl Object {
    /// The object's natural key; `None` when `spec.organization` is missing.
    pub fn key(&self) -> Option<ObjectKey> {
        let organization = match &self.spec {
            Spec::Organization(_) => self.metadata.name.clone(),
            other => other.organization()?.clone(),
        };
        Some(ObjectKey {
            kind: self.spec.kind(),
            organization,
            name: self.metadata.name.clone(),
        })
    }

    /// The object as a YAML-ready JSON document (envelope included).
    pub fn to_document(&self) -> serde_json::Value {
        let mut meta = serde_json::Map::new();
        meta.insert("name".into(), self.metadata.name.as_str().into());
        if !self.metadata.labels.is_empty() {
            meta.insert("labels".into(), serde_json::json!(self.metadata.labels));
        }
        if !self.metadata.annotations.is_empty() {
            meta.insert("annotations".into(), serde_json::json!(self.metadata.annotations));
        }
        serde_json::json!({
            "apiVersion": API_VERSION,
            "kind": self.spec.kind().as_str(),
            "metadata": meta,
            "spec": self.spec.to_json(),
        })
    }
}
