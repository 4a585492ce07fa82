//! `missy-probe`: attempt one forbidden thing and print a one-line verdict.
//!
//! Run `missy-probe list` for the catalogue. The output contract (verdict words, exit codes)
//! is documented in `missy_hardening::probe`.

use std::process::ExitCode;

fn main() -> ExitCode {
    // args_os: a non-UTF-8 argument must become an ERROR verdict, not a panic.
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    missy_hardening::probe::main(&args)
}
