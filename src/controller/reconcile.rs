//! One organization's reconcile, in named steps:
//!
//! 1. **gather** (`gather`, `lifecycle`): the organization's resources from the watch caches; split
//!    each spec into the engine's spec and the Kubernetes-only fields;
//!    finalizers follow `deletionPolicy` (present exactly on `Delete`).
//! 2. **connect** (`backend_token`, `resolve_secrets`): the backend address and token (Organization
//!    `spec.connection`, else the controller's defaults); the Secrets that
//!    `secretKeyRef`s name.
//! 3. **validate**: the resources as the engine's sources; an invalid one is
//!    left out together with what depends on it (validation runs again
//!    without it until nothing more fails).
//! 4. **plan and apply** (`plan_and_apply` → `engine_job`, on a blocking thread): exactly
//!    `engine::plan_desired` + `apply::execute`, as `orgctl apply` does;
//!    resources being deleted with `deletionPolicy: Delete` are the only
//!    deletions the plan keeps. `spec.suspend` stops after the plan.
//! 5. **status** (`decide`, `judge`, `write_statuses`): per resource `Ready`/`Synced`, `observedGeneration`, the
//!    backend revision; on the Organization the plan summary and impact
//!    counts. Only changed statuses are written. Events for applied
//!    changes, failures and drift; finalizers released last.
//!
//! A failed step is a [`ReconcileError`]: its variant is the condition
//! reason, the metric label and the requeue delay.
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

pub(super) use super::error::reason;
use super::error::ReconcileError;

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
        Err(e) => {
            ctx.metrics.error(e.reason());
            let delay = e.requeue(ctx.backoff(key), ctx.settings.resync);
            tracing::warn!(organization = %key, reason = e.reason(), error = %e, retry_in = ?delay, "reconcile failed");
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

/// The organization's resources as the engine's sources (step 1).
struct Gathered {
    /// Per resource: its source, `None` when its spec could not be split.
    sources: Vec<Option<Source>>,
    /// Per resource: the Secrets its spec references.
    references: Vec<Vec<SecretRef>>,
    /// Per resource: its deletion policy.
    policies: Vec<DeletionPolicy>,
    /// The Organization resource, if any.
    org_index: Option<usize>,
    /// The Organization's Kubernetes-only fields (connection, suspend).
    org_fields: ControllerFields,
}

/// Which resources are planned, deleted, or gain a finalizer (step 1).
struct Lifecycle {
    active: Vec<usize>,
    deleting: Vec<usize>,
    add_finalizers: Vec<(usize, bool)>,
}

async fn reconcile(ctx: &Context, key: &OrgKey, members: &[Arc<Member>]) -> Result<(), ReconcileError> {
    let now = status::now();
    let mut d = Decisions {
        verdicts: vec![None; members.len()],
        finalizers: Vec::new(),
        revision: None,
        summary: None,
        events: Vec::new(),
        assignment_drift: None,
    };
    // 1. gather
    let mut gathered = gather(members, &mut d);
    let Lifecycle {
        mut active,
        deleting,
        add_finalizers,
    } = lifecycle(members, &gathered.policies, &mut d);
    // Finalizers go on before anything of the resource is written.
    patch_finalizers(ctx, members, &add_finalizers)
        .await
        .map_err(|e| ReconcileError::Kubernetes(format!("could not add finalizers: {e}")))?;

    // 2. connect
    let connection = gathered.org_fields.connection.clone().unwrap_or_default();
    let token = backend_token(ctx, key, &connection).await;
    let (kube_secrets, held) = resolve_secrets(
        ctx,
        key,
        members,
        &gathered.references,
        &connection,
        &mut active,
        &mut d,
    )
    .await;

    // 3 and 4: validate, plan and apply on a blocking thread.
    let sources: Vec<Source> = active
        .iter()
        .filter_map(|&i| gathered.sources[i].take())
        .collect();
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
                address: connection
                    .backend
                    .clone()
                    .unwrap_or_else(|| ctx.settings.backend.clone()),
                login: super::Login {
                    token,
                    client_id: connection.client_id.clone(),
                },
                suspend: gathered.org_fields.suspend,
                secrets: kube_secrets,
                connect: ctx.connect.clone(),
            };
            plan_and_apply(job, members, &active, &mut d).await
        }
    };
    active.retain(|i| d.verdicts[*i].is_none());

    // 5. status
    let failure = decide(ctx, members, &active, &deleting, outcome, &gathered, &now, &mut d);
    let invalid_count = d
        .verdicts
        .iter()
        .filter(|v| v.as_ref().is_some_and(|v| v.ready.reason == reason::INVALID))
        .count();
    if invalid_count > 0 {
        // Invalid resources do not fail the reconcile (the rest was
        // reconciled), so `run` does not count them: counted here, once.
        ctx.metrics.error(reason::INVALID);
    }
    write_statuses(ctx, members, &d, &now).await?;
    patch_finalizers(ctx, members, &d.finalizers)
        .await
        .map_err(|e| ReconcileError::Kubernetes(format!("could not remove finalizers: {e}")))?;
    publish_events(ctx, members, &d.events).await;
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Step 1: each spec parsed once, into its source and the Secrets it
/// references (the parsed trees are not kept: one reconcile of a large
/// organization would hold them all). A spec that cannot be split is
/// invalid at once.
fn gather(members: &[Arc<Member>], d: &mut Decisions) -> Gathered {
    let mut g = Gathered {
        sources: Vec::with_capacity(members.len()),
        references: Vec::with_capacity(members.len()),
        policies: Vec::with_capacity(members.len()),
        // Of the Kubernetes-only fields, only the Organization's are kept whole.
        org_index: members.iter().position(|m| m.kind == Kind::Organization),
        org_fields: ControllerFields::default(),
    };
    for (i, m) in members.iter().enumerate() {
        let (spec, split) = m.split();
        match split {
            Ok(f) => {
                g.references.push(secrets::references(m.kind, &spec));
                g.sources.push(Some(objects::source(m, spec)));
                g.policies.push(f.deletion_policy);
                if Some(i) == g.org_index {
                    g.org_fields = f;
                }
            }
            Err(message) => {
                d.verdicts[i] = Some(Verdict::failed(reason::INVALID, &message));
                g.references.push(Vec::new());
                g.sources.push(None);
                g.policies.push(DeletionPolicy::Orphan);
            }
        }
    }
    g
}

/// Step 1: finalizers follow `deletionPolicy`; resources being deleted with
/// `Delete` are planned as deletions, the rest as desired objects.
fn lifecycle(members: &[Arc<Member>], policies: &[DeletionPolicy], d: &mut Decisions) -> Lifecycle {
    // The Organization is deleted last: while other resources of it stay,
    // it stays in the plan they need.
    let others_remain = members
        .iter()
        .any(|m| m.kind != Kind::Organization && !m.deleting());
    let mut l = Lifecycle {
        active: Vec::new(),
        deleting: Vec::new(),
        add_finalizers: Vec::new(),
    };
    for (i, m) in members.iter().enumerate() {
        if m.deleting() {
            if !m.has_finalizer() {
                continue;
            }
            if policies[i] == DeletionPolicy::Orphan {
                d.finalizers.push((i, false));
                continue;
            }
            if m.kind == Kind::Organization && others_remain {
                l.active.push(i);
                continue;
            }
            l.deleting.push(i);
        } else {
            let want = policies[i] == DeletionPolicy::Delete;
            if want && !m.has_finalizer() {
                l.add_finalizers.push((i, true));
            } else if !want && m.has_finalizer() {
                d.finalizers.push((i, false));
            }
            if d.verdicts[i].is_none() {
                l.active.push(i);
            }
        }
    }
    l
}

/// Step 2: the backend token, from the Organization's Secret or the
/// controller's token file (read off the async runtime's threads).
async fn backend_token(
    ctx: &Context,
    key: &OrgKey,
    connection: &crate::crd::fields::Connection,
) -> Result<Option<SecretValue>, ReconcileError> {
    match (&connection.token_secret_ref, &ctx.settings.token_file) {
        (Some(r), _) => secrets::read_key(&ctx.client, &key.namespace, r)
            .await
            .map(Some)
            .map_err(|e| ReconcileError::SecretMissing(format!("backend token: {e}"))),
        (None, Some(path)) => {
            let file = path.clone();
            match tokio::task::spawn_blocking(move || std::fs::read_to_string(file)).await {
                Ok(Ok(t)) => Ok(Some(SecretValue::new(t.trim_end_matches(['\n', '\r'])))),
                Ok(Err(e)) => Err(ReconcileError::TokenUnreadable(format!(
                    "cannot read the token file {}: {e}",
                    path.display()
                ))),
                Err(_) => Err(ReconcileError::Internal(
                    "reading the token file stopped unexpectedly".into(),
                )),
            }
        }
        (None, None) => Ok(None),
    }
}

/// Step 2: the Secrets the planned resources name. A resource whose Secret
/// is missing is held back, not left out: it keeps its live object and
/// what references it still resolves (see engine_job), and it reports why.
async fn resolve_secrets(
    ctx: &Context,
    key: &OrgKey,
    members: &[Arc<Member>],
    references: &[Vec<SecretRef>],
    connection: &crate::crd::fields::Connection,
    active: &mut Vec<usize>,
    d: &mut Decisions,
) -> (KubeSecrets, BTreeMap<(Kind, Name), String>) {
    let mut refs = Vec::new();
    for &i in active.iter() {
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
    let mut held = BTreeMap::new();
    for &i in active.iter() {
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
    (kube_secrets, held)
}

/// Steps 3 and 4 on a blocking thread; marks the resources validation left
/// out. `None`: nothing valid was left to plan.
async fn plan_and_apply(
    job: EngineJob,
    members: &[Arc<Member>],
    active: &[usize],
    d: &mut Decisions,
) -> Option<Result<Done, ReconcileError>> {
    let result = tokio::task::spawn_blocking(move || engine_job(job))
        .await
        .unwrap_or_else(|_| EngineResult {
            invalid: BTreeMap::new(),
            whole: None,
            outcome: Some(Err(ReconcileError::Internal(
                "the engine stopped unexpectedly; see the controller's log".into(),
            ))),
        });
    let names = objects::by_source_name(members);
    for (source, message) in &result.invalid {
        if let Some(&i) = names.get(source) {
            d.verdicts[i] = Some(Verdict::failed(reason::INVALID, message));
        }
    }
    if let Some(whole) = &result.whole {
        for &i in active {
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

/// Step 5: every resource's verdict from the outcome; the failure of the
/// reconcile, if any.
#[allow(clippy::too_many_arguments)]
fn decide(
    ctx: &Context,
    members: &[Arc<Member>],
    active: &[usize],
    deleting: &[usize],
    outcome: Option<Result<Done, ReconcileError>>,
    gathered: &Gathered,
    now: &str,
    d: &mut Decisions,
) -> Option<ReconcileError> {
    match outcome {
        None => {
            // Nothing valid to plan: deletions wait with the rest.
            for &i in deleting {
                d.verdicts[i] = Some(Verdict::both(
                    Condition::no(
                        reason::DELETING,
                        "waiting: the organization has nothing valid to plan with",
                    ),
                    Condition::no(reason::INVALID, "the organization has nothing valid to plan with"),
                ));
            }
            None
        }
        Some(Err(f)) => {
            for &i in active.iter().chain(deleting) {
                let old = ctx.last_status(&members[i]);
                let ready = match status::condition(&old, READY) {
                    Some(c) => Condition {
                        status: c.status,
                        reason: reason_of(&c.reason),
                        message: c.message.clone(),
                    },
                    None => Condition::unknown(f.reason(), f.message()),
                };
                d.verdicts[i] = Some(Verdict::both(ready, Condition::no(f.reason(), f.message())));
            }
            if let Some(i) = gathered.org_index {
                d.events
                    .push((i, EventType::Warning, f.reason(), f.message().to_string()));
            }
            Some(f)
        }
        Some(Ok(done)) => {
            let suspend = gathered.org_fields.suspend;
            let failure = judge(ctx, members, active, deleting, &done, suspend, now, d);
            if let Some(i) = gathered.org_index {
                org_summary_event(&done, suspend, i, d);
            }
            failure
        }
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
) -> Option<ReconcileError> {
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
                failure.get_or_insert_with(|| ReconcileError::ApplyFailed(e.clone()));
                d.events.push((i, EventType::Warning, reason::APPLY, e.clone()));
                Verdict::failed(reason::APPLY, e)
            }
            Some(ChangeOutcome::RolledBack) | Some(ChangeOutcome::NotAttempted) | None => {
                failure.get_or_insert_with(|| {
                    ReconcileError::ApplyFailed(format!("{} {:?} was not written", m.kind.as_str(), m.name()))
                });
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
                failure.get_or_insert_with(|| ReconcileError::DeleteFailed(e.clone()));
                d.verdicts[i] = Some(Verdict::failed(reason::DELETE_FAILED, e));
            }
            (Some(_), _) => {
                failure.get_or_insert_with(|| {
                    ReconcileError::DeleteFailed(format!(
                        "{} {:?} was not deleted",
                        m.kind.as_str(),
                        m.name()
                    ))
                });
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
        failure.get_or_insert_with(|| {
            ReconcileError::ApplyFailed("the rule-made app assignments were not all written".into())
        });
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
) -> Result<(), ReconcileError> {
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
        return Err(ReconcileError::Kubernetes(format!(
            "could not write {} status(es): {first}",
            failed.len()
        )));
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
