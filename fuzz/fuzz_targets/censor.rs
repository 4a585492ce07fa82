//! The streaming censor (`secrets::censor`) fed at fuzzer-chosen read boundaries.
//!
//! Input: `[flags] [n] [n cut points, u16 LE each] payload`. Cut points (taken modulo the
//! payload length, sorted) split the payload into reads. Flags: bit 0 calls `flush` (the
//! writer paused) at every cut; bit 1 inserts a 70 KiB run without line breaks at the first
//! cut, so the overlong-line release (`MAX_HOLD`) is reached.
//!
//! Asserts, each a guarantee documented in censor.rs:
//! - no panic, and `finish` releases everything;
//! - memory stays bounded: after each read at most `MAX_HOLD + MAX_MATCH` bytes are held;
//! - chunking does not matter: with reads only (no `flush`), the output equals the one-shot
//!   `redact` of the whole input, so no secret the one-shot censor removes survives a split;
//! - everything else passes unchanged: the output is the input with some non-empty ranges
//!   each replaced by one `***`, never two placeholders in a row (checked when the input has no
//!   `*`, so placeholders are unambiguous), the number of `***` equals `redactions()`, and an
//!   input with no hit comes out of the one-shot censor byte for byte. (A token cut short by a
//!   `flush` can look like a secret the whole token is not, so that check is not made on
//!   flushed output; the range-replacement check is.)

#![no_main]

use std::sync::{Arc, LazyLock};

use libfuzzer_sys::fuzz_target;
use missy_supervisor::secrets::MAX_MATCH;
use missy_supervisor::secrets::censor::{Censor, MAX_HOLD, PLACEHOLDER, redact};
use missy_supervisor::secrets::detector::Detector;
use missy_supervisor::secrets::known;

/// The patterns plus one known (vault) value in every form the censor registers.
static DETECTOR: LazyLock<Arc<Detector>> = LazyLock::new(|| {
    let forms: Vec<Vec<u8>> = known::forms(b"vault-value-4242")
        .iter()
        .map(|f| f.to_vec())
        .collect();
    Arc::new(Detector::new(&forms).expect("detector"))
});

/// Run the censor over `input` split at `cuts`; `flush` at every cut if asked.
fn stream(input: &[u8], cuts: &[usize], flush: bool) -> (Vec<u8>, u64) {
    let mut censor = Censor::new(Arc::clone(&DETECTOR));
    let mut out = Vec::new();
    let mut at = 0;
    for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
        censor.push(&input[at..cut], &mut out);
        assert!(
            censor.pending() <= MAX_HOLD + MAX_MATCH,
            "{} bytes held back",
            censor.pending()
        );
        if flush {
            censor.flush(&mut out);
        }
        at = cut;
    }
    censor.finish(&mut out);
    assert_eq!(censor.pending(), 0, "finish released everything");
    (out, censor.redactions())
}

/// `out` is `input` with non-empty ranges each replaced by one placeholder, no two adjacent.
/// Only meaningful when `input` has no `*`.
fn is_input_with_ranges_replaced(input: &[u8], out: &[u8]) -> bool {
    let segments = split_placeholders(out);
    let (first, rest) = segments.split_first().expect("at least one segment");
    if !input.starts_with(first) {
        return false;
    }
    let mut at = first.len();
    for (i, seg) in rest.iter().enumerate() {
        // At least one censored byte before this segment.
        let from = at + 1;
        if from > input.len() {
            return false;
        }
        let last = i + 1 == rest.len();
        if last {
            return input.len() >= from + seg.len() && input.ends_with(seg);
        }
        // Between two placeholders there is always a released byte.
        if seg.is_empty() {
            return false;
        }
        match find(&input[from..], seg) {
            Some(pos) => at = from + pos + seg.len(),
            None => return false,
        }
    }
    at == input.len()
}

fn split_placeholders(out: &[u8]) -> Vec<&[u8]> {
    let mut segments = Vec::new();
    let mut rest = out;
    while let Some(pos) = find(rest, PLACEHOLDER) {
        segments.push(&rest[..pos]);
        rest = &rest[pos + PLACEHOLDER.len()..];
    }
    segments.push(rest);
    segments
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let Some((&n, rest)) = rest.split_first() else {
        return;
    };
    let n = usize::from(n % 16);
    if rest.len() < 2 * n {
        return;
    }
    let (cut_bytes, payload) = rest.split_at(2 * n);
    let mut input = payload.to_vec();
    let mut cuts: Vec<usize> = cut_bytes
        .chunks_exact(2)
        .map(|c| usize::from(u16::from_le_bytes([c[0], c[1]])) % (payload.len() + 1))
        .collect();
    cuts.sort_unstable();
    if flags & 2 != 0 {
        let at = cuts.first().copied().unwrap_or(0);
        let pad = MAX_HOLD + 4096;
        input.splice(at..at, std::iter::repeat_n(b'x', pad));
        for cut in cuts.iter_mut().skip(1) {
            *cut += pad;
        }
        // Also cut inside the run, so the release happens mid-line.
        cuts.push(at + pad / 2);
        cuts.sort_unstable();
    }
    let flush = flags & 1 != 0;

    let whole = redact(&DETECTOR, &input);
    let (out, redactions) = stream(&input, &cuts, flush);
    if !flush {
        assert_eq!(
            out, whole,
            "chunked output differs from the one-shot censor"
        );
    }

    let mut hits = Vec::new();
    DETECTOR.find(&input, 0, &mut hits);
    if hits.is_empty() {
        assert_eq!(whole, input, "an input without a hit must pass unchanged");
    }
    if !input.contains(&b'*') {
        assert!(
            is_input_with_ranges_replaced(&input, &whole),
            "one-shot output is not the input with ranges censored"
        );
        assert!(
            is_input_with_ranges_replaced(&input, &out),
            "streamed output is not the input with ranges censored"
        );
        let placeholders = split_placeholders(&out).len() as u64 - 1;
        assert_eq!(placeholders, redactions, "placeholders vs redactions()");
    }
});
