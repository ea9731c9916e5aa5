//! Plan: diff a validated desired state against live snapshots into a
//! [`Plan`]. Pure: no I/O; callers pass the snapshots and secret digests.

mod diff;
pub mod fields;
mod model;

pub use diff::{diff, PlanError, SecretKey};
pub use model::*;
