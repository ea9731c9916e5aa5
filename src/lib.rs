//! orgctl: an identity organization's security set-up as code.
//!
//! The engine is a pipeline: [`load`] turns bytes into located documents,
//! [`validate`] turns them into a [`validate::DesiredState`], [`plan`] diffs it
//! against a [`backend::LiveOrg`] snapshot into a [`plan::Plan`], [`render`]
//! shows a plan, and [`apply`] executes one against a [`backend::Backend`].
//! [`crd`] wraps the model's specs as Kubernetes custom resources (the only
//! module with kube types). [`serve`] serves the embedded directory over
//! HTTP; [`controller`] reconciles those resources through the same engine.
//! Only `backend`, `apply`, `serve`, `controller` and `cli` do I/O;
//! [`memory`] tunes the allocator.
#![deny(unsafe_code)]

pub mod access;
pub mod apply;
pub mod backend;
pub mod cli;
pub mod controller;
pub mod crd;
pub mod diagnostic;
pub mod engine;
pub mod json_text;
pub mod load;
pub mod memory;
pub mod model;
pub mod plan;
pub mod posture;
pub mod render;
pub mod serve;
#[cfg(any(test, feature = "dev"))]
pub mod synth;
pub mod validate;
