//! Front ends that run sandboxes on request: `serve` (the JSON-lines protocol on a Unix socket,
//! [`daemon`] with its [`protocol`], launching through the [`zygote`], which keeps a
//! [`profile_cache`]), the broker that
//! `exec --broker` runs for a confined agent ([`broker`]), and `mcp` (MCP over stdio, [`mcp`]);
//! [`lines`] reads the newline-framed messages of all of them.

pub mod broker;
pub mod daemon;
pub mod grants;
pub mod lines;
pub mod mcp;
pub mod output;
pub mod prebuilt;
pub mod profile_cache;
pub mod protocol;
pub mod run_supervisor;
pub mod zygote;
