//! The blocking part of a reconcile: validation with isolation of invalid
//! resources (and what depends on them), then `engine::plan_desired` and
//! `apply::execute_owned` (`apply::execute`'s writes), exactly as `orgctl
//! apply` plans and writes. Runs on a blocking thread (the `Backend` trait
//! is synchronous).
//!
//! A resource held back for a transient reason (a Secret it reads is
//! missing) keeps its live object: it is validated with the rest, so
//! references to it resolve and the organization's rules still hold, then
//! left out of the plan, which therefore neither updates nor deletes it.
//! Only one that does not exist in the backend yet is left out of
//! validation too, and what depends on it with it.
//!
//! Must not: decide statuses (the caller does from [`EngineResult`]), or
//! plan by any other path than the engine (a whole organization's teardown,
//! when no resource is left to plan with, is `plan::teardown`: the diff's
//! own deletion step).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::error::ReconcileError;
use super::secrets::KubeSecrets;
use super::Connect;
use crate::apply::{self, ApplyReport};
use crate::diagnostic::{error_chain, Diagnostic};
use crate::engine::{self, EngineError};
use crate::load::{self, Source};
use crate::model::{Kind, Name};
use crate::plan::{self, AccessImpact, Action, Plan, PlanOptions, Summary};
use crate::validate;

/// Input of the blocking part of a reconcile.
pub(super) struct EngineJob {
    pub(super) organization: String,
    pub(super) sources: Vec<Source>,
    /// Resources held back (their sources are among `sources`), with their
    /// source names: each keeps its live object.
    pub(super) held: BTreeMap<(Kind, Name), String>,
    pub(super) delete: BTreeSet<(Kind, Name)>,
    pub(super) address: String,
    pub(super) login: super::Login,
    pub(super) suspend: bool,
    pub(super) secrets: KubeSecrets,
    pub(super) connect: Arc<dyn Connect>,
}

/// What the engine made of it, without the plan's specs (a first apply of
/// a large organization would otherwise keep every spec twice).
pub(super) struct Done {
    /// Each change: action and number of fields an update changes.
    pub(super) changes: BTreeMap<(Kind, Name), (Action, usize)>,
    /// The plan's counts.
    pub(super) summary: Summary,
    /// True when the plan changed nothing (assignments included).
    pub(super) empty: bool,
    /// The revision planned against.
    pub(super) revision: Option<u64>,
    /// The plan's access impact.
    pub(super) impact: Option<AccessImpact>,
    /// The apply's report (`None` when suspended or nothing changed).
    pub(super) report: Option<ApplyReport>,
}

impl Done {
    /// What `plan` changes, not applied (yet).
    fn of(plan: &Plan) -> Done {
        let org = plan.organizations.last();
        Done {
            changes: org
                .into_iter()
                .flat_map(|o| &o.changes)
                .map(|c| ((c.kind, c.name.clone()), (c.action, c.fields.len())))
                .collect(),
            summary: plan.summary(),
            empty: plan.is_empty(),
            revision: org.map(|o| o.revision),
            impact: org.map(|o| o.impact.clone()),
            report: None,
        }
    }

    /// Applies `plan` (consumed: its specs are dropped as their writes are
    /// built) unless `suspend` or it is empty.
    fn apply(
        plan: Plan,
        backend: &mut dyn crate::backend::Backend,
        secrets: &apply::ResolvedSecrets,
        suspend: bool,
    ) -> Done {
        let mut done = Done::of(&plan);
        if !suspend && !done.empty {
            done.report = Some(apply::execute_owned(plan, backend, secrets, &mut |_, _| {}));
        }
        done
    }
}

pub(super) struct EngineResult {
    /// Source name → why it (or what it depends on) is invalid.
    pub(super) invalid: BTreeMap<String, String>,
    /// A problem no single resource carries.
    pub(super) whole: Option<String>,
    /// `None` when nothing valid was left to plan.
    pub(super) outcome: Option<Result<Done, ReconcileError>>,
}

/// Deletes the managed live objects of resources with `deletionPolicy:
/// Delete` when every resource of an organization is deleted at once:
/// `plan::teardown` (the diff's deletion step, so the same ownership and
/// ordering rules, live fingerprints as preconditions) executed by
/// `apply::execute_owned`.
fn teardown(
    organization: &str,
    delete: BTreeSet<(Kind, Name)>,
    backend: &mut dyn crate::backend::Backend,
    suspend: bool,
) -> Result<Done, ReconcileError> {
    let Ok(org) = organization.parse::<Name>() else {
        // No backend holds an organization of that name: nothing to delete.
        return Ok(Done {
            changes: BTreeMap::new(),
            summary: Summary::default(),
            empty: true,
            revision: None,
            impact: None,
            report: None,
        });
    };
    let live = backend
        .snapshot(&org)
        .map_err(|e| ReconcileError::BackendUnavailable(error_chain(&e)))?;
    let plan = plan::teardown(org, &live, delete, &backend.describe());
    drop(live);
    Ok(Done::apply(
        plan,
        backend,
        &apply::ResolvedSecrets::default(),
        suspend,
    ))
}

/// A diagnostic as a status message: the field path and the problem (the
/// source's line and column mean nothing in a cluster).
fn message_of(d: &Diagnostic) -> String {
    if d.path.is_empty() {
        d.message.clone()
    } else {
        format!("{}: {}", d.path, d.message)
    }
}

/// Validates, leaving out invalid resources and what depends on them;
/// then plans with `engine::plan_desired` and applies with
/// `apply::execute_owned`. Runs on a blocking thread.
pub(super) fn engine_job(job: EngineJob) -> EngineResult {
    let result = run_job(job);
    crate::memory::return_freed();
    result
}

fn run_job(job: EngineJob) -> EngineResult {
    let EngineJob {
        organization,
        mut sources,
        mut held,
        delete,
        address,
        login,
        suspend,
        secrets,
        connect,
    } = job;
    let mut result = EngineResult {
        invalid: BTreeMap::new(),
        whole: None,
        outcome: None,
    };
    let failure = |e: ReconcileError| Some(Err(e));
    // Held resources keep their live objects; one without any is left out.
    let mut opened = None;
    if !held.is_empty() {
        let backend = match connect.open(&address, &login) {
            Ok(b) => b,
            Err(e) => {
                result.outcome = failure(ReconcileError::BackendUnavailable(error_chain(&e)));
                return result;
            }
        };
        let live = match organization.parse::<Name>().map(|o| backend.snapshot(&o)) {
            Ok(Ok(live)) => live.objects.into_keys().collect::<BTreeSet<_>>(),
            Ok(Err(e)) => {
                result.outcome = failure(ReconcileError::BackendUnavailable(error_chain(&e)));
                return result;
            }
            Err(_) => BTreeSet::new(),
        };
        let absent: BTreeSet<String> = held
            .iter()
            .filter(|(key, _)| !live.contains(key))
            .map(|(_, source)| source.clone())
            .collect();
        held.retain(|key, _| live.contains(key));
        sources.retain(|s| !absent.contains(&s.name));
        opened = Some(backend);
    }
    let mut round = 0;
    let mut desired = loop {
        if sources.is_empty() {
            break None;
        }
        let (loaded, mut diags) = load::load(&sources);
        match validate::validate(loaded, &sources) {
            Ok(desired) if diags.is_empty() => break Some(desired),
            Ok(_) => {}
            Err(more) => diags.extend(more),
        }
        let names: BTreeSet<&str> = sources.iter().map(|s| s.name.as_str()).collect();
        let mut bad: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut unattributed = Vec::new();
        for d in &diags {
            match d
                .location
                .as_ref()
                .map(|l| l.file.as_str())
                .filter(|f| names.contains(f))
            {
                Some(f) => bad.entry(f.to_string()).or_default().push(message_of(d)),
                None => unattributed.push(message_of(d)),
            }
        }
        if !unattributed.is_empty() || bad.is_empty() {
            unattributed.sort();
            unattributed.dedup();
            result.whole = Some(unattributed.join("; "));
            break None;
        }
        for (source, mut messages) in bad {
            messages.sort();
            messages.dedup();
            let mut message = messages.join("; ");
            if round > 0 {
                message = format!("left out with an invalid resource it depends on: {message}");
            }
            result.invalid.insert(source, message);
        }
        sources.retain(|s| !result.invalid.contains_key(&s.name));
        round += 1;
    };
    let sources_left = !sources.is_empty();
    // The validated model holds what planning needs; the texts are done.
    drop(sources);
    if desired.is_none() && (delete.is_empty() || sources_left || result.whole.is_some()) {
        return result;
    }
    let mut backend = match opened.map_or_else(|| connect.open(&address, &login), Ok) {
        Ok(b) => b,
        Err(e) => {
            result.outcome = failure(ReconcileError::BackendUnavailable(error_chain(&e)));
            return result;
        }
    };
    // Validated with the rest; not planned, so their live objects stay.
    for org in desired.iter_mut().flat_map(|d| d.organizations.values_mut()) {
        org.objects.retain(|key, _| !held.contains_key(key));
    }
    let Some(desired) = desired else {
        // Every resource of the organization is being deleted: nothing is
        // left to plan with, so the deletions are the whole plan.
        result.outcome = Some(teardown(&organization, delete, backend.as_mut(), suspend));
        return result;
    };
    // Only resources being deleted are pruned: the plan (its access
    // impact and lockout guards included) sees exactly those deletions.
    let options = PlanOptions {
        prune: !delete.is_empty(),
        prune_only: Some(delete),
        ..PlanOptions::default()
    };
    let planned = match engine::plan_desired(desired, backend.as_ref(), &options, &secrets) {
        Ok(p) => p,
        Err(e) => {
            result.outcome = match &e {
                EngineError::Invalid(d) => {
                    result.whole = Some(d.iter().map(message_of).collect::<Vec<_>>().join("; "));
                    None
                }
                EngineError::Secrets(errors) => failure(ReconcileError::SecretMissing(
                    errors
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; "),
                )),
                EngineError::Backend(b) => failure(ReconcileError::BackendUnavailable(error_chain(b))),
                EngineError::Plan(errors) => failure(ReconcileError::PlanRefused(
                    errors
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; "),
                )),
            };
            return result;
        }
    };
    let engine::Planned {
        plan,
        secrets: values,
        live,
    } = planned;
    drop(live);
    result.outcome = Some(Ok(Done::apply(plan, backend.as_mut(), &values, suspend)));
    result
}
