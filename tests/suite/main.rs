//! The integration tests, one binary: each former `tests/*.rs` binary is a
//! module here, so the `orgctl` library is linked once instead of per file.

#[path = "../common/mod.rs"]
mod common;
#[path = "../support/crd_corpus.rs"]
mod crd_corpus;
#[path = "../support/fake_api.rs"]
mod fake_api;
#[path = "../support/kanidm_sim.rs"]
mod kanidm_sim;
#[path = "../support/strict.rs"]
mod strict;

mod cli;
mod controller;
mod convergence;
mod corpus;
mod crds;
mod explain_signin;
mod faults;
mod gitops;
mod kanidm;
mod keycloak;
mod kube_real;
mod openapi;
mod plan_fixtures;
mod posture;
mod serve;
