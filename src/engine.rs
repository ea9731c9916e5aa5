//! The pipeline as one call for drivers: load → validate → resolve secrets →
//! snapshot → diff. The CLI and the controller both plan through here, so
//! they cannot drift apart.

use std::collections::BTreeMap;

use crate::apply::{self, ResolvedSecrets, SecretError, SecretSource};
use crate::backend::{Backend, BackendError};
use crate::diagnostic::Diagnostic;
use crate::load::Source;
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
    /// The validated files.
    pub desired: DesiredState,
    /// The plan.
    pub plan: Plan,
    /// Secret values to write.
    pub secrets: ResolvedSecrets,
    /// The live snapshots the plan was made against.
    pub live: BTreeMap<crate::model::Name, crate::backend::LiveOrg>,
}

/// Validates sources and plans them against `backend`.
pub fn plan(
    sources: &[Source],
    backend: &dyn Backend,
    options: &PlanOptions,
    secret_source: &dyn SecretSource,
) -> Result<Planned, EngineError> {
    let desired = validate::run(sources).map_err(EngineError::Invalid)?;
    plan_desired(desired, backend, options, secret_source)
}

/// Plans an already validated desired state against `backend`.
pub fn plan_desired(
    mut desired: DesiredState,
    backend: &dyn Backend,
    options: &PlanOptions,
    secret_source: &dyn SecretSource,
) -> Result<Planned, EngineError> {
    apply::secrets::absolutize_files(&mut desired);
    let secrets = apply::resolve(&desired, secret_source).map_err(EngineError::Secrets)?;
    let mut live = BTreeMap::new();
    for org in desired.organizations.keys() {
        live.insert(org.clone(), backend.snapshot(org)?);
    }
    let plan = plan::diff(
        &desired,
        &live,
        &secrets.digests(),
        &backend.capabilities(),
        options,
        &backend.describe(),
    )
    .map_err(EngineError::Plan)?;
    Ok(Planned {
        desired,
        plan,
        secrets,
        live,
    })
}
