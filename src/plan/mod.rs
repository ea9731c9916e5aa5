//! Plan: diff a validated desired state against live snapshots into a
//! [`Plan`]. Pure: no I/O; callers pass the snapshots and secret digests.

mod model;

pub use model::*;
