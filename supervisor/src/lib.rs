//! missy-sandbox: a Linux-native sandbox supervisor for AI agents and untrusted tool runners.
//!
//! Flow: [`policy`] loads a profile → [`spawn`] clones the sandbox's pid 1 ([`init`]) → while
//! it creates its namespaces, [`plan`] compiles the profile with the [`kernel`]'s features into a
//! serialisable Plan, sent over the [`control`] socket → pid 1 applies each [`confine`] step →
//! [`supervise`] waits, enforces the wall clock and reports the exit status.

pub mod audit;
pub mod cgroup;
pub mod changes;
pub mod cli;
pub mod commands;
pub mod confine;
pub mod control;
pub mod egress;
pub mod gateway;
pub mod init;
pub mod kernel;
pub mod placeholders;
pub mod placement;
pub mod plan;
pub mod policy;
pub mod report;
pub mod secrets;
pub mod server;
pub mod spawn;
pub mod supervise;
pub mod tree;
