//! Writes to one realm, in the request's order; runs of users, of grant
//! lists and the memberships of groups go out a few at a time (`wave.rs`),
//! everything else one write at a time. Each update reads the
//! object's current representation, changes only the fields the spec
//! manages, drops what the server computes, and sends back everything else
//! it holds (Keycloak's PUTs replace attribute maps and user records whole).
//! Memberships and parents of groups wait until every group of the request
//! exists; the super admin's realm-admin role waits until its user exists.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{json, Map, Value};

use super::client::{seg, Client};
use super::flows::{Flows, REALM_BROWSER, REALM_DIRECT};
use super::mapping::{admin_roles_for, policy_with_password};
use super::read::{flat_attrs, USER_FIELDS};
use super::wave;
use super::{
    grant_key, grants_text, Index, ACCESS_ROLE, BINDING_PREFIX, CONTAINER, DIGEST_KEY_ATTR, GRANTS,
    GRANTS_ATTR, GRANTS_PREFIX, KIND_ATTR, MANAGED, MFA_ATTR, NAME_ATTR, ORG_ATTR, POLICY_ATTR, ROLE_PREFIX,
    SECRET_DIGEST, SPEC_ATTR, SUPER_ADMIN_ATTR, TYPE_ATTR,
};
use crate::backend::{BackendError, RuleGrant, Write};
use crate::model::{
    AppType, ApplicationSpec, Collection, CollectionMode, DigestKey, Field, GroupSpec, IdentityProviderSpec,
    Kind, Name, OrganizationSpec, ProviderType, RoleBindingSpec, RoleSpec, SecretValue, SecurityPolicySpec,
    Spec, UserSpec, UserStatus,
};

/// Fields of a representation the server computes: never sent back.
const COMPUTED: &[&str] = &[
    "access",
    "createdTimestamp",
    "totp",
    "disableableCredentialTypes",
    "userProfileMetadata",
    "subGroupCount",
    "subGroups",
    "notBefore",
];

/// The `id` of a representation.
fn id_of_value(v: &Value) -> String {
    v.get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// DELETE that treats 404 as done.
fn delete_path(client: &Client, path: &str, object: &str) -> Result<(), BackendError> {
    let a = client.call(Method::DELETE, path, None, object)?;
    if a.status.is_success() || a.status.as_u16() == 404 {
        return Ok(());
    }
    Err(client.refused(&Method::DELETE, object, &a))
}

/// POST that creates an object and answers its id.
fn post_id(client: &Client, path: &str, body: &Value, object: &str) -> Result<String, BackendError> {
    let a = client.send(Method::POST, path, Some(body), object)?;
    a.created_id()
        .ok_or_else(|| BackendError::Remote(format!("keycloak: creating {object}: no id in the answer")))
}

/// Writes that go out a few at a time when several follow each other.
#[derive(Clone, Copy, PartialEq, Eq)]
enum WaveClass {
    /// Users created or updated: each its own representation.
    Users,
    /// Users moved between grant groups (the groups exist first).
    Grants,
}

fn wave_class(w: &Write) -> Option<WaveClass> {
    match w {
        Write::Put {
            spec: Spec::User(_), ..
        } => Some(WaveClass::Users),
        Write::Grants { .. } => Some(WaveClass::Grants),
        _ => None,
    }
}

/// A user's move between grant groups, prepared on the writer's thread.
struct GrantMove<'w> {
    /// Its write's index in the wave.
    at: usize,
    user: &'w Name,
    uid: String,
    /// The grant list the user ends in.
    key: Option<String>,
    /// The group to join (`None`: already in it, or no list).
    join: Option<String>,
    /// The list and group to leave.
    leave: Option<(String, String)>,
}

/// What happened to one [`GrantMove`].
#[derive(Default)]
struct Moved {
    joined: bool,
    left: bool,
    error: Option<BackendError>,
}

/// Joins the new list's group, then leaves the old one.
fn send_move(client: &Client, realm_path: &str, m: &GrantMove) -> Moved {
    let object = format!("app assignments of user {:?}", m.user.as_str());
    let mut moved = Moved::default();
    if let Some(gid) = &m.join {
        let path = format!("{realm_path}/users/{}/groups/{}", seg(&m.uid), seg(gid));
        if let Err(e) = client.send(Method::PUT, &path, None, &object) {
            moved.error = Some(e);
            return moved;
        }
        moved.joined = true;
    }
    if let Some((_, gid)) = &m.leave {
        let path = format!("{realm_path}/users/{}/groups/{}", seg(&m.uid), seg(gid));
        match delete_path(client, &path, &object) {
            Ok(()) => moved.left = true,
            Err(e) => moved.error = Some(e),
        }
    }
    moved
}

/// One user joining or leaving one group.
struct MemberOp {
    /// The group write it belongs to.
    at: usize,
    uid: String,
    gid: String,
    group: Name,
    user: Name,
    join: bool,
}

/// The message of a write a wave never started because Keycloak stopped answering.
fn not_started(cause: &str) -> String {
    format!("not attempted: {cause}")
}

/// Creates a user (answering its new id) or updates one: read, change the
/// fields the spec manages, send back everything else.
fn write_user(
    client: &Client,
    realm_path: &str,
    name: &Name,
    s: &UserSpec,
    managed: bool,
    existing: Option<&str>,
) -> Result<Option<String>, BackendError> {
    let object = what(Kind::User, name);
    match existing {
        Some(id) => {
            let path = format!("{realm_path}/users/{}", seg(id));
            let user = user_body(client.get(&path, &object)?, s, managed);
            client.send(Method::PUT, &path, Some(&user), &object)?;
            Ok(None)
        }
        None => {
            let user = user_body(json!({ "username": name.as_str(), "enabled": true }), s, managed);
            post_id(client, &format!("{realm_path}/users"), &user, &object).map(Some)
        }
    }
}

/// A user's representation with the fields `s` manages set.
fn user_body(mut user: Value, s: &UserSpec, managed: bool) -> Value {
    strip_computed(&mut user);
    if let Some(e) = &s.email {
        user["email"] = json!(e.as_str());
    }
    set_str(&mut user, "firstName", &s.first_name);
    set_str(&mut user, "lastName", &s.last_name);
    for (key, field) in [
        ("department", &s.department),
        ("designation", &s.designation),
        ("location", &s.location),
    ] {
        match field {
            Field::Unset => {}
            Field::Clear => set_list_attr(&mut user, key, None),
            Field::Set(v) => set_list_attr(&mut user, key, Some(v)),
        }
    }
    match &s.custom_attributes {
        Field::Unset => {}
        other => {
            let keep = |k: &str| USER_FIELDS.contains(&k) || k.starts_with("orgctl.io/");
            if let Some(attrs) = user.get_mut("attributes").and_then(Value::as_object_mut) {
                attrs.retain(|k, _| keep(k));
            }
            if let Field::Set(custom) = other {
                for (k, v) in custom.iter() {
                    set_list_attr(&mut user, k, Some(v));
                }
            }
        }
    }
    if let Some(status) = s.status.get() {
        user["enabled"] = json!(*status == UserStatus::Active);
    }
    set_list_attr(&mut user, MANAGED, managed.then_some("true"));
    user
}

/// Deferred work of a request, with the write it belongs to.
enum Later {
    /// A group's members and children.
    Members(usize, Name, GroupSpec),
    /// The super admin's realm-admin role.
    SuperAdmin(usize, Name),
}

/// One request's writes to one realm.
pub struct Writer<'a> {
    client: &'a Client,
    realm: Name,
    index: Index,
    flows: Option<Flows<'a>>,
    later: Vec<Later>,
    /// The spec paths the current write changes (`None`: all of them).
    changed: Option<Vec<String>>,
}

fn what(kind: Kind, name: &Name) -> String {
    kind.label(name.as_str()).to_string()
}

fn strip_computed(v: &mut Value) {
    if let Some(o) = v.as_object_mut() {
        for k in COMPUTED {
            o.remove(*k);
        }
    }
}

/// Sets (or with `None` removes) one attribute of a representation whose
/// attributes are lists of strings (users, groups, roles).
fn set_list_attr(v: &mut Value, name: &str, value: Option<&str>) {
    if !v.get("attributes").is_some_and(Value::is_object) {
        v["attributes"] = json!({});
    }
    if let Some(attrs) = v["attributes"].as_object_mut() {
        match value {
            Some(s) => {
                attrs.insert(name.to_string(), json!([s]));
            }
            None => {
                attrs.remove(name);
            }
        }
    }
}

/// The same for representations whose attributes are plain strings
/// (realms, clients).
fn set_flat_attr(v: &mut Value, name: &str, value: Option<&str>) {
    if !v.get("attributes").is_some_and(Value::is_object) {
        v["attributes"] = json!({});
    }
    if let Some(attrs) = v["attributes"].as_object_mut() {
        match value {
            Some(s) => {
                attrs.insert(name.to_string(), json!(s));
            }
            None => {
                attrs.remove(name);
            }
        }
    }
}

/// A string field: set, cleared (removed), or left.
fn set_str(v: &mut Value, key: &str, field: &Field<String>) {
    match field {
        Field::Unset => {}
        Field::Clear => {
            if let Some(o) = v.as_object_mut() {
                o.remove(key);
            }
        }
        Field::Set(s) => v[key] = json!(s),
    }
}

/// Adds and (authoritative only) removes to get from `current` to `wanted`.
fn delta<T: Ord + Clone>(current: &BTreeSet<T>, wanted: &Collection<T>) -> (Vec<T>, Vec<T>) {
    let add = wanted.items.difference(current).cloned().collect();
    let remove = match wanted.mode {
        CollectionMode::Authoritative => current.difference(&wanted.items).cloned().collect(),
        CollectionMode::Additive => Vec::new(),
    };
    (add, remove)
}

impl<'a> Writer<'a> {
    /// A writer over `index` (the ids of the realm's last snapshot).
    pub fn new(client: &'a Client, realm: Name, index: Index) -> Self {
        Writer {
            client,
            realm,
            index,
            flows: None,
            later: Vec::new(),
            changed: None,
        }
    }

    /// True when the current write changes `path` or anything under it
    /// (parts Keycloak keeps behind their own endpoints are only read and
    /// written when they change).
    fn touches(&self, path: &str) -> bool {
        self.changed.as_ref().is_none_or(|paths| {
            paths.iter().any(|p| {
                p == path || p.starts_with(&format!("{path}.")) || path.starts_with(&format!("{p}."))
            })
        })
    }

    fn r(&self, rest: &str) -> String {
        format!("/{}{rest}", seg(self.realm.as_str()))
    }

    fn flows(&mut self) -> Result<&mut Flows<'a>, BackendError> {
        if self.flows.is_none() {
            self.flows = Some(Flows::read(self.client, self.realm.as_str())?);
        }
        self.flows
            .as_mut()
            .ok_or_else(|| BackendError::Remote("keycloak: flows unavailable".into()))
    }

    /// Runs every write; one result per write attempted. Stops at the first
    /// failure that every later write would meet too (Keycloak not answering).
    pub fn run(&mut self, writes: &[Write], progress: &mut dyn FnMut(usize)) -> Vec<Result<(), String>> {
        let mut results: Vec<Result<(), String>> = Vec::with_capacity(writes.len());
        let mut group_phase = false;
        let mut i = 0;
        while let Some(w) = writes.get(i) {
            // Runs of users and of grant lists go out a few at a time.
            let run_end = writes[i..]
                .iter()
                .position(|x| wave_class(x) != wave_class(w))
                .map_or(writes.len(), |n| i + n);
            if wave_class(w).is_some() && run_end - i > 1 {
                if group_phase {
                    self.flush_members(&mut results);
                    group_phase = false;
                }
                let wave = &writes[i..run_end];
                let answered = match wave_class(w) {
                    Some(WaveClass::Users) => self.user_wave(wave, &mut |n| progress(i + n)),
                    _ => self.grant_wave(wave, &mut |n| progress(i + n)),
                };
                let complete = answered.len() == wave.len();
                results.extend(answered);
                if !complete {
                    return results;
                }
                i = run_end;
                continue;
            }
            let kind = w.target().0;
            if group_phase && kind != Kind::Group {
                self.flush_members(&mut results);
                group_phase = false;
            }
            if matches!(
                w,
                Write::Put {
                    kind: Kind::Group,
                    ..
                }
            ) {
                group_phase = true;
            }
            let r = self.apply(i, w);
            let fatal = matches!(&r, Err(BackendError::Unavailable(_)));
            results.push(r.map_err(|e| crate::diagnostic::error_chain(&e)));
            progress(i + 1);
            if fatal {
                return results;
            }
            i += 1;
        }
        self.flush_members(&mut results);
        self.flush_super_admin(&mut results);
        // Unused grant groups go once every user has moved; failing to drop
        // one leaves an empty group behind, not a wrong grant.
        if writes.iter().any(|w| matches!(w, Write::Grants { .. })) {
            if let Err(e) = self.drop_empty_grant_groups() {
                if let Some(slot) = writes
                    .iter()
                    .rposition(|w| matches!(w, Write::Grants { .. }))
                    .and_then(|i| results.get_mut(i))
                {
                    if slot.is_ok() {
                        *slot = Err(crate::diagnostic::error_chain(&e));
                    }
                }
            }
        }
        results
    }

    /// The deferred members and children of the request's groups: user
    /// memberships of every group a few at a time, then the children.
    fn flush_members(&mut self, results: &mut [Result<(), String>]) {
        let later = std::mem::take(&mut self.later);
        let mut groups = Vec::new();
        for l in later {
            match l {
                Later::Members(i, name, spec) => groups.push((i, name, spec)),
                other => self.later.push(other),
            }
        }
        let fail = |results: &mut [Result<(), String>], i: usize, message: String| {
            if let Some(slot) = results.get_mut(i).filter(|s| s.is_ok()) {
                *slot = Err(message);
            }
        };
        let mut ops = Vec::new();
        for (i, name, spec) in &groups {
            match self.membership_ops(*i, name, spec) {
                Ok(o) => ops.extend(o),
                Err(e) => fail(results, *i, crate::diagnostic::error_chain(&e)),
            }
        }
        let (client, prefix) = (self.client, self.r(""));
        let answers = wave::run(
            &ops,
            wave::WRITERS,
            |op| {
                let path = format!("{prefix}/users/{}/groups/{}", seg(&op.uid), seg(&op.gid));
                let object = format!(
                    "membership of user {:?} in group {:?}",
                    op.user.as_str(),
                    op.group.as_str()
                );
                if op.join {
                    client.send(Method::PUT, &path, None, &object).map(|_| ())
                } else {
                    delete_path(client, &path, &object)
                }
            },
            |r| matches!(r, Err(BackendError::Unavailable(_))),
            |_| {},
        );
        let mut gone = None;
        for (op, answer) in ops.iter().zip(answers) {
            match answer {
                Some(Ok(())) => {
                    let members = self.index.group_members.entry(op.group.clone()).or_default();
                    if op.join {
                        members.insert(op.user.clone());
                    } else {
                        members.remove(&op.user);
                    }
                }
                Some(Err(e)) => {
                    if matches!(e, BackendError::Unavailable(_)) {
                        gone = Some(crate::diagnostic::error_chain(&e));
                    }
                    fail(results, op.at, crate::diagnostic::error_chain(&e));
                }
                None => {
                    let cause = gone
                        .clone()
                        .unwrap_or_else(|| "Keycloak stopped answering".into());
                    fail(results, op.at, not_started(&cause));
                }
            }
        }
        for (i, name, spec) in groups {
            if let Err(e) = self.children(&name, &spec) {
                fail(results, i, crate::diagnostic::error_chain(&e));
            }
        }
    }

    fn flush_super_admin(&mut self, results: &mut [Result<(), String>]) {
        for l in std::mem::take(&mut self.later) {
            if let Later::SuperAdmin(i, user) = l {
                if let Err(e) = self.grant_realm_admin(&user) {
                    if let Some(slot) = results.get_mut(i) {
                        if slot.is_ok() {
                            *slot = Err(crate::diagnostic::error_chain(&e));
                        }
                    }
                }
            }
        }
    }

    fn apply(&mut self, i: usize, w: &Write) -> Result<(), BackendError> {
        match w {
            Write::Put {
                kind,
                name,
                spec,
                secrets,
                managed,
                expected,
                changed,
            } => {
                let creating = expected.is_none();
                self.changed = changed.clone();
                match spec {
                    Spec::Organization(s) => self.put_org(i, s, *managed),
                    Spec::User(s) => self.put_user(name, s, *managed, creating),
                    Spec::Group(s) => self.put_group(i, name, s, *managed, creating),
                    Spec::Application(s) => {
                        let secret = secrets.get("oidc.clientSecret");
                        self.put_app(name, s, secret, *managed, creating)
                    }
                    Spec::IdentityProvider(s) => {
                        self.put_idp(name, s, secrets.get("clientSecret"), *managed, creating)
                    }
                    Spec::Role(s) => self.put_role(name, s, *managed, creating),
                    Spec::RoleBinding(s) => self.put_binding(name, s, *managed, creating),
                    Spec::SecurityPolicy(s) => self.put_policy(name, s, *managed),
                    Spec::AppAssignment(s) => self.put_rule(name, s, *managed, creating),
                }
                .map_err(|e| match e {
                    BackendError::Conflict { reason, .. } => BackendError::Conflict {
                        object: what(*kind, name),
                        reason,
                    },
                    other => other,
                })
            }
            Write::Delete { kind, name, .. } => self.delete(*kind, name),
            Write::Grants { user, grants } => self.grants(user, grants),
            Write::ManualGrant { user, app, role } => self.manual_grant(user, app, role.as_ref()),
        }
    }

    /// DELETE that treats 404 as done.
    fn delete_path(&self, path: &str, object: &str) -> Result<(), BackendError> {
        delete_path(self.client, path, object)
    }

    fn post_id(&self, path: &str, body: &Value, object: &str) -> Result<String, BackendError> {
        post_id(self.client, path, body, object)
    }

    // ---- organization ----------------------------------------------------

    fn put_org(&mut self, i: usize, s: &OrganizationSpec, managed: bool) -> Result<(), BackendError> {
        let object = what(Kind::Organization, &self.realm);
        let mut extra = Map::new();
        for (key, value) in [
            ("contact", serde_json::to_value(&s.contact)),
            ("domains", serde_json::to_value(&s.domains)),
            ("displayNameFormat", serde_json::to_value(&s.display_name_format)),
            ("emailFormat", serde_json::to_value(&s.email_format)),
        ] {
            if let Ok(v) = value {
                if !v.is_null() {
                    extra.insert(key.into(), v);
                }
            }
        }
        if !self.index.exists {
            let mut body = json!({ "realm": self.realm.as_str(), "enabled": true, "attributes": {} });
            set_str(&mut body, "displayName", &s.display_name);
            self.client.send(Method::POST, "", Some(&body), &object)?;
            self.index.exists = true;
            self.read_ids()?;
            self.relax_profile()?;
        }
        let realm = self.client.get(&self.r(""), &object)?;
        let mut body = json!({ "attributes": realm.get("attributes").cloned().unwrap_or(json!({})) });
        match &s.display_name {
            Field::Unset => {}
            Field::Clear => body["displayName"] = json!(""),
            Field::Set(d) => body["displayName"] = json!(d),
        }
        set_flat_attr(&mut body, MANAGED, managed.then_some("true"));
        let text = serde_json::to_string(&Value::Object(extra)).unwrap_or_default();
        set_flat_attr(&mut body, ORG_ATTR, Some(&text));
        if let Some(sa) = &s.super_admin {
            set_flat_attr(&mut body, SUPER_ADMIN_ATTR, Some(sa.as_str()));
            self.later.push(Later::SuperAdmin(i, sa.clone()));
        }
        self.client.send(Method::PUT, &self.r(""), Some(&body), &object)?;
        self.ensure_profile()
    }

    /// Refreshes the ids Keycloak made with the realm (realm-management).
    fn read_ids(&mut self) -> Result<(), BackendError> {
        let clients = self.client.get(
            &self.r("/clients?clientId=realm-management"),
            "client realm-management",
        )?;
        let rm = clients
            .as_array()
            .and_then(|a| a.first())
            .and_then(|c| c.get("id"))
            .and_then(Value::as_str)
            .map(str::to_string);
        if let Some(rm) = &rm {
            let roles = self.client.get(
                &self.r(&format!("/clients/{}/roles?briefRepresentation=true", seg(rm))),
                "realm-management roles",
            )?;
            self.index.realm_management_roles = roles
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| {
                    Some((
                        r.get("name")?.as_str()?.to_string(),
                        r.get("id")?.as_str()?.to_string(),
                    ))
                })
                .collect();
        }
        self.index.realm_management = rm;
        Ok(())
    }

    /// Keycloak 24+ drops user attributes its user profile does not declare
    /// unless unmanaged attributes are enabled: orgctl's department, location
    /// and custom attributes need them.
    fn ensure_profile(&mut self) -> Result<(), BackendError> {
        if self.index.profile_ready {
            return Ok(());
        }
        let path = self.r("/users/profile");
        let mut profile = self.client.get(&path, "the realm's user profile")?;
        let policy = profile.get("unmanagedAttributePolicy").and_then(Value::as_str);
        if !matches!(policy, Some("ENABLED") | Some("ADMIN_EDIT")) {
            profile["unmanagedAttributePolicy"] = json!("ADMIN_EDIT");
            self.client
                .send(Method::PUT, &path, Some(&profile), "the realm's user profile")?;
        }
        self.index.profile_ready = true;
        Ok(())
    }

    /// In a realm orgctl creates, first and last names are optional, as in
    /// the model (Keycloak's default profile requires both and would hold
    /// every user without one at "Account is not fully set up").
    fn relax_profile(&mut self) -> Result<(), BackendError> {
        let path = self.r("/users/profile");
        let mut profile = self.client.get(&path, "the realm's user profile")?;
        if let Some(attrs) = profile.get_mut("attributes").and_then(Value::as_array_mut) {
            for a in attrs.iter_mut() {
                let name = a.get("name").and_then(Value::as_str).unwrap_or_default();
                if name == "firstName" || name == "lastName" {
                    if let Some(o) = a.as_object_mut() {
                        o.remove("required");
                    }
                }
            }
        }
        profile["unmanagedAttributePolicy"] = json!("ADMIN_EDIT");
        self.client
            .send(Method::PUT, &path, Some(&profile), "the realm's user profile")?;
        self.index.profile_ready = true;
        Ok(())
    }

    fn grant_realm_admin(&mut self, user: &Name) -> Result<(), BackendError> {
        let uid = self.user_id(user)?;
        let rm = self.index.realm_management.clone().ok_or_else(|| {
            BackendError::Remote("keycloak: the realm has no realm-management client".into())
        })?;
        let role = self
            .index
            .realm_management_roles
            .get("realm-admin")
            .cloned()
            .ok_or_else(|| {
                BackendError::Remote("keycloak: realm-management has no realm-admin role".into())
            })?;
        self.client.send(
            Method::POST,
            &self.r(&format!(
                "/users/{}/role-mappings/clients/{}",
                seg(&uid),
                seg(&rm)
            )),
            Some(&json!([{ "id": role, "name": "realm-admin" }])),
            &format!("the super admin role of user {:?}", user.as_str()),
        )?;
        Ok(())
    }

    // ---- users -----------------------------------------------------------

    fn user_id(&self, user: &Name) -> Result<String, BackendError> {
        self.index
            .users
            .get(user)
            .cloned()
            .ok_or_else(|| BackendError::Remote(format!("keycloak: user {:?} does not exist", user.as_str())))
    }

    fn put_user(
        &mut self,
        name: &Name,
        s: &UserSpec,
        managed: bool,
        creating: bool,
    ) -> Result<(), BackendError> {
        self.ensure_profile()?;
        let existing = if creating {
            None
        } else {
            self.index.users.get(name).cloned()
        };
        if let Some(id) = write_user(self.client, &self.r(""), name, s, managed, existing.as_deref())? {
            self.index.users.insert(name.clone(), id);
        }
        Ok(())
    }

    /// A run of user writes, a few at a time; one result per write answered
    /// (fewer than the writes when Keycloak stopped answering).
    fn user_wave(&mut self, wave: &[Write], done: &mut dyn FnMut(usize)) -> Vec<Result<(), String>> {
        if let Err(e) = self.ensure_profile() {
            let message = crate::diagnostic::error_chain(&e);
            if matches!(e, BackendError::Unavailable(_)) {
                return vec![Err(message)];
            }
            return wave.iter().map(|_| Err(message.clone())).collect();
        }
        let jobs: Vec<(Name, Option<&UserSpec>, bool, Option<String>)> = wave
            .iter()
            .map(|w| match w {
                Write::Put {
                    name,
                    spec: Spec::User(s),
                    managed,
                    expected,
                    ..
                } => {
                    let existing = expected
                        .as_ref()
                        .and_then(|_| self.index.users.get(name).cloned());
                    (name.clone(), Some(&**s), *managed, existing)
                }
                other => (other.target().1.clone(), None, false, None),
            })
            .collect();
        let (client, prefix) = (self.client, self.r(""));
        let answers = wave::run(
            &jobs,
            wave::WRITERS,
            |(name, spec, managed, existing)| match spec {
                Some(s) => write_user(client, &prefix, name, s, *managed, existing.as_deref()),
                None => Err(BackendError::Remote(format!(
                    "keycloak: {} is not a user write",
                    what(Kind::User, name)
                ))),
            },
            |r| matches!(r, Err(BackendError::Unavailable(_))),
            done,
        );
        let mut results = Vec::with_capacity(wave.len());
        for ((name, ..), answer) in jobs.iter().zip(answers) {
            match answer {
                None => break,
                Some(Ok(created)) => {
                    if let Some(id) = created {
                        self.index.users.insert(name.clone(), id);
                    }
                    results.push(Ok(()));
                }
                Some(Err(e)) => results.push(Err(crate::diagnostic::error_chain(&e))),
            }
        }
        results
    }

    // ---- groups ----------------------------------------------------------

    fn put_group(
        &mut self,
        i: usize,
        name: &Name,
        s: &GroupSpec,
        managed: bool,
        creating: bool,
    ) -> Result<(), BackendError> {
        let object = what(Kind::Group, name);
        let existing = if creating {
            None
        } else {
            self.index.groups.get(name).map(|g| g.id.clone())
        };
        match existing {
            Some(id) => {
                let path = self.r(&format!("/groups/{}", seg(&id)));
                let mut g = self.client.get(&path, &object)?;
                strip_computed(&mut g);
                set_str(&mut g, "description", &s.description);
                set_list_attr(&mut g, MANAGED, managed.then_some("true"));
                self.client.send(Method::PUT, &path, Some(&g), &object)?;
            }
            None => {
                let mut g = json!({ "name": name.as_str(), "attributes": {} });
                set_str(&mut g, "description", &s.description);
                set_list_attr(&mut g, MANAGED, managed.then_some("true"));
                let id = self.post_id(&self.r("/groups"), &g, &object)?;
                self.index
                    .groups
                    .insert(name.clone(), super::GroupRef { id, parent: None });
                self.index.group_members.insert(name.clone(), BTreeSet::new());
            }
        }
        if self.touches("members") {
            self.later.push(Later::Members(i, name.clone(), s.clone()));
        }
        Ok(())
    }

    fn group_id(&self, group: &Name) -> Result<String, BackendError> {
        self.index.groups.get(group).map(|g| g.id.clone()).ok_or_else(|| {
            BackendError::Remote(format!("keycloak: group {:?} does not exist", group.as_str()))
        })
    }

    /// A group's user members and child groups, as its spec says.
    /// The user memberships `s` adds and removes, with the ids they need.
    fn membership_ops(&self, at: usize, name: &Name, s: &GroupSpec) -> Result<Vec<MemberOp>, BackendError> {
        let mut ops = Vec::new();
        let Some(users) = s.members.get().and_then(|m| m.users.get()) else {
            return Ok(ops);
        };
        let gid = self.group_id(name)?;
        let current = self.index.group_members.get(name).cloned().unwrap_or_default();
        let (add, remove) = delta(&current, users);
        for (list, join) in [(add, true), (remove, false)] {
            for user in list {
                ops.push(MemberOp {
                    at,
                    uid: self.user_id(&user)?,
                    gid: gid.clone(),
                    group: name.clone(),
                    user,
                    join,
                });
            }
        }
        Ok(ops)
    }

    /// The child groups `s` adds (moved under it) and removes (moved to the top).
    fn children(&mut self, name: &Name, s: &GroupSpec) -> Result<(), BackendError> {
        let Some(members) = s.members.get() else {
            return Ok(());
        };
        let gid = self.group_id(name)?;
        if let Some(children) = members.groups.get() {
            let current: BTreeSet<Name> = self
                .index
                .groups
                .iter()
                .filter(|(_, g)| g.parent.as_deref() == Some(gid.as_str()))
                .map(|(n, _)| n.clone())
                .collect();
            let (add, remove) = delta(&current, children);
            for c in add {
                let cid = self.group_id(&c)?;
                self.client.send(
                    Method::POST,
                    &self.r(&format!("/groups/{}/children", seg(&gid))),
                    Some(&json!({ "id": cid, "name": c.as_str() })),
                    &format!("group {:?} under group {:?}", c.as_str(), name.as_str()),
                )?;
                if let Some(g) = self.index.groups.get_mut(&c) {
                    g.parent = Some(gid.clone());
                }
            }
            for c in remove {
                self.move_to_top(&c)?;
            }
        }
        Ok(())
    }

    /// Moves a group to the top level (out of its parent).
    fn move_to_top(&mut self, group: &Name) -> Result<(), BackendError> {
        let cid = self.group_id(group)?;
        self.client.send(
            Method::POST,
            &self.r("/groups"),
            Some(&json!({ "id": cid, "name": group.as_str() })),
            &format!("group {:?} (moved to the top level)", group.as_str()),
        )?;
        if let Some(g) = self.index.groups.get_mut(group) {
            g.parent = None;
        }
        Ok(())
    }

    // ---- applications ----------------------------------------------------

    fn put_app(
        &mut self,
        name: &Name,
        s: &ApplicationSpec,
        secret: Option<&SecretValue>,
        managed: bool,
        creating: bool,
    ) -> Result<(), BackendError> {
        let object = what(Kind::Application, name);
        let saml = s.app_type == Some(AppType::Saml);
        let client_id = match s.saml.get().and_then(|m| m.entity_id.get()) {
            Some(entity) if saml => entity.clone(),
            _ => name.to_string(),
        };
        let existing = if creating {
            None
        } else {
            self.index.clients.get(name).cloned()
        };
        let mut c = match &existing {
            Some(c) => self
                .client
                .get(&self.r(&format!("/clients/{}", seg(&c.uuid))), &object)?,
            None => json!({
                "clientId": client_id,
                "protocol": if saml { "saml" } else { "openid-connect" },
                "enabled": true,
                "publicClient": false,
                "standardFlowEnabled": true,
                "attributes": {},
            }),
        };
        strip_computed(&mut c);
        c["clientId"] = json!(client_id);
        set_str(&mut c, "name", &s.display_name);
        set_flat_attr(&mut c, MANAGED, managed.then_some("true"));
        set_flat_attr(&mut c, NAME_ATTR, saml.then_some(name.as_str()));
        let kind = match s.app_type {
            Some(AppType::Catalog) => Some("catalog"),
            Some(AppType::Oidc) => Some("oidc"),
            _ => None,
        };
        set_flat_attr(&mut c, TYPE_ATTR, kind);
        match &s.catalog_id {
            Field::Unset => {}
            Field::Clear => set_flat_attr(&mut c, "orgctl.io/catalog-id", None),
            Field::Set(v) => set_flat_attr(&mut c, "orgctl.io/catalog-id", Some(v)),
        }
        if let Some(o) = s.oidc.get() {
            match &o.redirect_uris {
                Field::Unset => {}
                Field::Clear => c["redirectUris"] = json!([]),
                Field::Set(uris) => {
                    let current: BTreeSet<String> = c
                        .get("redirectUris")
                        .and_then(Value::as_array)
                        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                        .unwrap_or_default();
                    let (add, remove) = delta(&current, uris);
                    let mut all: BTreeSet<String> = current;
                    all.extend(add);
                    for r in remove {
                        all.remove(&r);
                    }
                    c["redirectUris"] = json!(all);
                }
            }
        }
        if let Some(secret) = secret {
            c["secret"] = json!(secret.expose());
        }
        if let Some(m) = s.saml.get() {
            match &m.acs_url {
                Field::Unset => {}
                Field::Clear => set_flat_attr(&mut c, "saml_assertion_consumer_url_post", None),
                Field::Set(v) => set_flat_attr(&mut c, "saml_assertion_consumer_url_post", Some(v)),
            }
            match &m.name_id_format {
                Field::Unset => {}
                Field::Clear => set_flat_attr(&mut c, "saml_name_id_format", None),
                Field::Set(v) => set_flat_attr(&mut c, "saml_name_id_format", Some(v)),
            }
        }
        // App access: the client's flows refuse users without its access role.
        let mfa = self.index.mfa_required;
        let (browser, direct) = self
            .flows()?
            .ensure_app(name.as_str(), &client_id, ACCESS_ROLE, mfa)?;
        c["authenticationFlowBindingOverrides"] = json!({ "browser": browser, "direct_grant": direct });
        let uuid = match existing {
            Some(e) => {
                self.client.send(
                    Method::PUT,
                    &self.r(&format!("/clients/{}", seg(&e.uuid))),
                    Some(&c),
                    &object,
                )?;
                e.uuid
            }
            None => {
                let uuid = self.post_id(&self.r("/clients"), &c, &object)?;
                self.index.clients.insert(
                    name.clone(),
                    super::ClientRef {
                        uuid: uuid.clone(),
                        client_id: client_id.clone(),
                        ..Default::default()
                    },
                );
                uuid
            }
        };
        if let Some(c) = self.index.clients.get_mut(name) {
            c.client_id = client_id.clone();
        }
        self.app_roles(name, &uuid, s)
    }

    /// The app's roles, each including the access role.
    fn app_roles(&mut self, name: &Name, uuid: &str, s: &ApplicationSpec) -> Result<(), BackendError> {
        let object = what(Kind::Application, name);
        let access = match self.index.clients.get(name).and_then(|c| c.access_role.clone()) {
            Some(id) => id,
            None => {
                let path = self.r(&format!("/clients/{}/roles", seg(uuid)));
                let a = self.client.call(
                    Method::POST,
                    &path,
                    Some(&json!({ "name": ACCESS_ROLE, "description": "orgctl: may sign in to this app" })),
                    &object,
                )?;
                if !a.status.is_success() && a.status.as_u16() != 409 {
                    return Err(self.client.refused(&Method::POST, &object, &a));
                }
                let role = self
                    .client
                    .get(&format!("{path}/{}", seg(ACCESS_ROLE)), &object)?;
                let id = role
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                if let Some(c) = self.index.clients.get_mut(name) {
                    c.access_role = Some(id.clone());
                }
                id
            }
        };
        let Some(wanted) = s.roles.get() else {
            return Ok(());
        };
        let current: BTreeSet<Name> = self
            .index
            .clients
            .get(name)
            .map(|c| c.roles.keys().filter_map(|r| r.parse().ok()).collect())
            .unwrap_or_default();
        let (add, remove) = delta(&current, wanted);
        for role in add {
            let path = self.r(&format!("/clients/{}/roles", seg(uuid)));
            self.client.send(
                Method::POST,
                &path,
                Some(&json!({ "name": role.as_str() })),
                &format!("role {:?} of {object}", role.as_str()),
            )?;
            let created = self
                .client
                .get(&format!("{path}/{}", seg(role.as_str())), &object)?;
            let id = created
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            self.client.send(
                Method::POST,
                &format!("{path}/{}/composites", seg(role.as_str())),
                Some(&json!([{ "id": access, "name": ACCESS_ROLE }])),
                &format!("role {:?} of {object}", role.as_str()),
            )?;
            if let Some(c) = self.index.clients.get_mut(name) {
                c.roles.insert(role.to_string(), id);
            }
        }
        for role in remove {
            self.delete_path(
                &self.r(&format!("/clients/{}/roles/{}", seg(uuid), seg(role.as_str()))),
                &format!("role {:?} of {object}", role.as_str()),
            )?;
            if let Some(c) = self.index.clients.get_mut(name) {
                c.roles.remove(role.as_str());
            }
        }
        Ok(())
    }

    // ---- identity providers ----------------------------------------------

    /// The realm's digest key, made and stored in the realm
    /// ([`DIGEST_KEY_ATTR`]) on first need. Two processes making one at the
    /// same moment: the last stored wins, and a digest made with the other
    /// reads as a changed secret once, rewritten by the next apply.
    fn realm_digest_key(&mut self) -> Result<DigestKey, BackendError> {
        if let Some(k) = &self.index.digest_key {
            return Ok(k.clone());
        }
        let object = format!("realm {:?}", self.realm.as_str());
        let realm = self.client.get(&self.r(""), &object)?;
        let key = match flat_attrs(&realm)
            .get(DIGEST_KEY_ATTR)
            .and_then(|h| DigestKey::from_hex(h))
        {
            Some(k) => k,
            None => {
                let key = crate::backend::random_digest_key();
                let mut body = json!({ "attributes": realm.get("attributes").cloned().unwrap_or(json!({})) });
                set_flat_attr(&mut body, DIGEST_KEY_ATTR, Some(&key.to_hex()));
                self.client.send(Method::PUT, &self.r(""), Some(&body), &object)?;
                key
            }
        };
        self.index.digest_key = Some(key.clone());
        Ok(key)
    }

    fn put_idp(
        &mut self,
        name: &Name,
        s: &IdentityProviderSpec,
        secret: Option<&SecretValue>,
        managed: bool,
        creating: bool,
    ) -> Result<(), BackendError> {
        let object = what(Kind::IdentityProvider, name);
        let path = self.r(&format!("/identity-provider/instances/{}", seg(name.as_str())));
        let exists = !creating && self.index.idps.contains(name);
        let mut idp = if exists {
            self.client.get(&path, &object)?
        } else {
            let provider = match s.provider_type {
                Some(ProviderType::Google) => "google",
                Some(ProviderType::Facebook) => "facebook",
                Some(ProviderType::Linkedin) => "linkedin-openid-connect",
                Some(ProviderType::Saml) => "saml",
                Some(ProviderType::Oidc) | None => "oidc",
            };
            json!({ "alias": name.as_str(), "providerId": provider, "enabled": true, "config": {} })
        };
        set_str(&mut idp, "displayName", &s.display_name);
        if let Some(e) = s.enabled.get() {
            idp["enabled"] = json!(e);
        }
        if !idp.get("config").is_some_and(Value::is_object) {
            idp["config"] = json!({});
        }
        let mut cfg = |key: &str, field: &Field<String>| match field {
            Field::Unset => {}
            Field::Clear => {
                if let Some(c) = idp["config"].as_object_mut() {
                    c.remove(key);
                }
            }
            Field::Set(v) => idp["config"][key] = json!(v),
        };
        cfg("clientId", &s.client_id);
        cfg("issuer", &s.issuer);
        if let Some(m) = s.saml.get() {
            cfg("singleSignOnServiceUrl", &m.sso_url);
            cfg("singleLogoutServiceUrl", &m.slo_url);
            cfg("idpEntityId", &m.entity_id);
            cfg("signingCertificate", &m.certificate);
        }
        if let Some(secret) = secret {
            idp["config"]["clientSecret"] = json!(secret.expose());
            idp["config"][SECRET_DIGEST] = json!(self.realm_digest_key()?.digest(secret));
        }
        idp["config"][MANAGED] = json!(if managed { "true" } else { "false" });
        if exists {
            self.client.send(Method::PUT, &path, Some(&idp), &object)?;
        } else {
            self.client.send(
                Method::POST,
                &self.r("/identity-provider/instances"),
                Some(&idp),
                &object,
            )?;
            self.index.idps.insert(name.clone());
        }
        Ok(())
    }

    // ---- admin roles -----------------------------------------------------

    /// Makes the realm role `role` hold exactly `wanted` composites.
    fn composites(&self, role: &str, wanted: &[(String, String)], object: &str) -> Result<(), BackendError> {
        let path = self.r(&format!("/roles/{}/composites", seg(role)));
        let current = self.client.get(&path, object)?;
        let current: Vec<(String, String)> = current
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| {
                Some((
                    r.get("id")?.as_str()?.to_string(),
                    r.get("name")?.as_str()?.to_string(),
                ))
            })
            .collect();
        let ids: BTreeSet<&str> = current.iter().map(|(i, _)| i.as_str()).collect();
        let want: BTreeSet<&str> = wanted.iter().map(|(i, _)| i.as_str()).collect();
        let add: Vec<Value> = wanted
            .iter()
            .filter(|(i, _)| !ids.contains(i.as_str()))
            .map(|(i, n)| json!({ "id": i, "name": n }))
            .collect();
        let remove: Vec<Value> = current
            .iter()
            .filter(|(i, _)| !want.contains(i.as_str()))
            .map(|(i, n)| json!({ "id": i, "name": n }))
            .collect();
        if !add.is_empty() {
            self.client
                .send(Method::POST, &path, Some(&Value::Array(add)), object)?;
        }
        if !remove.is_empty() {
            self.client
                .send(Method::DELETE, &path, Some(&Value::Array(remove)), object)?;
        }
        Ok(())
    }

    /// Creates or updates a realm role orgctl keeps for `kind`.
    fn realm_role(
        &mut self,
        role: &str,
        kind: &str,
        description: &Field<String>,
        managed: bool,
        object: &str,
    ) -> Result<(), BackendError> {
        let path = self.r(&format!("/roles/{}", seg(role)));
        let mut r = match self.client.get_opt(&path, object)? {
            Some(r) => r,
            None => {
                self.client.send(
                    Method::POST,
                    &self.r("/roles"),
                    Some(&json!({ "name": role })),
                    object,
                )?;
                self.client.get(&path, object)?
            }
        };
        if let Some(id) = r.get("id").and_then(Value::as_str) {
            self.index.realm_roles.insert(role.to_string(), id.to_string());
        }
        set_str(&mut r, "description", description);
        set_list_attr(&mut r, KIND_ATTR, Some(kind));
        set_list_attr(&mut r, MANAGED, managed.then_some("true"));
        self.client.send(Method::PUT, &path, Some(&r), object)?;
        Ok(())
    }

    fn put_role(
        &mut self,
        name: &Name,
        s: &RoleSpec,
        managed: bool,
        _creating: bool,
    ) -> Result<(), BackendError> {
        let object = what(Kind::Role, name);
        let role = format!("{ROLE_PREFIX}{name}");
        self.realm_role(&role, "Role", &s.description, managed, &object)?;
        if let Some(perms) = s.permissions.get().filter(|_| self.touches("permissions")) {
            let names = admin_roles_for(perms)
                .map_err(|reason| BackendError::Remote(format!("{object}: {reason}")))?;
            let wanted: Vec<(String, String)> = names
                .iter()
                .filter_map(|n| {
                    self.index
                        .realm_management_roles
                        .get(*n)
                        .map(|id| (id.clone(), n.to_string()))
                })
                .collect();
            self.composites(&role, &wanted, &object)?;
        }
        Ok(())
    }

    fn put_binding(
        &mut self,
        name: &Name,
        s: &RoleBindingSpec,
        managed: bool,
        _creating: bool,
    ) -> Result<(), BackendError> {
        let object = what(Kind::RoleBinding, name);
        let role = format!("{BINDING_PREFIX}{name}");
        self.realm_role(&role, "RoleBinding", &Field::Unset, managed, &object)?;
        let wanted: Vec<(String, String)> = match s.role.as_ref().map(Name::as_str) {
            Some("admin") => self
                .index
                .realm_management_roles
                .get("realm-admin")
                .map(|id| vec![(id.clone(), "realm-admin".to_string())])
                .unwrap_or_default(),
            Some("member") | Some("super-admin") | None => Vec::new(),
            Some(custom) => {
                let r = format!("{ROLE_PREFIX}{custom}");
                self.index
                    .realm_roles
                    .get(&r)
                    .map(|id| vec![(id.clone(), r.clone())])
                    .unwrap_or_default()
            }
        };
        if self.touches("role") {
            self.composites(&role, &wanted, &object)?;
        }
        let Some(subjects) = s.subjects.get().filter(|_| self.touches("subjects")) else {
            return Ok(());
        };
        let role_id = self.index.realm_roles.get(&role).cloned().unwrap_or_default();
        let mapping = json!([{ "id": role_id, "name": role }]);
        let holders = |sub: &str| -> Result<BTreeSet<String>, BackendError> {
            let list = self.client.get_all(
                &self.r(&format!("/roles/{}/{sub}?briefRepresentation=true", seg(&role))),
                500,
                &object,
            )?;
            Ok(list
                .iter()
                .filter_map(|v| v.get("id").and_then(Value::as_str).map(str::to_string))
                .collect())
        };
        if let Some(users) = subjects.users.get() {
            let ids = holders("users")?;
            let current: BTreeSet<Name> = self
                .index
                .users
                .iter()
                .filter(|(_, id)| ids.contains(*id))
                .map(|(n, _)| n.clone())
                .collect();
            let (add, remove) = delta(&current, users);
            for (u, method) in add
                .iter()
                .map(|u| (u, Method::POST))
                .chain(remove.iter().map(|u| (u, Method::DELETE)))
            {
                let uid = self.user_id(u)?;
                self.client.send(
                    method,
                    &self.r(&format!("/users/{}/role-mappings/realm", seg(&uid))),
                    Some(&mapping),
                    &format!("{object} for user {:?}", u.as_str()),
                )?;
            }
        }
        if let Some(groups) = subjects.groups.get() {
            let ids = holders("groups")?;
            let current: BTreeSet<Name> = self
                .index
                .groups
                .iter()
                .filter(|(_, g)| ids.contains(&g.id))
                .map(|(n, _)| n.clone())
                .collect();
            let (add, remove) = delta(&current, groups);
            for (g, method) in add
                .iter()
                .map(|g| (g, Method::POST))
                .chain(remove.iter().map(|g| (g, Method::DELETE)))
            {
                let gid = self.group_id(g)?;
                self.client.send(
                    method,
                    &self.r(&format!("/groups/{}/role-mappings/realm", seg(&gid))),
                    Some(&mapping),
                    &format!("{object} for group {:?}", g.as_str()),
                )?;
            }
        }
        Ok(())
    }

    // ---- the realm-wide policy ---------------------------------------------

    fn put_policy(&mut self, name: &Name, s: &SecurityPolicySpec, managed: bool) -> Result<(), BackendError> {
        let object = what(Kind::SecurityPolicy, name);
        let realm = self.client.get(&self.r(""), &object)?;
        let mut body = json!({ "attributes": realm.get("attributes").cloned().unwrap_or(json!({})) });
        if let Some(p) = s.password.get() {
            let current = realm
                .get("passwordPolicy")
                .and_then(Value::as_str)
                .unwrap_or_default();
            body["passwordPolicy"] = json!(policy_with_password(current, p));
        }
        if let Some(sess) = s.session.get() {
            match &sess.lifetime {
                Field::Unset => {}
                Field::Clear => body["ssoSessionMaxLifespan"] = json!(36_000),
                Field::Set(d) => body["ssoSessionMaxLifespan"] = json!(d.as_secs()),
            }
            match &sess.idle_timeout {
                Field::Unset => {}
                Field::Clear => body["ssoSessionIdleTimeout"] = json!(1_800),
                Field::Set(d) => body["ssoSessionIdleTimeout"] = json!(d.as_secs()),
            }
        }
        if let Some(required) = s
            .mfa
            .get()
            .filter(|_| self.touches("mfa"))
            .map(|m| m.required.get() == Some(&true))
        {
            self.flows()?.set_mfa(required)?;
            self.index.mfa_required = required;
            body["browserFlow"] = json!(REALM_BROWSER);
            body["directGrantFlow"] = json!(REALM_DIRECT);
            set_flat_attr(&mut body, MFA_ATTR, Some(if required { "true" } else { "false" }));
        }
        set_flat_attr(&mut body, POLICY_ATTR, managed.then_some(name.as_str()));
        self.client.send(Method::PUT, &self.r(""), Some(&body), &object)?;
        self.index.policy = Some(name.clone());
        Ok(())
    }

    // ---- app assignments ---------------------------------------------------

    fn container(&mut self) -> Result<String, BackendError> {
        if let Some(id) = &self.index.container {
            return Ok(id.clone());
        }
        let body = json!({
            "name": CONTAINER,
            "description": "managed by orgctl: one group per app assignment rule",
            "attributes": { KIND_ATTR: ["container"], MANAGED: ["true"] },
        });
        let id = self.post_id(&self.r("/groups"), &body, "the app assignment groups")?;
        self.index.container = Some(id.clone());
        Ok(id)
    }

    fn put_rule(
        &mut self,
        name: &Name,
        s: &crate::model::AppAssignmentSpec,
        managed: bool,
        _creating: bool,
    ) -> Result<(), BackendError> {
        let object = what(Kind::AppAssignment, name);
        let mut stored = serde_json::to_value(s).unwrap_or(json!({}));
        if let Some(o) = stored.as_object_mut() {
            o.remove("organization");
        }
        let text = serde_json::to_string(&stored).unwrap_or_default();
        match self.index.rules.get(name).cloned() {
            Some(id) => {
                let path = self.r(&format!("/groups/{}", seg(&id)));
                let mut g = self.client.get(&path, &object)?;
                strip_computed(&mut g);
                g["attributes"][SPEC_ATTR] = json!(super::pieces(&text));
                set_list_attr(&mut g, MANAGED, managed.then_some("true"));
                self.client.send(Method::PUT, &path, Some(&g), &object)?;
            }
            None => {
                let parent = self.container()?;
                let body = json!({
                    "name": name.as_str(),
                    "attributes": { KIND_ATTR: ["AppAssignment"], SPEC_ATTR: super::pieces(&text), MANAGED: [if managed { "true" } else { "false" }] },
                });
                let id = self.post_id(
                    &self.r(&format!("/groups/{}/children", seg(&parent))),
                    &body,
                    &object,
                )?;
                self.index.rules.insert(name.clone(), id);
            }
        }
        Ok(())
    }

    fn grant_container(&mut self) -> Result<String, BackendError> {
        if let Some(id) = &self.index.grant_container {
            return Ok(id.clone());
        }
        let body = json!({
            "name": GRANTS,
            "description": "managed by orgctl: one group per distinct list of rule-made app grants",
            "attributes": { KIND_ATTR: ["container"], MANAGED: ["true"] },
        });
        let id = self.post_id(&self.r("/groups"), &body, "the app grant groups")?;
        self.index.grant_container = Some(id.clone());
        Ok(id)
    }

    /// The grant group of `list` (made, or repaired, when needed): a group
    /// mapped to the realm role `grants:<key>`, a composite of the list's app roles.
    fn grant_group(&mut self, key: &str, list: &[RuleGrant], object: &str) -> Result<String, BackendError> {
        if let Some(g) = self.index.grant_groups.get(key).filter(|g| !g.damaged) {
            return Ok(g.id.clone());
        }
        let mut wanted: Vec<(String, String)> = Vec::new();
        for g in list {
            let client = self.index.clients.get(&g.app).ok_or_else(|| {
                BackendError::Remote(format!(
                    "keycloak: {object}: application {:?} does not exist",
                    g.app.as_str()
                ))
            })?;
            let id = client.roles.get(g.role.as_str()).ok_or_else(|| {
                BackendError::Remote(format!(
                    "keycloak: {object}: application {:?} has no role {:?}",
                    g.app.as_str(),
                    g.role.as_str()
                ))
            })?;
            wanted.push((id.clone(), g.role.to_string()));
        }
        wanted.sort();
        wanted.dedup();
        let role = format!("{GRANTS_PREFIX}{key}");
        let role_path = self.r(&format!("/roles/{}", seg(&role)));
        let role_id = match self.index.realm_roles.get(&role) {
            Some(id) => id.clone(),
            None => {
                let body = json!({
                    "name": role,
                    "description": "managed by orgctl: the app roles of one list of rule-made grants",
                    "attributes": { KIND_ATTR: ["grants"], MANAGED: ["true"] },
                });
                let a = self
                    .client
                    .call(Method::POST, &self.r("/roles"), Some(&body), object)?;
                if !a.status.is_success() && a.status.as_u16() != 409 {
                    return Err(self.client.refused(&Method::POST, object, &a));
                }
                let r = self.client.get(&role_path, object)?;
                let id = id_of_value(&r);
                self.index.realm_roles.insert(role.clone(), id.clone());
                id
            }
        };
        match self.index.grant_groups.get(key).cloned() {
            Some(g) => {
                // Damaged: make the role and the group's mapping whole again.
                self.composites(&role, &wanted, object)?;
                let path = self.r(&format!("/groups/{}/role-mappings/realm", seg(&g.id)));
                self.client.send(
                    Method::POST,
                    &path,
                    Some(&json!([{ "id": role_id, "name": role }])),
                    object,
                )?;
                let group_path = self.r(&format!("/groups/{}", seg(&g.id)));
                let mut body = self.client.get(&group_path, object)?;
                strip_computed(&mut body);
                body["attributes"][GRANTS_ATTR] = json!(super::pieces(&grants_text(list)));
                self.client.send(Method::PUT, &group_path, Some(&body), object)?;
                if let Some(g) = self.index.grant_groups.get_mut(key) {
                    g.damaged = false;
                }
                Ok(g.id)
            }
            None => {
                let add: Vec<Value> = wanted
                    .iter()
                    .map(|(i, n)| json!({ "id": i, "name": n }))
                    .collect();
                if !add.is_empty() {
                    self.client.send(
                        Method::POST,
                        &format!("{role_path}/composites"),
                        Some(&Value::Array(add)),
                        object,
                    )?;
                }
                let parent = self.grant_container()?;
                let body = json!({
                    "name": key,
                    "attributes": {
                        KIND_ATTR: ["grants"],
                        MANAGED: ["true"],
                        GRANTS_ATTR: super::pieces(&grants_text(list)),
                    },
                });
                let id = self.post_id(
                    &self.r(&format!("/groups/{}/children", seg(&parent))),
                    &body,
                    object,
                )?;
                self.client.send(
                    Method::POST,
                    &self.r(&format!("/groups/{}/role-mappings/realm", seg(&id))),
                    Some(&json!([{ "id": role_id, "name": role }])),
                    object,
                )?;
                self.index.grant_groups.insert(
                    key.to_string(),
                    super::GrantGroup {
                        id: id.clone(),
                        members: 0,
                        damaged: false,
                    },
                );
                Ok(id)
            }
        }
    }

    /// A user's rule-made grants: membership of the one grant group of its list.
    fn grants(&mut self, user: &Name, grants: &[RuleGrant]) -> Result<(), BackendError> {
        let m = self.prepare_move(0, user, grants)?;
        let moved = send_move(self.client, &self.r(""), &m);
        self.record_move(&m, &moved);
        moved.error.map_or(Ok(()), Err)
    }

    /// The index after a move: members of the lists and the user's list.
    fn record_move(&mut self, m: &GrantMove, moved: &Moved) {
        if moved.joined {
            if let Some(key) = &m.key {
                if let Some(g) = self.index.grant_groups.get_mut(key) {
                    g.members += 1;
                }
                self.index.grant_of.insert(m.user.clone(), key.clone());
            }
        }
        if moved.left {
            if let Some((old, _)) = &m.leave {
                if let Some(g) = self.index.grant_groups.get_mut(old) {
                    g.members = g.members.saturating_sub(1);
                }
            }
            if m.key.is_none() {
                self.index.grant_of.remove(m.user);
            }
        }
    }

    /// A run of grant-list writes: the groups of the lists made or repaired
    /// here first, then the users moved a few at a time. One result per
    /// write answered.
    fn grant_wave(&mut self, wave: &[Write], done: &mut dyn FnMut(usize)) -> Vec<Result<(), String>> {
        let mut prepared: Vec<Result<(), String>> = Vec::with_capacity(wave.len());
        let mut moves: Vec<GrantMove> = Vec::new();
        for (at, w) in wave.iter().enumerate() {
            let Write::Grants { user, grants } = w else {
                prepared.push(Err(format!(
                    "keycloak: {} is not a grant write",
                    what(w.target().0, w.target().1)
                )));
                continue;
            };
            match self.prepare_move(at, user, grants) {
                Ok(m) => {
                    prepared.push(Ok(()));
                    moves.push(m);
                }
                Err(e) => {
                    prepared.push(Err(crate::diagnostic::error_chain(&e)));
                    if matches!(e, BackendError::Unavailable(_)) {
                        break;
                    }
                }
            }
        }
        let client = self.client;
        let prefix = self.r("");
        let answers = wave::run(
            &moves,
            wave::WRITERS,
            |m| send_move(client, &prefix, m),
            |m| matches!(m.error, Some(BackendError::Unavailable(_))),
            done,
        );
        // Answered: every write before the first move that never started
        // (and before the preparation that found Keycloak gone).
        let mut answered = prepared.len();
        for (m, answer) in moves.iter().zip(answers) {
            let Some(moved) = answer else {
                answered = answered.min(m.at);
                break;
            };
            self.record_move(m, &moved);
            if let Some(e) = moved.error {
                if let Some(slot) = prepared.get_mut(m.at) {
                    *slot = Err(crate::diagnostic::error_chain(&e));
                }
            }
        }
        prepared.truncate(answered);
        prepared
    }

    /// What one user's grant write needs: the group of the new list (made or
    /// repaired now, on this thread) and the group of the old one.
    fn prepare_move<'w>(
        &mut self,
        at: usize,
        user: &'w Name,
        grants: &[RuleGrant],
    ) -> Result<GrantMove<'w>, BackendError> {
        let uid = self.user_id(user)?;
        let object = format!("app assignments of user {:?}", user.as_str());
        let key = (!grants.is_empty()).then(|| grant_key(grants));
        let current = self.index.grant_of.get(user).cloned();
        let join = match &key {
            Some(k) => {
                let gid = self.grant_group(k, grants, &object)?;
                (current.as_ref() != Some(k)).then_some(gid)
            }
            None => None,
        };
        let leave = current
            .filter(|c| Some(c) != key.as_ref())
            .and_then(|old| self.index.grant_groups.get(&old).map(|g| (old, g.id.clone())));
        Ok(GrantMove {
            at,
            user,
            uid,
            key,
            join,
            leave,
        })
    }

    /// Deletes grant groups no user is in any more, with their realm roles.
    fn drop_empty_grant_groups(&mut self) -> Result<(), BackendError> {
        let empty: Vec<(String, String)> = self
            .index
            .grant_groups
            .iter()
            .filter(|(_, g)| g.members == 0)
            .map(|(k, g)| (k.clone(), g.id.clone()))
            .collect();
        for (key, id) in empty {
            let object = format!("the unused grant group {key:?}");
            self.delete_path(&self.r(&format!("/groups/{}", seg(&id))), &object)?;
            let role = format!("{GRANTS_PREFIX}{key}");
            self.delete_path(&self.r(&format!("/roles/{}", seg(&role))), &object)?;
            self.index.grant_groups.remove(&key);
            self.index.realm_roles.remove(&role);
        }
        Ok(())
    }

    /// A grant made by hand: a direct client role mapping.
    fn manual_grant(&mut self, user: &Name, app: &Name, role: Option<&Name>) -> Result<(), BackendError> {
        let uid = self.user_id(user)?;
        let client = self.index.clients.get(app).cloned().ok_or_else(|| {
            BackendError::Remote(format!("keycloak: application {:?} does not exist", app.as_str()))
        })?;
        let path = self.r(&format!(
            "/users/{}/role-mappings/clients/{}",
            seg(&uid),
            seg(&client.uuid)
        ));
        let object = format!(
            "grant of application {:?} to user {:?}",
            app.as_str(),
            user.as_str()
        );
        let current = self.client.get(&path, &object)?;
        let current: Vec<Value> = current
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r.get("name").and_then(Value::as_str) != Some(ACCESS_ROLE))
            .cloned()
            .collect();
        if !current.is_empty() {
            self.client
                .send(Method::DELETE, &path, Some(&Value::Array(current)), &object)?;
        }
        if let Some(role) = role {
            let id = client.roles.get(role.as_str()).ok_or_else(|| {
                BackendError::Remote(format!("keycloak: {object}: no role {:?}", role.as_str()))
            })?;
            self.client.send(
                Method::POST,
                &path,
                Some(&json!([{ "id": id, "name": role.as_str() }])),
                &object,
            )?;
        }
        Ok(())
    }

    // ---- deletions -----------------------------------------------------------

    fn delete(&mut self, kind: Kind, name: &Name) -> Result<(), BackendError> {
        let object = what(kind, name);
        match kind {
            Kind::Organization => self.delete_path(&self.r(""), &object),
            Kind::User => match self.index.users.remove(name) {
                Some(id) => self.delete_path(&self.r(&format!("/users/{}", seg(&id))), &object),
                None => Ok(()),
            },
            Kind::Group => {
                let Some(g) = self.index.groups.get(name).cloned() else {
                    return Ok(());
                };
                // Deleting a Keycloak group deletes its subgroups: move them out first.
                let children: Vec<Name> = self
                    .index
                    .groups
                    .iter()
                    .filter(|(_, c)| c.parent.as_deref() == Some(g.id.as_str()))
                    .map(|(n, _)| n.clone())
                    .collect();
                for c in children {
                    self.move_to_top(&c)?;
                }
                self.index.groups.remove(name);
                self.delete_path(&self.r(&format!("/groups/{}", seg(&g.id))), &object)
            }
            Kind::Application => {
                let Some(c) = self.index.clients.remove(name) else {
                    return Ok(());
                };
                self.delete_path(&self.r(&format!("/clients/{}", seg(&c.uuid))), &object)?;
                self.flows()?.delete_app(name.as_str())
            }
            Kind::IdentityProvider => {
                self.index.idps.remove(name);
                self.delete_path(
                    &self.r(&format!("/identity-provider/instances/{}", seg(name.as_str()))),
                    &object,
                )
            }
            Kind::Role => self.delete_path(
                &self.r(&format!("/roles/{}", seg(&format!("{ROLE_PREFIX}{name}")))),
                &object,
            ),
            Kind::RoleBinding => self.delete_path(
                &self.r(&format!("/roles/{}", seg(&format!("{BINDING_PREFIX}{name}")))),
                &object,
            ),
            Kind::SecurityPolicy => {
                // The realm's settings stay; only the policy's name goes, and
                // only when it names this policy (a renamed default policy is
                // written before the old one is deleted).
                let realm = self.client.get(&self.r(""), &object)?;
                let attrs = flat_attrs(&realm);
                if attrs.get(POLICY_ATTR).map(String::as_str) != Some(name.as_str()) {
                    return Ok(());
                }
                let mut body = json!({ "attributes": realm.get("attributes").cloned().unwrap_or(json!({})) });
                set_flat_attr(&mut body, POLICY_ATTR, None);
                self.client.send(Method::PUT, &self.r(""), Some(&body), &object)?;
                Ok(())
            }
            Kind::AppAssignment => match self.index.rules.remove(name) {
                Some(id) => self.delete_path(&self.r(&format!("/groups/{}", seg(&id))), &object),
                None => Ok(()),
            },
        }
    }
}
