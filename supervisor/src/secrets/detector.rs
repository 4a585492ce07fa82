//! Finds credentials in bytes: the [`patterns`](super::patterns) and the exact values known to be
//! secret in this run.
//!
//! Speed comes from a literal prefilter: one Aho-Corasick pass over the text finds the trigger
//! literals of every pattern (in any ASCII case) and the known values, and only a line that
//! holds a pattern's trigger, and the pattern's cheap second clue (an `=` after `password`, an
//! `@` after `://`, a random-looking value after `token =`), is run through that pattern's
//! regular expression. Clean text therefore costs one pass of the automaton, walked two places
//! at a time (see [`scan`]). Each regular expression is compiled the first time a trigger asks
//! for it, so a run whose output holds no trigger compiles none.

use std::ops::Range;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use aho_corasick::automaton::{Automaton, StateID};
use aho_corasick::{Anchored, MatchKind, StartKind, dfa, nfa};
use regex::bytes::Regex;
use zeroize::Zeroizing;

use super::patterns::{
    ASSIGNMENT, BLOCK_END, Check, GENERIC_VALUE_MAX, PATTERNS, Pattern, assignment_value,
    is_value_byte,
};
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

/// Bytes the NFA scans before the DFA is built (see `Detector::dfa`).
const DFA_AFTER: usize = 1 << 20;

/// What a literal of the trigger automaton stands for.
#[derive(Debug, Clone, Copy)]
enum Trigger {
    /// A trigger of pattern `pattern`; `exact` when its case must match too (the automaton
    /// itself ignores ASCII case).
    Pattern { pattern: usize, exact: bool },
    /// A known value, censored wherever it occurs exactly.
    Known,
}

/// The compiled detector. Cheap to build; shared by every stream of a run.
pub struct Detector {
    /// Every trigger literal and every known value, in one automaton, so the text is scanned
    /// once whatever it holds. A contiguous NFA first: it takes a fifth of a millisecond to
    /// build, and most runs only censor an audit record and a few lines.
    nfa: (nfa::contiguous::NFA, StateID),
    /// The same automaton as a DFA: four times faster to scan, six times slower to build
    /// (about 1.3 ms). Built once the NFA has scanned [`DFA_AFTER`] bytes, by when the build
    /// costs less than what scanning has cost so far; `None` if it cannot be built.
    dfa: OnceLock<Option<(dfa::DFA, StateID)>>,
    /// Bytes scanned by the NFA so far.
    scanned: AtomicUsize,
    /// Automaton pattern index → what it stands for.
    triggers: Vec<Trigger>,
    /// Patterns' trigger literals and known values, by automaton pattern index, for the case
    /// check.
    literals: Vec<Zeroizing<Vec<u8>>>,
    compiled: Vec<OnceLock<Option<Compiled>>>,
    /// Known values.
    known: usize,
    /// Longest known value, so callers can bound what they hold back.
    known_max: usize,
    block_end: OnceLock<Regex>,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector")
            .field("patterns", &PATTERNS.len())
            .field("known_values", &self.known)
            .finish()
    }
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

/// Whether `text` holds any pattern's trigger literal, in any case: without one, no pattern
/// can match (every hit starts from a trigger), so a detector without known values would find
/// nothing. A plain search, for short texts that do not pay for building the automaton.
pub fn may_hold_pattern(text: &[u8]) -> bool {
    let by_first = &*TRIGGERS_BY_FIRST_BYTE;
    (0..text.len()).any(|at| {
        by_first[usize::from(text[at].to_ascii_lowercase())]
            .iter()
            .any(|t| text[at..].len() >= t.len() && text[at..at + t.len()].eq_ignore_ascii_case(t))
    })
}

/// Every trigger literal, grouped by its first byte in lower case: [`may_hold_pattern`] looks
/// at each byte once and compares only the triggers that can start there.
static TRIGGERS_BY_FIRST_BYTE: std::sync::LazyLock<Vec<Vec<&'static [u8]>>> =
    std::sync::LazyLock::new(|| {
        let mut table = vec![Vec::new(); 256];
        for trigger in PATTERNS.iter().flat_map(|p| p.triggers) {
            if let Some(first) = trigger.as_bytes().first() {
                table[usize::from(first.to_ascii_lowercase())].push(trigger.as_bytes());
            }
        }
        table
    });

impl Detector {
    /// The patterns plus `known` exact values (already in every encoding to catch; see
    /// `known::forms`). Values longer than [`MAX_MATCH`] are refused: the censor could not hold
    /// enough bytes back to see them whole.
    pub fn new(known: &[Vec<u8>]) -> Result<Detector, SecretsError> {
        if let Some(long) = known.iter().find(|k| k.len() > MAX_MATCH) {
            return Err(SecretsError::ValueTooLong {
                len: long.len(),
                max: MAX_MATCH,
            });
        }
        let mut literals: Vec<Zeroizing<Vec<u8>>> = Vec::new();
        let mut triggers = Vec::new();
        for (pattern, p) in PATTERNS.iter().enumerate() {
            for trigger in p.triggers {
                literals.push(Zeroizing::new(trigger.as_bytes().to_vec()));
                triggers.push(Trigger::Pattern {
                    pattern,
                    // A folded trigger is found in any case, as its `(?i)` regex would be.
                    exact: !p.fold && trigger.bytes().any(|b| b.is_ascii_alphabetic()),
                });
            }
        }
        for value in known {
            literals.push(Zeroizing::new(value.clone()));
            triggers.push(Trigger::Known);
        }
        let nfa = nfa::contiguous::NFA::builder()
            // Every occurrence of every literal (they overlap: `x-api-key` holds `key`).
            .match_kind(MatchKind::Standard)
            // One literal per trigger instead of one per case form: the automaton is half the
            // size, and the case check after a hit is cheap.
            .ascii_case_insensitive(true)
            // No prefilter: with a hundred literals starting with most letters none would skip
            // much, and without one the start state is not special (see `scan`).
            .prefilter(false)
            .build(literals.iter().map(|l| l.as_slice()))
            .map_err(|e| SecretsError::Detector(e.to_string()))?;
        let nfa_start = nfa
            .start_state(Anchored::No)
            .map_err(|e| SecretsError::Detector(e.to_string()))?;
        Ok(Detector {
            nfa: (nfa, nfa_start),
            dfa: OnceLock::new(),
            scanned: AtomicUsize::new(0),
            triggers,
            literals,
            compiled: PATTERNS.iter().map(|_| OnceLock::new()).collect(),
            known: known.len(),
            known_max: known.iter().map(Vec::len).max().unwrap_or(0),
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
        let mut found: Vec<(usize, usize)> = Vec::new();
        match self.dfa() {
            Some((dfa, start)) => scan((dfa, *start), buf, from, &mut found),
            None => {
                self.scanned.fetch_add(buf.len() - from, Ordering::Relaxed);
                scan((&self.nfa.0, self.nfa.1), buf, from, &mut found);
            }
        }
        for (id, end) in found {
            let m = (end - self.literals[id].len())..end;
            let (owner, exact) = match self.triggers[id] {
                Trigger::Known => (None, true),
                Trigger::Pattern { pattern, exact } => (Some(pattern), exact),
            };
            if exact && buf[m.clone()] != **self.literals[id] {
                continue;
            }
            let Some(owner) = owner else {
                out.push(Hit {
                    full: m.clone(),
                    censor: m,
                    block: false,
                    pattern: None,
                });
                continue;
            };
            let p = m.start;
            let pattern = &PATTERNS[owner];
            let end = memchr::memchr2(b'\n', b'\r', &buf[p..]).map_or(buf.len(), |i| p + i);
            // The cheap second clue (an `=` after `password`, an `@` after `://`) saves most
            // regex runs on ordinary lines.
            let clue = match pattern.needs {
                [] => true,
                ASSIGNMENT => match assignment_value(&buf[..end], p) {
                    // The randomness test on what the regex would censor, before running it:
                    // most `key = ...` lines in ordinary output assign a word or an expression.
                    Some(v) if pattern.check == Check::HighEntropy => {
                        let value = &buf[v.min(end)..end];
                        let len = value
                            .iter()
                            .take(GENERIC_VALUE_MAX)
                            .take_while(|&&b| is_value_byte(b))
                            .count();
                        looks_random(&value[..len])
                    }
                    found => found.is_some(),
                },
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
        out.sort_unstable_by_key(|h| (h.full.start, h.full.end));
    }

    /// The DFA, once scanning has earned it.
    fn dfa(&self) -> Option<&(dfa::DFA, StateID)> {
        if let Some(built) = self.dfa.get() {
            return built.as_ref();
        }
        if self.scanned.load(Ordering::Relaxed) < DFA_AFTER {
            return None;
        }
        self.dfa
            .get_or_init(|| {
                dfa::DFA::builder()
                    .match_kind(MatchKind::Standard)
                    .ascii_case_insensitive(true)
                    .prefilter(false)
                    .start_kind(StartKind::Unanchored)
                    .build(self.literals.iter().map(|l| l.as_slice()))
                    .ok()
                    .and_then(|dfa| Some((dfa.start_state(Anchored::No).ok()?, dfa)))
                    .map(|(start, dfa)| (dfa, start))
            })
            .as_ref()
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

/// Every occurrence of every literal (any case) that ends after `from`, pushed as
/// (literal, end) in no particular order.
///
/// Walking a DFA is bound by the latency of one table load per byte; two walks over the
/// two halves of the text, interleaved, keep two loads in flight and almost double the
/// speed. The second walk starts early enough to see a literal that crosses into its
/// half, and reports only what ends in it.
fn scan<A: Automaton>(
    (aut, start): (&A, StateID),
    buf: &[u8],
    from: usize,
    out: &mut Vec<(usize, usize)>,
) {
    let overlap = aut.max_pattern_len().saturating_sub(1);
    let mid = from + (buf.len() - from) / 2;
    let second = mid.saturating_sub(overlap).max(from);
    let report = |sid: StateID, end: usize, out: &mut Vec<(usize, usize)>| {
        for k in 0..aut.match_len(sid) {
            out.push((aut.match_pattern(sid, k).as_usize(), end));
        }
    };
    let (mut a, mut b) = (start, start);
    let (first_half, second_half) = (&buf[from..mid], &buf[second..]);
    let both = first_half.len().min(second_half.len());
    for k in 0..both {
        a = aut.next_state(Anchored::No, a, first_half[k]);
        b = aut.next_state(Anchored::No, b, second_half[k]);
        // Unanchored, without a prefilter, the only special states are match states.
        if aut.is_special(a) {
            report(a, from + k + 1, out);
        }
        if aut.is_special(b) && second + k >= mid {
            report(b, second + k + 1, out);
        }
    }
    for (k, &byte) in first_half.iter().enumerate().skip(both) {
        a = aut.next_state(Anchored::No, a, byte);
        if aut.is_special(a) {
            report(a, from + k + 1, out);
        }
    }
    for (k, &byte) in second_half.iter().enumerate().skip(both) {
        b = aut.next_state(Anchored::No, b, byte);
        if aut.is_special(b) && second + k >= mid {
            report(b, second + k + 1, out);
        }
    }
}

#[cfg(test)]
#[path = "detector_tests.rs"]
mod tests;
