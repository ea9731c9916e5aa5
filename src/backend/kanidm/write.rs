//! Writes to Kanidm, attribute by attribute: each object's desired spec is
//! compared with the entry the snapshot read, and only differing attributes
//! are sent (`PUT …/_attr/x` replaces, `POST` appends, `DELETE` with a body
//! removes values, without one purges). Fields absent from the files are not
//! touched. Memberships many writes share (the tracking group, rule grants,
//! the super admin's privilege groups) are batched into one request per
//! group at the end of the run.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::Method;
use serde_json::{json, Value};

use super::client::{seg, Client};
use super::mapping::{
    self, app_role_group, display_name, grant_group, privilege_groups, role_scope, split_display_name,
    ALL_PERSONS, APP_ROLE, ASSIGNMENT, BINDING, EXPIRED, GRANT, POLICY, TRACKING,
};
use super::read::{first, values};
use super::{Attrs, Index, OrgRecord};
use crate::backend::{BackendError, RuleGrant, Write};
use crate::model::{
    AppAssignmentSpec, ApplicationSpec, Collection, CollectionMode, Field, GroupSpec, Kind, Members, Name,
    OrganizationSpec, RoleBindingSpec, SecurityPolicySpec, Spec, UserSpec, UserStatus,
};

/// Which list an entry lives in.
#[derive(Clone, Copy)]
enum Class {
    Person,
    Group,
    App,
}

impl Class {
    fn path(self) -> &'static str {
        match self {
            Class::Person => "/person",
            Class::Group => "/group",
            Class::App => "/oauth2",
        }
    }
}

fn what(kind: Kind, name: &str) -> String {
    kind.label(name).to_string()
}

/// Membership changes to send to one group at the end of the run, each
/// value with the writes it serves.
#[derive(Default)]
struct Pending {
    add: BTreeMap<String, Vec<usize>>,
    remove: BTreeMap<String, Vec<usize>>,
}

/// One apply's writes against one Kanidm server.
pub struct Writer<'a> {
    client: &'a Client,
    org: Name,
    index: Index,
    /// Group → membership changes, flushed at the end.
    pending: BTreeMap<String, Pending>,
    /// Grant groups to create (nested in their role's group) before the flush.
    new_grant_groups: BTreeSet<String>,
    /// Group memberships naming a group this run has yet to create: written
    /// once every write has run (write index, group, members).
    deferred: Vec<(usize, Name, Members)>,
    /// The write running now.
    current: usize,
}

impl<'a> Writer<'a> {
    /// A writer over the entries `index` read.
    pub fn new(client: &'a Client, org: Name, index: Index) -> Self {
        Writer {
            client,
            org,
            index,
            pending: BTreeMap::new(),
            new_grant_groups: BTreeSet::new(),
            deferred: Vec::new(),
            current: 0,
        }
    }

    /// Runs every write; per write `Ok` or why it failed.
    pub fn run(&mut self, writes: &[Write], progress: &mut dyn FnMut(usize)) -> Vec<Result<(), String>> {
        let mut results: Vec<Result<(), String>> = Vec::with_capacity(writes.len());
        for (i, w) in writes.iter().enumerate() {
            self.current = i;
            results.push(self.apply(i, w).map_err(|e| e.to_string()));
            progress(i + 1);
        }
        for (i, group, m) in std::mem::take(&mut self.deferred) {
            let object = what(Kind::Group, group.as_str());
            if let Err(e) = self.members(group.as_str(), &m, &object) {
                if let Some(r) = results.get_mut(i).filter(|r| r.is_ok()) {
                    *r = Err(e.to_string());
                }
            }
        }
        self.flush(&mut results);
        results
    }

    fn apply(&mut self, i: usize, w: &Write) -> Result<(), BackendError> {
        match w {
            Write::Put {
                kind,
                name,
                spec,
                managed,
                ..
            } => {
                match spec {
                    Spec::Organization(s) => self.put_org(i, s)?,
                    Spec::User(s) => self.put_user(name, s)?,
                    Spec::Group(s) => self.put_group(name, s)?,
                    Spec::Application(s) => self.put_app(name, s)?,
                    Spec::RoleBinding(s) => self.put_binding(name, s)?,
                    Spec::SecurityPolicy(s) => self.put_policy(name, s)?,
                    Spec::AppAssignment(s) => self.put_assignment(name, s)?,
                    Spec::Role(_) | Spec::IdentityProvider(_) => {
                        return Err(BackendError::Remote(format!(
                            "kanidm cannot hold {}",
                            what(*kind, name.as_str())
                        )))
                    }
                }
                if *managed && matches!(kind, Kind::User | Kind::Group | Kind::Application) {
                    self.track(i, name.as_str());
                }
                Ok(())
            }
            Write::Delete { kind, name, .. } => self.delete(*kind, name),
            Write::Grants { user, grants } => {
                self.grants(i, user, grants);
                Ok(())
            }
            Write::ManualGrant { user, app, role } => self.manual_grant(user, app, role.as_ref()),
        }
    }

    fn track(&mut self, i: usize, name: &str) {
        if !self.index.tracked.contains(name) {
            self.index.tracked.insert(name.to_string());
            self.queue(TRACKING, name, i, true);
        }
    }

    fn queue(&mut self, group: &str, value: &str, i: usize, add: bool) {
        let p = self.pending.entry(group.to_string()).or_default();
        let (to, from) = if add {
            (&mut p.add, &mut p.remove)
        } else {
            (&mut p.remove, &mut p.add)
        };
        from.remove(value);
        to.entry(value.to_string()).or_default().push(i);
    }

    // ---- requests -------------------------------------------------------

    fn attr_path(class: Class, entry: &str, attr: &str) -> String {
        format!("{}/{}/_attr/{}", class.path(), seg(entry), seg(attr))
    }

    fn put_attr(
        &self,
        class: Class,
        entry: &str,
        attr: &str,
        vals: &[String],
        object: &str,
    ) -> Result<(), BackendError> {
        if vals.is_empty() {
            return self.purge_attr(class, entry, attr, object);
        }
        self.client.send(
            Method::PUT,
            &Self::attr_path(class, entry, attr),
            Some(&json!(vals)),
            object,
        )
    }

    fn purge_attr(&self, class: Class, entry: &str, attr: &str, object: &str) -> Result<(), BackendError> {
        self.client
            .delete(&Self::attr_path(class, entry, attr), None, object)
    }

    fn create(&mut self, class: Class, path: &str, attrs: Attrs, object: &str) -> Result<(), BackendError> {
        let name = attrs
            .get("name")
            .and_then(|n| n.first())
            .cloned()
            .unwrap_or_default();
        self.client
            .send(Method::POST, path, Some(&json!({ "attrs": attrs })), object)?;
        let map = match class {
            Class::Person => &mut self.index.persons,
            Class::Group => &mut self.index.groups,
            Class::App => &mut self.index.apps,
        };
        map.insert(name, attrs);
        Ok(())
    }

    /// Sets one single-valued attribute to `want` (`None`: purge) when it differs.
    fn set_one(
        &mut self,
        class: Class,
        entry: &str,
        attr: &str,
        want: Option<String>,
        object: &str,
    ) -> Result<(), BackendError> {
        let current = self
            .entry(class, entry)
            .and_then(|a| first(a, attr))
            .map(str::to_string);
        if current == want {
            return Ok(());
        }
        match &want {
            Some(v) => self.put_attr(class, entry, attr, std::slice::from_ref(v), object)?,
            None => self.purge_attr(class, entry, attr, object)?,
        }
        self.remember(class, entry, attr, want.into_iter().collect());
        Ok(())
    }

    fn entry(&self, class: Class, name: &str) -> Option<&Attrs> {
        match class {
            Class::Person => self.index.persons.get(name),
            Class::Group => self.index.groups.get(name),
            Class::App => self.index.apps.get(name),
        }
    }

    fn remember(&mut self, class: Class, name: &str, attr: &str, vals: Vec<String>) {
        let map = match class {
            Class::Person => &mut self.index.persons,
            Class::Group => &mut self.index.groups,
            Class::App => &mut self.index.apps,
        };
        if let Some(a) = map.get_mut(name) {
            a.insert(attr.to_string(), vals);
        }
    }

    /// Makes a group's `member` the desired users and groups: authoritative
    /// collections replace their part, additive ones only add; members that
    /// are neither persons nor groups orgctl can name are kept.
    fn members(&mut self, group: &str, m: &Members, object: &str) -> Result<(), BackendError> {
        let current: Vec<String> = self
            .entry(Class::Group, group)
            .map(|a| values(a, "member").to_vec())
            .unwrap_or_default();
        let is_person = |v: &str| self.index.persons.contains_key(v);
        let is_group = |v: &str| self.index.groups.contains_key(v) && v.parse::<Name>().is_ok();
        let mut want: BTreeSet<String> = current.iter().cloned().collect();
        let mut apply = |field: &Field<Collection<Name>>, of_kind: &dyn Fn(&str) -> bool| match field {
            Field::Unset => {}
            Field::Clear => want.retain(|v| !of_kind(v)),
            Field::Set(c) => {
                if c.mode == CollectionMode::Authoritative {
                    want.retain(|v| !of_kind(v));
                }
                want.extend(c.items.iter().map(|n| n.to_string()));
            }
        };
        apply(&m.users, &is_person);
        apply(&m.groups, &|v| is_group(v) && !is_person(v));
        let now: BTreeSet<String> = current.into_iter().collect();
        if want == now {
            return Ok(());
        }
        let list: Vec<String> = want.into_iter().collect();
        self.put_attr(Class::Group, group, "member", &list, object)?;
        self.remember(Class::Group, group, "member", list);
        Ok(())
    }

    /// Creates a group of orgctl's own if missing.
    fn ensure_group(
        &mut self,
        group: &str,
        description: Option<String>,
        object: &str,
    ) -> Result<bool, BackendError> {
        if self.index.groups.contains_key(group) {
            if let Some(d) = description {
                self.set_one(Class::Group, group, "description", Some(d), object)?;
            }
            return Ok(false);
        }
        let mut attrs = Attrs::new();
        attrs.insert("name".into(), vec![group.to_string()]);
        if let Some(d) = description {
            attrs.insert("description".into(), vec![d]);
        }
        self.create(Class::Group, "/group", attrs, object)?;
        Ok(true)
    }

    /// Adds `member` to `group` at once (privilege groups, role nesting).
    fn add_member(&mut self, group: &str, member: &str, object: &str) -> Result<(), BackendError> {
        let has = self
            .entry(Class::Group, group)
            .is_some_and(|a| values(a, "member").iter().any(|m| m == member));
        if has {
            return Ok(());
        }
        self.client.send(
            Method::POST,
            &Self::attr_path(Class::Group, group, "member"),
            Some(&json!([member])),
            object,
        )?;
        if let Some(a) = self.index.groups.get_mut(group) {
            a.entry("member".into()).or_default().push(member.to_string());
        }
        Ok(())
    }

    /// Removes `member` from `group` at once, if it is there.
    fn remove_member(&mut self, group: &str, member: &str, object: &str) -> Result<(), BackendError> {
        let has = self
            .entry(Class::Group, group)
            .is_some_and(|a| values(a, "member").iter().any(|m| m == member));
        if !has {
            return Ok(());
        }
        self.client.delete(
            &Self::attr_path(Class::Group, group, "member"),
            Some(&json!([member])),
            object,
        )?;
        if let Some(a) = self.index.groups.get_mut(group) {
            a.entry("member".into()).or_default().retain(|m| m != member);
        }
        Ok(())
    }

    // ---- kinds ----------------------------------------------------------

    fn record(&self) -> OrgRecord {
        self.index.record.clone().unwrap_or_else(|| OrgRecord {
            organization: self.org.clone(),
            spec: json!({}),
            policy: None,
        })
    }

    fn write_record(&mut self, record: OrgRecord, object: &str) -> Result<(), BackendError> {
        let text = serde_json::to_string(&record).unwrap_or_default();
        if self.index.tracking {
            self.set_one(Class::Group, TRACKING, "description", Some(text), object)?;
        } else {
            let mut attrs = Attrs::new();
            attrs.insert("name".into(), vec![TRACKING.to_string()]);
            attrs.insert("description".into(), vec![text]);
            self.create(Class::Group, "/group", attrs, object)?;
            self.index.tracking = true;
        }
        self.index.record = Some(record);
        Ok(())
    }

    fn put_org(&mut self, i: usize, s: &OrganizationSpec) -> Result<(), BackendError> {
        let object = what(Kind::Organization, self.org.as_str());
        let mut record = self.record();
        let old_admin = record
            .spec
            .get("superAdmin")
            .and_then(Value::as_str)
            .map(str::to_string);
        let mut spec = serde_json::to_value(s).unwrap_or_default();
        if let Some(m) = spec.as_object_mut() {
            m.remove("displayName");
            m.remove("organization");
        }
        // Fields the files leave unset keep what the record holds.
        let mut merged = record.spec.as_object().cloned().unwrap_or_default();
        for (k, v) in spec.as_object().cloned().unwrap_or_default() {
            merged.insert(k, v);
        }
        record.spec = Value::Object(merged);
        self.write_record(record, &object)?;
        match &s.display_name {
            Field::Unset => {}
            Field::Clear => self
                .client
                .delete("/domain/_attr/domain_display_name", None, &object)?,
            Field::Set(d) => {
                if self.index.display_name.as_deref() != Some(d.as_str()) {
                    self.client.send(
                        Method::PUT,
                        "/domain/_attr/domain_display_name",
                        Some(&json!([d])),
                        &object,
                    )?;
                    self.index.display_name = Some(d.clone());
                }
            }
        }
        if let Some(new) = &s.super_admin {
            // The person may be created later in this run: queued.
            for g in privilege_groups("super-admin").unwrap_or_default() {
                self.queue(g, new.as_str(), i, true);
                if let Some(old) = old_admin.as_deref().filter(|o| *o != new.as_str()) {
                    self.queue(g, old, i, false);
                }
            }
        }
        Ok(())
    }

    fn put_user(&mut self, name: &Name, s: &UserSpec) -> Result<(), BackendError> {
        let n = name.as_str();
        let object = what(Kind::User, n);
        let current = self.index.persons.get(n).cloned();
        let (live_first, live_last) = current
            .as_ref()
            .map(|a| split_display_name(first(a, "displayname").unwrap_or_default()))
            .unwrap_or_default();
        let pick = |f: &Field<String>, live: Option<String>| match f {
            Field::Unset => live,
            Field::Clear => None,
            Field::Set(v) => Some(v.clone()),
        };
        let first_name = pick(&s.first_name, live_first);
        let last_name = pick(&s.last_name, live_last);
        let display = display_name(first_name.as_deref(), last_name.as_deref(), n);
        let deactivated = matches!(s.status, Field::Set(UserStatus::Deactivated));
        let Some(current) = current else {
            let mut attrs = Attrs::new();
            attrs.insert("name".into(), vec![n.to_string()]);
            attrs.insert("displayname".into(), vec![display]);
            if let Some(e) = &s.email {
                attrs.insert("mail".into(), vec![e.as_str().to_string()]);
            }
            self.create(Class::Person, "/person", attrs, &object)?;
            if deactivated {
                self.set_one(Class::Person, n, "account_expire", Some(EXPIRED.into()), &object)?;
            }
            return Ok(());
        };
        if !(s.first_name.is_unset() && s.last_name.is_unset()) {
            self.set_one(Class::Person, n, "displayname", Some(display), &object)?;
        }
        if let Some(e) = &s.email {
            let mut mails = values(&current, "mail").to_vec();
            if mails.first().map(|m| m.to_lowercase()) != Some(e.as_str().to_lowercase()) {
                mails.retain(|m| !m.eq_ignore_ascii_case(e.as_str()));
                mails.insert(0, e.as_str().to_string());
                self.put_attr(Class::Person, n, "mail", &mails, &object)?;
                self.remember(Class::Person, n, "mail", mails);
            }
        }
        match s.status {
            Field::Set(UserStatus::Deactivated) => {
                // set_one writes only when the value differs.
                self.set_one(Class::Person, n, "account_expire", Some(EXPIRED.into()), &object)?;
            }
            Field::Set(UserStatus::Active) | Field::Clear => {
                let live_expired = first(&current, "account_expire").is_some_and(|v| {
                    use time::format_description::well_known::Rfc3339;
                    time::OffsetDateTime::parse(v, &Rfc3339)
                        .is_ok_and(|t| t <= time::OffsetDateTime::now_utc())
                });
                if live_expired {
                    self.set_one(Class::Person, n, "account_expire", None, &object)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn put_group(&mut self, name: &Name, s: &GroupSpec) -> Result<(), BackendError> {
        let n = name.as_str();
        let object = what(Kind::Group, n);
        if !self.index.groups.contains_key(n) {
            let mut attrs = Attrs::new();
            attrs.insert("name".into(), vec![n.to_string()]);
            if let Some(d) = s.description.get() {
                attrs.insert("description".into(), vec![d.clone()]);
            }
            self.create(Class::Group, "/group", attrs, &object)?;
        } else {
            match &s.description {
                Field::Unset => {}
                Field::Clear => self.set_one(Class::Group, n, "description", None, &object)?,
                Field::Set(d) => self.set_one(Class::Group, n, "description", Some(d.clone()), &object)?,
            }
        }
        if let Some(m) = s.members.get() {
            let later = m
                .groups
                .get()
                .is_some_and(|c| c.iter().any(|g| !self.index.groups.contains_key(g.as_str())));
            if later {
                // A nested group this run creates later: Kanidm refuses a
                // reference to a missing entry.
                self.deferred.push((self.current, name.clone(), m.clone()));
            } else {
                self.members(n, m, &object)?;
            }
        }
        Ok(())
    }

    fn put_app(&mut self, name: &Name, s: &ApplicationSpec) -> Result<(), BackendError> {
        let n = name.as_str();
        let object = what(Kind::Application, n);
        let uris: Option<Vec<String>> = s
            .oidc
            .get()
            .and_then(|o| o.redirect_uris.get())
            .map(|c| c.items.iter().cloned().collect());
        if !self.index.apps.contains_key(n) {
            let uris = uris.clone().unwrap_or_default();
            let landing = uris.first().cloned().ok_or_else(|| {
                BackendError::Remote(format!(
                    "{object}: Kanidm needs a landing URL (the first redirect URI)"
                ))
            })?;
            let mut attrs = Attrs::new();
            attrs.insert("name".into(), vec![n.to_string()]);
            attrs.insert(
                "displayname".into(),
                vec![s.display_name.get().cloned().unwrap_or_else(|| n.to_string())],
            );
            attrs.insert("oauth2_rs_origin_landing".into(), vec![landing]);
            attrs.insert("oauth2_strict_redirect_uri".into(), vec!["true".into()]);
            self.create(Class::App, "/oauth2/_basic", attrs, &object)?;
            if !uris.is_empty() {
                self.client.send(
                    Method::POST,
                    &Self::attr_path(Class::App, n, "oauth2_rs_origin"),
                    Some(&json!(uris)),
                    &object,
                )?;
                self.remember(Class::App, n, "oauth2_rs_origin", uris);
            }
        } else {
            if let Some(d) = s.display_name.get() {
                let current = self.entry(Class::App, n).and_then(|a| first(a, "displayname"));
                if current != Some(d.as_str()) {
                    self.client.send(
                        Method::PATCH,
                        &format!("/oauth2/{}", seg(n)),
                        Some(&json!({ "attrs": { "displayname": [d] } })),
                        &object,
                    )?;
                    self.remember(Class::App, n, "displayname", vec![d.clone()]);
                }
            }
            if let Some(field) = s.oidc.get().map(|o| &o.redirect_uris) {
                let now: BTreeSet<String> = self
                    .entry(Class::App, n)
                    .map(|a| values(a, "oauth2_rs_origin").iter().cloned().collect())
                    .unwrap_or_default();
                let (add, remove): (Vec<String>, Vec<String>) = match field {
                    Field::Unset => (Vec::new(), Vec::new()),
                    Field::Clear => (Vec::new(), now.iter().cloned().collect()),
                    Field::Set(c) => (
                        c.items.difference(&now).cloned().collect(),
                        if c.mode == CollectionMode::Authoritative {
                            now.difference(&c.items).cloned().collect()
                        } else {
                            Vec::new()
                        },
                    ),
                };
                let path = Self::attr_path(Class::App, n, "oauth2_rs_origin");
                if !add.is_empty() {
                    self.client
                        .send(Method::POST, &path, Some(&json!(add)), &object)?;
                }
                if !remove.is_empty() {
                    self.client.delete(&path, Some(&json!(remove)), &object)?;
                }
                let mut all: BTreeSet<String> = now;
                all.extend(add);
                all.retain(|u| !remove.contains(u));
                self.remember(Class::App, n, "oauth2_rs_origin", all.into_iter().collect());
            }
        }
        if let Some(roles) = s.roles.get() {
            self.app_roles(name, roles, &object)?;
        }
        Ok(())
    }

    /// One group per app role, scope-mapped to the app with the role as a scope.
    fn app_roles(&mut self, app: &Name, roles: &Collection<Name>, object: &str) -> Result<(), BackendError> {
        let mapped: BTreeSet<String> = self
            .entry(Class::App, app.as_str())
            .map(|a| {
                values(a, "oauth2_rs_scope_map")
                    .iter()
                    .filter_map(|m| m.split_once(':'))
                    .filter_map(|(g, _)| g.trim().split('@').next().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        for role in roles.iter() {
            let group = app_role_group(app, role);
            self.ensure_group(
                &group,
                Some(format!("orgctl: role {role:?} of application {app:?}")),
                object,
            )?;
            if !mapped.contains(&group) {
                let scopes = [
                    "openid".to_string(),
                    "profile".into(),
                    "email".into(),
                    role_scope(role),
                ];
                self.client.send(
                    Method::POST,
                    &format!("/oauth2/{}/_scopemap/{}", seg(app.as_str()), seg(&group)),
                    Some(&json!(scopes)),
                    object,
                )?;
            }
        }
        if roles.mode == CollectionMode::Authoritative {
            let prefix = format!("{APP_ROLE}{app}_");
            let stale: Vec<String> = self
                .index
                .groups
                .keys()
                .filter(|g| g.starts_with(&prefix))
                .filter(|g| {
                    mapping::parts(g, APP_ROLE, 2)
                        .is_some_and(|p| p[0] == *app && !roles.items.contains(&p[1]))
                })
                .cloned()
                .collect();
            for g in stale {
                self.client.delete(&format!("/group/{}", seg(&g)), None, object)?;
                self.index.groups.remove(&g);
            }
        }
        Ok(())
    }

    fn put_binding(&mut self, name: &Name, s: &RoleBindingSpec) -> Result<(), BackendError> {
        let object = what(Kind::RoleBinding, name.as_str());
        let group = format!("{BINDING}{name}");
        let role = s.role.as_ref().map(Name::as_str).unwrap_or("member");
        let privileges = privilege_groups(role).ok_or_else(|| {
            BackendError::Remote(format!(
                "{object}: Kanidm has no privilege group for role {role:?}"
            ))
        })?;
        let old_role = self
            .entry(Class::Group, &group)
            .and_then(|a| first(a, "description"))
            .and_then(|d| serde_json::from_str::<Value>(d).ok())
            .and_then(|v| v.get("role").and_then(Value::as_str).map(str::to_string));
        self.ensure_group(&group, Some(json!({ "role": role }).to_string()), &object)?;
        if let Some(old) = old_role.as_deref().filter(|o| *o != role) {
            for g in privilege_groups(old).unwrap_or_default() {
                if !privileges.contains(g) {
                    self.remove_member(g, &group, &object)?;
                }
            }
        }
        for g in privileges {
            self.add_member(g, &group, &object)?;
        }
        if let Some(m) = s.subjects.get() {
            self.members(&group, m, &object)?;
        }
        Ok(())
    }

    fn put_policy(&mut self, name: &Name, s: &SecurityPolicySpec) -> Result<(), BackendError> {
        let object = what(Kind::SecurityPolicy, name.as_str());
        let group = if s.default.get() == Some(&true) {
            let mut record = self.record();
            if record.policy.as_ref() != Some(name) {
                record.policy = Some(name.clone());
                self.write_record(record, &object)?;
            }
            ALL_PERSONS.to_string()
        } else {
            let group = format!("{POLICY}{name}");
            let priority = s.priority.get().copied().unwrap_or(0);
            self.ensure_group(&group, Some(json!({ "priority": priority }).to_string()), &object)?;
            let classes = self
                .entry(Class::Group, &group)
                .map(|a| values(a, "class").to_vec())
                .unwrap_or_default();
            if !classes.iter().any(|c| c == "account_policy") {
                self.client.send(
                    Method::POST,
                    &Self::attr_path(Class::Group, &group, "class"),
                    Some(&json!(["account_policy"])),
                    &object,
                )?;
                if let Some(a) = self.index.groups.get_mut(&group) {
                    a.entry("class".into()).or_default().push("account_policy".into());
                }
            }
            if let Some(t) = s.targets.get() {
                let m = Members {
                    users: t.users.clone(),
                    groups: t.groups.clone(),
                };
                self.members(&group, &m, &object)?;
            }
            group
        };
        let password = s.password.get().map(|p| &p.min_length);
        if let Some(f) = password {
            let want = match f {
                Field::Unset => None,
                Field::Clear => Some(None),
                Field::Set(n) => Some(Some(n.to_string())),
            };
            if let Some(v) = want {
                self.set_one(Class::Group, &group, "auth_password_minimum_length", v, &object)?;
            }
        }
        if let Some(f) = s.mfa.get().map(|m| &m.required) {
            let current = self
                .entry(Class::Group, &group)
                .and_then(|a| first(a, "credential_type_minimum"))
                .map(str::to_string);
            match f {
                Field::Set(true) if !current.as_deref().is_some_and(mapping::requires_mfa) => self.set_one(
                    Class::Group,
                    &group,
                    "credential_type_minimum",
                    Some("mfa".into()),
                    &object,
                )?,
                Field::Set(false) | Field::Clear if current.is_some() => {
                    self.set_one(Class::Group, &group, "credential_type_minimum", None, &object)?
                }
                _ => {}
            }
        }
        if let Some(f) = s.session.get().map(|x| &x.lifetime) {
            match f {
                Field::Unset => {}
                Field::Clear => self.set_one(Class::Group, &group, "authsession_expiry", None, &object)?,
                Field::Set(d) => self.set_one(
                    Class::Group,
                    &group,
                    "authsession_expiry",
                    Some(d.as_secs().to_string()),
                    &object,
                )?,
            }
        }
        Ok(())
    }

    fn put_assignment(&mut self, name: &Name, s: &AppAssignmentSpec) -> Result<(), BackendError> {
        let object = what(Kind::AppAssignment, name.as_str());
        let mut spec = serde_json::to_value(s).unwrap_or_default();
        if let Some(m) = spec.as_object_mut() {
            m.remove("organization");
        }
        self.ensure_group(&format!("{ASSIGNMENT}{name}"), Some(spec.to_string()), &object)?;
        Ok(())
    }

    fn delete(&mut self, kind: Kind, name: &Name) -> Result<(), BackendError> {
        let n = name.as_str();
        let object = what(kind, n);
        let drop_group = |w: &mut Self, g: &str| -> Result<(), BackendError> {
            w.client.delete(&format!("/group/{}", seg(g)), None, &object)?;
            w.index.groups.remove(g);
            Ok(())
        };
        match kind {
            Kind::User => {
                self.client
                    .delete(&format!("/person/{}", seg(n)), None, &object)?;
                self.index.persons.remove(n);
            }
            Kind::Group => drop_group(self, n)?,
            Kind::Application => {
                self.client
                    .delete(&format!("/oauth2/{}", seg(n)), None, &object)?;
                self.index.apps.remove(n);
                let helpers: Vec<String> = self
                    .index
                    .groups
                    .keys()
                    .filter(|g| {
                        mapping::parts(g, APP_ROLE, 2).is_some_and(|p| p[0] == *name)
                            || mapping::parts(g, GRANT, 3).is_some_and(|p| p[1] == *name)
                    })
                    .cloned()
                    .collect();
                for g in helpers {
                    drop_group(self, &g)?;
                }
            }
            Kind::RoleBinding => drop_group(self, &format!("{BINDING}{n}"))?,
            Kind::AppAssignment => {
                drop_group(self, &format!("{ASSIGNMENT}{n}"))?;
                let helpers: Vec<String> = self
                    .index
                    .groups
                    .keys()
                    .filter(|g| mapping::parts(g, GRANT, 3).is_some_and(|p| p[0] == *name))
                    .cloned()
                    .collect();
                for g in helpers {
                    drop_group(self, &g)?;
                }
            }
            Kind::SecurityPolicy => {
                let mut record = self.record();
                if record.policy.as_ref() == Some(name) {
                    for attr in [
                        "auth_password_minimum_length",
                        "credential_type_minimum",
                        "authsession_expiry",
                    ] {
                        self.set_one(Class::Group, ALL_PERSONS, attr, None, &object)?;
                    }
                    record.policy = None;
                    self.write_record(record, &object)?;
                } else {
                    drop_group(self, &format!("{POLICY}{n}"))?;
                }
            }
            Kind::Organization => {
                drop_group(self, TRACKING)?;
                self.index.tracking = false;
                self.index.record = None;
            }
            Kind::Role | Kind::IdentityProvider => {}
        }
        Ok(())
    }

    /// Queues the user's moves between rule grant groups.
    fn grants(&mut self, i: usize, user: &Name, grants: &[RuleGrant]) {
        let want: BTreeSet<String> = grants
            .iter()
            .map(|g| grant_group(&g.rule, &g.app, &g.role))
            .collect();
        let have: Vec<String> = self
            .index
            .groups
            .iter()
            .filter(|(g, a)| g.starts_with(GRANT) && values(a, "member").iter().any(|m| m == user.as_str()))
            .map(|(g, _)| g.clone())
            .collect();
        for g in &have {
            if !want.contains(g) {
                self.queue(g, user.as_str(), i, false);
            }
        }
        for g in want {
            if !have.contains(&g) {
                if !self.index.groups.contains_key(&g) {
                    self.new_grant_groups.insert(g.clone());
                }
                self.queue(&g, user.as_str(), i, true);
            }
        }
    }

    /// A hand-made grant: direct membership of the app role's group.
    fn manual_grant(&mut self, user: &Name, app: &Name, role: Option<&Name>) -> Result<(), BackendError> {
        let object = what(Kind::User, user.as_str());
        let prefix = format!("{APP_ROLE}{app}_");
        let groups: Vec<String> = self
            .index
            .groups
            .keys()
            .filter(|g| g.starts_with(&prefix))
            .cloned()
            .collect();
        let target = role.map(|r| app_role_group(app, r));
        for g in groups.iter().filter(|g| Some(*g) != target.as_ref()) {
            self.remove_member(g, user.as_str(), &object)?;
        }
        if let Some(t) = target {
            if !self.index.groups.contains_key(&t) {
                return Err(BackendError::Remote(format!(
                    "{object}: application {app:?} has no role {:?}",
                    role.map(Name::as_str).unwrap_or_default()
                )));
            }
            self.add_member(&t, user.as_str(), &object)?;
        }
        Ok(())
    }

    /// Sends the batched memberships: new grant groups first (nested in
    /// their role's group), then one append and one removal per group.
    fn flush(&mut self, results: &mut [Result<(), String>]) {
        let fail = |results: &mut [Result<(), String>], owners: &[usize], e: &BackendError| {
            for i in owners {
                if let Some(r) = results.get_mut(*i).filter(|r| r.is_ok()) {
                    *r = Err(e.to_string());
                }
            }
        };
        for g in std::mem::take(&mut self.new_grant_groups) {
            let owners: Vec<usize> = self
                .pending
                .get(&g)
                .map(|p| p.add.values().flatten().copied().collect())
                .unwrap_or_default();
            let object = format!("group {g:?}");
            let made = mapping::parts(&g, GRANT, 3)
                .ok_or_else(|| BackendError::Remote(format!("{object}: not a grant group")));
            let made = made.and_then(|p| {
                self.ensure_group(&g, None, &object)?;
                self.add_member(&app_role_group(&p[1], &p[2]), &g, &object)
            });
            if let Err(e) = made {
                fail(results, &owners, &e);
                self.pending.remove(&g);
            }
        }
        if self.pending.contains_key(TRACKING) && !self.index.tracking {
            let record = self.record();
            if let Err(e) = self.write_record(record, "the tracking group") {
                let owners: Vec<usize> = self.pending[TRACKING].add.values().flatten().copied().collect();
                fail(results, &owners, &e);
                self.pending.remove(TRACKING);
            }
        }
        for (group, p) in std::mem::take(&mut self.pending) {
            let path = Self::attr_path(Class::Group, &group, "member");
            let object = format!("members of group {group:?}");
            let current: BTreeSet<&String> = self
                .index
                .groups
                .get(&group)
                .map(|a| values(a, "member").iter().collect())
                .unwrap_or_default();
            let add: Vec<&String> = p.add.keys().filter(|v| !current.contains(v)).collect();
            if !add.is_empty() {
                if let Err(e) = self.client.send(Method::POST, &path, Some(&json!(add)), &object) {
                    fail(
                        results,
                        &p.add.values().flatten().copied().collect::<Vec<_>>(),
                        &e,
                    );
                }
            }
            let remove: Vec<&String> = p.remove.keys().filter(|v| current.contains(v)).collect();
            if !remove.is_empty() {
                if let Err(e) = self.client.delete(&path, Some(&json!(remove)), &object) {
                    fail(
                        results,
                        &p.remove.values().flatten().copied().collect::<Vec<_>>(),
                        &e,
                    );
                }
            }
        }
    }
}
