//! The run's resource use, from the kernel's accounting of waited-for children (RUSAGE_CHILDREN).
//! pid 1 reaps every process of the sandbox and reports its own count with the workload's end;
//! when it could not (a setup failure, a timeout), the supervisor's count stands in: `exec`
//! runs one sandbox per supervisor and waits only for its pid 1, so it covers the run and
//! pid 1 itself.

use nix::sys::resource::{UsageWho, getrusage};

use super::record::Resources;

fn ms(tv: nix::sys::time::TimeVal) -> u64 {
    let micros = tv.tv_sec() * 1_000_000 + tv.tv_usec();
    u64::try_from(micros / 1000).unwrap_or(0)
}

/// Resource use of every process this process has waited for.
pub fn children() -> Resources {
    match getrusage(UsageWho::RUSAGE_CHILDREN) {
        Ok(u) => Resources {
            // ru_maxrss is in KiB on Linux.
            max_rss_kib: u64::try_from(u.max_rss()).ok(),
            user_cpu_ms: Some(ms(u.user_time())),
            sys_cpu_ms: Some(ms(u.system_time())),
            output_bytes: None,
        },
        Err(_) => Resources::default(),
    }
}
