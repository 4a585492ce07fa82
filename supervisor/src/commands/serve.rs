//! `missy-sandbox serve`: fork the launcher while still single-threaded, bind the socket, then
//! run the daemon on a current-thread runtime (server/daemon.rs).

use crate::cli::ServeArgs;
use crate::commands::{EXIT_BAD_INPUT, report};
use crate::init::EXIT_SETUP_FAILED;
use crate::server::daemon::{self, Config};
use crate::server::grants::Grants;
use crate::server::zygote::Zygote;

pub fn run(args: ServeArgs, audit_flag: Option<&str>) -> i32 {
    let own_uid = nix::unistd::geteuid().as_raw();
    let grants = match Grants::parse(&args.allow_uid, own_uid) {
        Ok(g) => g,
        Err(e) => {
            report(&e);
            return EXIT_BAD_INPUT;
        }
    };
    let config = Config {
        grants,
        max_runs: args.max_runs as usize,
        queue: args.queue as usize,
        workspace_root: None,
    };
    // First, while no thread exists: the zygote clones every sandbox's pid 1.
    let zygote = match Zygote::start(audit_flag.map(str::to_string)) {
        Ok(z) => z,
        Err(e) => {
            report(&e);
            return EXIT_SETUP_FAILED;
        }
    };
    let listener = match daemon::bind(&args.socket) {
        Ok(l) => l,
        Err(e) => {
            report(&e);
            return EXIT_BAD_INPUT;
        }
    };
    let runtime = match super::current_thread_runtime() {
        Ok(rt) => rt,
        Err(e) => {
            report(&e);
            return EXIT_SETUP_FAILED;
        }
    };
    tracing::info!(socket = %args.socket.display(), "serving");
    match runtime.block_on(daemon::serve(listener, Some(args.socket), config, zygote)) {
        Ok(()) => 0,
        Err(e) => {
            report(&format!("serve: {e}"));
            EXIT_SETUP_FAILED
        }
    }
}
