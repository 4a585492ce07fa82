//! `missy-sandbox audit verify | tail | show`: read the audit log. Records are printed as they are
//! stored, one JSON object per line, so the output pipes into `jq`.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::audit::config::{AuditConfig, AuditSettings};
use crate::audit::record::Chained;
use crate::audit::verify::{self, VerifyError};
use crate::cli::AuditCommand;
use crate::commands::{EXIT_BAD_INPUT, home_dir, report};

pub fn run(cmd: AuditCommand, flag: Option<&str>) -> i32 {
    let file = match &cmd {
        AuditCommand::Verify { file }
        | AuditCommand::Tail { file, .. }
        | AuditCommand::Show { file, .. } => file.clone(),
    };
    let Some(path) = file.or_else(|| {
        AuditConfig::resolve(flag, &AuditSettings::default(), &home_dir())
            .log
            .map(|l| l.path)
    }) else {
        report(&"auditing is off (--audit-log off or MISSY_AUDIT_LOG=off): name a FILE");
        return EXIT_BAD_INPUT;
    };
    match cmd {
        AuditCommand::Verify { .. } => verify_log(&path),
        AuditCommand::Tail { lines, .. } => {
            let mut last = VecDeque::with_capacity(lines.min(10_000));
            let status = each_line(&path, |line| {
                if last.len() == lines {
                    last.pop_front();
                }
                if lines > 0 {
                    last.push_back(line.to_string());
                }
            });
            for line in last {
                println!("{line}");
            }
            status
        }
        AuditCommand::Show { run, since, .. } => {
            let since = match since.as_deref().map(parse_since).transpose() {
                Ok(s) => s,
                Err(e) => {
                    report(&e);
                    return EXIT_BAD_INPUT;
                }
            };
            each_line(&path, |line| {
                let Ok(rec) = serde_json::from_str::<Chained>(line) else {
                    return;
                };
                let run_ok = run
                    .as_deref()
                    .is_none_or(|id| rec.record.run.as_deref() == Some(id));
                let time_ok = since.is_none_or(|t| {
                    humantime::parse_rfc3339(&rec.record.time).is_ok_and(|at| at >= t)
                });
                if run_ok && time_ok {
                    println!("{line}");
                }
            })
        }
    }
}

fn verify_log(path: &Path) -> i32 {
    let files = verify::chain_files(path);
    match verify::verify(&files) {
        Ok(summary) => {
            println!(
                "ok: {} records in {} file(s), seq {}..{}, chain intact",
                summary.records,
                summary.files,
                summary.first_seq.unwrap_or(0),
                summary.last_seq.unwrap_or(0)
            );
            0
        }
        Err(VerifyError::Broken(b)) => {
            println!("BROKEN: {b}");
            1
        }
        Err(e) => {
            report(&e);
            EXIT_BAD_INPUT
        }
    }
}

/// Call `each` with every line of the log's files, oldest first.
fn each_line(path: &Path, mut each: impl FnMut(&str)) -> i32 {
    let files: Vec<PathBuf> = verify::chain_files(path);
    for file in &files {
        match std::fs::read_to_string(file) {
            Ok(text) => text.lines().for_each(&mut each),
            Err(e) => {
                report(&format!("cannot read {}: {e}", file.display()));
                return EXIT_BAD_INPUT;
            }
        }
    }
    0
}

/// An RFC 3339 time, or a duration meaning that long ago.
fn parse_since(s: &str) -> Result<SystemTime, String> {
    if let Ok(t) = humantime::parse_rfc3339_weak(s) {
        return Ok(t);
    }
    let ago = humantime::parse_duration(s).map_err(|_| {
        format!(
            "--since `{s}`: expected an RFC 3339 time (2025-06-01T12:00:00Z) or a duration (10m)"
        )
    })?;
    SystemTime::now()
        .checked_sub(ago)
        .ok_or_else(|| format!("--since `{s}` is too long ago"))
}
