//! The censor for what the supervisor writes itself: error reports (`commands::report`), tracing
//! output and `profile explain`. It knows every pattern and, once a run has resolved its vault
//! values, those values too ([`install`]).

use std::io::Write;
use std::sync::{Arc, RwLock};

use super::censor::redact;
use super::detector::Detector;

static DETECTOR: RwLock<Option<Arc<Detector>>> = RwLock::new(None);

/// Use `detector` (which knows this run's secret values) from now on.
pub fn install(detector: Arc<Detector>) {
    if let Ok(mut slot) = DETECTOR.write() {
        *slot = Some(detector);
    }
}

/// The detector in force: this run's (with its vault values) once installed, else the patterns
/// alone, built on first use (a run whose output is empty and whose audit is off never pays
/// for it).
pub fn detector() -> Option<Arc<Detector>> {
    if let Ok(slot) = DETECTOR.read()
        && let Some(d) = slot.as_ref()
    {
        return Some(Arc::clone(d));
    }
    let d = Arc::new(Detector::new(&[]).ok()?);
    install(Arc::clone(&d));
    Some(d)
}

/// Longest text [`censor`] checks for trigger words by a plain search before building the
/// detector.
const SHORT_TEXT: usize = 4096;

/// `text` with every secret replaced by `***`.
pub fn censor(text: &str) -> String {
    // A short text without a single trigger word holds nothing the patterns would find: most
    // audit records (argv, cwd) are answered without building the detector, which costs a
    // few tenths of a millisecond per run. Only while no detector is installed: one with this
    // run's vault values must see every text.
    if text.len() <= SHORT_TEXT
        && DETECTOR.read().is_ok_and(|slot| slot.is_none())
        && !super::detector::may_hold_pattern(text.as_bytes())
    {
        return text.to_string();
    }
    match detector() {
        Some(d) => String::from_utf8_lossy(&redact(&d, text.as_bytes())).into_owned(),
        // The detector cannot fail to build without known values; should it, say nothing
        // rather than risk a secret.
        None => "[output withheld: the secret censor is unavailable]".into(),
    }
}

/// A stderr writer for tracing: each event is collected, censored and written at once.
#[derive(Debug, Default)]
pub struct GuardedStderr(Vec<u8>);

impl Write for GuardedStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.0.is_empty() {
            return Ok(());
        }
        let text = censor(&String::from_utf8_lossy(&self.0));
        self.0.clear();
        std::io::stderr().write_all(text.as_bytes())
    }
}

impl Drop for GuardedStderr {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_are_censored() {
        assert_eq!(
            censor("cannot reach https://bot:Zq8rT2vX9pL4@example.com/x"),
            "cannot reach https://bot:***@example.com/x"
        );
        assert_eq!(censor("plain error"), "plain error");
    }
}
