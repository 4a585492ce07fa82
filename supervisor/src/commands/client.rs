//! What a `serve` client brings to a run besides its command: its environment, checked against
//! the profile, and its cancel socket, which kills the run's sandbox when it becomes readable.

use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::{plan, policy};

/// A daemon client's variables must each be passed by the profile's `[env] pass`, and none
/// may look like a secret (those enter only from the vault).
pub fn check_env(policy: &policy::Policy, client: &[(String, String)]) -> Result<(), String> {
    let passed = plan::env::compile(policy, client, &[], None);
    let refused: Vec<&str> = client
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| !passed.vars.contains_key(*k) || passed.withheld.iter().any(|w| w == k))
        .collect();
    if refused.is_empty() {
        return Ok(());
    }
    Err(format!(
        "env: profile `{}` does not pass {} (its [env] pass list, secret-looking names excluded)",
        policy.name,
        refused.join(", ")
    ))
}

/// Kill the sandbox's pid 1 (and so its whole pid namespace) when `cancel` becomes readable:
/// the daemon shut its end (a `cancel` request, or the client went away).
pub fn watch_cancel(
    cancel: OwnedFd,
    pid1: nix::unistd::Pid,
    runtime: &tokio::runtime::Runtime,
) -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let set = Arc::clone(&flag);
    let _guard = runtime.enter();
    // SAFETY: `cancel` is an open fd the AsyncFd owns for the life of the task; nothing else
    // closes or replaces it meanwhile.
    let registered = unsafe {
        tokio::io::unix::AsyncFd::register_with_interest(cancel, tokio::io::Interest::READABLE)
    };
    let Ok(watched) = registered else {
        return flag;
    };
    runtime.spawn(async move {
        if watched.readable().await.is_ok() {
            set.store(true, Ordering::SeqCst);
            let _ = nix::sys::signal::kill(pid1, nix::sys::signal::Signal::SIGKILL);
        }
    });
    flag
}
