//! The structural OpenAPI v3 schema of each custom resource, derived from the
//! model's JSON Schema so the CRDs can never drift from what the files accept.
//!
//! schemars writes the model's schema (OpenAPI 3 flavour, subschemas inlined);
//! [`make_structural`] then rewrites what the apiextensions v1 rules forbid and
//! adds the CEL rules the API server can check. Required fields and numeric
//! ranges are already in the model's schema (from `model::rules`, which
//! `validate` reads too), so they are not repeated here. kube's
//! `StructuralSchemaRewriter` is not
//! used on the spec: it merges `Collection<T>`'s two forms (a list, or
//! `{mode, items}`) into one `type: object` node, which would reject the plain
//! list form every example uses. kube still runs its rewriters over the result
//! in `CustomResourceExt::crd`, where they find nothing left to change.
//!
//! Must not: change what a valid file means. Nothing gets a `default` (absent =
//! unmanaged), every `Field<T>` but a required one stays `nullable` (null =
//! clear), and a node the
//! API server cannot type is kept as written rather than pruned.

use schemars::generate::{SchemaGenerator, SchemaSettings};
use schemars::JsonSchema;
use serde_json::{json, Map, Value};

use super::status::ObjectStatus;
use crate::model::rules::{MAX_SESSION_LIFETIME_SECS, MIN_IDLE_TIMEOUT_SECS, MIN_SESSION_LIFETIME_SECS};
use crate::model::{
    AppAssignmentSpec, ApplicationSpec, GroupSpec, IdentityProviderSpec, Kind, Module, OrganizationSpec,
    RoleBindingSpec, RoleSpec, SecurityPolicySpec, UserSpec, API_VERSION, BUILTIN_ROLES,
};
use crate::validate::CONDITION_FIELDS;

/// Levels of rule conditions a custom resource can nest (`rule` is level 1).
/// A recursive type has no structural schema, so the recursion is unrolled;
/// `all`/`any` at the deepest level must be empty.
pub const MAX_CONDITION_DEPTH: usize = 4;

/// Most sub-conditions in one `all` or `any` of a custom resource. Bounds the
/// API server's cost estimate of the CEL rules repeated at every level.
pub const MAX_SUBCONDITIONS: u64 = 16;

/// Appended to the description of every `Collection<T>` node; the marker the
/// structural test looks for beside `x-kubernetes-preserve-unknown-fields`.
pub const COLLECTION_NOTE: &str = "Written as a list (authoritative: the whole truth) or as {mode: additive|authoritative, items: [...]}. Kept as written by the API server (a value that is a list or a map has no structural type); orgctl validates it.";

/// Pattern of object names, as `model::Name` checks them.
const NAME_PATTERN: &str = "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$";

/// Seconds of a duration string `self.<field>` (or `self`), in CEL. Durations
/// are digits and one unit, which the schema's pattern guarantees.
fn cel_seconds(expr: &str) -> String {
    format!(
        "(int({expr}.substring(0, {expr}.size() - 1)) * {{'s': 1, 'm': 60, 'h': 3600, 'd': 86400, 'w': 604800}}[{expr}.substring({expr}.size() - 1)])"
    )
}

/// A CEL rule (`x-kubernetes-validations` entry).
fn rule(rule: &str, message: &str, field_path: Option<&str>) -> Value {
    let mut r = json!({ "rule": rule, "message": message });
    if let (Some(path), Some(o)) = (field_path, r.as_object_mut()) {
        o.insert("fieldPath".into(), path.into());
    }
    r
}

fn generator() -> SchemaGenerator {
    SchemaSettings::openapi3()
        .with(|s| {
            s.inline_subschemas = true;
            s.meta_schema = None;
        })
        .into_generator()
}

fn raw_schema<T: JsonSchema>() -> Value {
    generator().into_root_schema_for::<T>().to_value()
}

/// The schema of `T` as schemars writes it (OpenAPI 3 flavour, inlined).
pub(super) fn raw<T: JsonSchema>() -> Value {
    raw_schema::<T>()
}

/// The whole openAPIV3Schema of `kind`'s custom resource.
pub fn resource_schema(kind: Kind) -> Value {
    let mut root = json!({
        "type": "object",
        "description": format!(
            "An orgctl {} as a Kubernetes object: the same envelope and spec as in orgctl's YAML files.",
            kind.noun()
        ),
        "required": ["spec"],
        "properties": {
            "apiVersion": {
                "type": "string",
                "description": format!("The API version: {API_VERSION}."),
            },
            "kind": {
                "type": "string",
                "description": format!("The kind: {}.", kind.as_str()),
            },
            "metadata": {
                "type": "object",
                "properties": {
                    "name": { "type": "string", "maxLength": 63, "pattern": NAME_PATTERN }
                }
            },
            "spec": spec_schema(kind),
            "status": status_schema(),
        }
    });
    if kind == Kind::Role {
        let names: Vec<String> = BUILTIN_ROLES.iter().map(|n| format!("'{n}'")).collect();
        root["x-kubernetes-validations"] = json!([rule(
            &format!("!(self.metadata.name in [{}])", names.join(", ")),
            &format!(
                "{} are built-in roles; choose another name for a custom Role",
                BUILTIN_ROLES.join(", ")
            ),
            None,
        )]);
    }
    root
}

/// The structural schema of `kind`'s spec, with its domain rules.
pub fn spec_schema(kind: Kind) -> Value {
    let mut spec = make_structural(raw_spec_schema(kind));
    for patch in patches(kind) {
        patch.apply(&mut spec);
    }
    // The controller's own fields (deletionPolicy, connection, suspend).
    if let Some(Value::Object(props)) = spec.get_mut("properties") {
        for (key, schema) in super::fields::raw_schemas(kind) {
            props.insert(key.to_string(), make_structural(schema));
        }
    }
    spec
}

/// The model's schema of `kind`'s spec, as schemars writes it.
fn raw_spec_schema(kind: Kind) -> Value {
    match kind {
        Kind::Organization => raw_schema::<OrganizationSpec>(),
        Kind::User => raw_schema::<UserSpec>(),
        Kind::Group => raw_schema::<GroupSpec>(),
        Kind::Application => raw_schema::<ApplicationSpec>(),
        Kind::IdentityProvider => raw_schema::<IdentityProviderSpec>(),
        Kind::Role => raw_schema::<RoleSpec>(),
        Kind::RoleBinding => raw_schema::<RoleBindingSpec>(),
        Kind::SecurityPolicy => raw_schema::<SecurityPolicySpec>(),
        Kind::AppAssignment => raw_schema::<AppAssignmentSpec>(),
    }
}

/// The structural schema of the status shared by every kind.
pub fn status_schema() -> Value {
    let mut status = make_structural(raw_schema::<ObjectStatus>());
    if let Some(o) = status.as_object_mut() {
        o.insert(
            "description".into(),
            "Written by the orgctl controller: what it last observed and did.".into(),
        );
    }
    status
}

/// Rewrites a schemars schema (OpenAPI 3, inlined) into a structural one:
///
/// - `Collection<T>` (`anyOf` a list or `{mode, items}`) → an untyped node with
///   `x-kubernetes-preserve-unknown-fields: true` and [`COLLECTION_NOTE`];
/// - `anyOf [T, null]` and `type: [T, "null"]` → `T` with `nullable: true`;
/// - `oneOf` of single-value enums → one `enum`;
/// - `$ref` → the referenced schema inlined; the recursive `Condition` is
///   unrolled to [`MAX_CONDITION_DEPTH`] levels, each with its CEL rules;
/// - `uniqueItems: true` → `x-kubernetes-list-type: set` (scalar items);
/// - dropped: `default` (absent must stay unmanaged), `title`, `$schema`,
///   `additionalProperties: false` (unknown fields are pruned, or refused by
///   strict field validation), formats Kubernetes does not know (`uint32`…);
/// - a secret reference gets the rule "exactly one source".
pub fn make_structural(mut root: Value) -> Value {
    let defs = root
        .as_object_mut()
        .and_then(|o| o.remove("components"))
        .and_then(|mut c| c.get_mut("schemas").map(Value::take))
        .and_then(|s| match s {
            Value::Object(m) => Some(m),
            _ => None,
        })
        .unwrap_or_default();
    let mut walk = Walk {
        defs,
        expanding: Vec::new(),
    };
    walk.node(&mut root, 0);
    root
}

/// State of one [`make_structural`] pass.
struct Walk {
    /// Named schemas `$ref`s point to.
    defs: Map<String, Value>,
    /// Names being inlined on the current path (recursion guard).
    expanding: Vec<String>,
}

impl Walk {
    /// Normalizes `node`; `depth` is the number of conditions enclosing it.
    fn node(&mut self, node: &mut Value, depth: usize) {
        let Some(obj) = node.as_object_mut() else { return };
        unwrap_nullable(obj);
        if is_collection(obj) {
            *node = collection_node(obj);
            return;
        }
        if let Some(Value::String(reference)) = obj.get("$ref").cloned() {
            self.inline_ref(node, &reference, depth);
            return;
        }
        merge_enum_variants(obj);
        for key in ["default", "title", "$schema", "examples", "example"] {
            obj.remove(key);
        }
        // The editor schema's if/then rules are not structural; the same
        // rules are CEL rules here (see `patches`).
        if obj.get("allOf").is_some_and(crate::model::rules::is_conditional) {
            obj.remove("allOf");
        }
        if obj.get("additionalProperties") == Some(&Value::Bool(false)) {
            obj.remove("additionalProperties");
        }
        if let Some(Value::String(f)) = obj.get("format") {
            if !KNOWN_FORMATS.contains(&f.as_str()) {
                obj.remove("format");
            }
        }
        let depth = if is_condition(obj) {
            condition_rules(obj, depth + 1);
            depth + 1
        } else {
            depth
        };
        if is_secret_ref(obj) {
            push_rule(
                obj,
                rule(
                    "(has(self.fromEnv) ? 1 : 0) + (has(self.fromFile) ? 1 : 0) + (has(self.secretKeyRef) ? 1 : 0) == 1",
                    "a secret reference needs exactly one of fromEnv, fromFile or secretKeyRef",
                    None,
                ),
            );
        }
        if let Some(Value::Object(props)) = obj.get_mut("properties") {
            for child in props.values_mut() {
                self.node(child, depth);
            }
        }
        for key in ["items", "additionalProperties"] {
            if let Some(child) = obj.get_mut(key) {
                self.node(child, depth);
            }
        }
        if obj.remove("uniqueItems") == Some(Value::Bool(true)) {
            let scalar_items = obj
                .get("items")
                .and_then(|i| i.get("type"))
                .and_then(Value::as_str)
                .is_some_and(|t| matches!(t, "string" | "integer" | "number" | "boolean"));
            if scalar_items {
                obj.insert("x-kubernetes-list-type".into(), "set".into());
            }
        }
    }

    /// Replaces a `$ref` node by the schema it names and normalizes that.
    fn inline_ref(&mut self, node: &mut Value, reference: &str, depth: usize) {
        let name = reference.rsplit('/').next().unwrap_or(reference).to_string();
        let target = self.defs.get(&name).cloned();
        // Only the condition unrolling may re-enter a name, and it stops at
        // MAX_CONDITION_DEPTH; anything else recursive is left unresolved,
        // untyped, so the structural test names it.
        let recursion = self.expanding.iter().filter(|n| **n == name).count();
        let allowed = if name == "Condition" {
            MAX_CONDITION_DEPTH
        } else {
            1
        };
        match target {
            Some(mut target) if recursion < allowed => {
                // Siblings of the reference (its field's description,
                // nullability) win over the referenced schema's.
                if let (Some(t), Some(siblings)) = (target.as_object_mut(), node.as_object()) {
                    for key in ["description", "nullable"] {
                        if let Some(v) = siblings.get(key) {
                            t.insert(key.into(), v.clone());
                        }
                    }
                }
                self.expanding.push(name);
                self.node(&mut target, depth);
                self.expanding.pop();
                *node = target;
            }
            _ => {
                *node = json!({ "description": format!("unresolved schema reference {reference}") });
            }
        }
    }
}

/// Formats the API server validates or documents; others are dropped.
const KNOWN_FORMATS: [&str; 16] = [
    "int32",
    "int64",
    "float",
    "double",
    "byte",
    "date",
    "date-time",
    "duration",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "cidr",
    "uri",
    "uuid",
    "password",
];

/// The keys of an object schema's `properties`, sorted.
fn property_names(obj: &Map<String, Value>) -> Vec<&str> {
    let mut names: Vec<&str> = match obj.get("properties") {
        Some(Value::Object(p)) => p.keys().map(String::as_str).collect(),
        _ => Vec::new(),
    };
    names.sort_unstable();
    names
}

/// `Collection<T>`'s hand-written schema: `anyOf` a list or `{mode, items}`.
fn is_collection(obj: &Map<String, Value>) -> bool {
    let Some(Value::Array(branches)) = obj.get("anyOf") else {
        return false;
    };
    let [list, full] = branches.as_slice() else {
        return false;
    };
    let (Some(list), Some(full)) = (list.as_object(), full.as_object()) else {
        return false;
    };
    list.get("type") == Some(&json!("array")) && property_names(full) == ["items", "mode"]
}

/// The structural stand-in for a collection (or a nullable one).
fn collection_node(obj: &Map<String, Value>) -> Value {
    // A nullable collection arrives as anyOf [collection, null]; its own
    // description is on the outer node, the collection's on the inner one.
    let description = match obj.get("description").and_then(Value::as_str) {
        Some(d) if !d.starts_with("A list (authoritative") => format!("{d} {COLLECTION_NOTE}"),
        _ => COLLECTION_NOTE.to_string(),
    };
    let mut node = json!({
        "description": description,
        "x-kubernetes-preserve-unknown-fields": true,
    });
    if obj.get("nullable") == Some(&Value::Bool(true)) {
        node["nullable"] = true.into();
    }
    node
}

/// Folds `anyOf [T, null]` (schemars' `Option<T>` when `T` has no single
/// type) and `type: [T, "null"]` into `T` with `nullable: true`.
fn unwrap_nullable(obj: &mut Map<String, Value>) {
    if let Some(Value::Array(types)) = obj.get("type") {
        let rest: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
        if rest.len() < types.len() {
            obj.insert("nullable".into(), true.into());
        }
        if let [single] = rest.as_slice() {
            obj.insert("type".into(), single.clone());
        }
        if let Some(Value::Array(values)) = obj.get_mut("enum") {
            values.retain(|v| !v.is_null());
        }
    }
    let Some(Value::Array(branches)) = obj.get("anyOf") else {
        return;
    };
    let is_null = |v: &Value| v.get("enum") == Some(&json!([null])) || v.get("type") == Some(&json!("null"));
    let [value, null] = branches.as_slice() else {
        return;
    };
    if !is_null(null) {
        return;
    }
    let value = value.clone();
    obj.remove("anyOf");
    if let Value::Object(inner) = value {
        for (k, v) in inner {
            if k == "description" && obj.contains_key("description") {
                continue;
            }
            obj.insert(k, v);
        }
    }
    obj.insert("nullable".into(), true.into());
    // The inner schema may itself be a collection or an enum written as oneOf.
    if is_collection(obj) {
        let replaced = collection_node(obj);
        if let Value::Object(m) = replaced {
            *obj = m;
        }
    }
}

/// Hoists `oneOf` branches that are each a single-value enum (schemars'
/// form for documented unit variants) into one `type` + `enum`.
fn merge_enum_variants(obj: &mut Map<String, Value>) {
    let Some(Value::Array(branches)) = obj.get("oneOf") else {
        return;
    };
    let mut values = Vec::new();
    let mut ty: Option<Value> = None;
    for b in branches {
        match (b.get("enum"), b.get("type")) {
            (Some(Value::Array(e)), t) if ty.is_none() || t == ty.as_ref() => {
                values.extend(e.iter().cloned());
                ty = t.cloned();
            }
            _ => return,
        }
    }
    obj.remove("oneOf");
    obj.insert("enum".into(), Value::Array(values));
    if let Some(t) = ty {
        obj.insert("type".into(), t);
    }
}

/// A rule condition: the properties of `model::Condition`.
fn is_condition(obj: &Map<String, Value>) -> bool {
    property_names(obj) == ["all", "any", "field", "op", "value", "values"]
}

/// A secret reference: the properties of `model::SecretRef`.
fn is_secret_ref(obj: &Map<String, Value>) -> bool {
    property_names(obj) == ["fromEnv", "fromFile", "secretKeyRef"]
}

/// Appends a CEL rule to a node.
fn push_rule(obj: &mut Map<String, Value>, r: Value) {
    match obj.get_mut("x-kubernetes-validations") {
        Some(Value::Array(rules)) => rules.push(r),
        _ => {
            obj.insert("x-kubernetes-validations".into(), Value::Array(vec![r]));
        }
    }
}

/// The checks of `validate::condition` the API server can make, on a
/// condition at `level` (1 = the rule itself).
fn condition_rules(obj: &mut Map<String, Value>, level: usize) {
    let fields = CONDITION_FIELDS.join("|");
    if let Some(Value::Object(props)) = obj.get_mut("properties") {
        if let Some(Value::Object(field)) = props.get_mut("field") {
            field.insert("pattern".into(), format!("^({fields}|attributes\\..+)$").into());
        }
        if let Some(Value::Object(values)) = props.get_mut("values") {
            values.insert("minItems".into(), 1.into());
        }
        for key in ["all", "any"] {
            let Some(Value::Object(list)) = props.get_mut(key) else {
                continue;
            };
            if level >= MAX_CONDITION_DEPTH {
                let d = list
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                list.insert(
                    "description".into(),
                    format!("{d} Conditions nest at most {MAX_CONDITION_DEPTH} levels deep in a custom resource, so this list must be empty here.").into(),
                );
                list.insert("items".into(), json!({ "type": "object" }));
                list.insert("maxItems".into(), 0.into());
            } else {
                list.insert("minItems".into(), 1.into());
                list.insert("maxItems".into(), MAX_SUBCONDITIONS.into());
            }
        }
    }
    push_rule(
        obj,
        rule(
            "(has(self.all) ? 1 : 0) + (has(self.any) ? 1 : 0) + (has(self.field) ? 1 : 0) == 1",
            "a condition needs exactly one of `all`, `any`, or `field` with `op`",
            None,
        ),
    );
    push_rule(
        obj,
        rule(
            "!(has(self.all) || has(self.any)) || !(has(self.op) || has(self.value) || has(self.values))",
            "`all` and `any` cannot be combined with `op`, `value` or `values`",
            None,
        ),
    );
    push_rule(
        obj,
        rule(
            "!has(self.field) || has(self.op)",
            "a comparison needs `op`",
            None,
        ),
    );
    push_rule(
        obj,
        rule(
            "!has(self.op) || (self.op in ['in', 'notIn'] ? (has(self.values) && !has(self.value)) : (has(self.value) && !has(self.values)))",
            "`in` and `notIn` take `values` (a non-empty list); the other operators take one `value`",
            None,
        ),
    );
}

/// A change to one node of a spec schema, at a path of property names.
#[derive(Debug, Clone, Copy)]
struct Patch {
    /// Property names from the spec down to the node.
    path: &'static [&'static str],
    /// What to change there.
    op: PatchOp,
}

/// The kinds of [`Patch`].
#[derive(Debug, Clone, Copy)]
enum PatchOp {
    /// A CEL rule: expression, message, optional field path.
    Rule(&'static str, &'static str, Option<&'static str>),
    /// A CEL rule whose expression is built at run time.
    DurationRule(DurationRule),
    /// A map keyed by `Module`: one typed property per module.
    ModuleKeys,
}

/// The duration rules of a session or password policy.
#[derive(Debug, Clone, Copy)]
enum DurationRule {
    /// session.lifetime within 1–30 days.
    Lifetime,
    /// session.idleTimeout at least 30 minutes.
    IdleTimeout,
    /// password.minAge below password.maxAge.
    MinBelowMaxAge,
    /// session.idleTimeout not above session.lifetime (or its default).
    IdleWithinLifetime,
}

impl DurationRule {
    fn rule(self) -> Value {
        match self {
            DurationRule::Lifetime => {
                let s = cel_seconds("self.lifetime");
                rule(
                    &format!(
                        "!has(self.lifetime) || ({s} >= {MIN_SESSION_LIFETIME_SECS} && {s} <= {MAX_SESSION_LIFETIME_SECS})"
                    ),
                    "the session lifetime must be between 1d and 30d",
                    Some(".lifetime"),
                )
            }
            DurationRule::IdleTimeout => rule(
                &format!(
                    "!has(self.idleTimeout) || {} >= {MIN_IDLE_TIMEOUT_SECS}",
                    cel_seconds("self.idleTimeout")
                ),
                "the idle timeout must be at least 30m",
                Some(".idleTimeout"),
            ),
            DurationRule::IdleWithinLifetime => rule(
                &format!(
                    "!has(self.idleTimeout) || {} <= (has(self.lifetime) ? {} : {MAX_SESSION_LIFETIME_SECS})",
                    cel_seconds("self.idleTimeout"),
                    cel_seconds("self.lifetime")
                ),
                "the idle timeout must not be longer than the session lifetime (30d when unset)",
                Some(".idleTimeout"),
            ),
            DurationRule::MinBelowMaxAge => rule(
                &format!(
                    "!has(self.minAge) || !has(self.maxAge) || {} < {}",
                    cel_seconds("self.minAge"),
                    cel_seconds("self.maxAge")
                ),
                "minAge must be shorter than maxAge",
                Some(".minAge"),
            ),
        }
    }
}

impl Patch {
    /// Applies the patch; false when the path does not exist (a test checks
    /// that every patch applies, so a renamed field cannot go unnoticed).
    fn apply(&self, spec: &mut Value) -> bool {
        let pointer: String = self.path.iter().map(|p| format!("/properties/{p}")).collect();
        let Some(Value::Object(node)) = spec.pointer_mut(&pointer) else {
            return false;
        };
        match self.op {
            PatchOp::Rule(expr, message, field_path) => push_rule(node, rule(expr, message, field_path)),
            PatchOp::DurationRule(d) => push_rule(node, d.rule()),
            PatchOp::ModuleKeys => {
                let Some(values) = node.remove("additionalProperties") else {
                    return false;
                };
                let props: Map<String, Value> = enum_values::<Module>()
                    .into_iter()
                    .map(|m| (m, values.clone()))
                    .collect();
                node.insert("properties".into(), Value::Object(props));
            }
        }
        true
    }
}

/// The serialized names of a unit-variant enum, from its schema.
fn enum_values<T: JsonSchema>() -> Vec<String> {
    let mut s = raw_schema::<T>();
    if let Some(o) = s.as_object_mut() {
        merge_enum_variants(o);
    }
    s.get("enum")
        .and_then(Value::as_array)
        .map(|v| v.iter().filter_map(|x| x.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

/// The per-object domain rules (`validate::domain`) the API server can
/// check, per kind.
fn patches(kind: Kind) -> Vec<Patch> {
    use PatchOp::{DurationRule as D, ModuleKeys, Rule};
    let p = |path, op| Patch { path, op };
    match kind {
        Kind::Organization | Kind::User | Kind::Group | Kind::RoleBinding | Kind::AppAssignment => Vec::new(),
        Kind::Application => vec![
            p(
                &[],
                Rule(
                    "!has(self.saml) || (has(self.type) && self.type == 'saml')",
                    "`saml` applies to applications of type saml",
                    Some(".saml"),
                ),
            ),
            p(
                &[],
                Rule(
                    "!has(self.oidc) || (has(self.type) && self.type == 'oidc')",
                    "`oidc` applies to applications of type oidc",
                    Some(".oidc"),
                ),
            ),
            p(
                &[],
                Rule(
                    "!has(self.catalogId) || (has(self.type) && self.type == 'catalog')",
                    "`catalogId` applies to applications of type catalog",
                    Some(".catalogId"),
                ),
            ),
            p(
                &[],
                Rule(
                    "!has(self.type) || self.type != 'saml' || (has(self.saml) && has(self.saml.entityId) && has(self.saml.acsUrl))",
                    "an application of type saml needs saml.entityId and saml.acsUrl",
                    None,
                ),
            ),
            p(
                &[],
                Rule(
                    "!has(self.type) || self.type != 'oidc' || has(self.oidc)",
                    "an application of type oidc needs `oidc` (its redirectUris)",
                    None,
                ),
            ),
        ],
        Kind::IdentityProvider => vec![
            p(
                &[],
                Rule(
                    "!has(self.saml) || (has(self.type) && self.type == 'saml')",
                    "`saml` applies to identity providers of type saml",
                    Some(".saml"),
                ),
            ),
        ],
        Kind::Role => vec![p(&["permissions"], ModuleKeys)],
        Kind::SecurityPolicy => vec![
            p(
                &[],
                Rule(
                    "!(has(self.default) && self.default) || !has(self.targets)",
                    "the default policy applies to everyone not targeted by another policy; remove `targets`",
                    Some(".targets"),
                ),
            ),
            p(
                &[],
                Rule(
                    "(has(self.default) && self.default) || (has(self.targets) && has(self.priority))",
                    "a policy that is not the default needs `priority` and `targets` (groups, users or a rule)",
                    None,
                ),
            ),
            p(&["password"], D(DurationRule::MinBelowMaxAge)),
            p(&["session"], D(DurationRule::Lifetime)),
            p(&["session"], D(DurationRule::IdleTimeout)),
            p(&["session"], D(DurationRule::IdleWithinLifetime)),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_patch_finds_its_field() {
        for kind in Kind::ALL {
            let mut spec = make_structural(raw_spec_schema(kind));
            for patch in patches(kind) {
                assert!(patch.apply(&mut spec), "{kind}: {patch:?} found no field");
            }
        }
    }

    #[test]
    fn module_keys_come_from_the_model() {
        assert_eq!(enum_values::<Module>().len(), 9);
        assert!(enum_values::<Module>().contains(&"organization".to_string()));
    }

    #[test]
    fn conditions_unroll_to_the_depth_limit() {
        let spec = spec_schema(Kind::AppAssignment);
        let mut path = String::from("/properties/rule");
        for _ in 1..MAX_CONDITION_DEPTH {
            path.push_str("/properties/all/items");
            assert!(spec.pointer(&path).is_some(), "{path}");
        }
        let deepest = spec
            .pointer(&format!("{path}/properties/any"))
            .cloned()
            .unwrap_or_default();
        assert_eq!(deepest["maxItems"], 0);
        assert!(!spec.to_string().contains("$ref"));
    }
}
