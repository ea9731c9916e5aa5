//! Plan: diff a validated desired state against live snapshots into a
//! [`Plan`]. Pure: no I/O; callers pass the snapshots and secret digests.

mod after;
mod assignments;
mod diff;
mod effects;
pub mod fields;
mod guards;
mod impact;
mod model;

pub use diff::{diff, teardown, unsupported, PlanError, SecretKey, KEPT_SECRET};
pub use effects::add_access_effects;
pub use impact::SAMPLE as IMPACT_SAMPLE;
pub use model::*;
