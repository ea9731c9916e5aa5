//! The snapshot of one realm: one partial export (realm settings, the group
//! tree with its role mappings, roles with composites, clients, identity
//! providers, flows), the users in pages, and the lists Keycloak only gives
//! per group or per role (members, role holders, client secrets). Never a
//! request per user. Also builds the [`Index`] of Keycloak ids that writes use.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use super::client::{seg, Client};
use super::mapping::{password_from_policy, permissions_of};
use super::{
    attr, attrs_of, is_managed, Index, ACCESS_ROLE, BINDING_PREFIX, BUILTIN_CLIENTS, CONTAINER,
    DIGEST_KEY_ATTR, GRANTS, GRANTS_ATTR, GRANTS_PREFIX, KIND_ATTR, NAME_ATTR, ORG_ATTR, POLICY_ATTR,
    ROLE_PREFIX, SECRET_DIGEST, SPEC_ATTR, SUPER_ADMIN_ATTR, TYPE_ATTR,
};
use crate::backend::{BackendError, LiveGrants, LiveOrg, RuleGrant};
use crate::model::{DigestKey, Duration, Field, Kind, Name, SecretValue};

/// Page size of user and member lists.
const PAGE: usize = 1000;
/// Concurrent per-group and per-role reads.
const READERS: usize = 8;

/// Attribute names of a user that hold model fields (not custom attributes).
pub const USER_FIELDS: [&str; 3] = ["department", "designation", "location"];

/// Runs `f` over `items` on [`READERS`] threads, each taking the next item
/// when done (member lists differ a lot in size), keeping the order of
/// results; the first failure stops the reads and is the answer.
fn parallel<T: Sync, R: Send>(
    items: &[T],
    f: &(dyn Fn(&T) -> Result<R, BackendError> + Sync),
) -> Result<Vec<R>, BackendError> {
    let answers = super::wave::run(items, READERS, f, Result::is_err, |_| {});
    let mut out = Vec::with_capacity(items.len());
    for answer in answers {
        match answer {
            Some(Ok(r)) => out.push(r),
            Some(Err(e)) => return Err(e),
            // Reads never started follow a failure, which comes first.
            None => break,
        }
    }
    if out.len() == items.len() {
        return Ok(out);
    }
    Err(BackendError::Remote(
        "keycloak: a read stopped without an answer".into(),
    ))
}

/// Users in a page: smaller than the member pages so that a realm of
/// thousands reads on every reader thread.
const USER_PAGE: usize = 500;

/// Every user of the realm with attributes: the pages the count says there
/// are, read in parallel (Keycloak builds each user's full representation,
/// the snapshot's largest cost), then on from the last page while pages
/// come back full (users created meanwhile).
fn all_users(client: &Client, r: &str) -> Result<Vec<Value>, BackendError> {
    let list = format!("{r}/users?briefRepresentation=false");
    let count = client
        .get(&format!("{r}/users/count"), "users (count)")?
        .as_u64()
        .map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX));
    let firsts: Vec<usize> = (0..count.div_ceil(USER_PAGE).max(1))
        .map(|p| p * USER_PAGE)
        .collect();
    let page = |first: usize| match client.get(&format!("{list}&first={first}&max={USER_PAGE}"), "users")? {
        Value::Array(items) => Ok(items),
        _ => Err(BackendError::Remote(
            "keycloak: reading users: expected a list".into(),
        )),
    };
    let pages = parallel(&firsts, &|first: &usize| page(*first))?;
    let mut full = pages.last().is_some_and(|p| p.len() == USER_PAGE);
    let mut users: Vec<Value> = pages.into_iter().flatten().collect();
    while full {
        let items = page(users.len())?;
        full = items.len() == USER_PAGE;
        users.extend(items);
    }
    // A user created during the reads shifts the pages after it: one seen
    // twice counts once.
    let mut seen = BTreeSet::new();
    users.retain(|u| seen.insert(id_of(u)));
    Ok(users)
}

/// The realm's digest key, if its attribute holds one.
fn key_in(settings: &Value) -> Option<DigestKey> {
    flat_attrs(settings)
        .get(DIGEST_KEY_ATTR)
        .and_then(|hex| DigestKey::from_hex(hex))
}

/// The digest key of `realm` (one read of its settings); `None` when it has
/// none or does not exist.
pub fn realm_digest_key(client: &Client, realm: &Name) -> Result<Option<DigestKey>, BackendError> {
    let r = format!("/{}", seg(realm.as_str()));
    let settings = client.get_opt(&r, &format!("realm {:?}", realm.as_str()))?;
    Ok(settings.as_ref().and_then(key_in))
}

/// An application's spec without its client secret's digest, for its
/// fingerprint: that digest may be made with this process's key, and a
/// saved plan is checked by another process.
fn without_client_secret(kind: Kind, spec: &Value) -> std::borrow::Cow<'_, Value> {
    match spec.pointer("/oidc/clientSecret") {
        Some(_) if kind == Kind::Application => {
            let mut copy = spec.clone();
            if let Some(o) = copy.get_mut("oidc").and_then(Value::as_object_mut) {
                o.remove("clientSecret");
            }
            std::borrow::Cow::Owned(copy)
        }
        _ => std::borrow::Cow::Borrowed(spec),
    }
}

fn names(items: &[Value], key: &str) -> Vec<String> {
    items
        .iter()
        .filter_map(|v| v.get(key).and_then(Value::as_str))
        .map(str::to_string)
        .collect()
}

/// A group of the export, flattened with its parent.
struct FlatGroup<'a> {
    g: &'a Value,
    parent: Option<String>,
    path: Vec<String>,
}

fn flatten<'a>(groups: &'a [Value], parent: Option<&str>, path: &[String], out: &mut Vec<FlatGroup<'a>>) {
    for g in groups {
        let name = g
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let mut p = path.to_vec();
        p.push(name);
        out.push(FlatGroup {
            g,
            parent: parent.map(str::to_string),
            path: p.clone(),
        });
        if let Some(Value::Array(children)) = g.get("subGroups") {
            let id = g.get("id").and_then(Value::as_str);
            flatten(children, id, &p, out);
        }
    }
}

fn id_of(v: &Value) -> String {
    v.get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn secs(v: &Value, key: &str) -> Option<u64> {
    v.get(key).and_then(Value::as_u64).filter(|s| *s > 0)
}

/// Reads one realm. `None` when the realm does not exist.
pub fn snapshot(client: &Client, realm: &Name) -> Result<Option<(LiveOrg, Index)>, BackendError> {
    let r = format!("/{}", seg(realm.as_str()));
    let Some(settings) = client.get_opt(&r, &format!("realm {:?}", realm.as_str()))? else {
        return Ok(None);
    };
    let export = client
        .export(
            &format!("{r}/partial-export?exportClients=true&exportGroupsAndRoles=true"),
            &format!("realm {:?} (partial export)", realm.as_str()),
        )?
        .body;
    let users = all_users(client, &r)?;
    let mut index = Index {
        digest_key: key_in(&settings),
        ..Index::default()
    };
    let digest_key = super::digest_key_of(index.digest_key.as_ref()).clone();
    let mut objects = BTreeMap::new();
    let mut put = |kind: Kind, name: Name, spec: Value, managed: bool| -> Result<(), BackendError> {
        let fingerprint = crate::backend::remote::fingerprint(&without_client_secret(kind, &spec), managed);
        let mut object = crate::backend::remote::live_object(kind, &name, spec, managed, "Keycloak")?;
        object.fingerprint = fingerprint;
        objects.insert((kind, name), object);
        Ok(())
    };
    let org = realm.as_str();

    // Users.
    let mut user_by_id: BTreeMap<String, Name> = BTreeMap::new();
    for u in &users {
        let Some(name) = u
            .get("username")
            .and_then(Value::as_str)
            .and_then(|n| n.parse::<Name>().ok())
        else {
            continue;
        };
        let attrs = attrs_of(u);
        let mut spec = Map::new();
        spec.insert("organization".into(), json!(org));
        spec.insert("username".into(), json!(name));
        if let Some(e) = u.get("email").and_then(Value::as_str) {
            spec.insert("email".into(), json!(e));
        }
        for (k, key) in [("firstName", "firstName"), ("lastName", "lastName")] {
            if let Some(v) = u.get(key).and_then(Value::as_str).filter(|v| !v.is_empty()) {
                spec.insert(k.into(), json!(v));
            }
        }
        for f in USER_FIELDS {
            if let Some(v) = attr(&attrs, f) {
                spec.insert(f.into(), json!(v));
            }
        }
        let custom: Map<String, Value> = attrs
            .iter()
            .filter(|(k, _)| !USER_FIELDS.contains(&k.as_str()) && !k.starts_with("orgctl.io/"))
            .filter_map(|(k, v)| v.first().map(|v| (k.clone(), json!(v))))
            .collect();
        if !custom.is_empty() {
            spec.insert("customAttributes".into(), Value::Object(custom));
        }
        let enabled = u.get("enabled").and_then(Value::as_bool).unwrap_or(true);
        spec.insert(
            "status".into(),
            json!(if enabled { "active" } else { "deactivated" }),
        );
        let id = id_of(u);
        user_by_id.insert(id.clone(), name.clone());
        index.users.insert(name.clone(), id);
        put(Kind::User, name, Value::Object(spec), is_managed(&attrs))?;
    }

    // Clients (applications) and their roles.
    let no_list = Vec::new();
    let client_roles = export.pointer("/roles/client").and_then(Value::as_object);
    let mut client_by_id: BTreeMap<String, Name> = BTreeMap::new();
    let mut app_roles: Vec<(Name, String, String)> = Vec::new(); // (app, uuid, role)
    let mut secrets_to_read: Vec<(Name, String)> = Vec::new();
    let mut app_specs: BTreeMap<Name, (Map<String, Value>, bool)> = BTreeMap::new();
    for c in export
        .get("clients")
        .and_then(Value::as_array)
        .unwrap_or(&no_list)
    {
        let client_id = c.get("clientId").and_then(Value::as_str).unwrap_or_default();
        let uuid = id_of(c);
        if client_id == "realm-management" {
            index.realm_management = Some(uuid.clone());
        }
        if BUILTIN_CLIENTS.contains(&client_id) || client_id.ends_with("-realm") {
            continue;
        }
        let attrs = flat_attrs(c);
        let Some(name) = attrs
            .get(NAME_ATTR)
            .map(String::as_str)
            .unwrap_or(client_id)
            .parse::<Name>()
            .ok()
        else {
            continue;
        };
        let saml = c.get("protocol").and_then(Value::as_str) == Some("saml");
        let app_type = if saml {
            "saml"
        } else {
            attrs.get(TYPE_ATTR).map_or("oidc", String::as_str)
        };
        let mut spec = Map::new();
        spec.insert("organization".into(), json!(org));
        spec.insert("type".into(), json!(app_type));
        if let Some(n) = c.get("name").and_then(Value::as_str).filter(|n| !n.is_empty()) {
            spec.insert("displayName".into(), json!(n));
        }
        if let Some(cat) = attrs.get("orgctl.io/catalog-id") {
            spec.insert("catalogId".into(), json!(cat));
        }
        if saml {
            let mut s = Map::new();
            s.insert("entityId".into(), json!(client_id));
            if let Some(acs) = attrs
                .get("saml_assertion_consumer_url_post")
                .filter(|v| !v.is_empty())
            {
                s.insert("acsUrl".into(), json!(acs));
            }
            if let Some(f) = attrs.get("saml_name_id_format").filter(|v| !v.is_empty()) {
                s.insert("nameIdFormat".into(), json!(f));
            }
            spec.insert("saml".into(), Value::Object(s));
        } else if app_type == "oidc" {
            let mut o = Map::new();
            let uris: Vec<Value> = c
                .get("redirectUris")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            o.insert("redirectUris".into(), Value::Array(uris));
            let confidential = !c.get("publicClient").and_then(Value::as_bool).unwrap_or(false)
                && !c.get("bearerOnly").and_then(Value::as_bool).unwrap_or(false);
            if confidential {
                secrets_to_read.push((name.clone(), uuid.clone()));
            }
            spec.insert("oidc".into(), Value::Object(o));
        }
        let mut roles = BTreeMap::new();
        let mut access = None;
        for role in client_roles
            .and_then(|m| m.get(client_id))
            .and_then(Value::as_array)
            .unwrap_or(&no_list)
        {
            let rn = role.get("name").and_then(Value::as_str).unwrap_or_default();
            if rn == ACCESS_ROLE {
                access = Some(id_of(role));
                continue;
            }
            roles.insert(rn.to_string(), id_of(role));
            if rn.parse::<Name>().is_ok() {
                app_roles.push((name.clone(), uuid.clone(), rn.to_string()));
            }
        }
        let role_names: Vec<&str> = roles
            .keys()
            .map(String::as_str)
            .filter(|r| r.parse::<Name>().is_ok())
            .collect();
        spec.insert("roles".into(), json!(role_names));
        client_by_id.insert(uuid.clone(), name.clone());
        index.clients.insert(
            name.clone(),
            super::ClientRef {
                uuid,
                client_id: client_id.to_string(),
                roles,
                access_role: access,
            },
        );
        app_specs.insert(name, (spec, is_managed_flat(&attrs)));
    }
    // The client list carries each confidential client's secret (the
    // partial export masks them): one paged read instead of one per client.
    let secret_of: BTreeMap<String, String> = if secrets_to_read.is_empty() {
        BTreeMap::new()
    } else {
        client
            .get_all(&format!("{r}/clients"), PAGE, "client secrets")?
            .iter()
            .filter_map(|c| Some((id_of(c), c.get("secret")?.as_str()?.to_string())))
            .collect()
    };
    let secrets: Vec<Option<String>> = secrets_to_read
        .iter()
        .map(|(_, uuid)| {
            secret_of
                .get(uuid)
                .map(|s| digest_key.digest(&SecretValue::new(s)))
        })
        .collect();
    for ((name, _), digest) in secrets_to_read.iter().zip(secrets) {
        if let (Some(d), Some((spec, _))) = (digest, app_specs.get_mut(name)) {
            if let Some(o) = spec.get_mut("oidc").and_then(Value::as_object_mut) {
                o.insert("clientSecret".into(), json!({ "digest": d }));
            }
        }
    }
    for (name, (spec, managed)) in app_specs {
        put(Kind::Application, name, Value::Object(spec), managed)?;
    }

    // Groups: user groups, and the assignment container with its rules.
    let mut flat = Vec::new();
    flatten(
        export.get("groups").and_then(Value::as_array).unwrap_or(&no_list),
        None,
        &[],
        &mut flat,
    );
    let top = |name: &str| {
        flat.iter()
            .find(|f| f.parent.is_none() && f.path[0] == name)
            .map(|f| id_of(f.g))
    };
    index.container = top(CONTAINER);
    index.grant_container = top(GRANTS);
    let mut group_by_id: BTreeMap<String, Name> = BTreeMap::new();
    let mut member_reads: Vec<String> = Vec::new();
    for f in &flat {
        let id = id_of(f.g);
        if f.path[0] == GRANTS {
            if f.path.len() == 2 {
                member_reads.push(id);
            }
            continue;
        }
        if f.path[0] == CONTAINER {
            continue;
        }
        let Ok(name) = f
            .path
            .last()
            .map(String::as_str)
            .unwrap_or_default()
            .parse::<Name>()
        else {
            continue;
        };
        group_by_id.insert(id.clone(), name.clone());
        index.groups.insert(
            name,
            super::GroupRef {
                id: id.clone(),
                parent: f.parent.clone(),
            },
        );
        member_reads.push(id);
    }
    let members = parallel(&member_reads, &|id: &String| {
        let list = client.get_all(
            &format!("{r}/groups/{}/members?briefRepresentation=true", seg(id)),
            PAGE,
            "group members",
        )?;
        Ok(names(&list, "id"))
    })?;
    let members: BTreeMap<&String, Vec<String>> = member_reads.iter().zip(members).collect();
    let member_names = |id: &str| -> Vec<Name> {
        let mut v: Vec<Name> = members
            .get(&id.to_string())
            .map(|ids| ids.iter().filter_map(|u| user_by_id.get(u).cloned()).collect())
            .unwrap_or_default();
        v.sort();
        v
    };
    // Hand-made grants through groups: a group's client roles reach its
    // members and the members of its subgroups.
    let mut manual: BTreeMap<Name, BTreeMap<Name, Name>> = BTreeMap::new();
    for f in &flat {
        if f.path[0] == CONTAINER || f.path[0] == GRANTS {
            continue;
        }
        let id = id_of(f.g);
        let attrs = attrs_of(f.g);
        let Some(name) = group_by_id.get(&id).cloned() else {
            continue;
        };
        let children: Vec<Name> = flat
            .iter()
            .filter(|c| c.parent.as_deref() == Some(id.as_str()))
            .filter_map(|c| group_by_id.get(&id_of(c.g)).cloned())
            .collect();
        let mut spec = Map::new();
        spec.insert("organization".into(), json!(org));
        if let Some(d) =
            f.g.get("description")
                .and_then(Value::as_str)
                .filter(|d| !d.is_empty())
        {
            spec.insert("description".into(), json!(d));
        }
        spec.insert(
            "members".into(),
            json!({ "users": member_names(&id), "groups": children }),
        );
        index
            .group_members
            .insert(name.clone(), member_names(&id).into_iter().collect());
        put(Kind::Group, name, Value::Object(spec), is_managed(&attrs))?;
        if let Some(roles) = f.g.get("clientRoles").and_then(Value::as_object) {
            // Members of this group and of every group below it.
            let below: Vec<String> = flat
                .iter()
                .filter(|c| c.path.starts_with(&f.path))
                .map(|c| id_of(c.g))
                .collect();
            for (cid, rs) in roles {
                let Some(app) = index
                    .clients
                    .iter()
                    .find(|(_, c)| c.client_id == *cid)
                    .map(|(n, _)| n.clone())
                else {
                    continue;
                };
                for role in rs.as_array().unwrap_or(&no_list).iter().filter_map(Value::as_str) {
                    let Ok(role) = role.parse::<Name>() else { continue };
                    for g in &below {
                        for u in member_names(g) {
                            manual
                                .entry(u)
                                .or_default()
                                .entry(app.clone())
                                .or_insert(role.clone());
                        }
                    }
                }
            }
        }
    }

    // App assignment rules: /orgctl-assignments/<rule>, the spec in an attribute.
    for f in flat
        .iter()
        .filter(|f| f.path[0] == CONTAINER && f.path.len() == 2)
    {
        let Ok(rule) = f.path[1].parse::<Name>() else {
            continue;
        };
        let attrs = attrs_of(f.g);
        let mut spec: Map<String, Value> = attrs
            .get(SPEC_ATTR)
            .and_then(|v| serde_json::from_str(&super::joined(v)).ok())
            .unwrap_or_default();
        spec.insert("organization".into(), json!(org));
        spec.entry("assign").or_insert_with(|| json!([]));
        index.rules.insert(rule.clone(), id_of(f.g));
        put(Kind::AppAssignment, rule, Value::Object(spec), is_managed(&attrs))?;
    }

    // Rule-made grants: /orgctl-grants/<key>, one group per distinct list,
    // mapped to the realm role grants:<key> whose composites are the list's
    // app roles. What the role really holds is what its members really get.
    let realm_roles: BTreeMap<&str, &Value> = export
        .pointer("/roles/realm")
        .and_then(Value::as_array)
        .unwrap_or(&no_list)
        .iter()
        .filter_map(|r| Some((r.get("name")?.as_str()?, r)))
        .collect();
    let app_of_client: BTreeMap<&str, &Name> = index
        .clients
        .iter()
        .map(|(n, c)| (c.client_id.as_str(), n))
        .collect();
    let mut grant_lists: BTreeMap<Name, Vec<RuleGrant>> = BTreeMap::new();
    for f in flat.iter().filter(|f| f.path[0] == GRANTS && f.path.len() == 2) {
        let key = f.path[1].clone();
        let gid = id_of(f.g);
        let attrs = attrs_of(f.g);
        let list: Vec<RuleGrant> = attrs
            .get(GRANTS_ATTR)
            .and_then(|v| serde_json::from_str(&super::joined(v)).ok())
            .unwrap_or_default();
        let role_name = format!("{GRANTS_PREFIX}{key}");
        let mapped =
            f.g.get("realmRoles")
                .and_then(Value::as_array)
                .is_some_and(|rs| rs.iter().any(|r| r.as_str() == Some(role_name.as_str())));
        // (app, role) pairs the role really carries, the access role aside.
        let held: BTreeSet<(Name, Name)> = if mapped {
            realm_roles
                .get(role_name.as_str())
                .and_then(|r| r.pointer("/composites/client"))
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .filter_map(|(cid, rs)| Some((app_of_client.get(cid.as_str())?, rs.as_array()?)))
                .flat_map(|(app, rs)| {
                    rs.iter()
                        .filter_map(Value::as_str)
                        .filter(|r| *r != ACCESS_ROLE)
                        .filter_map(|r| r.parse::<Name>().ok())
                        .map(|r| ((*app).clone(), r))
                })
                .collect()
        } else {
            BTreeSet::new()
        };
        let listed: BTreeSet<(Name, Name)> = list.iter().map(|g| (g.app.clone(), g.role.clone())).collect();
        let real: Vec<RuleGrant> = list
            .iter()
            .filter(|g| held.contains(&(g.app.clone(), g.role.clone())))
            .cloned()
            .collect();
        let members = member_names(&gid);
        for u in &members {
            grant_lists.insert(u.clone(), real.clone());
            index.grant_of.insert(u.clone(), key.clone());
            // A role added to the list's role by hand is a hand-made grant.
            for (app, role) in held.difference(&listed) {
                manual
                    .entry(u.clone())
                    .or_default()
                    .entry(app.clone())
                    .or_insert(role.clone());
            }
        }
        let damaged = held != listed || super::grant_key(&list) != key;
        index.grant_groups.insert(
            key,
            super::GrantGroup {
                id: gid,
                members: members.len(),
                damaged,
            },
        );
    }

    // Realm roles: custom admin roles and role bindings.
    let rm_roles: BTreeMap<String, String> = client_roles
        .and_then(|m| m.get("realm-management"))
        .and_then(Value::as_array)
        .unwrap_or(&no_list)
        .iter()
        .map(|r| {
            (
                r.get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                id_of(r),
            )
        })
        .collect();
    index.realm_management_roles = rm_roles;
    let mut bindings: Vec<(Name, &Value)> = Vec::new();
    for role in export
        .pointer("/roles/realm")
        .and_then(Value::as_array)
        .unwrap_or(&no_list)
    {
        let rn = role.get("name").and_then(Value::as_str).unwrap_or_default();
        index.realm_roles.insert(rn.to_string(), id_of(role));
        let attrs = attrs_of(role);
        let kind = attr(&attrs, KIND_ATTR);
        if let (Some("Role"), Some(name)) = (
            kind,
            rn.strip_prefix(ROLE_PREFIX).and_then(|n| n.parse::<Name>().ok()),
        ) {
            let composite_names: Vec<&str> = role
                .pointer("/composites/client/realm-management")
                .and_then(Value::as_array)
                .map(|v| v.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let perms = permissions_of(composite_names);
            let mut spec = json!({ "organization": org, "permissions": perms });
            if let Some(d) = role
                .get("description")
                .and_then(Value::as_str)
                .filter(|d| !d.is_empty())
            {
                spec["description"] = json!(d);
            }
            put(Kind::Role, name, spec, is_managed(&attrs))?;
        } else if let (Some("RoleBinding"), Some(name)) = (
            kind,
            rn.strip_prefix(BINDING_PREFIX)
                .and_then(|n| n.parse::<Name>().ok()),
        ) {
            bindings.push((name, role));
        }
    }
    let holder_reads: Vec<String> = bindings
        .iter()
        .map(|(n, _)| format!("{BINDING_PREFIX}{n}"))
        .collect();
    let holders = parallel(&holder_reads, &|role: &String| {
        let users = client.get_all(
            &format!("{r}/roles/{}/users?briefRepresentation=true", seg(role)),
            PAGE,
            "role holders",
        )?;
        let groups = client.get_all(
            &format!("{r}/roles/{}/groups?briefRepresentation=true", seg(role)),
            PAGE,
            "role holders",
        )?;
        Ok((names(&users, "id"), names(&groups, "id")))
    })?;
    for ((name, role), (users, groups)) in bindings.iter().zip(holders) {
        let attrs = attrs_of(role);
        let realm_composites: Vec<&str> = role
            .pointer("/composites/realm")
            .and_then(Value::as_array)
            .map(|v| v.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let admin = role
            .pointer("/composites/client/realm-management")
            .and_then(Value::as_array)
            .is_some_and(|v| v.iter().any(|r| r.as_str() == Some("realm-admin")));
        let bound = if admin {
            Some("admin".to_string())
        } else if let Some(custom) = realm_composites.iter().find_map(|c| c.strip_prefix(ROLE_PREFIX)) {
            Some(custom.to_string())
        } else {
            Some("member".to_string())
        };
        let mut us: Vec<Name> = users.iter().filter_map(|u| user_by_id.get(u).cloned()).collect();
        us.sort();
        let mut gs: Vec<Name> = groups
            .iter()
            .filter_map(|g| group_by_id.get(g).cloned())
            .collect();
        gs.sort();
        let spec = json!({ "organization": org, "role": bound, "subjects": { "users": us, "groups": gs } });
        put(Kind::RoleBinding, name.clone(), spec, is_managed(&attrs))?;
    }

    // Hand-made grants held directly: per app role, its direct holders.
    let direct = parallel(&app_roles, &|(app, uuid, role): &(Name, String, String)| {
        let list = client.get_all(
            &format!(
                "{r}/clients/{}/roles/{}/users?briefRepresentation=true",
                seg(uuid),
                seg(role)
            ),
            PAGE,
            &format!("holders of role {role:?} of application {:?}", app.as_str()),
        )?;
        Ok(names(&list, "id"))
    })?;
    for ((app, _, role), holders) in app_roles.iter().zip(direct) {
        let Ok(role) = role.parse::<Name>() else { continue };
        for u in holders.iter().filter_map(|u| user_by_id.get(u)) {
            manual
                .entry(u.clone())
                .or_default()
                .insert(app.clone(), role.clone());
        }
    }

    // The super admin: the named user when it still holds realm-admin.
    let realm_attrs = flat_attrs(&settings);
    let realm_admins: Vec<Name> = match &index.realm_management {
        Some(rm) => {
            let list = client.get_all(
                &format!(
                    "{r}/clients/{}/roles/realm-admin/users?briefRepresentation=true",
                    seg(rm)
                ),
                PAGE,
                "realm-admin holders",
            )?;
            let mut v: Vec<Name> = names(&list, "id")
                .iter()
                .filter_map(|u| user_by_id.get(u).cloned())
                .collect();
            v.sort();
            v
        }
        None => Vec::new(),
    };
    let named = realm_attrs
        .get(SUPER_ADMIN_ATTR)
        .and_then(|n| n.parse::<Name>().ok());
    if named.is_none() && !realm_admins.is_empty() {
        // A realm orgctl does not manage yet: its realm-admin holders are
        // the built-in admin role's binding (so an export of it is valid).
        let spec = json!({ "organization": org, "role": "admin", "subjects": { "users": realm_admins } });
        put(Kind::RoleBinding, super::realm_admins_binding(), spec, false)?;
    }
    let super_admin = match named {
        Some(n) if realm_admins.contains(&n) => Some(n),
        Some(_) => None,
        None => realm_admins.first().cloned(),
    };

    // The organization.
    let mut org_spec: Map<String, Value> = realm_attrs
        .get(ORG_ATTR)
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default();
    if let Some(d) = settings
        .get("displayName")
        .and_then(Value::as_str)
        .filter(|d| !d.is_empty())
    {
        org_spec.insert("displayName".into(), json!(d));
    }
    if let Some(sa) = super_admin {
        org_spec.insert("superAdmin".into(), json!(sa));
    }
    let realm_managed = realm_attrs.get(super::MANAGED).is_some_and(|v| v == "true");
    put(
        Kind::Organization,
        realm.clone(),
        Value::Object(org_spec),
        realm_managed,
    )?;

    // The realm-wide policy.
    let policy_name = realm_attrs
        .get(POLICY_ATTR)
        .and_then(|n| n.parse::<Name>().ok())
        .unwrap_or_else(super::default_policy_name);
    let mfa = mfa_required(&export);
    index.mfa_required = mfa;
    let policy = policy_spec(org, &settings, mfa);
    put(
        Kind::SecurityPolicy,
        policy_name.clone(),
        policy,
        realm_attrs.contains_key(POLICY_ATTR),
    )?;
    index.policy = Some(policy_name);

    // Identity providers.
    for idp in export
        .get("identityProviders")
        .and_then(Value::as_array)
        .unwrap_or(&no_list)
    {
        let Some(name) = idp
            .get("alias")
            .and_then(Value::as_str)
            .and_then(|a| a.parse::<Name>().ok())
        else {
            continue;
        };
        let config = idp.get("config").cloned().unwrap_or(Value::Null);
        let cfg = |k: &str| config.get(k).and_then(Value::as_str).filter(|v| !v.is_empty());
        let provider = match idp.get("providerId").and_then(Value::as_str).unwrap_or_default() {
            "google" => "google",
            "facebook" => "facebook",
            "linkedin-openid-connect" => "linkedin",
            "saml" => "saml",
            "oidc" | "keycloak-oidc" => "oidc",
            _ => continue,
        };
        let mut spec = json!({ "organization": org, "type": provider });
        if let Some(d) = idp
            .get("displayName")
            .and_then(Value::as_str)
            .filter(|d| !d.is_empty())
        {
            spec["displayName"] = json!(d);
        }
        spec["enabled"] = json!(idp.get("enabled").and_then(Value::as_bool).unwrap_or(true));
        if let Some(v) = cfg("clientId") {
            spec["clientId"] = json!(v);
        }
        if let Some(d) = cfg(SECRET_DIGEST) {
            spec["clientSecret"] = json!({ "digest": d });
        }
        if let Some(v) = cfg("issuer") {
            spec["issuer"] = json!(v);
        }
        if provider == "saml" {
            let mut s = Map::new();
            for (ours, theirs) in [
                ("ssoUrl", "singleSignOnServiceUrl"),
                ("sloUrl", "singleLogoutServiceUrl"),
                ("entityId", "idpEntityId"),
                ("certificate", "signingCertificate"),
            ] {
                if let Some(v) = cfg(theirs) {
                    s.insert(ours.into(), json!(v));
                }
            }
            spec["saml"] = Value::Object(s);
        }
        let managed = cfg(super::MANAGED) == Some("true");
        index.idps.insert(name.clone());
        put(Kind::IdentityProvider, name, spec, managed)?;
    }

    let mut grants = LiveGrants::default();
    let mut set_index: BTreeMap<Vec<RuleGrant>, u32> = BTreeMap::new();
    for (user, mut list) in grant_lists {
        if list.is_empty() {
            continue;
        }
        list.sort_by(|a, b| a.app.cmp(&b.app).then_with(|| a.rule.cmp(&b.rule)));
        let next = u32::try_from(set_index.len()).unwrap_or(u32::MAX);
        let i = *set_index.entry(list.clone()).or_insert_with(|| {
            grants.sets.push(list);
            next
        });
        grants.users.insert(user, i);
    }
    grants.manual = manual;
    Ok(Some((
        LiveOrg {
            organization: Some(realm.clone()),
            revision: 0,
            objects,
            grants,
        },
        index,
    )))
}

/// Attributes as first values (clients, realms and IdPs keep one string each).
pub fn flat_attrs(v: &Value) -> BTreeMap<String, String> {
    v.get("attributes")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| {
                    let s = match v {
                        Value::String(s) => Some(s.clone()),
                        Value::Array(a) => a.first().and_then(Value::as_str).map(str::to_string),
                        _ => None,
                    };
                    s.map(|s| (k.clone(), s))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn is_managed_flat(attrs: &BTreeMap<String, String>) -> bool {
    attrs.get(super::MANAGED).is_some_and(|v| v == "true")
}

/// True when orgctl's realm flows are bound and require OTP of everyone.
fn mfa_required(export: &Value) -> bool {
    let flows = export.get("authenticationFlows").and_then(Value::as_array);
    let bound = export.get("browserFlow").and_then(Value::as_str) == Some(super::flows::REALM_BROWSER)
        && export.get("directGrantFlow").and_then(Value::as_str) == Some(super::flows::REALM_DIRECT);
    if !bound {
        return false;
    }
    // The OTP step of a realm flow is a sub-flow `orgctl otp <suffix>`,
    // listed among the executions of whichever flow holds it.
    let requires_otp = |alias: &str| {
        let otp = format!(
            "{} {}",
            super::flows::OTP_PREFIX,
            alias.trim_start_matches("orgctl ")
        );
        flows
            .into_iter()
            .flatten()
            .flat_map(|f| {
                f.get("authenticationExecutions")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
            })
            .any(|e| {
                e.get("flowAlias").and_then(Value::as_str) == Some(otp.as_str())
                    && e.get("requirement").and_then(Value::as_str) == Some("REQUIRED")
            })
    };
    requires_otp(super::flows::REALM_BROWSER) && requires_otp(super::flows::REALM_DIRECT)
}

/// The realm-wide policy as Keycloak holds it. Values the model cannot hold
/// (a session shorter than a day, a minimum length under 8) are left out:
/// they stay as they are, unmanaged.
fn policy_spec(org: &str, settings: &Value, mfa: bool) -> Value {
    let policy = settings
        .get("passwordPolicy")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut password = password_from_policy(policy);
    if password.min_length.get().is_some_and(|n| *n < 8) {
        password.min_length = Field::Unset;
    }
    let mut spec = json!({
        "organization": org,
        "default": true,
        "password": password,
        "mfa": if mfa { json!({ "required": true, "modes": ["totp"] }) } else { json!({ "required": false }) },
    });
    let mut session = Map::new();
    if let Some(s) = secs(settings, "ssoSessionMaxLifespan").filter(|s| (86_400..=30 * 86_400).contains(s)) {
        session.insert("lifetime".into(), json!(Duration::from_secs(s)));
    }
    if let Some(s) = secs(settings, "ssoSessionIdleTimeout").filter(|s| *s >= 1_800) {
        session.insert("idleTimeout".into(), json!(Duration::from_secs(s)));
    }
    if !session.is_empty() {
        spec["session"] = Value::Object(session);
    }
    spec
}
