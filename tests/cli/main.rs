//! Integration tests of the `missy-sandbox` binary (one test binary for the whole CLI).
//!
//! Every escape test runs twice, as root and as uid 65534 (via setpriv), and each attempt runs
//! both without the sandbox (it must succeed, so the test can fail) and inside it (it must be
//! denied).

mod audit;
mod behaviour;
mod broker;
mod corpus;
mod daemon;
mod daemon_pool;
mod daemon_prebuilt;
mod egress;
mod escapes;
mod faults;
mod gateway;
mod hardening;
mod harness;
mod host_state;
mod lifetime;
mod load;
mod mcp;
mod overlay;
mod portability;
mod privilege;
mod profiles;
mod protect;
mod report;
mod secrets;
