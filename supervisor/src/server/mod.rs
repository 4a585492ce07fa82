//! Front ends that run sandboxes on request: `serve` (the JSON-lines protocol on a Unix socket,
//! [`daemon`] with its [`protocol`], launching through the [`zygote`]) and the broker that
//! `exec --broker` runs for a confined agent ([`broker`]).

pub mod broker;
pub mod daemon;
pub mod grants;
pub mod protocol;
pub mod zygote;
