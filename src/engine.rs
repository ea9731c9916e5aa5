//! The pipeline as one call for drivers: load → validate (the live snapshots
//! read meanwhile) → resolve secrets → diff → access effects (assignments,
//! impact, lockout guards). The CLI and the controller both plan through
//! here, so they cannot drift apart.

use std::collections::{BTreeMap, BTreeSet};

use crate::apply::{self, ResolvedSecrets, SecretError, SecretSource};
use crate::backend::{Backend, BackendError, LiveOrg};
use crate::diagnostic::Diagnostic;
use crate::load::{self, Source};
use crate::model::Name;
use crate::plan::{self, Plan, PlanError, PlanOptions};
use crate::validate::{self, DesiredState};

/// Why a plan could not be made; each variant holds every problem found.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The files are invalid.
    #[error("{} problem(s) in the files", .0.len())]
    Invalid(Vec<Diagnostic>),
    /// Secrets could not be read.
    #[error("{} secret(s) could not be read", .0.len())]
    Secrets(Vec<SecretError>),
    /// The live state could not be read.
    #[error("failed to read the live state")]
    Backend(#[from] BackendError),
    /// The plan breaks a rule (ownership, capabilities, limits).
    #[error("{} problem(s) with the plan", .0.len())]
    Plan(Vec<PlanError>),
}

/// A plan and what applying it needs.
#[derive(Debug)]
pub struct Planned {
    /// The plan.
    pub plan: Plan,
    /// Secret values to write.
    pub secrets: ResolvedSecrets,
    /// The live snapshots the plan was made against.
    pub live: BTreeMap<Name, LiveOrg>,
}

/// Validates sources and plans them against `backend`. The live snapshots
/// are read while the files are validated (the two are independent), so a
/// plan costs about the longer of the two rather than their sum.
pub fn plan(
    sources: &[Source],
    backend: &dyn Backend,
    options: &PlanOptions,
    secret_source: &dyn SecretSource,
) -> Result<Planned, EngineError> {
    let (loaded, mut diags) = load::load(sources);
    let organizations: BTreeSet<Name> = loaded
        .documents
        .iter()
        .filter_map(|d| d.object.key())
        .map(|k| k.organization)
        .collect();
    let (validated, live) = std::thread::scope(|scope| {
        let validation = scope.spawn(move || validate::validate(loaded, sources));
        let live: Result<BTreeMap<Name, LiveOrg>, BackendError> = if diags.is_empty() {
            organizations
                .iter()
                .map(|o| backend.snapshot(o).map(|l| (o.clone(), l)))
                .collect()
        } else {
            Ok(BTreeMap::new())
        };
        let validated = validation.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
        (validated, live)
    });
    let desired = match validated {
        Ok(d) if diags.is_empty() => d,
        Ok(_) => return Err(EngineError::Invalid(diags)),
        Err(more) => {
            diags.extend(more);
            diags.sort();
            diags.dedup();
            return Err(EngineError::Invalid(diags));
        }
    };
    plan_with_live(desired, live?, backend, options, secret_source, sources)
}

/// Plans an already validated desired state against `backend`.
pub fn plan_desired(
    desired: DesiredState,
    backend: &dyn Backend,
    options: &PlanOptions,
    secret_source: &dyn SecretSource,
) -> Result<Planned, EngineError> {
    let mut live = BTreeMap::new();
    for org in desired.organizations.keys() {
        live.insert(org.clone(), backend.snapshot(org)?);
    }
    plan_with_live(desired, live, backend, options, secret_source, &[])
}

fn plan_with_live(
    mut desired: DesiredState,
    live: BTreeMap<Name, LiveOrg>,
    backend: &dyn Backend,
    options: &PlanOptions,
    secret_source: &dyn SecretSource,
    sources: &[Source],
) -> Result<Planned, EngineError> {
    apply::secrets::absolutize_files(&mut desired);
    let mut secrets = apply::resolve(&desired, secret_source).map_err(|mut errors| {
        apply::secrets::locate(&mut errors, sources);
        EngineError::Secrets(errors)
    })?;
    secrets.digest_with(backend)?;
    let mut plan = plan::diff(
        &desired,
        &live,
        &secrets.digests,
        &backend.capabilities(),
        options,
        &backend.describe(),
    )
    .map_err(EngineError::Plan)?;
    secrets.keep_live(&plan, &live);
    // The files are not needed past the diff: freeing them before the access
    // evaluation keeps a large organization's peak memory at the diff's.
    drop(desired);
    let options = PlanOptions {
        policies: backend.capabilities().policies,
        ..options.clone()
    };
    plan::add_access_effects(&mut plan, &live, &options).map_err(EngineError::Plan)?;
    Ok(Planned { plan, secrets, live })
}
