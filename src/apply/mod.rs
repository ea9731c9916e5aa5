//! Apply: executes a [`Plan`] against a [`Backend`] and reports what happened
//! per change. A saved plan is first checked for staleness against a fresh
//! snapshot (revision and every fingerprint it read). Writes go in dependency
//! order: creates, replaces and updates first, deletions last in reverse order.

mod report;
pub mod secrets;

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::backend::{AuditChange, Backend, BackendError, GrantList, JsonText, LiveOrg, Write, WriteRequest};
use crate::model::{secret_paths, Kind, Name, Spec, SENSITIVE};
use crate::plan::{Action, Change, FieldDiff, OrgPlan, Plan, KEPT_SECRET};
pub use report::{ApplyReport, AssignmentResult, ChangeOutcome, ChangeResult, OrgReport};
pub use secrets::{resolve, EnvAndFiles, ResolvedSecrets, SecretError, SecretSource};

/// Why an apply could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The live organization changed since the saved plan was made.
    #[error(
        "the saved plan is stale: {organization:?} changed since it was made ({reason}); run plan again"
    )]
    Stale {
        /// The organization.
        organization: String,
        /// What changed.
        reason: String,
    },
    /// The plan was made against another backend.
    #[error("the saved plan was made against {planned}, not {actual}")]
    WrongBackend {
        /// Backend in the plan.
        planned: String,
        /// Backend given now.
        actual: String,
    },
    /// Reading the live state failed.
    #[error("failed to read the live state")]
    Backend(#[from] BackendError),
}

/// Refuses a plan whose live objects or revision changed since it was made;
/// answers the snapshots it read (apply takes kept secrets' digests from them).
pub fn check_stale(plan: &Plan, backend: &dyn Backend) -> Result<BTreeMap<Name, LiveOrg>, ApplyError> {
    if plan.backend != backend.describe() {
        return Err(ApplyError::WrongBackend {
            planned: plan.backend.clone(),
            actual: backend.describe(),
        });
    }
    let mut read = BTreeMap::new();
    for org in &plan.organizations {
        let live = backend.snapshot(&org.organization)?;
        let stale = |reason: String| ApplyError::Stale {
            organization: org.organization.to_string(),
            reason,
        };
        if backend.capabilities().revisions && live.revision != org.revision {
            return Err(stale(format!(
                "revision {} is now {}",
                org.revision, live.revision
            )));
        }
        let now: BTreeMap<String, &str> = live
            .objects
            .iter()
            .map(|((k, n), o)| (format!("{k}/{n}"), o.fingerprint.as_str()))
            .collect();
        for (key, fp) in &org.fingerprints {
            match now.get(key) {
                None => return Err(stale(format!("{key} was deleted"))),
                Some(f) if f != fp => return Err(stale(format!("{key} was modified"))),
                Some(_) => {}
            }
        }
        if let Some(extra) = now.keys().find(|k| !org.fingerprints.contains_key(*k)) {
            return Err(stale(format!("{extra} was created")));
        }
        read.insert(org.organization.clone(), live);
    }
    Ok(read)
}

/// Audit record of a change: the changed fields before and after, redacted;
/// the backend adds the object's whole spec before (`spec_before`).
fn audit_of(change: &Change) -> AuditChange {
    let mut before = Map::new();
    let mut after = Map::new();
    for f in change.field_changes().iter() {
        let (b, a) = match (&f.diff, f.sensitive) {
            (_, true) => (json!(SENSITIVE), json!(SENSITIVE)),
            (FieldDiff::Value { before, after }, false) => (before.clone(), after.clone()),
            (FieldDiff::Set { added, removed }, false) => {
                (json!({ "removed": removed }), json!({ "added": added }))
            }
        };
        before.insert(f.path.clone(), b);
        after.insert(f.path.clone(), a);
    }
    let action = match change.action {
        Action::Create => "create",
        Action::Update => "update",
        Action::Replace => "replace",
        Action::Delete => "delete",
    };
    AuditChange {
        kind: change.kind,
        name: change.name.to_string(),
        action: action.to_string(),
        before: (change.action != Action::Create).then(|| JsonText::from(Value::Object(before))),
        after: (change.action != Action::Delete).then(|| JsonText::from(Value::Object(after))),
        // The backend records the whole spec before (it holds it at write time).
        spec_before: None,
    }
}

/// Builds the primitive writes of one change.
fn writes_of(org: &OrgPlan, change: &Change, secrets: &ResolvedSecrets) -> Result<Vec<Write>, String> {
    let fingerprint = org
        .fingerprints
        .get(&format!("{}/{}", change.kind, change.name))
        .cloned();
    let delete = Write::Delete {
        kind: change.kind,
        name: change.name.clone(),
        expected: fingerprint.clone(),
    };
    if change.action == Action::Delete {
        return Ok(vec![delete]);
    }
    let mut after = change.after.as_ref().map_or(Value::Null, JsonText::value);
    let mut values = BTreeMap::new();
    for path in secret_paths(change.kind) {
        let Some(slot) = after.pointer_mut(&crate::model::path::pointer(path)) else {
            continue;
        };
        let key = (
            org.organization.clone(),
            change.kind,
            change.name.clone(),
            path.to_string(),
        );
        if slot.get("digest").and_then(Value::as_str) == Some(KEPT_SECRET) {
            let live = secrets
                .kept
                .get(&key)
                .ok_or_else(|| format!("secret spec.{path} is kept, but the backend no longer holds it"))?;
            *slot = json!({ "digest": live });
            continue;
        }
        if slot.is_null() || slot.get("digest").is_some() {
            continue;
        }
        let value = secrets
            .values
            .get(&key)
            .ok_or_else(|| format!("secret spec.{path} was not resolved"))?;
        let digest = secrets
            .digests
            .get(&key)
            .ok_or_else(|| format!("secret spec.{path} was not digested by the backend"))?;
        *slot = json!({ "digest": digest });
        values.insert(path.to_string(), value.clone());
    }
    let spec = Spec::from_json(change.kind, after).map_err(|e| format!("planned spec is invalid: {e}"))?;
    let put = |expected, changed| Write::Put {
        kind: change.kind,
        name: change.name.clone(),
        spec: spec.clone(),
        secrets: values.clone(),
        managed: true,
        expected,
        changed,
    };
    // An adoption writes the whole spec: the live object may be held in
    // another form than orgctl writes (and its ownership marker changes).
    let changed = (!change.adopt).then(|| change.fields.iter().map(|f| f.path.clone()).collect());
    Ok(match change.action {
        Action::Create => vec![put(None, None)],
        Action::Update => vec![put(fingerprint, changed)],
        Action::Replace => vec![delete, put(None, None)],
        Action::Delete => Vec::new(),
    })
}

/// Owner of the writes that materialize app assignments (not a change).
const ASSIGNMENTS: usize = usize::MAX;

/// Appends one `Grants` write per user whose rule-made list the plan rewrites.
fn push_assignments(org: &OrgPlan, writes: &mut Vec<Write>, owners: &mut Vec<usize>) {
    for (user, list) in &org.assignments.users {
        let grants = org
            .assignments
            .lists
            .get(*list as usize)
            .cloned()
            .unwrap_or_else(|| GrantList::from(Vec::new()));
        writes.push(Write::Grants {
            user: user.clone(),
            grants,
        });
        owners.push(ASSIGNMENTS);
    }
}

/// The writes and audit of one organization's changes, built change by
/// change in execution order.
#[derive(Default)]
struct Batch {
    writes: Vec<Write>,
    /// Per write, the position in the execution order of the change it
    /// belongs to ([`ASSIGNMENTS`] for assignment writes).
    owners: Vec<usize>,
    audit: Vec<AuditChange>,
    /// The first change whose writes could not be built, and why.
    error: Option<(usize, String)>,
    /// True once the assignment writes are in.
    assigned: bool,
}

impl Batch {
    /// An empty batch with room for `org`'s writes (a replace takes two;
    /// the vectors are sized once, not doubled up to twice the need).
    fn for_org(org: &OrgPlan) -> Batch {
        let writes = org.changes.len() + org.assignments.users.len();
        Batch {
            writes: Vec::with_capacity(writes),
            owners: Vec::with_capacity(writes),
            audit: Vec::with_capacity(org.changes.len() + 1),
            ..Batch::default()
        }
    }

    /// Adds the change at position `i` of `order`; false once a change
    /// failed to build (the rest is not attempted).
    fn add(&mut self, org: &OrgPlan, order: &[usize], i: usize, secrets: &ResolvedSecrets) -> bool {
        let change = &org.changes[order[i]];
        // Assignments go after creates and updates (their users and apps
        // exist by then) and before deletions (which drop their own grants).
        if change.action == Action::Delete && !self.assigned {
            self.assign(org);
        }
        match writes_of(org, change, secrets) {
            Ok(ws) => {
                self.owners.extend(std::iter::repeat_n(i, ws.len()));
                self.writes.extend(ws);
                self.audit.push(audit_of(change));
                true
            }
            Err(e) => {
                self.error = Some((i, e));
                false
            }
        }
    }

    fn assign(&mut self, org: &OrgPlan) {
        push_assignments(org, &mut self.writes, &mut self.owners);
        self.assigned = true;
    }

    /// Completes the batch after its last change: the assignment writes
    /// when no deletion placed them, and their audit entry.
    fn finish(&mut self, org: &OrgPlan) {
        if self.error.is_some() {
            return;
        }
        if !self.assigned {
            self.assign(org);
        }
        if !org.assignments.is_empty() {
            self.audit.push(AuditChange {
                // Not one object: the rule-made app lists of many users.
                kind: Kind::User,
                name: String::new(),
                action: "assign".to_string(),
                spec_before: None,
                before: None,
                after: Some(JsonText::from(json!({
                    "users": org.assignments.users.len(),
                    "grantsAdded": org.assignments.grants_added,
                    "grantsRemoved": org.assignments.grants_removed,
                }))),
            });
        }
    }
}

/// Execution order (indices into `org.changes`): everything but deletions
/// in plan order, then deletions.
fn execution_order(org: &OrgPlan) -> Vec<usize> {
    let deletes = |c: &Change| c.action == Action::Delete;
    let (mut order, last): (Vec<usize>, Vec<usize>) =
        (0..org.changes.len()).partition(|i| !deletes(&org.changes[*i]));
    order.extend(last);
    order
}

/// Executes a plan. `progress(done, total)` is called as writes complete.
/// Each organization is one write request (one transaction on backends that
/// have them); a failed request leaves that organization as it was.
pub fn execute(
    plan: &Plan,
    backend: &mut dyn Backend,
    secrets: &ResolvedSecrets,
    progress: &mut dyn FnMut(usize, usize),
) -> ApplyReport {
    let mut run = Run::new(plan, progress);
    for org in &plan.organizations {
        let order = execution_order(org);
        let mut batch = Batch::for_org(org);
        for i in 0..order.len() {
            if !batch.add(org, &order, i, secrets) {
                break;
            }
        }
        batch.finish(org);
        run.write(org, &order, batch, backend);
    }
    run.report()
}

/// [`execute`] for a caller done with the plan: each change's planned spec
/// and field list are dropped as soon as its writes and audit entry are
/// built, so a large plan is not held next to its own write request.
pub fn execute_owned(
    mut plan: Plan,
    backend: &mut dyn Backend,
    secrets: &ResolvedSecrets,
    progress: &mut dyn FnMut(usize, usize),
) -> ApplyReport {
    let mut run = Run::new(&plan, progress);
    for org in &mut plan.organizations {
        let order = execution_order(org);
        let mut batch = Batch::for_org(org);
        for i in 0..order.len() {
            if !batch.add(org, &order, i, secrets) {
                break;
            }
            let change = &mut org.changes[order[i]];
            change.fields = Vec::new();
            change.after = None;
        }
        batch.finish(org);
        run.write(org, &order, batch, backend);
    }
    run.report()
}

/// One execution's progress and reports, organization by organization.
struct Run<'p> {
    total: usize,
    done_before: usize,
    progress: &'p mut dyn FnMut(usize, usize),
    organizations: Vec<OrgReport>,
}

impl<'p> Run<'p> {
    fn new(plan: &Plan, progress: &'p mut dyn FnMut(usize, usize)) -> Self {
        Run {
            total: plan.organizations.iter().map(|o| o.changes.len()).sum(),
            done_before: 0,
            progress,
            organizations: Vec::new(),
        }
    }

    fn report(self) -> ApplyReport {
        ApplyReport {
            organizations: self.organizations,
        }
    }

    /// Sends one organization's batch as one write request and records the
    /// outcome of each change.
    fn write(&mut self, org: &OrgPlan, order: &[usize], batch: Batch, backend: &mut dyn Backend) {
        let Batch {
            writes,
            owners,
            audit,
            error: build_error,
            ..
        } = batch;
        let total = self.total;
        let mut assignments = (!org.assignments.is_empty()).then_some(AssignmentResult {
            users: org.assignments.users.len(),
            outcome: ChangeOutcome::NotAttempted,
        });
        let mut results: Vec<ChangeResult> = order
            .iter()
            .map(|&c| &org.changes[c])
            .map(|c| ChangeResult {
                kind: c.kind,
                name: c.name.clone(),
                action: c.action,
                outcome: ChangeOutcome::NotAttempted,
            })
            .collect();
        let mut revision_after = org.revision;
        if let Some((i, e)) = build_error {
            if let Some(r) = results.get_mut(i) {
                r.outcome = ChangeOutcome::Failed(e);
            }
        } else if !writes.is_empty() {
            let request = WriteRequest {
                organization: org.organization.clone(),
                expected_revision: org.revision,
                writes,
                audit,
            };
            let base = self.done_before;
            let progress = &mut *self.progress;
            let owners_for_progress = owners.clone();
            let mut on_write = |n: usize| {
                // Assignment writes (owner ASSIGNMENTS) do not advance the change count.
                let changes_done = owners_for_progress[..n.min(owners_for_progress.len())]
                    .iter()
                    .rev()
                    .find(|i| **i != ASSIGNMENTS)
                    .map_or(0, |i| i + 1);
                progress(base + changes_done, total);
            };
            match backend.write(request, &mut on_write) {
                Ok(outcome) => {
                    revision_after = outcome.revision;
                    for (w, r) in outcome.results.iter().enumerate() {
                        if owners.get(w) == Some(&ASSIGNMENTS) {
                            if let Some(a) = assignments.as_mut() {
                                a.outcome = match (r, &a.outcome) {
                                    (Err(e), _) => ChangeOutcome::Failed(e.clone()),
                                    (Ok(()), ChangeOutcome::Failed(e)) => ChangeOutcome::Failed(e.clone()),
                                    (Ok(()), _) => ChangeOutcome::Applied,
                                };
                            }
                            continue;
                        }
                        let Some(result) = owners.get(w).and_then(|i| results.get_mut(*i)) else {
                            continue;
                        };
                        result.outcome = match (r, &result.outcome) {
                            (Err(e), _) => ChangeOutcome::Failed(e.clone()),
                            (Ok(()), ChangeOutcome::Failed(e)) => ChangeOutcome::Failed(e.clone()),
                            (Ok(()), _) => ChangeOutcome::Applied,
                        };
                    }
                    // A backend that stopped early (a remote server gone)
                    // answers fewer results than writes: whatever owns an
                    // unanswered write was not (wholly) written.
                    for w in outcome.results.len()..owners.len() {
                        let slot = match owners.get(w) {
                            Some(&ASSIGNMENTS) => assignments.as_mut().map(|a| &mut a.outcome),
                            Some(i) => results.get_mut(*i).map(|r| &mut r.outcome),
                            None => None,
                        };
                        if let Some(o) = slot.filter(|o| !matches!(o, ChangeOutcome::Failed(_))) {
                            *o = ChangeOutcome::NotAttempted;
                        }
                    }
                }
                Err(e) => {
                    let message = crate::diagnostic::error_chain(&e);
                    let culprit = match &e {
                        BackendError::Conflict { object, .. } => results
                            .iter()
                            .position(|r| r.kind.label(r.name.as_str()).to_string() == *object),
                        _ => None,
                    };
                    for (i, r) in results.iter_mut().enumerate() {
                        r.outcome = if culprit.is_none_or(|c| c == i) {
                            ChangeOutcome::Failed(message.clone())
                        } else {
                            ChangeOutcome::RolledBack
                        };
                    }
                    if let Some(a) = assignments.as_mut() {
                        a.outcome = if culprit.is_none() {
                            ChangeOutcome::Failed(message.clone())
                        } else {
                            ChangeOutcome::RolledBack
                        };
                    }
                }
            }
        }
        self.done_before += org.changes.len();
        self.organizations.push(OrgReport {
            organization: org.organization.clone(),
            revision_before: org.revision,
            revision_after,
            results,
            assignments,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{self, Backend};
    use crate::model::Name;
    use crate::plan::PlanOptions;
    use crate::synth::{generate, SynthParams};

    /// Applies the synthetic organization from empty, then again after
    /// `edit`, through `run`; returns both reports and the final snapshot.
    fn apply_twice(
        run: fn(Plan, &mut dyn Backend, &ResolvedSecrets) -> ApplyReport,
        edit: &dyn Fn(&mut Vec<crate::load::Source>),
    ) -> (Vec<ApplyReport>, backend::LiveOrg) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut b = backend::open(&format!("sqlite:{}", dir.path().join("d.db").display())).expect("open");
        let mut sources = generate(&SynthParams::small(40));
        let mut reports = Vec::new();
        for round in 0..2 {
            if round == 1 {
                edit(&mut sources);
            }
            let options = PlanOptions {
                prune: true,
                ..PlanOptions::default()
            };
            let planned = crate::engine::plan(&sources, b.as_ref(), &options, &EnvAndFiles).expect("plan");
            assert!(!planned.plan.is_empty());
            reports.push(run(planned.plan, b.as_mut(), &planned.secrets));
        }
        let org = "synth".parse().expect("name");
        (reports, b.snapshot(&org).expect("snapshot"))
    }

    /// A backend that stops answering before the last write of a request,
    /// as a remote server that goes away mid-apply does.
    struct StopsBeforeTheLast(Box<dyn Backend>);

    impl Backend for StopsBeforeTheLast {
        fn describe(&self) -> String {
            self.0.describe()
        }
        fn capabilities(&self) -> crate::backend::Capabilities {
            self.0.capabilities()
        }
        fn organizations(&self) -> Result<Vec<Name>, BackendError> {
            self.0.organizations()
        }
        fn snapshot(&self, organization: &Name) -> Result<backend::LiveOrg, BackendError> {
            self.0.snapshot(organization)
        }
        fn write(
            &mut self,
            mut request: WriteRequest,
            progress: &mut dyn FnMut(usize),
        ) -> Result<crate::backend::WriteOutcome, BackendError> {
            request.writes.pop();
            self.0.write(request, progress)
        }
        fn history(
            &self,
            organization: Option<&Name>,
            limit: usize,
        ) -> Result<Vec<crate::backend::AuditEntry>, BackendError> {
            self.0.history(organization, limit)
        }
        fn secret_digests(
            &self,
            organization: &Name,
            values: &[&crate::model::SecretValue],
        ) -> Result<Vec<String>, BackendError> {
            self.0.secret_digests(organization, values)
        }
    }

    #[test]
    fn assignments_a_backend_never_answered_are_not_reported_as_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let inner = backend::open(&format!("sqlite:{}", dir.path().join("d.db").display())).expect("open");
        let mut b = StopsBeforeTheLast(inner);
        let sources = generate(&SynthParams::small(40));
        let planned = crate::engine::plan(&sources, &b, &PlanOptions::default(), &EnvAndFiles).expect("plan");
        // From empty, the last write of the request is a user's app assignments.
        let report = execute(&planned.plan, &mut b, &planned.secrets, &mut |_, _| {});
        let org = &report.organizations[0];
        assert_eq!(
            org.assignments.as_ref().map(|a| &a.outcome),
            Some(&ChangeOutcome::NotAttempted)
        );
        assert!(!report.succeeded());
    }

    #[test]
    fn executing_a_consumed_plan_writes_and_reports_exactly_what_a_borrowed_one_does() {
        let edit = |sources: &mut Vec<crate::load::Source>| {
            for s in sources.iter_mut() {
                s.text = s.text.replacen("op: equals", "op: notEquals", 1);
            }
            // Deletions go last, after the assignments: the last rule goes.
            for s in sources
                .iter_mut()
                .filter(|s| s.name.ends_with("app-assignments.yaml"))
            {
                let cut = s.text.rfind("\n---").expect("several rules");
                s.text.truncate(cut + 1);
            }
        };
        let borrowed = apply_twice(|p, b, s| execute(&p, b, s, &mut |_, _| {}), &edit);
        let owned = apply_twice(|p, b, s| execute_owned(p, b, s, &mut |_, _| {}), &edit);
        assert!(borrowed.0.iter().all(ApplyReport::succeeded));
        let second = &borrowed.0[1].organizations[0];
        assert!(second.assignments.is_some());
        assert_eq!(second.results.last().map(|r| r.action), Some(Action::Delete));
        assert_eq!(borrowed.0, owned.0);
        assert_eq!(borrowed.1.objects, owned.1.objects);
        assert_eq!(borrowed.1.grants, owned.1.grants);
    }
}
