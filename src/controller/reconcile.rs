//! One organization's reconcile, in named steps:
//!
//! 1. **gather**: the organization's resources from the watch caches; split
//!    each spec into the engine's spec and the Kubernetes-only fields;
//!    finalizers follow `deletionPolicy` (present exactly on `Delete`).
//! 2. **connect**: the backend address and token (Organization
//!    `spec.connection`, else the controller's defaults); the Secrets that
//!    `secretKeyRef`s name.
//! 3. **validate**: the resources as the engine's sources; an invalid one is
//!    left out together with what depends on it (validation runs again
//!    without it until nothing more fails).
//! 4. **plan and apply** (`engine_job`, on a blocking thread): exactly
//!    `engine::plan_desired` + `apply::execute`, as `orgctl apply` does;
//!    resources being deleted with `deletionPolicy: Delete` are the only
//!    deletions the plan keeps. `spec.suspend` stops after the plan.
//! 5. **status**: per resource `Ready`/`Synced`, `observedGeneration`, the
//!    backend revision; on the Organization the plan summary and impact
//!    counts. Only changed statuses are written. Events for applied
//!    changes, failures and drift; finalizers released last.
//!
//! Must not: retry an invalid resource before it changes (it waits for a
//! new generation; the resync re-plans it with everything else), or put a
//! token or secret value in a message.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::runtime::events::{Event, EventType};
use serde_json::{json, Value};

use super::engine_job::{engine_job, Done, EngineJob, EngineResult};
use super::objects::{self, Member, OrgKey, FINALIZER};
use super::secrets::{self, KubeSecrets};
use super::status::{self, Condition, READY, SYNCED};
use super::telemetry::KindLabel;
use super::{count_objects, Context};
use crate::apply::{ApplyReport, ChangeOutcome};
use crate::crd::fields::{ControllerFields, DeletionPolicy};
use crate::crd::{ImpactSummary, ObjectStatus, PlanSummary};
use crate::load::Source;
use crate::model::{Kind, Name, SecretRef, SecretValue};
use crate::plan::Action;

/// Most per-object Events of one kind (applied, drift, invalid) one
/// reconcile publishes; the Organization's summary Event counts them all.
const MAX_OBJECT_EVENTS: usize = 20;

/// Status writes and finalizer patches in flight at once.
const API_CONCURRENCY: usize = 16;

/// Condition reasons.
pub(super) mod reason {
    pub const APPLIED: &str = "Applied";
    pub const SUCCESS: &str = "ReconcileSuccess";
    pub const DRIFT: &str = "DriftCorrected";
    pub const INVALID: &str = "ValidationFailed";
    pub const SECRET: &str = "SecretMissing";
    pub const TOKEN: &str = "TokenUnreadable";
    pub const BACKEND: &str = "BackendUnavailable";
    pub const PLAN: &str = "PlanRefused";
    pub const APPLY: &str = "ApplyFailed";
    pub const NOT_APPLIED: &str = "NotApplied";
    pub const SUSPENDED: &str = "Suspended";
    pub const DELETING: &str = "Deleting";
    pub const DELETE_FAILED: &str = "DeleteFailed";
    pub const KUBERNETES: &str = "KubernetesApiError";
    pub const PANIC: &str = "InternalError";
    /// The reasons a failure is counted under in
    /// `orgctl_controller_reconcile_errors_total` (each exists at zero from
    /// the start, so a rate over it is defined before the first failure).
    pub const FAILURES: [&str; 9] = [
        INVALID,
        SECRET,
        TOKEN,
        BACKEND,
        PLAN,
        APPLY,
        DELETE_FAILED,
        KUBERNETES,
        PANIC,
    ];
}

/// Reconciles one organization; returns when to run it again (`None`: it
/// has no resources left).
pub async fn run(ctx: &Context, key: &OrgKey) -> Option<Duration> {
    let started = Instant::now();
    let members = ctx.stores.members(key);
    if members.is_empty() {
        ctx.succeeded(key);
        return None;
    }
    let span = tracing::info_span!("reconcile", organization = %key, objects = members.len());
    let result = tracing::Instrument::instrument(reconcile(ctx, key, &members), span).await;
    ctx.metrics.reconciles.inc();
    ctx.metrics.duration.observe(started.elapsed().as_secs_f64());
    crate::memory::return_freed();
    count_objects(ctx);
    match result {
        Ok(()) => {
            tracing::info!(organization = %key, objects = members.len(), "reconciled");
            ctx.succeeded(key);
            Some(ctx.settings.resync)
        }
        Err(reason) => {
            ctx.metrics.error(reason);
            let delay = ctx.backoff(key);
            tracing::warn!(organization = %key, reason, retry_in = ?delay, "reconcile failed");
            Some(delay)
        }
    }
}

/// The new conditions of one resource.
#[derive(Debug, Clone)]
struct Verdict {
    ready: Condition,
    synced: Condition,
    drift: bool,
}

impl Verdict {
    fn both(ready: Condition, synced: Condition) -> Self {
        Verdict {
            ready,
            synced,
            drift: false,
        }
    }

    fn failed(reason: &'static str, message: &str) -> Self {
        Verdict::both(Condition::no(reason, message), Condition::no(reason, message))
    }
}

/// A failure of the whole organization's reconcile.
#[derive(Debug, Clone)]
pub(super) struct OrgFailure {
    /// The condition reason.
    pub(super) reason: &'static str,
    /// For people.
    pub(super) message: String,
}

/// Everything one reconcile decides, before it is written.
struct Decisions {
    verdicts: Vec<Option<Verdict>>,
    /// Finalizers to add (`true`) or remove (`false`), after status.
    finalizers: Vec<(usize, bool)>,
    revision: Option<i64>,
    summary: Option<(PlanSummary, ImpactSummary)>,
    events: Vec<(usize, EventType, &'static str, String)>,
    /// Users whose rule-made app assignments were changed in the backend
    /// outside orgctl and written back (no resource changed since it was
    /// last in sync, so the plan's assignments can only be drift).
    assignment_drift: Option<usize>,
}

async fn reconcile(ctx: &Context, key: &OrgKey, members: &[Arc<Member>]) -> Result<(), &'static str> {
    let now = status::now();
    let mut d = Decisions {
        verdicts: vec![None; members.len()],
        finalizers: Vec::new(),
        revision: None,
        summary: None,
        events: Vec::new(),
        assignment_drift: None,
    };

    // 1. gather: each spec is parsed once, into its source and the Secrets
    // it references (the parsed trees are not kept: one reconcile of a
    // large organization would hold them all).
    let mut sources: Vec<Option<Source>> = Vec::with_capacity(members.len());
    let mut references: Vec<Vec<SecretRef>> = Vec::with_capacity(members.len());
    // Of the Kubernetes-only fields, only the Organization's are kept whole.
    let org_index = members.iter().position(|m| m.kind == Kind::Organization);
    let mut policies: Vec<DeletionPolicy> = Vec::with_capacity(members.len());
    let mut org_fields = ControllerFields::default();
    for (i, m) in members.iter().enumerate() {
        let (spec, split) = m.split();
        match split {
            Ok(f) => {
                references.push(secrets::references(m.kind, &spec));
                sources.push(Some(objects::source(m, spec)));
                policies.push(f.deletion_policy);
                if Some(i) == org_index {
                    org_fields = f;
                }
            }
            Err(message) => {
                d.verdicts[i] = Some(Verdict::failed(reason::INVALID, &message));
                references.push(Vec::new());
                sources.push(None);
                policies.push(DeletionPolicy::Orphan);
            }
        }
    }
    let policy = |i: usize| policies[i];
    // The Organization is deleted last: while other resources of it stay,
    // it stays in the plan they need.
    let others_remain = members
        .iter()
        .any(|m| m.kind != Kind::Organization && !m.deleting());
    let mut active: Vec<usize> = Vec::new();
    let mut deleting: Vec<usize> = Vec::new();
    let mut add_finalizers = Vec::new();
    for (i, m) in members.iter().enumerate() {
        if m.deleting() {
            if !m.has_finalizer() {
                continue;
            }
            if policy(i) == DeletionPolicy::Orphan {
                d.finalizers.push((i, false));
                continue;
            }
            if m.kind == Kind::Organization && others_remain {
                active.push(i);
                continue;
            }
            deleting.push(i);
        } else {
            let want = policy(i) == DeletionPolicy::Delete;
            if want && !m.has_finalizer() {
                add_finalizers.push((i, true));
            } else if !want && m.has_finalizer() {
                d.finalizers.push((i, false));
            }
            if d.verdicts[i].is_none() {
                active.push(i);
            }
        }
    }
    // Finalizers go on before anything of the resource is written.
    if let Err(e) = patch_finalizers(ctx, members, &add_finalizers).await {
        // Counted once, by `run`, from the returned reason.
        tracing::warn!(organization = %key, error = %e, "could not add finalizers");
        return Err(reason::KUBERNETES);
    }

    // 2. connect
    let connection = org_fields.connection.clone().unwrap_or_default();
    let address = connection
        .backend
        .clone()
        .unwrap_or_else(|| ctx.settings.backend.clone());
    let token = match (&connection.token_secret_ref, &ctx.settings.token_file) {
        (Some(r), _) => secrets::read_key(&ctx.client, &key.namespace, r)
            .await
            .map(Some)
            .map_err(|e| OrgFailure {
                reason: reason::SECRET,
                message: format!("backend token: {e}"),
            }),
        (None, Some(path)) => {
            // A file read blocks: off the async runtime's threads.
            let file = path.clone();
            match tokio::task::spawn_blocking(move || std::fs::read_to_string(file)).await {
                Ok(Ok(t)) => Ok(Some(SecretValue::new(t.trim_end_matches(['\n', '\r'])))),
                Ok(Err(e)) => Err(OrgFailure {
                    reason: reason::TOKEN,
                    message: format!("cannot read the token file {}: {e}", path.display()),
                }),
                Err(_) => Err(OrgFailure {
                    reason: reason::PANIC,
                    message: "reading the token file stopped unexpectedly".into(),
                }),
            }
        }
        (None, None) => Ok(None),
    };
    let mut refs = Vec::new();
    for &i in &active {
        let (k8s, other): (Vec<&SecretRef>, Vec<&SecretRef>) =
            references[i].iter().partition(|r| r.secret_key_ref.is_some());
        if let Some(r) = other.first() {
            let message = format!(
                "{} cannot be read by the controller; use secretKeyRef (a Secret in namespace {})",
                r.describe(),
                key.namespace
            );
            d.verdicts[i] = Some(Verdict::failed(reason::INVALID, &message));
        }
        refs.extend(k8s.into_iter().filter_map(|r| r.secret_key_ref.clone()));
    }
    // A change to any of these Secrets triggers this organization again.
    let used = refs
        .iter()
        .map(|r| r.name.clone())
        .chain(connection.token_secret_ref.iter().map(|r| r.name.clone()))
        .collect();
    ctx.secret_users.record(key, used);
    let kube_secrets = KubeSecrets::read(&ctx.client, &key.namespace, refs).await;
    // A resource whose Secret is missing is held back, not left out: it
    // keeps its live object and what references it still resolves (see
    // engine_job), and it reports why.
    let mut held = BTreeMap::new();
    for &i in &active {
        if d.verdicts[i].is_some() {
            continue;
        }
        let problem = references[i]
            .iter()
            .filter_map(|r| r.secret_key_ref.as_ref())
            .find_map(|r| kube_secrets.problem(r).map(|e| e.to_string()));
        if let Some(p) = problem {
            d.verdicts[i] = Some(Verdict::failed(reason::SECRET, &p));
            if let Ok(name) = members[i].name().parse::<Name>() {
                held.insert((members[i].kind, name), members[i].source_name());
            }
        }
    }
    active.retain(|i| d.verdicts[*i].is_none() || held.values().any(|s| *s == members[*i].source_name()));

    // 3 and 4: validate, plan and apply on a blocking thread.
    let sources: Vec<Source> = active.iter().filter_map(|&i| sources[i].take()).collect();
    // Held resources keep their SecretMissing verdict; the rest is judged.
    active.retain(|i| d.verdicts[*i].is_none());
    let delete: BTreeSet<(Kind, Name)> = deleting
        .iter()
        .filter_map(|&i| members[i].name().parse().ok().map(|n| (members[i].kind, n)))
        .collect();
    let outcome = match token {
        Err(failure) => Some(Err(failure)),
        Ok(token) => {
            let job = EngineJob {
                organization: key.organization.clone(),
                sources,
                held,
                delete,
                address,
                login: super::Login {
                    token,
                    client_id: connection.client_id.clone(),
                },
                suspend: org_fields.suspend,
                secrets: kube_secrets,
                connect: ctx.connect.clone(),
            };
            let result = tokio::task::spawn_blocking(move || engine_job(job))
                .await
                .unwrap_or_else(|_| EngineResult {
                    invalid: BTreeMap::new(),
                    whole: None,
                    outcome: Some(Err(OrgFailure {
                        reason: reason::PANIC,
                        message: "the engine stopped unexpectedly; see the controller's log".into(),
                    })),
                });
            let names = objects::by_source_name(members);
            for (source, message) in &result.invalid {
                if let Some(&i) = names.get(source) {
                    d.verdicts[i] = Some(Verdict::failed(reason::INVALID, message));
                }
            }
            if let Some(whole) = &result.whole {
                for &i in &active {
                    if d.verdicts[i].is_none() {
                        d.verdicts[i] = Some(Verdict::failed(
                            reason::INVALID,
                            &format!("the organization is invalid: {whole}"),
                        ));
                    }
                }
            }
            result.outcome
        }
    };
    active.retain(|i| d.verdicts[*i].is_none());

    // 5. status
    let mut failure = None;
    match outcome {
        None => {
            // Nothing valid to plan: deletions wait with the rest.
            for &i in &deleting {
                d.verdicts[i] = Some(Verdict::both(
                    Condition::no(
                        reason::DELETING,
                        "waiting: the organization has nothing valid to plan with",
                    ),
                    Condition::no(reason::INVALID, "the organization has nothing valid to plan with"),
                ));
            }
        }
        Some(Err(f)) => {
            for &i in active.iter().chain(&deleting) {
                let old = ctx.last_status(&members[i]);
                let ready = match status::condition(&old, READY) {
                    Some(c) => Condition {
                        status: c.status,
                        reason: reason_of(&c.reason),
                        message: c.message.clone(),
                    },
                    None => Condition::unknown(f.reason, &f.message),
                };
                d.verdicts[i] = Some(Verdict::both(ready, Condition::no(f.reason, &f.message)));
            }
            if let Some(i) = org_index {
                d.events
                    .push((i, EventType::Warning, f.reason, f.message.clone()));
            }
            failure = Some(f.reason);
        }
        Some(Ok(done)) => {
            failure = judge(
                ctx,
                members,
                &active,
                &deleting,
                &done,
                org_fields.suspend,
                &now,
                &mut d,
            );
            if let Some(i) = org_index {
                org_summary_event(&done, org_fields.suspend, i, &mut d);
            }
        }
    }
    let invalid_count = d
        .verdicts
        .iter()
        .filter(|v| v.as_ref().is_some_and(|v| v.ready.reason == reason::INVALID))
        .count();
    if invalid_count > 0 {
        ctx.metrics.error(reason::INVALID);
    }
    write_statuses(ctx, members, &d, &now).await?;
    if let Err(e) = patch_finalizers(ctx, members, &d.finalizers).await {
        tracing::warn!(organization = %key, error = %e, "could not remove finalizers");
        return Err(reason::KUBERNETES);
    }
    publish_events(ctx, members, &d.events).await;
    match failure {
        Some(r) => Err(r),
        None => Ok(()),
    }
}

/// Maps a stored reason back to a static one (kept as written when known).
fn reason_of(r: &str) -> &'static str {
    const ALL: [&str; 15] = [
        reason::APPLIED,
        reason::SUCCESS,
        reason::DRIFT,
        reason::INVALID,
        reason::SECRET,
        reason::TOKEN,
        reason::BACKEND,
        reason::PLAN,
        reason::APPLY,
        reason::NOT_APPLIED,
        reason::SUSPENDED,
        reason::DELETING,
        reason::DELETE_FAILED,
        reason::KUBERNETES,
        reason::PANIC,
    ];
    ALL.into_iter().find(|x| *x == r).unwrap_or(reason::APPLIED)
}

/// Fills the verdicts of a planned (and maybe applied) organization;
/// returns the failure reason when some change was not written.
#[allow(clippy::too_many_arguments)]
fn judge(
    ctx: &Context,
    members: &[Arc<Member>],
    active: &[usize],
    deleting: &[usize],
    done: &Done,
    suspend: bool,
    now: &str,
    d: &mut Decisions,
) -> Option<&'static str> {
    let changes: BTreeMap<(Kind, &str), (Action, usize)> = done
        .changes
        .iter()
        .map(|((k, n), v)| ((*k, n.as_str()), *v))
        .collect();
    let outcomes: BTreeMap<(Kind, &str), &ChangeOutcome> = done
        .report
        .iter()
        .flat_map(|r| &r.organizations)
        .flat_map(|o| &o.results)
        .map(|r| ((r.kind, r.name.as_str()), &r.outcome))
        .collect();
    let revision = done
        .report
        .as_ref()
        .and_then(|r| r.organizations.first())
        .map(|o| o.revision_after)
        .or(done.revision);
    d.revision = revision.and_then(|r| i64::try_from(r).ok());
    let revision_text = revision.map_or_else(String::new, |r| format!(" at backend revision {r}"));
    let mut failure = None;
    for &i in active {
        let m = &members[i];
        let Some(&(action, fields)) = changes.get(&(m.kind, m.name())) else {
            d.verdicts[i] = Some(Verdict::both(
                Condition::yes(
                    reason::APPLIED,
                    format!("the backend holds this spec{revision_text}"),
                ),
                Condition::yes(reason::SUCCESS, ""),
            ));
            continue;
        };
        let what = describe(action, fields);
        if suspend {
            d.verdicts[i] = Some(Verdict::both(
                Condition::no(
                    reason::SUSPENDED,
                    format!("would be {what}; the organization is suspended"),
                ),
                Condition::yes(reason::SUSPENDED, "planned without writing: spec.suspend is set"),
            ));
            continue;
        }
        d.verdicts[i] = Some(match outcomes.get(&(m.kind, m.name())) {
            Some(ChangeOutcome::Applied) => {
                let old = ctx.last_status(m);
                let drift = status::was_in_sync(&old, m.generation);
                let ready = Condition::yes(reason::APPLIED, format!("{what}{revision_text}"));
                if drift {
                    ctx.metrics
                        .drift_corrections
                        .get_or_create(&KindLabel {
                            kind: m.kind.as_str().to_string(),
                        })
                        .inc();
                    let message = format!("drift corrected at {now}: the backend object was changed outside orgctl and is {what} again");
                    d.events
                        .push((i, EventType::Warning, reason::DRIFT, message.clone()));
                    Verdict {
                        ready,
                        synced: Condition::yes(reason::DRIFT, message),
                        drift: true,
                    }
                } else {
                    d.events
                        .push((i, EventType::Normal, reason::APPLIED, capitalized(&what)));
                    Verdict::both(ready, Condition::yes(reason::SUCCESS, ""))
                }
            }
            Some(ChangeOutcome::Failed(e)) => {
                failure = Some(reason::APPLY);
                d.events.push((i, EventType::Warning, reason::APPLY, e.clone()));
                Verdict::failed(reason::APPLY, e)
            }
            Some(ChangeOutcome::RolledBack) | Some(ChangeOutcome::NotAttempted) | None => {
                failure = Some(reason::APPLY);
                Verdict::failed(
                    reason::NOT_APPLIED,
                    "not written: another change of the organization failed and the write was rolled back",
                )
            }
        });
    }
    for &i in deleting {
        let m = &members[i];
        let change = changes.get(&(m.kind, m.name()));
        if suspend && change.is_some() {
            d.verdicts[i] = Some(Verdict::both(
                Condition::no(reason::SUSPENDED, "deletion waits: the organization is suspended"),
                Condition::yes(reason::SUSPENDED, "planned without writing: spec.suspend is set"),
            ));
            continue;
        }
        match (change, outcomes.get(&(m.kind, m.name()))) {
            // Gone already (or never managed): success.
            (None, _) | (Some(_), Some(ChangeOutcome::Applied)) => {
                if change.is_some() {
                    d.events.push((
                        i,
                        EventType::Normal,
                        reason::APPLIED,
                        "Deleted from the backend".into(),
                    ));
                }
                d.finalizers.push((i, false));
            }
            (Some(_), Some(ChangeOutcome::Failed(e))) => {
                failure = Some(reason::APPLY);
                d.verdicts[i] = Some(Verdict::failed(reason::DELETE_FAILED, e));
            }
            (Some(_), _) => {
                failure = Some(reason::APPLY);
                d.verdicts[i] = Some(Verdict::failed(
                    reason::DELETE_FAILED,
                    "not deleted: another change of the organization failed",
                ));
            }
        }
    }
    if let Some(impact) = &done.impact {
        let s = done.summary;
        let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        let gained: usize = impact.apps.iter().map(|a| a.gained.count).sum();
        let lost: usize = impact.apps.iter().map(|a| a.lost.count).sum();
        let policy: usize = impact.policies.iter().map(|p| p.users.count).sum();
        d.summary = Some((
            PlanSummary {
                add: count(s.add),
                change: count(s.change),
                destroy: count(s.destroy),
                assign: count(s.assign),
            },
            ImpactSummary {
                users_affected: count(impact.users_affected),
                app_grants_gained: count(gained),
                app_grants_lost: count(lost),
                policy_changes: count(policy),
                admin_changes: count(impact.admins.len()),
            },
        ));
    }
    if done
        .report
        .iter()
        .flat_map(|r| &r.organizations)
        .filter_map(|o| o.assignments.as_ref())
        .any(|a| a.outcome != ChangeOutcome::Applied)
    {
        failure = Some(reason::APPLY);
    }
    let assigned = done
        .report
        .iter()
        .flat_map(|r| &r.organizations)
        .filter_map(|o| o.assignments.as_ref())
        .find(|a| a.outcome == ChangeOutcome::Applied);
    if let Some(a) = assigned {
        // Assignments follow from the specs: written while every resource
        // was already in sync at its generation, they were drift.
        let in_sync = active.iter().all(|&i| {
            let m = &members[i];
            !changes.contains_key(&(m.kind, m.name()))
                && status::was_in_sync(&ctx.last_status(m), m.generation)
        });
        if in_sync && deleting.is_empty() {
            ctx.metrics
                .drift_corrections
                .get_or_create(&KindLabel {
                    kind: Kind::AppAssignment.as_str().to_string(),
                })
                .inc();
            d.assignment_drift = Some(a.users);
        }
    }
    let written = done.report.as_ref().map_or(0, ApplyReport::applied);
    ctx.metrics
        .backend_writes
        .inc_by(u64::try_from(written).unwrap_or(0));
    failure
}

/// The Organization's summary Event of a plan or apply.
fn org_summary_event(done: &Done, suspend: bool, org: usize, d: &mut Decisions) {
    if done.empty {
        return;
    }
    let s = done.summary;
    let counts = format!(
        "{} to add, {} to change, {} to destroy, {} users' assignments",
        s.add, s.change, s.destroy, s.assign
    );
    let drift = d.verdicts.iter().flatten().filter(|v| v.drift).count();
    if suspend {
        d.events.push((
            org,
            EventType::Normal,
            reason::SUSPENDED,
            format!("Planned without writing: {counts}"),
        ));
    } else if let Some(r) = &done.report {
        let note = format!(
            "Applied {} of {} changes ({counts})",
            r.applied(),
            r.applied() + r.failed()
        );
        d.events.push((org, EventType::Normal, reason::APPLIED, note));
        if drift > 0 {
            d.events.push((
                org,
                EventType::Warning,
                reason::DRIFT,
                format!("Corrected drift in {drift} object(s) changed in the backend outside orgctl"),
            ));
        }
        if let Some(users) = d.assignment_drift {
            d.events.push((
                org,
                EventType::Warning,
                reason::DRIFT,
                assignment_drift_message(users),
            ));
        }
    }
}

fn assignment_drift_message(users: usize) -> String {
    format!(
        "Corrected drift in the rule-made app assignments of {users} user(s), changed in the backend outside orgctl"
    )
}

fn describe(action: Action, fields: usize) -> String {
    match action {
        Action::Create => "created".to_string(),
        Action::Update => format!("updated ({fields} field(s))"),
        Action::Replace => "replaced".to_string(),
        Action::Delete => "deleted".to_string(),
    }
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Writes every changed status (observedGeneration, conditions, revision,
/// the Organization's summary); unchanged statuses cost nothing.
async fn write_statuses(
    ctx: &Context,
    members: &[Arc<Member>],
    d: &Decisions,
    now: &str,
) -> Result<(), &'static str> {
    // Each patch is built when the stream takes it, so only the patches in
    // flight are held (all of them at once cost tens of MiB at 10k objects).
    let results: Vec<Result<(), kube::Error>> =
        futures::stream::iter((0..members.len()).map(|i| async move {
            let m = &members[i];
            let Some((patch, new, event)) = status_update(ctx, m, i, d, now) else {
                return Ok(());
            };
            let ar = objects::api_resource(m.kind);
            let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), &m.namespace, &ar);
            match api
                .patch_status(m.name(), &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(written) => {
                    ctx.remember_status(m, written.metadata.resource_version, &new);
                    if let Some(message) = event {
                        publish(ctx, m, EventType::Warning, reason::INVALID, message).await;
                    }
                    Ok(())
                }
                // Deleted meanwhile: nothing to report on.
                Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
                Err(e) => Err(e),
            }
        }))
        .buffer_unordered(API_CONCURRENCY)
        .collect()
        .await;
    let failed: Vec<String> = results
        .into_iter()
        .filter_map(Result::err)
        .map(|e| e.to_string())
        .collect();
    if let Some(first) = failed.first() {
        tracing::warn!(failures = failed.len(), error = %first, "could not write status");
        return Err(reason::KUBERNETES);
    }
    Ok(())
}

/// The status patch of member `i` (with its new status and the Warning to
/// publish once it is written); `None` when it has no verdict or nothing
/// changed.
fn status_update(
    ctx: &Context,
    m: &Member,
    i: usize,
    d: &Decisions,
    now: &str,
) -> Option<(Value, ObjectStatus, Option<String>)> {
    let v = d.verdicts[i].as_ref()?;
    let old = ctx.last_status(m);
    let mut new = old.clone();
    new.observed_generation = m.generation;
    status::set_condition(&mut new.conditions, READY, &v.ready, now);
    status::set_condition(&mut new.conditions, SYNCED, &v.synced, now);
    if d.revision.is_some() {
        new.backend_revision = d.revision;
    }
    if v.drift {
        new.last_drift_correction = Some(now.to_string());
    }
    if m.kind == Kind::Organization {
        if let Some((plan, impact)) = d.summary {
            new.plan = Some(plan);
            new.impact = Some(impact);
        }
        if d.verdicts.iter().flatten().any(|v| v.drift) {
            new.last_drift_correction = Some(now.to_string());
        }
        if let Some(users) = d.assignment_drift {
            new.last_drift_correction = Some(now.to_string());
            let message = format!("{} at {now}", assignment_drift_message(users));
            status::set_condition(
                &mut new.conditions,
                SYNCED,
                &Condition::yes(reason::DRIFT, message),
                now,
            );
        }
    }
    // A new problem is said once (not at every resync).
    let event = (v.ready.reason == reason::INVALID
        && status::condition(&old, READY).is_none_or(|c| c.message != v.ready.message))
    .then(|| v.ready.message.clone());
    status::patch(&old, &new).map(|patch| (patch, new, event))
}

/// Adds (`true`) or removes (`false`) the controller's finalizer. Each patch
/// carries the resource's `resourceVersion`, so a concurrent change fails
/// it (and the organization is retried) instead of being overwritten.
async fn patch_finalizers(
    ctx: &Context,
    members: &[Arc<Member>],
    ops: &[(usize, bool)],
) -> Result<(), kube::Error> {
    let results: Vec<Result<(), kube::Error>> = futures::stream::iter(ops.iter().copied().map(|(i, add)| {
        let m = &members[i];
        async move {
            let mut finalizers: Vec<String> = m.finalizers.to_vec();
            finalizers.retain(|f| f != FINALIZER);
            if add {
                finalizers.push(FINALIZER.to_string());
            }
            let patch = json!({
                "metadata": {
                    "finalizers": finalizers,
                    "resourceVersion": m.resource_version,
                }
            });
            let ar = objects::api_resource(m.kind);
            let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), &m.namespace, &ar);
            match api
                .patch(m.name(), &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(e)) if e.code == 404 && !add => Ok(()),
                Err(e) => Err(e),
            }
        }
    }))
    .buffer_unordered(API_CONCURRENCY)
    .collect()
    .await;
    results.into_iter().collect()
}

/// Publishes Events, at most [`MAX_OBJECT_EVENTS`] per reason on objects
/// other than the Organization.
async fn publish_events(
    ctx: &Context,
    members: &[Arc<Member>],
    events: &[(usize, EventType, &'static str, String)],
) {
    let mut per_reason: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, type_, reason, note) in events {
        let m = &members[*i];
        if m.kind != Kind::Organization {
            let n = per_reason.entry(reason).or_insert(0);
            *n += 1;
            if *n > MAX_OBJECT_EVENTS {
                continue;
            }
        }
        publish(ctx, m, *type_, reason, note.clone()).await;
    }
}

async fn publish(ctx: &Context, m: &Member, type_: EventType, reason: &str, note: String) {
    let reference = m.object_ref();
    let event = Event {
        type_,
        reason: reason.to_string(),
        note: Some(note),
        action: "Reconcile".to_string(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &reference).await {
        tracing::debug!(error = %e, "could not publish an Event");
    }
}
