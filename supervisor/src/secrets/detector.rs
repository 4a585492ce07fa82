//! Finds credentials in bytes: the [`patterns`](super::patterns) and the exact values known to be
//! secret in this run.
//!
//! Speed comes from a literal prefilter: one Aho-Corasick pass over the text finds the trigger
//! literals of every pattern, and only a line that holds a pattern's trigger is run through that
//! pattern's regular expression. Clean text therefore costs one pass of the automaton. Each
//! regular expression is compiled the first time a trigger asks for it, so a run whose output
//! holds no trigger compiles none.

use std::ops::Range;
use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, Input, MatchKind};
use regex::bytes::Regex;

use super::patterns::{ASSIGNMENT, BLOCK_END, Check, PATTERNS, Pattern, assignment_follows};
use super::{MAX_MATCH, SecretsError};

/// One thing to censor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The whole match: what decides whether it is complete.
    pub full: Range<usize>,
    /// The bytes replaced by the placeholder (inside `full`).
    pub censor: Range<usize>,
    /// Opens a block censored through its END line.
    pub block: bool,
    /// Index into [`PATTERNS`], or `None` for a known value.
    pub pattern: Option<usize>,
}

struct Compiled {
    re: Regex,
    group: Option<usize>,
}

/// The compiled detector. Cheap to build; shared by every stream of a run.
pub struct Detector {
    triggers: AhoCorasick,
    /// Trigger index → pattern index.
    owner: Vec<usize>,
    compiled: Vec<OnceLock<Option<Compiled>>>,
    known: Option<AhoCorasick>,
    /// Longest known value, so callers can bound what they hold back.
    known_max: usize,
    block_end: OnceLock<Regex>,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector")
            .field("patterns", &PATTERNS.len())
            .field(
                "known_values",
                &self.known.as_ref().map_or(0, |k| k.patterns_len()),
            )
            .finish()
    }
}

/// The forms of a trigger the prefilter looks for.
fn trigger_forms(pattern: &Pattern, trigger: &str) -> Vec<String> {
    if !pattern.fold {
        return vec![trigger.to_string()];
    }
    let lower = trigger.to_ascii_lowercase();
    let title: String = {
        // Capitalise each word: `X-Api-Key`, `Private-Token`.
        let mut up = true;
        lower
            .chars()
            .map(|c| {
                let out = if up { c.to_ascii_uppercase() } else { c };
                up = !c.is_ascii_alphanumeric();
                out
            })
            .collect()
    };
    let mut forms = vec![
        trigger.to_string(),
        trigger.to_ascii_uppercase(),
        title,
        lower,
    ];
    forms.sort();
    forms.dedup();
    forms
}

/// Every pattern is tested to compile (tests::every_pattern_compiles); were one not to, it
/// would match nothing rather than panic.
fn compile(pattern: &Pattern) -> Option<Compiled> {
    // A larger lazy-DFA cache keeps the bounded repetitions of the assignment patterns from
    // falling back to the slower NFA simulation.
    let re = regex::bytes::RegexBuilder::new(&format!("(?-u){}", pattern.regex))
        .dfa_size_limit(8 << 20)
        .build()
        .ok()?;
    let group = re.capture_names().position(|n| n == Some("s"));
    Some(Compiled { re, group })
}

/// Shannon entropy in bits per byte.
fn entropy(bytes: &[u8]) -> f64 {
    let mut counts = [0u32; 256];
    for &b in bytes {
        counts[b as usize] += 1;
    }
    let n = bytes.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// Looks like a random value rather than a word, a path or a reference such as `${TOKEN}`.
pub fn looks_random(value: &[u8]) -> bool {
    let digits = value.iter().filter(|b| b.is_ascii_digit()).count();
    let letters = value.iter().filter(|b| b.is_ascii_alphabetic()).count();
    digits > 0 && letters > 0 && entropy(value) >= 3.0
}

impl Detector {
    /// The patterns plus `known` exact values (already in every encoding to catch; see
    /// `known::forms`). Values longer than [`MAX_MATCH`] are refused: the censor could not hold
    /// enough bytes back to see them whole.
    pub fn new(known: &[Vec<u8>]) -> Result<Detector, SecretsError> {
        let mut literals = Vec::new();
        let mut owner = Vec::new();
        for (i, pattern) in PATTERNS.iter().enumerate() {
            for trigger in pattern.triggers {
                for form in trigger_forms(pattern, trigger) {
                    literals.push(form);
                    owner.push(i);
                }
            }
        }
        let triggers = AhoCorasickBuilder::new()
            .match_kind(MatchKind::Standard)
            // A contiguous NFA: a DFA scans ordinary output about 10 % faster, but takes three
            // times as long to build (half a millisecond), and every launch builds one to
            // censor its audit record.
            .kind(Some(aho_corasick::AhoCorasickKind::ContiguousNFA))
            .build(&literals)
            .map_err(|e| SecretsError::Detector(e.to_string()))?;
        if let Some(long) = known.iter().find(|k| k.len() > MAX_MATCH) {
            return Err(SecretsError::ValueTooLong {
                len: long.len(),
                max: MAX_MATCH,
            });
        }
        let known_max = known.iter().map(Vec::len).max().unwrap_or(0);
        let known = if known.is_empty() {
            None
        } else {
            Some(
                AhoCorasickBuilder::new()
                    .match_kind(MatchKind::LeftmostLongest)
                    .build(known)
                    .map_err(|e| SecretsError::Detector(e.to_string()))?,
            )
        };
        Ok(Detector {
            triggers,
            owner,
            compiled: PATTERNS.iter().map(|_| OnceLock::new()).collect(),
            known,
            known_max,
            block_end: OnceLock::new(),
        })
    }

    pub fn known_max(&self) -> usize {
        self.known_max
    }

    fn pattern(&self, i: usize) -> Option<&Compiled> {
        self.compiled[i]
            .get_or_init(|| compile(&PATTERNS[i]))
            .as_ref()
    }

    /// Every hit that starts at or after `from` in `buf` (the bytes before `from` are context
    /// for `\b`), sorted by start. A hit never spans a line break, so the caller may treat a
    /// hit that ends before the last line break as final.
    pub fn find(&self, buf: &[u8], from: usize, out: &mut Vec<Hit>) {
        // (pattern, where its regex starts, the trigger's position, end of the trigger's line)
        let mut runs: Vec<(usize, usize, usize, usize)> = Vec::new();
        let input = Input::new(buf).span(from..buf.len());
        for m in self.triggers.find_overlapping_iter(input) {
            let p = m.start();
            let owner = self.owner[m.pattern().as_usize()];
            let pattern = &PATTERNS[owner];
            let end = memchr::memchr2(b'\n', b'\r', &buf[p..]).map_or(buf.len(), |i| p + i);
            // The cheap second clue (an `=` after `password`, an `@` after `://`) saves most
            // regex runs on ordinary lines.
            let clue = match pattern.needs {
                [] => true,
                ASSIGNMENT => assignment_follows(&buf[..end], p),
                bytes => buf[p..end].iter().any(|b| bytes.contains(b)),
            };
            if !clue {
                continue;
            }
            // A match starts at most `lead` bytes before its trigger, and not before its line.
            let earliest = p.saturating_sub(pattern.lead).max(from);
            let start = memchr::memrchr2(b'\n', b'\r', &buf[earliest..p])
                .map_or(earliest, |i| earliest + i + 1);
            runs.push((owner, start, p, end));
        }
        runs.sort_unstable();
        runs.dedup();
        for (i, start, trigger, end) in runs {
            self.run_pattern(i, &buf[..end], start, trigger, out);
        }
        if let Some(known) = &self.known {
            for m in known.find_iter(Input::new(buf).span(from..buf.len())) {
                out.push(Hit {
                    full: m.range(),
                    censor: m.range(),
                    block: false,
                    pattern: None,
                });
            }
        }
        out.sort_unstable_by_key(|h| (h.full.start, h.full.end));
    }

    /// The matches of pattern `i` in `hay` from `at` that start no later than `trigger` (later
    /// ones hold a later trigger and are found from there).
    fn run_pattern(&self, i: usize, hay: &[u8], mut at: usize, trigger: usize, out: &mut Vec<Hit>) {
        let pattern = &PATTERNS[i];
        let Some(compiled) = self.pattern(i) else {
            return;
        };
        while at <= trigger {
            // Find first (fast); resolve the group only for an actual match.
            let Some(m) = compiled
                .re
                .find_at(hay, at)
                .filter(|m| m.start() <= trigger)
            else {
                break;
            };
            let (full, censor) = match compiled.group {
                Some(g) => {
                    let Some(caps) = compiled.re.captures_at(&hay[..m.end()], m.start()) else {
                        break;
                    };
                    let Some(full) = caps.get(0) else { break };
                    let censor = caps.get(g).map_or(full.range(), |m| m.range());
                    (full.range(), censor)
                }
                None => (m.range(), m.range()),
            };
            at = if full.is_empty() {
                full.end + 1
            } else {
                full.end
            };
            if pattern.check == Check::HighEntropy && !looks_random(&hay[censor.clone()]) {
                continue;
            }
            if !censor.is_empty() {
                out.push(Hit {
                    full,
                    censor,
                    block: pattern.block,
                    pattern: Some(i),
                });
            }
        }
    }

    /// The END line closing a block, searched from `from`: its range.
    pub fn block_end(&self, buf: &[u8], from: usize) -> Option<Range<usize>> {
        let re = self.block_end.get_or_init(|| {
            Regex::new(&format!("(?-u){BLOCK_END}")).expect("BLOCK_END is a valid regex")
        });
        re.find_at(buf, from).map(|m| m.range())
    }

    /// Names of the patterns that match somewhere in `text` (for tests and diagnostics).
    pub fn matching_patterns(&self, text: &[u8]) -> Vec<&'static str> {
        let mut hits = Vec::new();
        self.find(text, 0, &mut hits);
        let mut names: Vec<&'static str> = hits
            .iter()
            .filter_map(|h| h.pattern.map(|i| PATTERNS[i].name))
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }
}

#[cfg(test)]
#[path = "detector_tests.rs"]
mod tests;
