//! The hardening suite: every escape scenario, run without the sandbox (the positive control)
//! and under each shipped profile, as root and as uid 65534, with host-side evidence.
//!
//! Used by the `missy-hardening` binary (`make hardening`), by `missy-sandbox selftest` and by
//! the CLI test `hardening`. A scenario (see [`scenarios`]) prepares one attempt per cell: the
//! probe's arguments plus the host fixtures and the evidence the host checks afterwards. The
//! verdict of a cell follows fixed rules ([`judge`]):
//!
//! - unsandboxed, the attempt must escape (the probe says `ESCAPED`, or `SENT` and the host saw
//!   it), so that every check is shown able to fail; a denial the kernel gives this user anyway
//!   (`inconclusive:`) or a feature this kernel lacks makes the control a SKIP with the reason;
//! - sandboxed, `BLOCKED` (or `SENT` with nothing seen by the host) passes; `ESCAPED` or any
//!   host evidence fails; `ERROR`, a setup failure or no verdict fails; SKIP carries a reason.
//!
//! Expectations that depend on the profile (resource limits) are read from the profile itself
//! (`missy-sandbox profile show`), never written into the scenario.

pub mod host;
mod judge;
mod model;
pub mod report;
mod runner;
pub mod scenarios;

pub use judge::judge;
pub use model::*;
pub use runner::run;
