//! The `http://` and `https://` backends: the directory served by
//! `orgctl serve`, spoken to over its REST API (`wire` holds the bodies).
//! A snapshot is a few page reads (at most [`wire::MAX_PAGE`] objects each)
//! plus one read of the grants, all checked to come from one organization
//! revision; never one request per object. Writes are per object, each
//! guarded by its precondition (`If-None-Match: *` to create, `If-Match` with
//! the fingerprint the plan read to replace or delete), run in dependency
//! order in waves of one kind and action, up to `parallelism` at a time;
//! rule-made grants go in batches of [`wire::GRANTS_BATCH`] users, one
//! request and one transaction each.
//!
//! Guarantees and caveats: the backend is not transactional. The first write
//! of a request also carries the organization revision the plan was made
//! against, so of two appliers racing from the same state only one starts;
//! after that each object is guarded on its own, a failed write stops the
//! request after its wave (later waves may depend on it) and the outcome
//! says per write what happened. This module must not plan or print.

mod client;
mod size;
pub mod wire;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use reqwest::blocking::RequestBuilder;
use reqwest::header::{CONTENT_TYPE, IF_MATCH, IF_NONE_MATCH};
use reqwest::Method;

use self::client::{CallError, Transport};
use self::wire::{
    DeleteBody, GrantsBatch, GrantsBody, GrantsPut, ManualGrantPut, ObjectList, OrgInfo, OrgList, PutBody,
    WriteAnswer,
};
use super::{
    AuditChange, AuditEntry, Backend, BackendError, Capabilities, LiveGrants, LiveObject, LiveOrg, Write,
    WriteOutcome, WriteRequest,
};
use crate::model::{Kind, Name, SecretValue, Spec};

/// Default concurrent writes.
pub const DEFAULT_PARALLELISM: usize = 8;
/// Default per-request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Header of the organization revision precondition on a request's first write.
pub const EXPECTED_REVISION_HEADER: &str = "x-orgctl-expected-revision";
/// Header naming the apply a write belongs to, so the server's history shows
/// one entry per apply instead of one per request.
pub const APPLY_HEADER: &str = "x-orgctl-apply";
/// Snapshot reads retried when the organization moves between pages.
const SNAPSHOT_ATTEMPTS: usize = 3;

/// Settings of the http(s) backend.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// The bearer token (from `ORGCTL_TOKEN` or a token file).
    pub token: Option<SecretValue>,
    /// Concurrent writes (at least 1).
    pub parallelism: usize,
    /// A PEM CA certificate to trust besides the built-in roots.
    pub ca_file: Option<PathBuf>,
    /// Accept any server certificate (explicit, warned about by the CLI).
    pub insecure_skip_tls_verify: bool,
    /// Per-request timeout.
    pub request_timeout: Duration,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            token: None,
            parallelism: DEFAULT_PARALLELISM,
            ca_file: None,
            insecure_skip_tls_verify: false,
            request_timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl HttpOptions {
    /// Settings from the environment: `ORGCTL_TOKEN`, else the file named by
    /// `ORGCTL_TOKEN_FILE`.
    pub fn from_env() -> Result<HttpOptions, BackendError> {
        let file = std::env::var_os("ORGCTL_TOKEN_FILE").map(PathBuf::from);
        Ok(HttpOptions {
            token: token_from(std::env::var("ORGCTL_TOKEN").ok(), file.as_deref())?,
            ..HttpOptions::default()
        })
    }
}

/// The token: the file's first non-blank, non-comment line when a file is
/// given, else the env value. Errors never show the token.
pub fn token_from(env: Option<String>, file: Option<&Path>) -> Result<Option<SecretValue>, BackendError> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            BackendError::Config(format!("failed to read the token file {}: {e}", path.display()))
        })?;
        let token = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .and_then(|l| l.split_whitespace().next())
            .ok_or_else(|| {
                BackendError::Config(format!("the token file {} holds no token", path.display()))
            })?;
        return Ok(Some(SecretValue::new(token)));
    }
    Ok(env
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .map(SecretValue::new))
}

/// The directory behind `orgctl serve`.
pub struct HttpBackend {
    address: String,
    transport: Transport,
    parallelism: usize,
    /// The id every write of the current `write` call carries.
    apply: Option<String>,
    /// The server's body limit as its snapshot pages advertise it
    /// ([`wire::MAX_BODY_HEADER`]); [`wire::MAX_BODY`] until one is read.
    max_body: AtomicUsize,
}

impl HttpBackend {
    /// Connects lazily to `address` (`http(s)://host:port`); nothing is sent yet.
    pub fn open(address: &str, options: &HttpOptions) -> Result<HttpBackend, BackendError> {
        let address = address.trim_end_matches('/').to_string();
        let rest = address
            .strip_prefix("https://")
            .or_else(|| address.strip_prefix("http://"))
            .unwrap_or("");
        if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
            return Err(BackendError::InvalidAddress(address));
        }
        let token = options.token.as_ref().ok_or_else(|| {
            BackendError::Config(format!(
                "no token for {address}: set ORGCTL_TOKEN or pass --token-file FILE (env ORGCTL_TOKEN_FILE)"
            ))
        })?;
        let ca = match &options.ca_file {
            Some(path) => {
                let pem = std::fs::read(path).map_err(|e| {
                    BackendError::Config(format!("failed to read the CA file {}: {e}", path.display()))
                })?;
                Some(reqwest::Certificate::from_pem(&pem).map_err(|e| {
                    BackendError::Config(format!("{} is not a PEM certificate: {e}", path.display()))
                })?)
            }
            None => None,
        };
        let parallelism = options.parallelism.max(1);
        let transport = Transport::build(
            address.clone(),
            Some(token.expose()),
            options.request_timeout,
            ca,
            options.insecure_skip_tls_verify,
            parallelism,
        )
        .map_err(BackendError::Config)?;
        Ok(HttpBackend {
            address,
            transport,
            parallelism,
            apply: None,
            max_body: AtomicUsize::new(wire::MAX_BODY),
        })
    }

    /// The server's body limit, as last advertised.
    fn max_body(&self) -> usize {
        self.max_body.load(Ordering::Relaxed)
    }

    /// Asks the server to digest one batch of values (bounded in count and
    /// bytes); the values travel only in the request body.
    fn digest_batch(&self, org: &Name, values: &[&SecretValue]) -> Result<Vec<String>, BackendError> {
        let body = wire::DigestsRequest {
            values: values.iter().map(|v| v.expose().to_string()).collect(),
        };
        let what = format!("digesting the secrets of organization {:?}", org.as_str());
        let bytes = serde_json::to_vec(&body)
            .map_err(|e| BackendError::Remote(format!("{what}: failed to encode the request: {e}")))?;
        if let Some(message) = size::refused(bytes.len(), &what, self.max_body()) {
            return Err(BackendError::Remote(message));
        }
        let path = format!("/v1/orgs/{}/secret-digests", org.as_str());
        let response = self
            .transport
            .call(Method::POST, &path, &what, &|b| {
                b.header(CONTENT_TYPE, "application/json").body(bytes.clone())
            })
            .map_err(|e| remote(&e))?;
        let answer: wire::DigestsAnswer = response.json().map_err(|e| {
            BackendError::Remote(format!(
                "{what}: the server's answer is not what orgctl expects: {e}"
            ))
        })?;
        Ok(answer.digests)
    }

    /// Requests sent so far, retries included (for load figures).
    pub fn requests(&self) -> usize {
        self.transport.requests()
    }

    /// Retries made so far.
    pub fn retries(&self) -> usize {
        self.transport.retries()
    }

    fn get<T: serde::de::DeserializeOwned>(&self, path: &str, what: &str) -> Result<T, BackendError> {
        let response = self
            .transport
            .call(Method::GET, path, what, &|b| b)
            .map_err(|e| remote(&e))?;
        if let Some(max) = response
            .headers()
            .get(wire::MAX_BODY_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok())
        {
            self.max_body.store(max, Ordering::Relaxed);
        }
        let bytes = response
            .bytes()
            .map_err(|e| BackendError::Remote(format!("{what}: the answer was cut off: {e}")))?;
        serde_json::from_slice(&bytes).map_err(|e| {
            BackendError::Remote(format!(
                "{what}: the server's answer is not what orgctl expects: {e}"
            ))
        })
    }

    /// One consistent read of the organization's pages and grants.
    fn read_snapshot(&self, organization: &Name) -> Result<Option<LiveOrg>, BackendError> {
        let org = organization.as_str();
        let what = format!("reading organization {org:?}");
        let mut objects = BTreeMap::new();
        let mut revision = None;
        let mut after: Option<String> = None;
        loop {
            let mut path = format!("/v1/orgs/{org}/snapshot?limit={}", wire::MAX_PAGE);
            if let Some(a) = &after {
                path.push_str("&after=");
                path.push_str(a);
            }
            let page: ObjectList = self.get(&path, &what)?;
            if *revision.get_or_insert(page.revision) != page.revision {
                return Ok(None);
            }
            for o in page.items {
                let spec = Spec::from_json_str(o.kind, o.spec.get()).map_err(|e| BackendError::Corrupt {
                    object: o.kind.label(o.name.as_str()).to_string(),
                    message: e.to_string(),
                })?;
                objects.insert(
                    (o.kind, o.name),
                    LiveObject {
                        spec,
                        managed: o.managed,
                        fingerprint: o.revision,
                    },
                );
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        let grants: GrantsBody = self.get(&format!("/v1/orgs/{org}/grants"), &what)?;
        let revision = revision.unwrap_or(0);
        if grants.revision != revision {
            return Ok(None);
        }
        Ok(Some(LiveOrg {
            organization: Some(organization.clone()),
            revision,
            objects,
            grants: LiveGrants {
                sets: grants.sets,
                users: grants.users,
                manual: grants.manual,
            },
        }))
    }

    /// Sends one write; the organization revision after it.
    fn send(&self, org: &Name, job: &Job, expected_revision: Option<u64>) -> Result<u64, CallError> {
        let o = org.as_str();
        let with_revision = |b: RequestBuilder| {
            let b = self.with_apply(b);
            match expected_revision {
                Some(r) => b.header(EXPECTED_REVISION_HEADER, r),
                None => b,
            }
        };
        // A JSON body, with the organization revision expected.
        let with_json = |b: RequestBuilder, bytes: &Vec<u8>| {
            with_revision(b.header(CONTENT_TYPE, "application/json").body(bytes.clone()))
        };
        let object_path =
            |kind: Kind, name: &Name| format!("/v1/orgs/{o}/objects/{}/{}", kind.plural(), name.as_str());
        let response = match &job.write {
            Write::Put {
                kind,
                name,
                spec,
                secrets,
                managed,
                expected,
                ..
            } => {
                let body = PutBody {
                    spec: spec.to_json(),
                    managed: *managed,
                    secrets: secrets
                        .iter()
                        .map(|(k, v)| (k.clone(), v.expose().to_string()))
                        .collect(),
                    audit: job.audit.clone(),
                };
                let bytes = json_bytes(&body)?;
                let path = object_path(*kind, name);
                let what = format!("writing {}", label(*kind, name));
                if let Some(message) = size::refused(bytes.len(), &what, self.max_body()) {
                    return Err(CallError::Transport(message));
                }
                self.transport.call(Method::PUT, &path, &what, &|b| {
                    let b = with_json(b, &bytes);
                    match expected {
                        Some(fp) => b.header(IF_MATCH, wire::etag(fp)),
                        None => b.header(IF_NONE_MATCH, "*"),
                    }
                })?
            }
            Write::Delete { kind, name, expected } => {
                let body = DeleteBody {
                    audit: job.audit.clone(),
                };
                let bytes = json_bytes(&body)?;
                let path = object_path(*kind, name);
                let what = format!("deleting {}", label(*kind, name));
                self.transport.call(Method::DELETE, &path, &what, &|b| {
                    let b = with_json(b, &bytes);
                    match expected {
                        Some(fp) => b.header(IF_MATCH, wire::etag(fp)),
                        // A delete of whatever is there: the server requires a precondition.
                        None => b.header(IF_MATCH, "*"),
                    }
                })?
            }
            Write::Grants { user, grants } => {
                let body = GrantsPut {
                    grants: grants.to_vec(),
                };
                let bytes = json_bytes(&body)?;
                let path = format!("/v1/orgs/{o}/grants/{}", user.as_str());
                let what = format!("writing the app assignments of {}", label(Kind::User, user));
                self.transport
                    .call(Method::PUT, &path, &what, &|b| with_json(b, &bytes))?
            }
            Write::ManualGrant { user, app, role } => {
                let path = format!("/v1/orgs/{o}/manual-grants/{}/{}", user.as_str(), app.as_str());
                let what = format!("writing a hand-made grant of {}", label(Kind::User, user));
                match role {
                    Some(role) => {
                        let body = ManualGrantPut { role: role.clone() };
                        let bytes = json_bytes(&body)?;
                        self.transport
                            .call(Method::PUT, &path, &what, &|b| with_json(b, &bytes))?
                    }
                    None => self
                        .transport
                        .call(Method::DELETE, &path, &what, &|b| with_revision(b))?,
                }
            }
        };
        let answer: WriteAnswer = response.json().map_err(|e| {
            CallError::Transport(format!("the server's answer to a write is unreadable: {e}"))
        })?;
        Ok(answer.revision)
    }

    /// Names the current apply on a write request.
    fn with_apply(&self, b: RequestBuilder) -> RequestBuilder {
        match &self.apply {
            Some(id) => b.header(APPLY_HEADER, id.as_str()),
            None => b,
        }
    }

    /// Writes the rule-made grant lists of `jobs` (all `Write::Grants`) in
    /// one request and one transaction.
    fn send_grants(
        &self,
        org: &Name,
        jobs: &[Job],
        expected_revision: Option<u64>,
        audit: Vec<AuditChange>,
    ) -> Result<u64, CallError> {
        let users = jobs
            .iter()
            .filter_map(|j| match &j.write {
                Write::Grants { user, grants } => Some((user.clone(), grants.to_vec())),
                _ => None,
            })
            .collect();
        let bytes = json_bytes(&GrantsBatch { users, audit })?;
        let what = format!("writing the app assignments of {} users", jobs.len());
        if let Some(message) = size::refused(bytes.len(), &what, self.max_body()) {
            return Err(CallError::Transport(message));
        }
        let path = format!("/v1/orgs/{}/grants", org.as_str());
        let response = self.transport.call(Method::PUT, &path, &what, &|b| {
            let b = self
                .with_apply(b)
                .header(CONTENT_TYPE, "application/json")
                .body(bytes.clone());
            match expected_revision {
                Some(r) => b.header(EXPECTED_REVISION_HEADER, r),
                None => b,
            }
        })?;
        let answer: WriteAnswer = response.json().map_err(|e| {
            CallError::Transport(format!("the server's answer to a write is unreadable: {e}"))
        })?;
        Ok(answer.revision)
    }

    /// Runs one wave (writes that do not depend on each other) with up to
    /// `parallelism` in flight; reports each completion to `done`. A failure
    /// that is not about one object (no answer, 401, 403, 5xx after retries)
    /// stops the wave: writes not yet sent stay unsent.
    fn run_wave(&self, org: &Name, jobs: &[Job], done: &mut dyn FnMut(usize, Result<u64, CallError>)) {
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let workers = self.parallelism.min(jobs.len());
        std::thread::scope(|scope| {
            let (tx, rx) = mpsc::channel();
            for _ in 0..workers {
                let tx = tx.clone();
                let (next, stop) = (&next, &stop);
                scope.spawn(move || loop {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { break };
                    let result = self.send(org, job, None);
                    if result.as_ref().is_err_and(systemic) {
                        stop.store(true, Ordering::Relaxed);
                    }
                    if tx.send((i, result)).is_err() {
                        break;
                    }
                });
            }
            drop(tx);
            for (i, result) in rx {
                done(i, result);
            }
        });
    }
}

/// A failure that every further write would meet too (no answer, auth,
/// server errors), unlike a conflict, a rule or a missing object.
fn systemic(e: &CallError) -> bool {
    match e {
        CallError::Transport(_) => true,
        CallError::Status { status, .. } => matches!(status, 401 | 403 | 429) || *status >= 500,
    }
}

/// One write and the audit record it carries.
struct Job {
    write: Write,
    audit: Option<AuditChange>,
}

/// Consecutive batches of grants jobs, each at most [`wire::GRANTS_BATCH`]
/// users and [`wire::GRANTS_BATCH_GRANTS`] grants, so a body stays well below
/// the server's limit however many apps a rule gives.
fn grant_batches(jobs: &[Job]) -> Vec<&[Job]> {
    let mut batches = Vec::new();
    let (mut start, mut grants) = (0, 0);
    for (i, job) in jobs.iter().enumerate() {
        let n = match &job.write {
            Write::Grants { grants, .. } => grants.len(),
            _ => 0,
        };
        if i > start && (i - start >= wire::GRANTS_BATCH || grants + n > wire::GRANTS_BATCH_GRANTS) {
            batches.push(&jobs[start..i]);
            start = i;
            grants = 0;
        }
        grants += n;
    }
    if start < jobs.len() {
        batches.push(&jobs[start..]);
    }
    batches
}

/// The wave of rule-made grant writes (sent in batches).
const GRANTS_WAVE: (u8, Kind) = (1, Kind::User);

/// Writes that may run side by side: same action, same kind.
fn wave_key(w: &Write) -> (u8, Kind) {
    match w {
        Write::Put { kind, .. } => (0, *kind),
        Write::Grants { .. } => GRANTS_WAVE,
        Write::Delete { kind, .. } => (2, *kind),
        Write::ManualGrant { .. } => (3, Kind::User),
    }
}

fn label(kind: Kind, name: &Name) -> String {
    kind.label(name.as_str()).to_string()
}

fn remote(e: &CallError) -> BackendError {
    match e {
        CallError::Status {
            status: 412, message, ..
        } => BackendError::Remote(message.clone()),
        other => BackendError::Remote(other.to_string()),
    }
}

impl Backend for HttpBackend {
    fn describe(&self) -> String {
        self.address.clone()
    }

    /// The server holds the same model as the files; each write commits
    /// alone; an object too large for its body limit is a plan error.
    fn capabilities(&self) -> Capabilities {
        let max_body = self.max_body();
        Capabilities {
            check: Some(crate::backend::DesiredCheck::new(move |objects| {
                size::check(objects, max_body)
            })),
            transactional: false,
            revisions: true,
            ..Capabilities::default()
        }
    }

    /// What the server sees; loopback and unspecified addresses say nothing
    /// about where a sign-in would come from and are left out.
    fn client_addresses(&self) -> Vec<std::net::IpAddr> {
        let Ok(me) =
            self.get::<wire::WhoamiBody>("/v1/whoami", "asking the server for this client's address")
        else {
            return Vec::new();
        };
        match me.address.parse::<std::net::IpAddr>() {
            Ok(ip) if !ip.is_loopback() && !ip.is_unspecified() => vec![ip],
            _ => Vec::new(),
        }
    }

    fn organizations(&self) -> Result<Vec<Name>, BackendError> {
        let mut names = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut path = format!("/v1/orgs?limit={}", wire::MAX_PAGE);
            if let Some(a) = &after {
                path.push_str("&after=");
                path.push_str(a);
            }
            let page: OrgList = self.get(&path, "listing organizations")?;
            names.extend(page.items.into_iter().map(|o: OrgInfo| o.name));
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        Ok(names)
    }

    /// Batches of at most [`wire::MAX_DIGEST_VALUES`] values and half the
    /// server's body limit (JSON escapes may double a value's size).
    fn secret_digests(
        &self,
        organization: &Name,
        values: &[&SecretValue],
    ) -> Result<Vec<String>, BackendError> {
        let budget = self.max_body() / 2;
        let mut digests = Vec::with_capacity(values.len());
        let mut start = 0;
        while start < values.len() {
            let mut end = start;
            let mut bytes = 0;
            while end < values.len() && end - start < wire::MAX_DIGEST_VALUES {
                let len = values[end].expose().len() + 4;
                if end > start && bytes + len > budget {
                    break;
                }
                bytes += len;
                end += 1;
            }
            digests.extend(self.digest_batch(organization, &values[start..end])?);
            start = end;
        }
        Ok(digests)
    }

    /// Pages and grants must all report one revision; a read that straddles
    /// a write is started again (a few times) rather than mixing states.
    fn snapshot(&self, organization: &Name) -> Result<LiveOrg, BackendError> {
        for _ in 0..SNAPSHOT_ATTEMPTS {
            if let Some(live) = self.read_snapshot(organization)? {
                return Ok(live);
            }
        }
        Err(BackendError::Remote(format!(
            "organization {:?} kept changing while it was read; try again",
            organization.as_str()
        )))
    }

    fn write(
        &mut self,
        request: WriteRequest,
        progress: &mut dyn FnMut(usize),
    ) -> Result<WriteOutcome, BackendError> {
        let WriteRequest {
            organization,
            expected_revision,
            writes,
            audit,
        } = request;
        if writes.is_empty() {
            let revision = match self.get::<OrgInfo>(
                &format!("/v1/orgs/{}", organization.as_str()),
                "reading the organization",
            ) {
                Ok(info) => info.revision,
                Err(_) => expected_revision,
            };
            return Ok(WriteOutcome {
                revision,
                results: Vec::new(),
            });
        }
        self.apply = Some(apply_id());
        // The audit record of a change rides on the last put or delete of its object.
        let mut last: HashMap<(Kind, &str), usize> = HashMap::new();
        for (i, w) in writes.iter().enumerate() {
            if let Write::Put { kind, name, .. } | Write::Delete { kind, name, .. } = w {
                last.insert((*kind, name.as_str()), i);
            }
        }
        let mut audit_at: HashMap<usize, AuditChange> = HashMap::new();
        // Records of no one object (the `assign` summary) ride on the first
        // grants request.
        let mut loose: Vec<AuditChange> = Vec::new();
        for change in audit {
            let at = change
                .name
                .parse::<Name>()
                .ok()
                .and_then(|n| last.get(&(change.kind, n.as_str())).copied());
            match at {
                Some(i) => {
                    audit_at.insert(i, change);
                }
                None => loose.push(change),
            }
        }
        let jobs: Vec<Job> = writes
            .into_iter()
            .enumerate()
            .map(|(i, write)| Job {
                audit: audit_at.remove(&i),
                write,
            })
            .collect();

        let mut results: Vec<Result<(), String>> = Vec::with_capacity(jobs.len());
        let mut revision = expected_revision;
        // The first write alone, guarded by the organization revision: of two
        // appliers racing from one state, only one gets past it.
        let Some(first) = jobs.first() else {
            return Ok(WriteOutcome { revision, results });
        };
        let sent = match first.write {
            Write::Grants { .. } => self.send_grants(
                &organization,
                std::slice::from_ref(first),
                Some(expected_revision),
                std::mem::take(&mut loose),
            ),
            _ => self.send(&organization, first, Some(expected_revision)),
        };
        match sent {
            Ok(r) => {
                revision = revision.max(r);
                results.push(Ok(()));
                progress(1);
            }
            Err(CallError::Status {
                status: 412,
                message,
                object: Some(object),
                ..
            }) if object.starts_with("organization ") => {
                tracing::debug!("{message}");
                return Err(BackendError::Conflict {
                    object: format!("organization {:?}", organization.as_str()),
                    reason: "it changed since the plan was made (another apply or an admin wrote to it)"
                        .to_string(),
                });
            }
            Err(e) => return Err(remote(&e)),
        }
        let rest = jobs.get(1..).unwrap_or(&[]);
        let mut start = 0;
        let mut failed = false;
        let mut done_count = 1;
        while start < rest.len() {
            let key = rest.get(start).map(|j| wave_key(&j.write));
            let len = rest[start..]
                .iter()
                .take_while(|j| Some(wave_key(&j.write)) == key)
                .count();
            let wave = &rest[start..start + len];
            if failed {
                results.extend(
                    wave.iter()
                        .map(|_| Err("not attempted: an earlier change failed".to_string())),
                );
            } else if key == Some(GRANTS_WAVE) {
                // Rule-made grants go in batches, each one transaction.
                for chunk in grant_batches(wave) {
                    if failed {
                        results.extend(
                            chunk
                                .iter()
                                .map(|_| Err("not attempted: an earlier write failed".to_string())),
                        );
                        continue;
                    }
                    let result = self.send_grants(&organization, chunk, None, std::mem::take(&mut loose));
                    done_count += chunk.len();
                    progress(done_count);
                    match result {
                        Ok(r) => {
                            revision = revision.max(r);
                            results.extend(chunk.iter().map(|_| Ok(())));
                        }
                        Err(e) => {
                            failed = true;
                            let message = e.to_string();
                            results.extend(chunk.iter().map(|_| Err(message.clone())));
                        }
                    }
                }
            } else {
                let mut wave_results: Vec<Option<Result<(), String>>> = vec![None; wave.len()];
                self.run_wave(&organization, wave, &mut |i, result| {
                    done_count += 1;
                    progress(done_count);
                    let r = match result {
                        Ok(r) => {
                            revision = revision.max(r);
                            Ok(())
                        }
                        Err(e) => Err(e.to_string()),
                    };
                    if let Some(slot) = wave_results.get_mut(i) {
                        *slot = Some(r);
                    }
                });
                for r in wave_results {
                    let r = r.unwrap_or_else(|| Err("not attempted: an earlier write failed".to_string()));
                    failed |= r.is_err();
                    results.push(r);
                }
            }
            start += len;
        }
        let retries = self.transport.retries();
        if retries > 0 {
            tracing::warn!("{retries} request(s) to {} were retried", self.address);
        }
        Ok(WriteOutcome { revision, results })
    }

    fn history(&self, organization: Option<&Name>, limit: usize) -> Result<Vec<AuditEntry>, BackendError> {
        let limit = limit.clamp(1, 1000);
        let path = match organization {
            Some(o) => format!("/v1/history?org={}&limit={limit}", o.as_str()),
            None => format!("/v1/history?limit={limit}"),
        };
        self.get(&path, "reading the audit log")
    }
}

/// A new apply id: unique enough to tell one apply's writes from the next
/// apply's (time, process and a counter), which is all `history` needs.
fn apply_id() -> String {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{nanos:x}-{:x}-{:x}",
        std::process::id(),
        COUNT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A request body as JSON bytes.
fn json_bytes<T: serde::Serialize>(body: &T) -> Result<Vec<u8>, CallError> {
    serde_json::to_vec(body).map_err(|e| CallError::Transport(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::{grant_batches, Job};
    use crate::backend::{RuleGrant, Write};

    fn job(user: usize, grants: usize) -> Job {
        let grant = |i: usize| RuleGrant {
            app: format!("app{i}").parse().expect("name"),
            role: "user".parse().expect("name"),
            rule: "all".parse().expect("name"),
        };
        Job {
            write: Write::Grants {
                user: format!("u{user}").parse().expect("name"),
                grants: (0..grants).map(grant).collect::<Vec<_>>().into(),
            },
            audit: None,
        }
    }

    #[test]
    fn grant_batches_are_bounded_by_users_and_by_grants() {
        let many_users: Vec<Job> = (0..4500).map(|u| job(u, 1)).collect();
        let sizes: Vec<usize> = grant_batches(&many_users).iter().map(|b| b.len()).collect();
        assert_eq!(sizes, [2000, 2000, 500]);
        // 71 grants a user (the benchmark's): 225 users make 15,975 grants.
        let many_grants: Vec<Job> = (0..1000).map(|u| job(u, 71)).collect();
        let sizes: Vec<usize> = grant_batches(&many_grants).iter().map(|b| b.len()).collect();
        assert_eq!(sizes, [225, 225, 225, 225, 100]);
        // One user over the bound still goes, alone.
        let huge = vec![job(0, 20_000), job(1, 1)];
        let sizes: Vec<usize> = grant_batches(&huge).iter().map(|b| b.len()).collect();
        assert_eq!(sizes, [1, 1]);
    }
}
