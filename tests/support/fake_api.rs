//! An in-memory Kubernetes API server, exactly as much of one as the orgctl
//! controller uses, served as a tower `Service` that `kube::Client::new`
//! takes (no sockets): list (with `limit`/`continue` pages) and watch of
//! every resource, get, create, replace and JSON merge patch (with
//! `resourceVersion` preconditions), the `status` subresource of orgctl
//! resources, delete with finalizers (`deletionTimestamp` first, removal
//! once the finalizers are gone), and `metadata.generation` moving only
//! when a spec changes. Events, Secrets and Leases are plain resources.
//!
//! It also records every request (method, resource, subresource) so tests
//! can count writes.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http::{Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use serde_json::{json, Value};
use tokio::sync::mpsc;

/// A resource collection: API group (empty for the core group) and plural.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Res {
    pub group: String,
    pub plural: String,
}

impl Res {
    pub fn new(group: &str, plural: &str) -> Self {
        Res {
            group: group.to_string(),
            plural: plural.to_string(),
        }
    }

    pub fn orgctl(plural: &str) -> Self {
        Res::new("orgctl.io", plural)
    }

    fn has_status_subresource(&self) -> bool {
        self.group == "orgctl.io"
    }
}

struct Logged {
    rv: u64,
    res: Res,
    namespace: String,
    type_: &'static str,
    object: Value,
}

struct Watcher {
    res: Res,
    namespace: Option<String>,
    tx: mpsc::UnboundedSender<Bytes>,
}

#[derive(Default)]
struct State {
    rv: u64,
    uid: u64,
    objects: BTreeMap<Res, BTreeMap<(String, String), Value>>,
    log: Vec<Logged>,
    watchers: Vec<Watcher>,
    requests: BTreeMap<String, usize>,
}

/// The in-memory API server.
#[derive(Clone, Default)]
pub struct FakeApi {
    state: Arc<Mutex<State>>,
}

/// A failed request, as the API server's `Status`.
#[derive(Debug)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
}

fn err(code: u16, reason: &'static str, message: impl Into<String>) -> ApiError {
    ApiError {
        code,
        reason,
        message: message.into(),
    }
}

fn now() -> String {
    orgctl::controller::status::now()
}

/// RFC 7386 JSON merge patch.
fn merge(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = json!({});
            }
            if let Value::Object(t) = target {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

impl State {
    fn bump(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    fn record(&mut self, res: &Res, namespace: &str, type_: &'static str, object: Value) {
        let rv = self.rv;
        let line = Bytes::from(format!("{}\n", json!({ "type": type_, "object": object })));
        self.watchers.retain(|w| {
            if w.res != *res || w.namespace.as_deref().is_some_and(|n| n != namespace) {
                return !w.tx.is_closed();
            }
            w.tx.send(line.clone()).is_ok()
        });
        self.log.push(Logged {
            rv,
            res: res.clone(),
            namespace: namespace.to_string(),
            type_,
            object,
        });
    }

    fn create(&mut self, res: &Res, namespace: &str, mut obj: Value) -> Result<Value, ApiError> {
        let name = obj["metadata"]["name"]
            .as_str()
            .map(String::from)
            .or_else(|| {
                obj["metadata"]["generateName"]
                    .as_str()
                    .map(|p| format!("{p}{}", self.uid + 1))
            })
            .ok_or_else(|| err(422, "Invalid", "metadata.name is required"))?;
        let key = (namespace.to_string(), name.clone());
        if self.objects.get(res).is_some_and(|m| m.contains_key(&key)) {
            return Err(err(
                409,
                "AlreadyExists",
                format!("{} {name:?} already exists", res.plural),
            ));
        }
        self.uid += 1;
        let rv = self.bump();
        let meta = &mut obj["metadata"];
        meta["name"] = json!(name);
        if !namespace.is_empty() {
            meta["namespace"] = json!(namespace);
        }
        meta["uid"] = json!(format!("uid-{}", self.uid));
        meta["resourceVersion"] = json!(rv.to_string());
        meta["generation"] = json!(1);
        meta["creationTimestamp"] = json!(now());
        if res.has_status_subresource() {
            if let Some(o) = obj.as_object_mut() {
                o.remove("status");
            }
        }
        self.objects
            .entry(res.clone())
            .or_default()
            .insert(key, obj.clone());
        self.record(res, namespace, "ADDED", obj.clone());
        Ok(obj)
    }

    /// Stores `new` as the next version of an existing object.
    fn update(
        &mut self,
        res: &Res,
        namespace: &str,
        name: &str,
        status_only: bool,
        edit: impl FnOnce(&Value) -> Result<Value, ApiError>,
    ) -> Result<Value, ApiError> {
        let key = (namespace.to_string(), name.to_string());
        let old = self
            .objects
            .get(res)
            .and_then(|m| m.get(&key))
            .cloned()
            .ok_or_else(|| err(404, "NotFound", format!("{} {name:?} not found", res.plural)))?;
        let mut new = edit(&old)?;
        if let Some(rv) = new["metadata"]["resourceVersion"].as_str() {
            if Some(rv) != old["metadata"]["resourceVersion"].as_str() {
                return Err(err(
                    409,
                    "Conflict",
                    "the object has been modified; please apply your changes to the latest version",
                ));
            }
        }
        if status_only {
            let status = new.get("status").cloned();
            new = old.clone();
            match status {
                Some(s) => new["status"] = s,
                None => {
                    if let Some(o) = new.as_object_mut() {
                        o.remove("status");
                    }
                }
            }
        } else {
            if res.has_status_subresource() {
                match old.get("status") {
                    Some(s) => new["status"] = s.clone(),
                    None => {
                        if let Some(o) = new.as_object_mut() {
                            o.remove("status");
                        }
                    }
                }
            }
            // Immutable metadata.
            for k in [
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "generation",
                "name",
                "namespace",
            ] {
                match old["metadata"].get(k) {
                    Some(v) => new["metadata"][k] = v.clone(),
                    None => {
                        if let Some(m) = new["metadata"].as_object_mut() {
                            m.remove(k);
                        }
                    }
                }
            }
            let spec_changed = if res.has_status_subresource() {
                old.get("spec") != new.get("spec")
            } else {
                let strip = |v: &Value| {
                    let mut v = v.clone();
                    if let Some(o) = v.as_object_mut() {
                        o.remove("metadata");
                        o.remove("status");
                    }
                    v
                };
                strip(&old) != strip(&new)
            };
            if spec_changed {
                let g = old["metadata"]["generation"].as_i64().unwrap_or(1);
                new["metadata"]["generation"] = json!(g + 1);
            }
        }
        if new == old {
            return Ok(old);
        }
        let rv = self.bump();
        new["metadata"]["resourceVersion"] = json!(rv.to_string());
        let finalizers_empty = new["metadata"]["finalizers"]
            .as_array()
            .is_none_or(|f| f.is_empty());
        if new["metadata"].get("deletionTimestamp").is_some() && finalizers_empty {
            if let Some(m) = self.objects.get_mut(res) {
                m.remove(&key);
            }
            self.record(res, namespace, "DELETED", new.clone());
            return Ok(new);
        }
        self.objects
            .entry(res.clone())
            .or_default()
            .insert(key, new.clone());
        self.record(res, namespace, "MODIFIED", new.clone());
        Ok(new)
    }

    fn delete(&mut self, res: &Res, namespace: &str, name: &str) -> Result<Value, ApiError> {
        let key = (namespace.to_string(), name.to_string());
        let old = self
            .objects
            .get(res)
            .and_then(|m| m.get(&key))
            .cloned()
            .ok_or_else(|| err(404, "NotFound", format!("{} {name:?} not found", res.plural)))?;
        let has_finalizers = old["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| !f.is_empty());
        if has_finalizers {
            if old["metadata"].get("deletionTimestamp").is_some() {
                return Ok(old);
            }
            let mut new = old.clone();
            new["metadata"]["deletionTimestamp"] = json!(now());
            let g = old["metadata"]["generation"].as_i64().unwrap_or(1);
            new["metadata"]["generation"] = json!(g + 1);
            let rv = self.bump();
            new["metadata"]["resourceVersion"] = json!(rv.to_string());
            self.objects
                .entry(res.clone())
                .or_default()
                .insert(key, new.clone());
            self.record(res, namespace, "MODIFIED", new.clone());
            return Ok(new);
        }
        if let Some(m) = self.objects.get_mut(res) {
            m.remove(&key);
        }
        let rv = self.bump();
        let mut gone = old;
        gone["metadata"]["resourceVersion"] = json!(rv.to_string());
        self.record(res, namespace, "DELETED", gone.clone());
        Ok(gone)
    }
}

/// A parsed request path.
struct Target {
    res: Res,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
}

fn parse_path(path: &str) -> Option<Target> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, rest) = match parts.as_slice() {
        ["api", _version, rest @ ..] => (String::new(), rest),
        ["apis", group, _version, rest @ ..] => (group.to_string(), rest),
        _ => return None,
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some(ns.to_string()), rest),
        rest => (None, rest),
    };
    let (plural, name, subresource) = match rest {
        [plural] => (plural, None, None),
        [plural, name] => (plural, Some(name.to_string()), None),
        [plural, name, sub] => (plural, Some(name.to_string()), Some(sub.to_string())),
        _ => return None,
    };
    Some(Target {
        res: Res::new(&group, plural),
        namespace,
        name,
        subresource,
    })
}

fn query(uri: &http::Uri) -> BTreeMap<String, String> {
    uri.query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.replace("%2F", "/").replace("%3D", "=")))
        .collect()
}

/// Response bodies.
pub type Body = BoxBody<Bytes, Infallible>;

fn respond(code: u16, v: &Value) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(v.to_string())).boxed());
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

fn respond_error(e: ApiError) -> Response<Body> {
    respond(
        e.code,
        &json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": e.message, "reason": e.reason, "code": e.code,
        }),
    )
}

impl FakeApi {
    pub fn new() -> Self {
        Self::default()
    }

    /// A kube client talking to this server (call inside a tokio runtime).
    pub fn client(&self) -> kube::Client {
        let api = self.clone();
        let service = tower::service_fn(move |req: Request<kube::client::Body>| {
            let api = api.clone();
            async move { Ok::<_, Infallible>(api.handle(req).await) }
        });
        kube::Client::new(service, "default")
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Answers one request (the service `client` wraps; also servable over HTTP).
    pub async fn handle<B>(&self, req: Request<B>) -> Response<Body>
    where
        B: http_body::Body<Data = Bytes>,
    {
        let (parts, body) = req.into_parts();
        let body = match body.collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => Bytes::new(),
        };
        let Some(t) = parse_path(parts.uri.path()) else {
            return respond_error(err(404, "NotFound", format!("no route {}", parts.uri.path())));
        };
        let q = query(&parts.uri);
        let watch = q.get("watch").is_some_and(|v| v == "true" || v == "1");
        let label = format!(
            "{} {}{}{}",
            parts.method,
            t.res.plural,
            t.subresource
                .as_deref()
                .map(|s| format!("/{s}"))
                .unwrap_or_default(),
            if watch { " (watch)" } else { "" }
        );
        *self.lock().requests.entry(label).or_insert(0) += 1;
        let ns = t.namespace.clone().unwrap_or_default();
        let parsed: Result<Value, _> = if body.is_empty() {
            Ok(Value::Null)
        } else {
            serde_json::from_slice(&body)
        };
        let Ok(payload) = parsed else {
            return respond_error(err(400, "BadRequest", "the body is not JSON"));
        };
        let result = match (&parts.method, &t.name) {
            (&Method::GET, None) if watch => return self.watch(&t, &q),
            (&Method::GET, None) => Ok(self.list(&t, &q)),
            (&Method::GET, Some(name)) => self
                .get(&t.res, &ns, name)
                .ok_or_else(|| err(404, "NotFound", format!("{} {name:?} not found", t.res.plural))),
            (&Method::POST, None) => self.lock().create(&t.res, &ns, payload),
            (&Method::PUT, Some(name)) => {
                let status_only = t.subresource.as_deref() == Some("status");
                self.lock()
                    .update(&t.res, &ns, name, status_only, |_| Ok(payload.clone()))
            }
            (&Method::PATCH, Some(name)) => {
                let status_only = t.subresource.as_deref() == Some("status");
                self.lock().update(&t.res, &ns, name, status_only, |old| {
                    let mut new = old.clone();
                    if let Some(m) = new["metadata"].as_object_mut() {
                        // A precondition only when the patch names one.
                        m.remove("resourceVersion");
                    }
                    merge(&mut new, &payload);
                    if new["metadata"].get("resourceVersion").is_none() {
                        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
                    }
                    Ok(new)
                })
            }
            (&Method::DELETE, Some(name)) => self.lock().delete(&t.res, &ns, name),
            _ => Err(err(
                405,
                "MethodNotAllowed",
                format!("{} not supported", parts.method),
            )),
        };
        match result {
            Ok(v) => respond(200, &v),
            Err(e) => respond_error(e),
        }
    }

    fn list(&self, t: &Target, q: &BTreeMap<String, String>) -> Value {
        let state = self.lock();
        let items: Vec<Value> = state
            .objects
            .get(&t.res)
            .map(|m| {
                m.iter()
                    .filter(|((ns, _), _)| t.namespace.as_ref().is_none_or(|n| n == ns))
                    .map(|(_, v)| v.clone())
                    .collect()
            })
            .unwrap_or_default();
        let offset: usize = q.get("continue").and_then(|c| c.parse().ok()).unwrap_or(0);
        let limit: usize = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(usize::MAX);
        let page: Vec<Value> = items.iter().skip(offset).take(limit).cloned().collect();
        let next = offset + page.len();
        let mut meta = json!({ "resourceVersion": state.rv.to_string() });
        if next < items.len() {
            meta["continue"] = json!(next.to_string());
        }
        json!({ "apiVersion": "v1", "kind": "List", "metadata": meta, "items": page })
    }

    fn watch(&self, t: &Target, q: &BTreeMap<String, String>) -> Response<Body> {
        let since: u64 = q.get("resourceVersion").and_then(|r| r.parse().ok()).unwrap_or(0);
        let timeout = q
            .get("timeoutSeconds")
            .and_then(|s| s.parse().ok())
            .unwrap_or(290u64);
        let (tx, rx) = mpsc::unbounded_channel();
        {
            let mut state = self.lock();
            for l in state.log.iter().filter(|l| l.rv > since && l.res == t.res) {
                if t.namespace.as_ref().is_none_or(|n| *n == l.namespace) {
                    let line = format!("{}\n", json!({ "type": l.type_, "object": l.object }));
                    let _ = tx.send(Bytes::from(line));
                }
            }
            state.watchers.push(Watcher {
                res: t.res.clone(),
                namespace: t.namespace.clone(),
                tx,
            });
        }
        let lines = tokio_stream::wrappers::UnboundedReceiverStream::new(rx)
            .take_until(tokio::time::sleep(Duration::from_secs(timeout)))
            .map(|b| Ok::<_, Infallible>(http_body::Frame::data(b)));
        let mut r = Response::new(BodyExt::boxed(StreamBody::new(lines)));
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        r
    }

    // ------------------------------------------------------------ for tests

    /// An object as stored.
    pub fn get(&self, res: &Res, namespace: &str, name: &str) -> Option<Value> {
        self.lock()
            .objects
            .get(res)
            .and_then(|m| m.get(&(namespace.to_string(), name.to_string())))
            .cloned()
    }

    /// Every object of a resource.
    pub fn all(&self, res: &Res) -> Vec<Value> {
        self.lock()
            .objects
            .get(res)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Creates an object (as `kubectl create` would).
    pub fn create(&self, res: &Res, namespace: &str, obj: Value) -> Value {
        self.lock()
            .create(res, namespace, obj)
            .unwrap_or_else(|e| panic!("create failed: {e:?}"))
    }

    /// Edits an object's spec (as `kubectl edit` would).
    pub fn edit_spec(&self, res: &Res, namespace: &str, name: &str, edit: impl FnOnce(&mut Value)) {
        self.lock()
            .update(res, namespace, name, false, |old| {
                let mut new = old.clone();
                if let Some(m) = new["metadata"].as_object_mut() {
                    m.remove("resourceVersion");
                }
                edit(&mut new["spec"]);
                Ok(new)
            })
            .unwrap_or_else(|e| panic!("edit failed: {e:?}"));
    }

    /// Deletes an object (as `kubectl delete` would).
    pub fn delete(&self, res: &Res, namespace: &str, name: &str) {
        self.lock()
            .delete(res, namespace, name)
            .unwrap_or_else(|e| panic!("delete failed: {e:?}"));
    }

    /// Requests received, by `METHOD plural[/subresource][ (watch)]`.
    pub fn requests(&self) -> BTreeMap<String, usize> {
        self.lock().requests.clone()
    }

    /// Requests whose label starts with `prefix`.
    pub fn count(&self, prefix: &str) -> usize {
        self.lock()
            .requests
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, n)| n)
            .sum()
    }

    /// Writes (anything but GET) received so far.
    pub fn writes(&self) -> usize {
        self.lock()
            .requests
            .iter()
            .filter(|(k, _)| !k.starts_with("GET"))
            .map(|(_, n)| n)
            .sum()
    }
}
