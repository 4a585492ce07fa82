//! `missy-probe`: attempt one forbidden thing and print a one-line verdict.
//!
//! Run `missy-probe list` for the catalogue. Invoked through a link named after a probe
//! (`ln missy-probe read-file; ./read-file PATH`), it runs that probe. The output contract (verdict words, exit codes)
//! is documented in `missy_hardening::probe`.

use std::process::ExitCode;

fn main() -> ExitCode {
    // args_os: a non-UTF-8 argument must become an ERROR verdict, not a panic.
    let mut argv = std::env::args_os();
    let argv0 = argv.next().unwrap_or_default();
    let mut args: Vec<std::ffi::OsString> = argv.collect();
    // One program per attempt: a link named after a probe runs that probe (busybox style).
    if let Some(name) = missy_hardening::probe::probe_named_by(&argv0) {
        args.insert(0, name.into());
    }
    missy_hardening::probe::main(&args)
}
