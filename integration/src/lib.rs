//! missy-hardening: the escape probes that run inside missy-sandbox.
//!
//! The `missy-probe` binary is a thin shell over [`probe::main`]. Each probe attempts one
//! forbidden thing and prints a one-line verdict; the integration tests run it both inside the
//! sandbox and unsandboxed (the positive control that proves the attempt can succeed at all).
//! [`suite`] is that comparison for every scenario, profile and user: `missy-hardening`
//! (`make hardening`) and `missy-sandbox selftest` run it. [`workloads`] is the other side:
//! real developer tasks that must work under the `dev` profile (`missy-workloads`,
//! `make workloads`).

pub mod probe;
pub mod suite;
pub mod workloads;
