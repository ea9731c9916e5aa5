//! The snapshot of the Kanidm domain: four list reads (`/v1/domain`,
//! `/v1/group`, `/v1/person`, `/v1/oauth2`), whatever the size of the
//! organization, mapped onto the model. Also builds the [`Index`] of raw
//! entries that writes diff against.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use super::client::Client;
use super::mapping::{
    self, parts, split_display_name, ALL_PERSONS, APP_ROLE, ASSIGNMENT, BINDING, GRANT, POLICY, TRACKING,
};
use super::{Attrs, Index, OrgRecord};
use crate::backend::{BackendError, LiveGrants, LiveOrg, RuleGrant};
use crate::model::{Duration, Kind, Name};

/// The entries of a list answer, their references stripped of `@domain`.
fn entries(list: &Value, domain: &str, what: &str) -> Result<BTreeMap<String, Attrs>, BackendError> {
    let Value::Array(items) = list else {
        return Err(BackendError::Remote(format!(
            "kanidm: reading {what}: expected a list"
        )));
    };
    let suffix = format!("@{domain}");
    let mut out = BTreeMap::new();
    for item in items {
        let Some(attrs) = item.get("attrs").and_then(Value::as_object) else {
            continue;
        };
        let mut a = Attrs::new();
        for (k, v) in attrs {
            let values: Vec<String> = v
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(|s| s.strip_suffix(&suffix).unwrap_or(s).to_string())
                .collect();
            a.insert(k.clone(), values);
        }
        if let Some(name) = a.get("name").and_then(|n| n.first()).cloned() {
            out.insert(name, a);
        }
    }
    Ok(out)
}

/// The first value of an attribute.
pub fn first<'a>(a: &'a Attrs, key: &str) -> Option<&'a str> {
    a.get(key).and_then(|v| v.first()).map(String::as_str)
}

/// The values of an attribute (empty when absent).
pub fn values<'a>(a: &'a Attrs, key: &str) -> &'a [String] {
    a.get(key).map_or(&[], Vec::as_slice)
}

/// True when an `account_expire` value is not in the future.
fn expired(value: &str) -> bool {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::parse(value, &Rfc3339).is_ok_and(|t| t <= time::OffsetDateTime::now_utc())
}

/// Reads the domain's lists into an [`Index`].
pub fn index(client: &Client) -> Result<Index, BackendError> {
    let domain_list = client.get("/domain", "the domain")?;
    let domain_entry = domain_list
        .as_array()
        .and_then(|a| a.first())
        .or(Some(&domain_list))
        .and_then(|d| d.get("attrs"))
        .cloned()
        .unwrap_or(Value::Null);
    let attr = |k: &str| {
        domain_entry
            .get(k)
            .and_then(|v| v.get(0))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let domain = attr("domain_name").unwrap_or_default();
    let display_name = attr("domain_display_name");
    let groups = entries(&client.get("/group", "groups")?, &domain, "groups")?;
    let persons = entries(&client.get("/person", "persons")?, &domain, "persons")?;
    let apps = entries(
        &client.get("/oauth2", "OAuth2 clients")?,
        &domain,
        "OAuth2 clients",
    )?;
    let tracking = groups.get(TRACKING);
    let tracked: BTreeSet<String> = tracking
        .map(|t| values(t, "member").iter().cloned().collect())
        .unwrap_or_default();
    let record = match tracking.and_then(|t| first(t, "description")) {
        Some(text) => Some(
            serde_json::from_str::<OrgRecord>(text).map_err(|e| BackendError::Corrupt {
                object: format!("group {TRACKING:?}"),
                message: format!("its description is not orgctl's organization record: {e}"),
            })?,
        ),
        None => None,
    };
    Ok(Index {
        display_name,
        tracking: tracking.is_some(),
        record,
        tracked,
        persons,
        groups,
        apps,
    })
}

/// The snapshot of `org` from an [`Index`].
pub fn snapshot(index: &Index, org: &Name) -> Result<LiveOrg, BackendError> {
    if let Some(r) = index.record.as_ref().filter(|r| r.organization != *org) {
        return Err(BackendError::Remote(format!(
            "this Kanidm server holds organization {:?}, not {:?}: one organization per server (its domain)",
            r.organization.as_str(),
            org.as_str()
        )));
    }
    let mut objects = BTreeMap::new();
    let mut put = |kind: Kind, name: Name, spec: Value, managed: bool| -> Result<(), BackendError> {
        let object = crate::backend::remote::live_object(kind, &name, spec, managed, "Kanidm")?;
        objects.insert((kind, name), object);
        Ok(())
    };
    let o = json!(org);
    let members_of = |a: &Attrs| {
        let mut users = Vec::new();
        let mut groups = Vec::new();
        for m in values(a, "member") {
            if m.parse::<Name>().is_err() {
                continue;
            }
            if index.persons.contains_key(m) {
                users.push(json!(m));
            } else if index.groups.contains_key(m) {
                groups.push(json!(m));
            }
        }
        let mut out = Map::new();
        if !users.is_empty() {
            out.insert("users".into(), Value::Array(users));
        }
        if !groups.is_empty() {
            out.insert("groups".into(), Value::Array(groups));
        }
        out
    };
    let system_admins: BTreeSet<&String> = index
        .groups
        .get("system_admins")
        .map(|g| values(g, "member").iter().collect())
        .unwrap_or_default();

    if let (true, Some(r)) = (index.tracking, &index.record) {
        let mut spec = r.spec.as_object().cloned().unwrap_or_default();
        if let Some(d) = &index.display_name {
            spec.insert("displayName".into(), json!(d));
        }
        let holds = spec
            .get("superAdmin")
            .and_then(Value::as_str)
            .is_some_and(|s| system_admins.contains(&s.to_string()));
        if !holds {
            spec.remove("superAdmin");
        }
        put(Kind::Organization, org.clone(), Value::Object(spec), true)?;
    }

    for (name, a) in &index.persons {
        let Ok(n) = name.parse::<Name>() else { continue };
        let mut spec = Map::new();
        spec.insert("organization".into(), o.clone());
        spec.insert("username".into(), json!(name));
        if let Some(mail) = first(a, "mail") {
            spec.insert("email".into(), json!(mail));
        }
        let (f, l) = split_display_name(first(a, "displayname").unwrap_or_default());
        if let Some(f) = f {
            spec.insert("firstName".into(), json!(f));
        }
        if let Some(l) = l {
            spec.insert("lastName".into(), json!(l));
        }
        let off = first(a, "account_expire").is_some_and(expired);
        spec.insert("status".into(), json!(if off { "deactivated" } else { "active" }));
        put(Kind::User, n, Value::Object(spec), index.tracked.contains(name))?;
    }

    let mut grants = LiveGrants::default();
    let mut user_grants: BTreeMap<Name, Vec<RuleGrant>> = BTreeMap::new();
    for (name, a) in &index.groups {
        if let Ok(n) = name.parse::<Name>() {
            let mut spec = Map::new();
            spec.insert("organization".into(), o.clone());
            if let Some(d) = first(a, "description") {
                spec.insert("description".into(), json!(d));
            }
            let m = members_of(a);
            if !m.is_empty() {
                spec.insert("members".into(), Value::Object(m));
            }
            put(Kind::Group, n, Value::Object(spec), index.tracked.contains(name))?;
        } else if let Some(p) = parts(name, BINDING, 1) {
            let role = first(a, "description")
                .and_then(|d| serde_json::from_str::<Value>(d).ok())
                .and_then(|v| v.get("role").cloned())
                .unwrap_or(Value::Null);
            let mut spec = Map::new();
            spec.insert("organization".into(), o.clone());
            spec.insert("role".into(), role);
            let m = members_of(a);
            if !m.is_empty() {
                spec.insert("subjects".into(), Value::Object(m));
            }
            put(Kind::RoleBinding, p[0].clone(), Value::Object(spec), true)?;
        } else if let Some(p) = parts(name, POLICY, 1) {
            let priority = first(a, "description")
                .and_then(|d| serde_json::from_str::<Value>(d).ok())
                .and_then(|v| v.get("priority").cloned())
                .unwrap_or(json!(0));
            let mut spec = policy_settings(a);
            spec.insert("organization".into(), o.clone());
            spec.insert("priority".into(), priority);
            let m = members_of(a);
            if !m.is_empty() {
                spec.insert("targets".into(), Value::Object(m));
            }
            put(Kind::SecurityPolicy, p[0].clone(), Value::Object(spec), true)?;
        } else if let Some(p) = parts(name, ASSIGNMENT, 1) {
            let mut spec: Map<String, Value> = first(a, "description")
                .and_then(|d| serde_json::from_str(d).ok())
                .unwrap_or_default();
            spec.insert("organization".into(), o.clone());
            put(Kind::AppAssignment, p[0].clone(), Value::Object(spec), true)?;
        } else if let Some(p) = parts(name, GRANT, 3) {
            let g = RuleGrant {
                rule: p[0].clone(),
                app: p[1].clone(),
                role: p[2].clone(),
            };
            for m in values(a, "member") {
                if let Ok(u) = m.parse::<Name>() {
                    user_grants.entry(u).or_default().push(g.clone());
                }
            }
        } else if let Some(p) = parts(name, APP_ROLE, 2) {
            for m in values(a, "member")
                .iter()
                .filter(|m| index.persons.contains_key(*m))
            {
                if let Ok(u) = m.parse::<Name>() {
                    grants
                        .manual
                        .entry(u)
                        .or_default()
                        .insert(p[0].clone(), p[1].clone());
                }
            }
        }
    }
    let mut set_ids: BTreeMap<Vec<RuleGrant>, u32> = BTreeMap::new();
    for (user, mut list) in user_grants {
        list.sort();
        let next = set_ids.len() as u32;
        let id = *set_ids.entry(list.clone()).or_insert_with(|| {
            grants.sets.push(list);
            next
        });
        grants.users.insert(user, id);
    }

    if let Some(policy) = index.record.as_ref().and_then(|r| r.policy.clone()) {
        let mut spec = index
            .groups
            .get(ALL_PERSONS)
            .map(policy_settings)
            .unwrap_or_default();
        spec.insert("organization".into(), o.clone());
        spec.insert("default".into(), json!(true));
        put(Kind::SecurityPolicy, policy, Value::Object(spec), true)?;
    }

    for (name, a) in &index.apps {
        let Ok(n) = name.parse::<Name>() else { continue };
        let mut spec = Map::new();
        spec.insert("organization".into(), o.clone());
        spec.insert("type".into(), json!("oidc"));
        if let Some(d) = first(a, "displayname") {
            spec.insert("displayName".into(), json!(d));
        }
        spec.insert(
            "oidc".into(),
            json!({ "redirectUris": values(a, "oauth2_rs_origin") }),
        );
        let mapped: BTreeSet<&str> = values(a, "oauth2_rs_scope_map")
            .iter()
            .filter_map(|m| m.split_once(':'))
            .filter_map(|(g, _)| g.trim().split('@').next())
            .collect();
        let prefix = format!("{APP_ROLE}{name}_");
        let roles: Vec<Value> = index
            .groups
            .range(prefix.clone()..)
            .take_while(|(g, _)| g.starts_with(&prefix))
            .filter(|(g, _)| mapped.contains(g.as_str()))
            .filter_map(|(g, _)| parts(g, APP_ROLE, 2))
            .filter(|p| p[0] == n)
            .map(|p| json!(p[1]))
            .collect();
        spec.insert("roles".into(), Value::Array(roles));
        put(
            Kind::Application,
            n,
            Value::Object(spec),
            index.tracked.contains(name),
        )?;
    }

    Ok(LiveOrg {
        organization: Some(org.clone()),
        revision: 0,
        objects,
        grants,
    })
}

/// The SecurityPolicy settings an account-policy group holds.
fn policy_settings(a: &Attrs) -> Map<String, Value> {
    let mut spec = Map::new();
    if let Some(n) = first(a, "auth_password_minimum_length").and_then(|v| v.parse::<u32>().ok()) {
        spec.insert("password".into(), json!({ "minLength": n }));
    }
    if let Some(c) = first(a, "credential_type_minimum") {
        spec.insert("mfa".into(), json!({ "required": mapping::requires_mfa(c) }));
    }
    if let Some(s) = first(a, "authsession_expiry").and_then(|v| v.parse::<u64>().ok()) {
        spec.insert(
            "session".into(),
            json!({ "lifetime": Duration::from_secs(s).to_string() }),
        );
    }
    spec
}
