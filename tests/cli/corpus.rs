//! The malformed-profile corpus: every file in `integration/corpus/profiles/malformed/` must be
//! refused by both `profile validate` and `exec` with exit status 2 and a clear, located error,
//! never a panic.
//!
//! Each corpus file starts with comment lines that say what its error must contain:
//!
//! - `# expect: TEXT` (one or more): a substring stderr must contain.
//! - `# line: N`: stderr must contain `FILE:N:`, the file and line of the error.
//! - `# file: support/X.toml`: the error is about this file (a parent the corpus file extends),
//!   so that path, not the corpus file's own, must be named (and `# line:` is a line in it).
//! - `# gap: WHY`: a known shortcoming, reported but not yet fixed: the error does not name the
//!   file. The test checks that it still does not, so the marker is removed once it is fixed.
//!
//! Files in `support/` are parents extended by corpus files, not cases of their own.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::harness::sandbox_bin;

/// The corpus must never shrink below this, so the test cannot pass by finding nothing.
const MIN_CASES: usize = 50;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../integration/corpus/profiles/malformed")
        .canonicalize()
        .expect("the corpus directory exists")
}

/// What a corpus file's header says its error must look like.
#[derive(Debug, Default)]
struct Expectation {
    expect: Vec<String>,
    line: Option<usize>,
    file: Option<String>,
    gap: Option<String>,
}

/// Read the directives from the leading comment block of `text`.
fn expectation(text: &str) -> Result<Expectation, String> {
    let mut exp = Expectation::default();
    for line in text.lines().take_while(|l| l.starts_with('#')) {
        let body = line.trim_start_matches('#').trim_start();
        let Some((word, value)) = body.split_once(": ") else {
            continue;
        };
        // Descriptions start with a capital or a backtick, directives with a lower-case word.
        if word.is_empty() || !word.chars().all(|c| c.is_ascii_lowercase()) {
            continue;
        }
        let value = value.trim().to_string();
        match word {
            "expect" => exp.expect.push(value),
            "line" => {
                exp.line = Some(
                    value
                        .parse()
                        .map_err(|_| format!("`# line: {value}` is not a line number"))?,
                )
            }
            "file" => exp.file = Some(value),
            "gap" => exp.gap = Some(value),
            other => return Err(format!("unknown directive `# {other}:`")),
        }
    }
    if exp.expect.is_empty() {
        return Err("no `# expect:` line".into());
    }
    Ok(exp)
}

/// Check one run's output; return what is wrong with it.
fn check(
    path: &str,
    exp: &Expectation,
    status: Option<i32>,
    stdout: &str,
    stderr: &str,
) -> Vec<String> {
    let mut problems = Vec::new();
    if status != Some(2) {
        problems.push(format!("exit status {status:?}, expected 2"));
    }
    if !stdout.is_empty() {
        problems.push(format!("stdout is not empty: {stdout:?}"));
    }
    for needle in ["panicked", "RUST_BACKTRACE"] {
        if stderr.contains(needle) {
            problems.push(format!("stderr contains `{needle}`"));
        }
    }
    if !stderr.starts_with("missy-sandbox: ") || stderr.trim_end().lines().count() != 1 {
        problems.push("stderr is not one `missy-sandbox: ...` line".into());
    }
    let named = match &exp.file {
        Some(rel) => corpus_dir().join(rel).display().to_string(),
        None => path.to_string(),
    };
    match (&exp.gap, stderr.contains(&named)) {
        (None, false) => problems.push(format!("stderr does not name {named}")),
        (Some(_), true) => problems.push(format!(
            "stderr now names {named}: the `# gap:` is fixed, remove the marker"
        )),
        _ => {}
    }
    if let Some(line) = exp.line {
        let at = format!("{named}:{line}:");
        if !stderr.contains(&at) {
            problems.push(format!("stderr does not contain `{at}`"));
        }
    }
    for needle in &exp.expect {
        if !stderr.contains(needle.as_str()) {
            problems.push(format!("stderr does not contain `{needle}`"));
        }
    }
    problems
}

#[test]
fn every_malformed_profile_is_refused_with_status_2_and_a_located_error() {
    let dir = corpus_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= MIN_CASES,
        "the corpus in {} has {} files, expected at least {MIN_CASES}",
        dir.display(),
        files.len()
    );

    let bin = sandbox_bin();
    let mut failures = Vec::new();
    for file in &files {
        let path = file.display().to_string();
        // Read as bytes: some files are deliberately not UTF-8 after their header.
        let text = String::from_utf8_lossy(&std::fs::read(file).unwrap()).into_owned();
        let exp = match expectation(&text) {
            Ok(exp) => exp,
            Err(why) => {
                failures.push(format!("{path}: bad corpus header: {why}"));
                continue;
            }
        };
        let runs: [&[&str]; 2] = [
            &["profile", "validate", &path],
            &["exec", "--profile", &path, "--", "/bin/true"],
        ];
        for args in runs {
            let out = Command::new(&bin)
                .args(args)
                .current_dir(&dir)
                .env_remove("RUST_BACKTRACE")
                .env_remove("MISSY_LOG")
                .stdin(Stdio::null())
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            let problems = check(&path, &exp, out.status.code(), &stdout, &stderr);
            if !problems.is_empty() {
                failures.push(format!(
                    "{path} ({}):\n    - {}\n    stderr: {stderr:?}",
                    args[0],
                    problems.join("\n    - ")
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} corpus runs failed:\n{}",
        failures.len(),
        files.len() * 2,
        failures.join("\n")
    );
}
