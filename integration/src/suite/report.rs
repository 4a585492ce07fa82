//! Printing a [`Report`]: the terminal table with its closing `N passed, M failed` line, the
//! selftest summary of what this kernel enforces, and the Markdown of docs/hardening.md.

use std::fmt::Write;

use super::{Cell, Column, Mode, Report, Status, User};

fn columns(r: &Report) -> Vec<Column> {
    let mut c = vec![Column::Unsandboxed];
    c.extend(r.profiles.iter().map(|p| Column::Profile(p.name.clone())));
    c
}

fn header(r: &Report, c: &Column) -> String {
    match c {
        Column::Profile(name)
            if r.profiles
                .iter()
                .any(|p| &p.name == name && p.wrapper.is_some()) =>
        {
            format!("{name}*")
        }
        other => other.name().to_string(),
    }
}

/// The short text of a cell in the terminal table.
fn mark(cell: Option<&Cell>) -> String {
    match cell {
        None => "-".into(),
        Some(c) => match c.status {
            Status::Pass => c.word.clone(),
            // Known to escape on the no-namespace path (scenarios::nons).
            Status::Skip if c.word == "expected" => "expected".into(),
            Status::Skip => "skip".into(),
            Status::Fail => format!("FAIL({})", c.word),
        },
    }
}

/// The table per user, failures and skips with their reasons, and the closing line.
pub fn text(r: &Report) -> String {
    let mut out = String::new();
    let cols = columns(r);
    let width = r
        .scenarios
        .iter()
        .map(|s| s.name.len())
        .max()
        .unwrap_or(8)
        .max(8);
    let _ = writeln!(
        out,
        "missy-sandbox hardening suite: {} scenarios, kernel {}, launch path: {}",
        r.scenarios.len(),
        r.kernel,
        r.mode.name()
    );
    if r.mode == Mode::NoNamespaces {
        let _ = writeln!(
            out,
            "* as on a host without user namespaces (MISSY_SANDBOX_CAP_FEATURES=no-userns, \
             profiles made best-effort); `expected` marks an escape this path is known to allow"
        );
    }
    for p in r.profiles.iter().filter(|p| p.wrapper.is_some()) {
        let _ = writeln!(
            out,
            "* {} grants no workspace, so the probe could not start: it runs under a generated \
             profile extending {} with the workspace read-only and executable",
            p.name, p.name
        );
    }
    for &user in &r.users {
        let _ = writeln!(out, "\nas {} (uid {})", user.label(), user.uid());
        let _ = write!(out, "{:<width$}", "scenario");
        for c in &cols {
            let _ = write!(out, "  {:<12}", header(r, c));
        }
        out.push('\n');
        for s in &r.scenarios {
            let _ = write!(out, "{:<width$}", s.name);
            for c in &cols {
                let _ = write!(out, "  {:<12}", mark(r.cell(s.name, user, c)));
            }
            out.push('\n');
        }
    }
    let failed = failures(r);
    if !failed.is_empty() {
        let _ = writeln!(out, "\nFAILURES");
        for c in failed {
            let _ = writeln!(out, "  {}", describe(c));
        }
    }
    let skipped = skip_groups(r);
    if !skipped.is_empty() {
        let _ = writeln!(out, "\nSKIPPED (reason)");
        for (where_, why) in skipped {
            let _ = writeln!(out, "  {where_}: {why}");
        }
    }
    let _ = writeln!(
        out,
        "\n{} passed, {} failed, {} skipped ({:.1} s)",
        r.count(Status::Pass),
        r.count(Status::Fail),
        r.count(Status::Skip),
        r.elapsed.as_secs_f64()
    );
    out
}

/// Skipped cells grouped by scenario and reason: `scenario (user column, ...)` and the reason,
/// with "every cell" when the reason holds for all of a scenario's cells.
fn skip_groups(r: &Report) -> Vec<(String, String)> {
    let total = r.users.len() * (r.profiles.len() + 1);
    let mut groups: Vec<(&str, String, Vec<String>)> = Vec::new();
    for c in r.cells.iter().filter(|c| c.status == Status::Skip) {
        let at = format!("{} {}", c.user.label(), c.column.name());
        match groups
            .iter_mut()
            .find(|(s, why, _)| *s == c.scenario && *why == c.detail)
        {
            Some(g) => g.2.push(at),
            None => groups.push((c.scenario, c.detail.clone(), vec![at])),
        }
    }
    let order = |name: &str| r.scenarios.iter().position(|s| s.name == name);
    groups.sort_by_key(|(s, _, _)| order(s));
    groups
        .into_iter()
        .map(|(s, why, at)| {
            let where_ = if at.len() == total {
                format!("{s} (every cell)")
            } else {
                format!("{s} ({})", at.join(", "))
            };
            (where_, why)
        })
        .collect()
}

fn describe(c: &Cell) -> String {
    format!(
        "{} / {} / {}: {}",
        c.scenario,
        c.user.label(),
        c.column.name(),
        c.detail
    )
}

/// `selftest`'s closing summary: per area, which scenarios are enforced under every profile on
/// this kernel, and which could not be tested here and why.
pub fn enforcement_summary(r: &Report) -> String {
    let mut out = String::from("\nOn this kernel:\n");
    let mut enforced = Vec::new();
    let mut untested = Vec::new();
    let mut broken = Vec::new();
    for s in &r.scenarios {
        let cells: Vec<&Cell> = r
            .cells
            .iter()
            .filter(|c| c.scenario == s.name && c.column != Column::Unsandboxed)
            .collect();
        let controls: Vec<&Cell> = r
            .cells
            .iter()
            .filter(|c| c.scenario == s.name && c.column == Column::Unsandboxed)
            .collect();
        if cells.iter().any(|c| c.status == Status::Fail) {
            broken.push(s.name);
        } else if cells.iter().all(|c| c.status == Status::Pass)
            && controls.iter().any(|c| c.status == Status::Pass)
        {
            enforced.push(s.name);
        } else if cells.iter().all(|c| c.status == Status::Pass) {
            let reason = controls.first().map_or(String::new(), |c| c.detail.clone());
            untested.push(format!(
                "{}: blocked, but the attempt fails here even unsandboxed: {reason}",
                s.name
            ));
        } else {
            let reason = cells
                .iter()
                .find(|c| c.status == Status::Skip)
                .map_or(String::new(), |c| c.detail.clone());
            let partial = if cells.iter().any(|c| c.status == Status::Pass) {
                " (enforced where tested)"
            } else {
                ""
            };
            untested.push(format!("{}{partial}: {reason}", s.name));
        }
    }
    let _ = writeln!(
        out,
        "  enforced ({}): {}",
        enforced.len(),
        enforced.join(", ")
    );
    if !broken.is_empty() {
        let _ = writeln!(
            out,
            "  NOT ENFORCED ({}): {}",
            broken.len(),
            broken.join(", ")
        );
    }
    if !untested.is_empty() {
        let _ = writeln!(out, "  not tested here ({}):", untested.len());
        for u in untested {
            let _ = writeln!(out, "    {u}");
        }
    }
    out
}

/// docs/hardening.md: every scenario, its threat and mechanism, and the result per column as
/// `root / nobody`.
pub fn markdown(r: &Report, date: &str) -> String {
    let mut out = String::new();
    let cols = columns(r);
    let users: Vec<String> = r.users.iter().map(|u| u.label()).collect();
    let _ = writeln!(out, "# Hardening suite\n");
    let _ = writeln!(
        out,
        "Generated with `cargo run -p missy-hardening --bin missy-hardening --locked -- \
         --markdown > docs/hardening.md` (the suite `make hardening` runs, as root, which runs \
         every cell as root and as uid 65534) on {date}, kernel {}, run as {}. Do not edit by \
         hand: rerun it.\n",
        r.kernel,
        users.join(" and ")
    );
    let _ = writeln!(
        out,
        "Each scenario is one escape attempt: a probe of `missy-probe` (source in \
         `integration/src/probe/`, catalogue in `integration/src/suite/scenarios.rs`), linked \
         into the workspace under its own name and run once without the sandbox (the positive \
         control: it must escape, so the check can fail) and once under each shipped profile \
         (it must be blocked). Host-side evidence (a listener that saw a connection, a file \
         that appeared outside the workspace, a process that outlived the run, a victim that \
         died) fails a cell even when the probe says it was blocked. The same suite runs on \
         any machine as `missy-sandbox selftest`.\n"
    );
    let _ = writeln!(
        out,
        "Cells read `root / nobody`: `escaped` (control shown able to fail), `blocked` or \
         `stopped` (killed by the limit) = pass, `skip` = not testable here (reasons below), \
         `FAIL`. {} passed, {} failed, {} skipped in {:.0} s.\n",
        r.count(Status::Pass),
        r.count(Status::Fail),
        r.count(Status::Skip),
        r.elapsed.as_secs_f64()
    );
    for p in r.profiles.iter().filter(|p| p.wrapper.is_some()) {
        let _ = writeln!(
            out,
            "`{0}*`: `{0}` grants no workspace, so the probe could not even start; the suite \
             runs it under a generated profile that extends `{0}` with the workspace read-only \
             and executable, nothing else.\n",
            p.name
        );
    }
    if r.scenarios.iter().any(|s| s.name.starts_with("proxy-")) {
        out.push_str(
            "`proxy-bypass` and `proxy-ssrf` need the egress proxy, which no shipped profile turns \
             on: each sandboxed cell runs under a generated profile that extends the column's \
             profile with `[network] mode = \"proxy\"` and allows only the scenario's own loopback \
             listeners by name (pinned with `hosts`). The probe first checks that the proxy \
             serves an allowed canary listener, so a refusal cannot come from a proxy that is \
             missing or refuses everything.\n\n",
        );
    }
    let _ = write!(out, "| scenario | probe | area | threat | blocked by |");
    for c in &cols {
        let _ = write!(out, " {} |", header(r, c));
    }
    let _ = write!(out, "\n|---|---|---|---|---|");
    for _ in &cols {
        out.push_str("---|");
    }
    out.push('\n');
    for s in &r.scenarios {
        let _ = write!(
            out,
            "| {} | `{}` | {} | {} | {} |",
            s.name,
            s.probe.unwrap_or("—"),
            s.area.name(),
            s.threat,
            s.mechanism
        );
        for c in &cols {
            let marks: Vec<String> = r
                .users
                .iter()
                .map(|&u| md_mark(r.cell(s.name, u, c)))
                .collect();
            let _ = write!(out, " {} |", marks.join(" / "));
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "\n\"blocked by\" names the controls designed to stop the attempt; the suite shows \
         that the attempt is stopped, not which control stopped it.\n\n\
         Not covered by the suite: the `cpu_time` limit (profiles set minutes to hours), the \
         system calls marked \"table only\" in [threat-model.md](threat-model.md), IPC \
         namespace isolation, and the threats that have no control yet (code planted in the \
         workspace for the host to run, `./sandbox-profiles` planting, output censoring)."
    );
    let _ = writeln!(out, "\n## Skips and their reasons\n");
    for (where_, why) in skip_groups(r) {
        let _ = writeln!(out, "- {where_}: {}", why.replace('|', "\\|"));
    }
    let failed = failures(r);
    if !failed.is_empty() {
        let _ = writeln!(out, "\n## Failures\n");
        for c in failed {
            let _ = writeln!(out, "- {}", describe(c).replace('|', "\\|"));
        }
    }
    // Fuzzing is not run by the suite; its section is written by hand and kept here verbatim.
    out.push('\n');
    out.push_str(FUZZING_SECTION);
    out
}

/// The "Fuzzing" section of docs/hardening.md (`make fuzz`), maintained by hand.
const FUZZING_SECTION: &str = include_str!("../../../docs/fuzzing.md");

fn md_mark(cell: Option<&Cell>) -> String {
    match cell {
        None => "—".into(),
        Some(c) => match c.status {
            Status::Pass => c.word.clone(),
            Status::Skip => "skip".into(),
            Status::Fail => "**FAIL**".into(),
        },
    }
}

/// The users to run as by default: root runs both passes, anyone else only itself.
pub fn default_users() -> Vec<User> {
    if nix::unistd::geteuid().is_root() {
        vec![User::Current, User::Nobody]
    } else {
        vec![User::Current]
    }
}

/// Today's date (UTC) as YYYY-MM-DD, from the system clock.
pub fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn failures(r: &Report) -> Vec<&Cell> {
    r.cells
        .iter()
        .filter(|c| c.status == Status::Fail)
        .collect()
}
