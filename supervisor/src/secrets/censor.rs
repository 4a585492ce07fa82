//! The streaming censor: bytes in, the same bytes out with every secret replaced by `***`.
//!
//! Guarantees (each has a test):
//! - **Chunking does not matter.** Output equals [`redact`] of the whole stream however the
//!   input was split, so a secret split across two reads is still caught.
//! - **Complete lines are never held back.** A match never spans `\n` or `\r` (a rule of the
//!   pattern table), so everything up to the last line break of the input seen so far is final
//!   and released at once. Only the unfinished last line waits, and [`Censor::flush`] releases
//!   it when the writer pauses (the relay does this after a short idle time).
//! - **Bounded memory.** An unfinished line longer than [`MAX_HOLD`] is released except for its
//!   last [`MAX_MATCH`] bytes, so a secret of up to [`MAX_MATCH`] bytes is still seen whole and
//!   at most about [`MAX_HOLD`] bytes are held per stream.
//! - **Overlapping or touching matches merge** into one placeholder; the placeholder says nothing
//!   about what was found (no type oracle).
//! - **Everything else passes unchanged**, binary data included.
//! - A PEM private key block is censored from its BEGIN line through its END line; a block that
//!   never ends is censored to the end of the stream.

use std::ops::Range;
use std::sync::Arc;

use super::MAX_MATCH;
use super::detector::{Detector, Hit};
use super::patterns::BLOCK_END_MAX;

/// What replaces each secret.
pub const PLACEHOLDER: &[u8] = b"***";

/// Most bytes of an unfinished line held back before part of it is released.
pub const MAX_HOLD: usize = 64 * 1024;

/// Bytes kept before the scan position as look-behind context for `\b`.
const CONTEXT: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Release complete lines (and overlong partial ones).
    Lines,
    /// The writer paused: release everything but an open block's possible END line.
    Partial,
    /// End of stream.
    Eof,
}

/// One stream's censor state.
#[derive(Debug)]
pub struct Censor {
    detector: Arc<Detector>,
    buf: Vec<u8>,
    /// Bytes of `buf` before this have been released.
    scan: usize,
    /// Inside a private-key block: everything is censored until its END line.
    in_block: bool,
    /// The last byte released was censored: a censored range continuing at `scan` merges
    /// with it.
    censoring: bool,
    hits: Vec<Hit>,
    redactions: u64,
}

impl Censor {
    pub fn new(detector: Arc<Detector>) -> Censor {
        Censor {
            detector,
            buf: Vec::new(),
            scan: 0,
            in_block: false,
            censoring: false,
            hits: Vec::new(),
            redactions: 0,
        }
    }

    /// Feed `input`; append what can be released to `out`.
    pub fn push(&mut self, input: &[u8], out: &mut Vec<u8>) {
        self.buf.extend_from_slice(input);
        self.process(Mode::Lines, out);
    }

    /// Release the unfinished last line as it stands (the writer has paused). A secret whose
    /// first part was already released this way is no longer recognised as a whole.
    pub fn flush(&mut self, out: &mut Vec<u8>) {
        self.process(Mode::Partial, out);
    }

    /// End of stream: release everything.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        self.process(Mode::Eof, out);
    }

    /// Bytes received but not yet released.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.scan
    }

    /// Placeholders written so far.
    pub fn redactions(&self) -> u64 {
        self.redactions
    }

    fn process(&mut self, mode: Mode, out: &mut Vec<u8>) {
        loop {
            let len = self.buf.len();
            if self.in_block {
                if let Some(end) = self.detector.block_end(&self.buf, self.scan) {
                    self.censor_to(end.end, out);
                    self.in_block = false;
                    continue;
                }
                // Hold back what could be the start of the END line.
                let to = if mode == Mode::Eof {
                    len
                } else {
                    len.saturating_sub(BLOCK_END_MAX).max(self.scan)
                };
                self.censor_to(to, out);
                break;
            }
            let mut limit = match mode {
                Mode::Eof | Mode::Partial => len,
                Mode::Lines => match memchr::memrchr2(b'\n', b'\r', &self.buf[self.scan..]) {
                    Some(i) => self.scan + i + 1,
                    None if len - self.scan > MAX_HOLD => len - MAX_MATCH - 2,
                    None => self.scan,
                },
            };
            if limit <= self.scan {
                break;
            }
            let mut hits = std::mem::take(&mut self.hits);
            hits.clear();
            self.detector.find(&self.buf, self.scan, &mut hits);
            // A match that starts before the limit and runs past it is not complete yet: hold
            // it back whole.
            while let Some(h) = hits
                .iter()
                .find(|h| h.full.start < limit && h.full.end > limit)
            {
                limit = h.full.start;
            }
            if limit <= self.scan {
                self.hits = hits;
                break;
            }
            let opener = hits
                .iter()
                .find(|h| h.block && h.full.start < limit)
                .cloned();
            match opener {
                Some(open) => {
                    self.emit(open.censor.start, &hits, out);
                    self.censor_to(open.full.end, out);
                    self.in_block = true;
                }
                None => self.emit(limit, &hits, out),
            }
            self.hits = hits;
        }
        self.compact();
    }

    /// Release `buf[scan..to]` with the hits that start before `to` censored.
    fn emit(&mut self, to: usize, hits: &[Hit], out: &mut Vec<u8>) {
        let mut ranges: Vec<Range<usize>> = hits
            .iter()
            .filter(|h| h.full.start < to)
            .map(|h| h.censor.start.max(self.scan)..h.censor.end.min(to))
            .filter(|r| !r.is_empty())
            .collect();
        ranges.sort_unstable_by_key(|r| r.start);
        let mut pos = self.scan;
        for r in merge(ranges) {
            if r.start > pos {
                out.extend_from_slice(&self.buf[pos..r.start]);
                self.censoring = false;
            }
            self.scan = r.start;
            self.censor_to(r.end, out);
            pos = r.end;
        }
        if to > pos {
            out.extend_from_slice(&self.buf[pos..to]);
            self.censoring = false;
        }
        self.scan = to;
    }

    /// Censor `buf[scan..to]`, merging with a censored range just released.
    fn censor_to(&mut self, to: usize, out: &mut Vec<u8>) {
        if to <= self.scan {
            return;
        }
        if !self.censoring {
            out.extend_from_slice(PLACEHOLDER);
            self.redactions += 1;
            self.censoring = true;
        }
        self.scan = to;
    }

    fn compact(&mut self) {
        if self.scan > CONTEXT {
            let drop = self.scan - CONTEXT;
            self.buf.drain(..drop);
            self.scan = CONTEXT;
        }
    }
}

/// Merge sorted ranges that overlap or touch.
fn merge(ranges: Vec<Range<usize>>) -> Vec<Range<usize>> {
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match merged.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => merged.push(r),
        }
    }
    merged
}

/// One-shot redaction of a whole text.
pub fn redact(detector: &Arc<Detector>, input: &[u8]) -> Vec<u8> {
    let mut censor = Censor::new(Arc::clone(detector));
    let mut out = Vec::with_capacity(input.len());
    censor.push(input, &mut out);
    censor.finish(&mut out);
    out
}

#[cfg(test)]
#[path = "censor_tests.rs"]
mod tests;
