//! The verdict rules of the module doc, applied to one cell.

use super::host::Ran;
use super::model::*;
use super::runner::CELL_LIMIT;

/// The verdict line: the last line of stdout that starts with a verdict word.
fn verdict_line(stdout: &str) -> Option<(&str, &str)> {
    stdout.lines().rev().find_map(|l| {
        let word = l.split_whitespace().next()?;
        matches!(word, "BLOCKED" | "ESCAPED" | "SKIP" | "SENT" | "ERROR").then_some((word, l))
    })
}

/// The rules of the module doc, for one cell.
pub fn judge(
    side: Side,
    ran: &Ran,
    attempt: &Attempt,
    seen: &[String],
) -> (Status, String, String) {
    let fail = |word: &str, why: String| (Status::Fail, word.to_string(), why);
    if ran.timed_out {
        return fail(
            "hung",
            format!("killed after {} s without finishing", CELL_LIMIT.as_secs()),
        );
    }
    if attempt.kill_once_forked {
        // The process was killed on purpose: only the host can tell what survived it.
        let killed = format!("SIGKILLed after {:.1} s", ran.elapsed.as_secs_f64());
        if ran.forked_at_kill == Some(false) {
            return fail(
                "not running",
                format!(
                    "{killed}, but the probe had not forked by then: {}",
                    ran.stderr.trim()
                ),
            );
        }
        return match (side.is_control(), seen.is_empty()) {
            (true, false) => (
                Status::Pass,
                "escaped".into(),
                format!("{killed}; host: {}", seen.join("; ")),
            ),
            (true, true) => fail(
                "nothing",
                format!("{killed}, but nothing survived: the check cannot fail"),
            ),
            (false, true) => (
                Status::Pass,
                "blocked".into(),
                format!("{killed}; nothing survived"),
            ),
            (false, false) => fail("ESCAPED", format!("{killed}; host: {}", seen.join("; "))),
        };
    }
    let verdict = verdict_line(&ran.stdout);
    let stderr_tail = || {
        let t = ran.stderr.trim();
        let tail: String = t.lines().rev().take(2).collect::<Vec<_>>().join(" | ");
        if tail.is_empty() {
            "no stderr".to_string()
        } else {
            tail
        }
    };
    if side.is_control() {
        return match verdict {
            Some(("ESCAPED", line)) => {
                if attempt.evidence.is_empty() || !seen.is_empty() {
                    let host = if seen.is_empty() {
                        String::new()
                    } else {
                        format!(" [host: {}]", seen.join("; "))
                    };
                    (Status::Pass, "escaped".into(), format!("{line}{host}"))
                } else {
                    fail(
                        "escaped?",
                        format!("{line}, but the host saw nothing: the evidence check is broken"),
                    )
                }
            }
            Some(("SENT", line)) if !seen.is_empty() => (
                Status::Pass,
                "escaped".into(),
                format!("{line} [host: {}]", seen.join("; ")),
            ),
            Some(("SENT", line)) => fail(
                "sent",
                format!("{line}, but the host saw nothing arrive or survive"),
            ),
            Some(("BLOCKED", line)) if line.contains("inconclusive:") => (
                Status::Skip,
                "skip".into(),
                format!("the kernel refuses this user anyway: {line}"),
            ),
            Some(("SKIP", line)) => (Status::Skip, "skip".into(), line.to_string()),
            Some((word, line)) => fail(
                &word.to_lowercase(),
                format!("the control must escape so the check can fail: {line}"),
            ),
            None => fail(
                "no verdict",
                format!(
                    "status {:?} signal {:?}: {}",
                    ran.status,
                    ran.signal,
                    stderr_tail()
                ),
            ),
        };
    }
    if !seen.is_empty() {
        return fail("ESCAPED", format!("host evidence: {}", seen.join("; ")));
    }
    match verdict {
        Some(("BLOCKED" | "SENT", line)) => (Status::Pass, "blocked".into(), line.to_string()),
        Some(("ESCAPED", line)) => fail("ESCAPED", line.to_string()),
        Some(("SKIP", line)) => (Status::Skip, "skip".into(), line.to_string()),
        Some((_, line)) => fail("error", format!("{line} ({})", stderr_tail())),
        None => {
            let forced = attempt
                .forced_stops
                .iter()
                .find(|(code, _)| ran.status == Some(*code));
            match forced {
                Some((code, what)) => (
                    Status::Pass,
                    "stopped".into(),
                    format!(
                        "exit {code}: {what} after {:.1} s",
                        ran.elapsed.as_secs_f64()
                    ),
                ),
                None => fail(
                    "no verdict",
                    format!("status {:?}: {}", ran.status, stderr_tail()),
                ),
            }
        }
    }
}
