//! A stateful simulator of Kanidm's v1 REST API (the calls and quirks of
//! `shared/reference/kanidm.md`, verified against Kanidm 1.11.1): entries as
//! `{"attrs": {name: [strings]}}`, one name space for persons, groups and
//! OAuth2 clients (409 on a duplicate), `GET` of a missing entry answering
//! 200 `null`, 404 on deleting what is gone, `_attr` endpoints (POST
//! appends, PUT replaces, DELETE removes the body's values or purges),
//! references returned as SPNs (`name@domain`), scope maps read back as
//! `group@domain: {"openid", …}`, account-policy attributes refused on a
//! group without the `account_policy` class, values checked for syntax, and
//! referential integrity on delete. Every request needs the bearer token.
//! It runs on its own thread; tests reach it over loopback HTTP.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// The token the simulator accepts.
pub const SIM_TOKEN: &str = "kanidm-sim-token-0123456789";

/// Where an entry lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EntryKind {
    Person,
    Group,
    OAuth2,
}

#[derive(Debug, Clone)]
struct Entry {
    kind: EntryKind,
    uuid: String,
    builtin: bool,
    attrs: BTreeMap<String, Vec<String>>,
    /// OAuth2 scope maps: group name → scopes.
    scope_map: BTreeMap<String, BTreeSet<String>>,
}

/// The simulated server's state.
#[derive(Debug)]
struct State {
    domain: String,
    display_name: String,
    entries: BTreeMap<String, Entry>,
    next_uuid: u64,
    requests: usize,
    writes: usize,
}

/// Account-policy attributes (allowed only on `account_policy` groups).
const POLICY_ATTRS: &[&str] = &[
    "authsession_expiry",
    "privilege_expiry",
    "credential_type_minimum",
    "auth_password_minimum_length",
    "webauthn_attestation_ca_list",
    "allow_primary_cred_fallback",
    "limit_search_max_results",
    "limit_search_max_filter_test",
];
/// Attributes holding references to other entries.
const REFERENCES: &[&str] = &["member", "entry_managed_by"];
/// Attributes the server computes.
const READ_ONLY: &[&str] = &["uuid", "spn", "memberof", "directmemberof", "oauth2_rs_scope_map"];
/// Built-in groups of a fresh Kanidm.
const BUILTIN_GROUPS: &[&str] = &[
    "idm_all_persons",
    "idm_all_accounts",
    "idm_admins",
    "system_admins",
    "domain_admins",
    "idm_people_admins",
    "idm_group_admins",
    "idm_oauth2_admins",
    "idm_account_policy_admins",
    "idm_service_desk",
    "idm_high_privilege",
];

type Answer = (StatusCode, Value);

fn ok() -> Answer {
    (StatusCode::OK, Value::Null)
}

fn bad(msg: &str) -> Answer {
    (StatusCode::BAD_REQUEST, json!({ "invalidattribute": msg }))
}

fn missing() -> Answer {
    (StatusCode::NOT_FOUND, json!("nomatchingentries"))
}

impl State {
    fn new() -> State {
        let mut s = State {
            domain: "localhost".into(),
            display_name: "Kanidm localhost".into(),
            entries: BTreeMap::new(),
            next_uuid: 1,
            requests: 0,
            writes: 0,
        };
        for g in BUILTIN_GROUPS {
            let mut attrs = BTreeMap::new();
            attrs.insert("name".to_string(), vec![g.to_string()]);
            let mut class = vec!["builtin".to_string(), "group".into(), "object".into()];
            if *g == "idm_all_persons" {
                class.push("account_policy".into());
            }
            attrs.insert("class".into(), class);
            let uuid = format!("00000000-0000-0000-0000-{:012}", s.next_uuid);
            s.next_uuid += 1;
            s.entries.insert(
                g.to_string(),
                Entry {
                    kind: EntryKind::Group,
                    uuid,
                    builtin: true,
                    attrs,
                    scope_map: BTreeMap::new(),
                },
            );
        }
        s
    }

    fn spn(&self, name: &str) -> String {
        format!("{name}@{}", self.domain)
    }

    /// A reference as given (name, SPN or UUID) → the entry's name.
    fn resolve(&self, value: &str) -> Option<String> {
        let v = value.to_lowercase();
        let name = v
            .strip_suffix(&format!("@{}", self.domain))
            .unwrap_or(&v)
            .to_string();
        if self.entries.contains_key(&name) {
            return Some(name);
        }
        self.entries
            .iter()
            .find(|(_, e)| e.uuid == v)
            .map(|(n, _)| n.clone())
    }

    /// Entry name → the groups it is a direct member of.
    fn memberof(&self) -> BTreeMap<&str, Vec<&str>> {
        let mut out: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (g, e) in &self.entries {
            for m in e.attrs.get("member").into_iter().flatten() {
                out.entry(m.as_str()).or_default().push(g.as_str());
            }
        }
        out
    }

    fn render(&self, name: &str, e: &Entry, memberof: &BTreeMap<&str, Vec<&str>>) -> Value {
        let mut attrs = serde_json::Map::new();
        for (k, vals) in &e.attrs {
            let vals: Vec<String> = if REFERENCES.contains(&k.as_str()) {
                vals.iter().map(|v| self.spn(v)).collect()
            } else {
                vals.clone()
            };
            attrs.insert(k.clone(), json!(vals));
        }
        attrs.insert("spn".into(), json!([self.spn(name)]));
        attrs.insert("uuid".into(), json!([e.uuid]));
        if e.kind == EntryKind::OAuth2 {
            attrs.insert("oauth2_rs_basic_secret".into(), json!(["hidden"]));
            let maps: Vec<String> = e
                .scope_map
                .iter()
                .map(|(g, scopes)| {
                    let s: Vec<String> = scopes.iter().map(|s| format!("{s:?}")).collect();
                    format!("{}: {{{}}}", self.spn(g), s.join(", "))
                })
                .collect();
            if !maps.is_empty() {
                attrs.insert("oauth2_rs_scope_map".into(), json!(maps));
            }
        }
        if let Some(groups) = memberof.get(name).filter(|g| !g.is_empty()) {
            let spns: Vec<String> = groups.iter().map(|g| self.spn(g)).collect();
            attrs.insert("directmemberof".into(), json!(spns));
        }
        json!({ "attrs": attrs })
    }

    /// Checks and normalizes values written to `attr` of `entry`.
    fn check_values(&self, entry: &Entry, attr: &str, values: &[String]) -> Result<Vec<String>, Answer> {
        if READ_ONLY.contains(&attr) {
            return Err((
                StatusCode::BAD_REQUEST,
                json!({ "schemaviolation": format!("attribute {attr} is system generated") }),
            ));
        }
        if POLICY_ATTRS.contains(&attr) {
            let classes = entry.attrs.get("class").cloned().unwrap_or_default();
            if entry.kind != EntryKind::Group || !classes.iter().any(|c| c == "account_policy") {
                return Err((
                    StatusCode::BAD_REQUEST,
                    json!({ "schemaviolation": { "attributenotvalidforclass": attr } }),
                ));
            }
        }
        let mut out = Vec::new();
        for v in values {
            if let Some(msg) = syntax_error(attr, v) {
                return Err(bad(msg));
            }
            if REFERENCES.contains(&attr) {
                match self.resolve(v) {
                    Some(n) => out.push(n),
                    None => {
                        return Err((
                            StatusCode::BAD_REQUEST,
                            json!({ "refint": format!("reference to a missing entry {v}") }),
                        ))
                    }
                }
            } else {
                out.push(v.clone());
            }
        }
        Ok(out)
    }

    fn create(&mut self, kind: EntryKind, body: &Value, extra_class: &[&str]) -> Answer {
        let Some(attrs) = body.get("attrs").and_then(Value::as_object) else {
            return (StatusCode::BAD_REQUEST, json!("invalidrequeststate"));
        };
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in attrs {
            map.insert(k.to_lowercase(), strings_of(v));
        }
        let Some(name) = map.get("name").and_then(|n| n.first()).map(|n| n.to_lowercase()) else {
            return (
                StatusCode::BAD_REQUEST,
                json!({ "schemaviolation": { "missingmustattribute": ["name"] } }),
            );
        };
        if name.is_empty() || name.contains('@') || name.contains(char::is_whitespace) {
            return bad("Invalid Iname syntax");
        }
        let required: &[&str] = match kind {
            EntryKind::Person => &["displayname"],
            EntryKind::OAuth2 => &["displayname", "oauth2_rs_origin_landing"],
            EntryKind::Group => &[],
        };
        let absent: Vec<&str> = required
            .iter()
            .copied()
            .filter(|a| !map.contains_key(*a))
            .collect();
        if !absent.is_empty() {
            return (
                StatusCode::BAD_REQUEST,
                json!({ "schemaviolation": { "missingmustattribute": absent } }),
            );
        }
        if self.entries.contains_key(&name) {
            return (
                StatusCode::CONFLICT,
                json!({ "conflicting_attributes": ["name", "spn"], "error": "Attribute uniqueness error" }),
            );
        }
        map.insert("name".into(), vec![name.clone()]);
        let mut class: Vec<String> = match kind {
            EntryKind::Person => vec!["account".into(), "object".into(), "person".into()],
            EntryKind::Group => vec!["group".into(), "object".into()],
            EntryKind::OAuth2 => vec!["oauth2_resource_server".into(), "object".into()],
        };
        class.extend(extra_class.iter().map(|c| c.to_string()));
        let mut entry = Entry {
            kind,
            uuid: String::new(),
            builtin: false,
            attrs: BTreeMap::new(),
            scope_map: BTreeMap::new(),
        };
        entry.attrs.insert("class".into(), class);
        for (k, v) in map {
            if k == "class" {
                continue;
            }
            match self.check_values(&entry, &k, &v) {
                Ok(v) => {
                    entry.attrs.insert(k, v);
                }
                Err(a) => return a,
            }
        }
        entry.uuid = format!(
            "5e0d{:04x}-0000-4000-8000-{:012x}",
            self.next_uuid % 0xffff,
            self.next_uuid
        );
        self.next_uuid += 1;
        self.entries.insert(name, entry);
        ok()
    }

    fn find(&self, kind: EntryKind, id: &str) -> Option<String> {
        self.resolve(id)
            .filter(|n| self.entries.get(n).is_some_and(|e| e.kind == kind))
    }

    fn delete(&mut self, kind: EntryKind, id: &str) -> Answer {
        let Some(name) = self.find(kind, id) else {
            return missing();
        };
        if self.entries[&name].builtin {
            return (StatusCode::FORBIDDEN, json!("systemprotectedobject"));
        }
        self.entries.remove(&name);
        // Referential integrity: references to the entry go with it.
        for e in self.entries.values_mut() {
            for r in REFERENCES {
                if let Some(v) = e.attrs.get_mut(*r) {
                    v.retain(|m| *m != name);
                }
            }
            e.scope_map.remove(&name);
        }
        ok()
    }

    /// `_attr` writes: PUT replaces, POST appends, DELETE removes or purges.
    fn attr(
        &mut self,
        kind: EntryKind,
        id: &str,
        attr: &str,
        method: &Method,
        body: Option<Vec<String>>,
    ) -> Answer {
        let Some(name) = self.find(kind, id) else {
            return missing();
        };
        let entry = self.entries[&name].clone();
        if entry.builtin && !["member", "class"].contains(&attr) && !POLICY_ATTRS.contains(&attr) {
            return (StatusCode::FORBIDDEN, json!("systemprotectedobject"));
        }
        let attr = attr.to_lowercase();
        let given = match (method, body) {
            (&Method::DELETE, None) => {
                if let Some(e) = self.entries.get_mut(&name) {
                    e.attrs.remove(&attr);
                }
                return ok();
            }
            (_, Some(v)) => v,
            (_, None) => return (StatusCode::BAD_REQUEST, json!("invalidrequeststate")),
        };
        let values = match self.check_values(&entry, &attr, &given) {
            Ok(v) => v,
            Err(a) => return a,
        };
        let Some(e) = self.entries.get_mut(&name) else {
            return missing();
        };
        let slot = e.attrs.entry(attr.clone()).or_default();
        match *method {
            Method::PUT => *slot = dedup(values),
            Method::POST => {
                for v in values {
                    if !slot.contains(&v) {
                        slot.push(v);
                    }
                }
            }
            Method::DELETE => slot.retain(|v| !values.contains(v)),
            _ => return (StatusCode::METHOD_NOT_ALLOWED, Value::Null),
        }
        if slot.is_empty() {
            e.attrs.remove(&attr);
        }
        ok()
    }

    fn handle(&mut self, method: &Method, path: &str, body: &[u8]) -> Answer {
        let parsed: Option<Value> = if body.is_empty() {
            None
        } else {
            serde_json::from_slice(body).ok()
        };
        let strings = || -> Option<Vec<String>> {
            parsed
                .as_ref()
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        };
        let segs: Vec<String> = path
            .trim_start_matches("/v1/")
            .split('/')
            .map(percent_decode)
            .collect();
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        let kind_of = |t: &str| match t {
            "person" => Some(EntryKind::Person),
            "group" => Some(EntryKind::Group),
            "oauth2" => Some(EntryKind::OAuth2),
            _ => None,
        };
        match (method.clone(), segs.as_slice()) {
            (Method::GET, ["self"]) => (StatusCode::OK, json!({ "name": "orgctl" })),
            (Method::GET, ["domain"]) => (
                StatusCode::OK,
                json!([{ "attrs": {
                    "name": ["domain_local"],
                    "domain_name": [self.domain],
                    "domain_display_name": [self.display_name],
                    "class": ["domain_info", "object"],
                } }]),
            ),
            (Method::PUT, ["domain", "_attr", "domain_display_name"]) => {
                match strings().and_then(|v| v.into_iter().next()) {
                    Some(v) => {
                        self.display_name = v;
                        ok()
                    }
                    None => bad("Invalid Utf8String syntax"),
                }
            }
            (Method::DELETE, ["domain", "_attr", "domain_display_name"]) => {
                self.display_name = format!("Kanidm {}", self.domain);
                ok()
            }
            (Method::GET, [t]) if kind_of(t).is_some() => {
                let k = kind_of(t);
                let memberof = self.memberof();
                let list: Vec<Value> = self
                    .entries
                    .iter()
                    .filter(|(_, e)| Some(e.kind) == k)
                    .map(|(n, e)| self.render(n, e, &memberof))
                    .collect();
                (StatusCode::OK, Value::Array(list))
            }
            (Method::POST, ["person"]) => self.create(EntryKind::Person, &parsed.unwrap_or_default(), &[]),
            (Method::POST, ["group"]) => self.create(EntryKind::Group, &parsed.unwrap_or_default(), &[]),
            (Method::POST, ["oauth2", "_basic"]) => self.create(
                EntryKind::OAuth2,
                &parsed.unwrap_or_default(),
                &["oauth2_resource_server_basic"],
            ),
            (Method::POST, ["oauth2", "_public"]) => self.create(
                EntryKind::OAuth2,
                &parsed.unwrap_or_default(),
                &["oauth2_resource_server_public"],
            ),
            (Method::GET, [t, id]) if kind_of(t).is_some() => match kind_of(t).and_then(|k| self.find(k, id))
            {
                Some(n) => (
                    StatusCode::OK,
                    self.render(&n, &self.entries[&n], &self.memberof()),
                ),
                None => (StatusCode::OK, Value::Null),
            },
            (Method::DELETE, [t, id]) if kind_of(t).is_some() => {
                self.delete(kind_of(t).unwrap_or(EntryKind::Group), id)
            }
            (Method::PATCH, [t, id]) if kind_of(t).is_some() => {
                let k = kind_of(t).unwrap_or(EntryKind::Group);
                let attrs = parsed
                    .as_ref()
                    .and_then(|p| p.get("attrs"))
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                for (a, v) in attrs {
                    let vals = strings_of(&v);
                    let r = if vals.is_empty() {
                        self.attr(k, id, &a, &Method::DELETE, None)
                    } else {
                        self.attr(k, id, &a, &Method::PUT, Some(vals))
                    };
                    if r.0 != StatusCode::OK {
                        return r;
                    }
                }
                ok()
            }
            (Method::GET, [t, id, "_attr", a]) if kind_of(t).is_some() => {
                match kind_of(t).and_then(|k| self.find(k, id)) {
                    Some(n) => {
                        let v = self.render(&n, &self.entries[&n], &self.memberof());
                        (StatusCode::OK, v["attrs"].get(*a).cloned().unwrap_or(Value::Null))
                    }
                    None => (StatusCode::OK, Value::Null),
                }
            }
            (m, [t, id, "_attr", a])
                if kind_of(t).is_some() && [Method::PUT, Method::POST, Method::DELETE].contains(&m) =>
            {
                let k = kind_of(t).unwrap_or(EntryKind::Group);
                if k == EntryKind::OAuth2 && m == Method::PUT {
                    return (StatusCode::METHOD_NOT_ALLOWED, Value::Null);
                }
                self.attr(k, id, a, &m, strings())
            }
            (Method::POST, ["oauth2", rs, "_scopemap", g]) => {
                let Some(rs) = self.find(EntryKind::OAuth2, rs) else {
                    return missing();
                };
                let Some(g) = self.find(EntryKind::Group, g) else {
                    return (
                        StatusCode::BAD_REQUEST,
                        json!({ "refint": "reference to a missing entry" }),
                    );
                };
                let scopes = strings().unwrap_or_default();
                if scopes
                    .iter()
                    .any(|s| s.is_empty() || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
                {
                    return bad("Invalid OauthScope syntax");
                }
                if let Some(e) = self.entries.get_mut(&rs) {
                    e.scope_map.insert(g, scopes.into_iter().collect());
                }
                ok()
            }
            (Method::DELETE, ["oauth2", rs, "_scopemap", g]) => {
                let Some(rs) = self.find(EntryKind::OAuth2, rs) else {
                    return missing();
                };
                let g = self.resolve(g).unwrap_or_default();
                if let Some(e) = self.entries.get_mut(&rs) {
                    e.scope_map.remove(&g);
                }
                ok()
            }
            (Method::GET, ["oauth2", rs, "_basic_secret"]) => match self.find(EntryKind::OAuth2, rs) {
                Some(n) => (
                    StatusCode::OK,
                    json!(format!("sim-secret-{}", self.entries[&n].uuid)),
                ),
                None => (StatusCode::OK, Value::Null),
            },
            _ => (StatusCode::NOT_FOUND, Value::Null),
        }
    }
}

/// Why `v` is not a valid value of `attr`, if it is not.
fn syntax_error(attr: &str, v: &str) -> Option<&'static str> {
    use time::format_description::well_known::Rfc3339;
    let ok = match attr {
        "credential_type_minimum" => [
            "any",
            "external",
            "mfa",
            "passkey",
            "attested_passkey",
            "attested_residentkey",
        ]
        .contains(&v),
        "authsession_expiry" | "privilege_expiry" | "auth_password_minimum_length" => {
            v.parse::<u32>().is_ok()
        }
        "account_expire" | "account_valid_from" => time::OffsetDateTime::parse(v, &Rfc3339).is_ok(),
        "oauth2_rs_origin" | "oauth2_rs_origin_landing" => {
            v.starts_with("https://") || v.starts_with("http://")
        }
        "class" => ["account_policy", "posixgroup", "group", "object"].contains(&v),
        _ => true,
    };
    if ok {
        return None;
    }
    Some(match attr {
        "credential_type_minimum" => "Invalid CredentialType syntax",
        "account_expire" | "account_valid_from" => "Invalid DateTime syntax",
        "oauth2_rs_origin" | "oauth2_rs_origin_landing" => "Invalid Url syntax",
        "class" => "Invalid class",
        _ => "Invalid uint32 syntax",
    })
}

/// The strings of a JSON array (Kanidm's attribute values).
fn strings_of(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

fn dedup(values: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in values {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn serve(
    axum::extract::State(state): axum::extract::State<Arc<Mutex<State>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
    s.requests += 1;
    let authorized = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {SIM_TOKEN}"));
    if !authorized {
        return (
            StatusCode::UNAUTHORIZED,
            [
                ("www-authenticate", "Bearer"),
                ("content-type", "application/json"),
            ],
            json!("notauthenticated").to_string(),
        )
            .into_response();
    }
    if method != Method::GET {
        s.writes += 1;
    }
    let (status, value) = if uri.path().starts_with("/v1/") {
        s.handle(&method, uri.path(), &body)
    } else {
        (StatusCode::NOT_FOUND, Value::Null)
    };
    (status, [("content-type", "application/json")], value.to_string()).into_response()
}

/// A running simulator.
pub struct KanidmSim {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl KanidmSim {
    /// Starts a fresh simulator on a free loopback port.
    pub fn start() -> KanidmSim {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let state = Arc::new(Mutex::new(State::new()));
        let app = axum::Router::new().fallback(serve).with_state(state.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let _ = axum::serve(listener, app).await;
            });
        });
        KanidmSim { url, state }
    }

    /// The orgctl backend address of this simulator.
    pub fn address(&self) -> String {
        format!("kanidm+{}", self.url)
    }

    /// Write requests (anything but GET) received so far.
    pub fn writes(&self) -> usize {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).writes
    }

    /// Requests received so far.
    pub fn requests(&self) -> usize {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).requests
    }

    /// One API call as an administrator would make it by hand (`path`
    /// under `/v1`): the status and the JSON body.
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let c = reqwest::blocking::Client::new();
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = c
            .request(method, format!("{}/v1{path}", self.url))
            .bearer_auth(SIM_TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().expect("call the simulator");
        let status = resp.status().as_u16();
        let text = resp.text().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}
