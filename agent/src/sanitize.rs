//! Prompt-injection sanitizer for tool output.
//!
//! [`sanitize`] does three things:
//! 1. normalises the text: Unicode NFKC (fullwidth and other compatibility forms become plain
//!    letters), then removes invisible characters — zero-width characters, bidi controls,
//!    variation selectors, Unicode tag characters and similar (see [`is_invisible`]);
//! 2. decodes what could hide a phrase: base64 runs, percent-encoding, HTML character
//!    references, and text smuggled in Unicode tag characters;
//! 3. scans the normalised text and each decoded form against a set of injection phrasings
//!    (`patterns.rs`: override, role change, jailbreak, prompt leak, tool hijack, exfiltration,
//!    concealment, fake chat markup).
//!
//! It reports findings; it does not rewrite them. A caller decides whether to drop the output,
//! quote it, or ask for approval. Like the rest of this crate it is a heuristic first layer: a
//! determined attacker can phrase around any list.

mod patterns;

use std::fmt;
use std::ops::Range;
use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD_INDIFFERENT, URL_SAFE_NO_PAD_INDIFFERENT};
use regex::{Regex, RegexSet};
use unicode_normalization::UnicodeNormalization;

pub use patterns::Category;

/// The result of [`sanitize`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sanitized {
    /// The input after NFKC normalisation with invisible characters removed.
    pub text: String,
    /// Injection phrasings found, in the order of their layer then position.
    pub findings: Vec<Finding>,
    /// How many invisible characters were removed.
    pub removed: usize,
}

impl Sanitized {
    /// True when any pattern fired.
    pub fn is_suspicious(&self) -> bool {
        !self.findings.is_empty()
    }
}

/// One pattern that fired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The pattern's name, such as `ignore-previous-instructions`.
    pub pattern: &'static str,
    /// Its family.
    pub category: Category,
    /// The form of the text it fired in.
    pub layer: Layer,
    /// Byte range in [`Sanitized::text`]: the match itself in the [`Layer::Text`] layer, the
    /// encoded text that decoded to it in the others (an empty range where tag characters were
    /// removed, for [`Layer::UnicodeTags`]).
    pub span: Range<usize>,
    /// The matched text, decoded (at most 200 bytes).
    pub excerpt: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}) in the {} at bytes {}..{}: {:?}",
            self.pattern, self.category, self.layer, self.span.start, self.span.end, self.excerpt
        )
    }
}

/// Which form of the text a finding was made in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    /// The normalised text.
    Text,
    /// Base64 runs (standard or URL-safe alphabet) decoded.
    Base64,
    /// Percent-encoding (`%69gnore`, `+` as space) decoded.
    Percent,
    /// HTML character references (`&#105;`, `&lt;`) decoded.
    HtmlEntities,
    /// Text hidden in Unicode tag characters (U+E0020–U+E007E stand for ASCII).
    UnicodeTags,
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layer::Text => "text",
            Layer::Base64 => "base64-decoded text",
            Layer::Percent => "percent-decoded text",
            Layer::HtmlEntities => "HTML-entity-decoded text",
            Layer::UnicodeTags => "Unicode tag characters",
        })
    }
}

/// Normalise `input` and scan it and its decoded forms for prompt-injection phrasings.
pub fn sanitize(input: &str) -> Sanitized {
    let normal = normalize(input);
    let mut findings = scan(&normal.text, Layer::Text, &|m| Some(m.clone()));
    for (layer, decoded) in [
        (
            Layer::Base64,
            Decoded::new(&normal.text, &BASE64_RUN, decode_base64),
        ),
        (
            Layer::Percent,
            Decoded::new(&normal.text, &PERCENT_RUN, decode_percent),
        ),
        (
            Layer::HtmlEntities,
            Decoded::new(&normal.text, &HTML_REF, decode_html),
        ),
    ] {
        if let Some(d) = decoded {
            findings.extend(scan(&d.text, layer, &|m| d.source(m)));
        }
    }
    for (at, hidden) in &normal.tags {
        findings.extend(scan(hidden, Layer::UnicodeTags, &|_| Some(*at..*at)));
    }
    Sanitized {
        text: normal.text,
        findings,
        removed: normal.removed,
    }
}

/// Characters that render as nothing (or reorder what renders) and so can hide or split text:
/// zero-width and joiner characters, bidi embeddings, overrides, isolates and marks, invisible
/// operators, variation selectors, fillers, interlinear annotation, tag characters.
pub(crate) fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}'
        | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{206F}'
        | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}'
        | '\u{FFF9}'..='\u{FFFB}'
        | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0000}'..='\u{E007F}'
        | '\u{E0100}'..='\u{E01EF}')
}

struct Normalized {
    text: String,
    removed: usize,
    /// ASCII spelled in tag characters, with where it was removed from.
    tags: Vec<(usize, String)>,
}

fn normalize(input: &str) -> Normalized {
    let mut text = String::with_capacity(input.len());
    let mut removed = 0;
    let mut tags: Vec<(usize, String)> = Vec::new();
    for c in input.nfkc() {
        if !is_invisible(c) {
            text.push(c);
            continue;
        }
        removed += 1;
        if let Some(ascii) = tag_ascii(c) {
            match tags.last_mut() {
                Some((at, run)) if *at == text.len() => run.push(ascii),
                _ => tags.push((text.len(), ascii.to_string())),
            }
        }
    }
    Normalized {
        text,
        removed,
        tags,
    }
}

fn tag_ascii(c: char) -> Option<char> {
    let v = u32::from(c).checked_sub(0xE0000)?;
    (0x20..0x7F)
        .contains(&v)
        .then(|| char::from_u32(v))
        .flatten()
}

/// Longest base64 run considered; longer blobs are data, not a message.
const MAX_BASE64: usize = 64 * 1024;

static BASE64_RUN: LazyLock<Regex> =
    LazyLock::new(|| compile(r"[A-Za-z0-9+/]{16,}={0,2}|[A-Za-z0-9_-]{16,}={0,2}"));
static PERCENT_RUN: LazyLock<Regex> = LazyLock::new(|| compile(r"(?:%[0-9A-Fa-f]{2}|\+)+"));
static HTML_REF: LazyLock<Regex> =
    LazyLock::new(|| compile(r"&(?:#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});"));

/// Compile one of this module's fixed expressions (valid by construction; the tests compile
/// every one).
fn compile(re: &str) -> Regex {
    #[allow(clippy::expect_used)]
    Regex::new(re).expect("fixed sanitizer expression is valid")
}

fn decode_base64(run: &str) -> Option<String> {
    if run.len() > MAX_BASE64 {
        return None;
    }
    let run = run.trim_end_matches('=');
    let bytes = STANDARD_NO_PAD_INDIFFERENT
        .decode(run)
        .or_else(|_| URL_SAFE_NO_PAD_INDIFFERENT.decode(run))
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    // Random identifiers sometimes decode to valid UTF-8; a message is mostly printable.
    let printable = text
        .chars()
        .filter(|c| !c.is_control() || c.is_whitespace())
        .count();
    (printable * 10 >= text.chars().count() * 9).then_some(text)
}

fn decode_percent(run: &str) -> Option<String> {
    let spaced = run.replace('+', " ");
    Some(
        percent_encoding::percent_decode_str(&spaced)
            .decode_utf8_lossy()
            .into_owned(),
    )
}

fn decode_html(reference: &str) -> Option<String> {
    let decoded = html_escape::decode_html_entities(reference);
    (decoded != reference).then(|| decoded.into_owned())
}

/// A text with some runs replaced by their decoded form, and the way back to the source.
struct Decoded {
    text: String,
    /// (range in `text`, range in the source, decoded?) covering `text` in order.
    segments: Vec<(Range<usize>, Range<usize>, bool)>,
}

impl Decoded {
    /// `None` when nothing in `source` decodes (the layer would repeat the text layer).
    fn new(source: &str, runs: &Regex, decode: fn(&str) -> Option<String>) -> Option<Decoded> {
        let mut d = Decoded {
            text: String::with_capacity(source.len()),
            segments: Vec::new(),
        };
        let mut last = 0;
        let mut any = false;
        for m in runs.find_iter(source) {
            let Some(plain) = decode(m.as_str()) else {
                continue;
            };
            // Decoded text is normalised too: base64 of fullwidth letters is still a phrase.
            let plain = normalize(&plain).text;
            d.push(&source[last..m.start()], last..m.start(), false);
            d.push(&plain, m.range(), true);
            last = m.end();
            any = true;
        }
        d.push(&source[last..], last..source.len(), false);
        any.then_some(d)
    }

    fn push(&mut self, s: &str, src: Range<usize>, decoded: bool) {
        let start = self.text.len();
        self.text.push_str(s);
        self.segments.push((start..self.text.len(), src, decoded));
    }

    /// The source range behind `m`, or `None` when `m` lies wholly in text that was not
    /// decoded (the text layer reports that already).
    fn source(&self, m: &Range<usize>) -> Option<Range<usize>> {
        let touched: Vec<_> = self
            .segments
            .iter()
            .filter(|(out, _, _)| out.start < m.end && m.start < out.end)
            .collect();
        if !touched.iter().any(|(_, _, decoded)| *decoded) {
            return None;
        }
        let map = |(out, src, decoded): &(Range<usize>, Range<usize>, bool),
                   at: usize,
                   end: bool| {
            match (decoded, end) {
                (true, false) => src.start,
                (true, true) => src.end,
                (false, _) => src.start + (at - out.start),
            }
        };
        let first = touched.first()?;
        let last = touched.last()?;
        Some(map(first, m.start, false)..map(last, m.end, true))
    }
}

struct Compiled {
    set: RegexSet,
    each: Vec<Regex>,
}

static PATTERNS: LazyLock<Compiled> = LazyLock::new(|| {
    let sources: Vec<String> = patterns::PATTERNS.iter().map(|p| expand(p.regex)).collect();
    #[allow(clippy::expect_used)]
    // With the default 2 MiB lazy-DFA cache this many patterns thrash it and the search falls
    // back to the slow engine: 1 MiB of output took 30 s instead of 0.2 s.
    let set = regex::RegexSetBuilder::new(&sources)
        .size_limit(64 << 20)
        .dfa_size_limit(16 << 20)
        .build()
        .expect("the injection patterns compile (tested)");
    Compiled {
        set,
        each: sources.iter().map(|s| compile(s)).collect(),
    }
});

/// The table's shorthand: a space is one or more whitespace characters, `\w` is an ASCII word
/// character and `\b` an ASCII word boundary (the Unicode forms make the automata far larger,
/// and a Unicode `\b` keeps the fast lazy DFA off non-ASCII text), and matching ignores case.
fn expand(re: &str) -> String {
    format!(
        "(?i){}",
        re.replace(' ', r"\s+")
            .replace(r"\w", "[0-9A-Za-z_]")
            .replace(r"\b", r"(?-u:\b)")
    )
}

/// Every match of every pattern in `text`. `source` maps a match to its span in the sanitized
/// text, or `None` to drop it.
fn scan(
    text: &str,
    layer: Layer,
    source: &dyn Fn(&Range<usize>) -> Option<Range<usize>>,
) -> Vec<Finding> {
    let compiled = &*PATTERNS;
    let mut findings = Vec::new();
    for i in compiled.set.matches(text).iter() {
        let (Some(pattern), Some(re)) = (patterns::PATTERNS.get(i), compiled.each.get(i)) else {
            continue;
        };
        for m in re.find_iter(text) {
            let Some(span) = source(&m.range()) else {
                continue;
            };
            findings.push(Finding {
                pattern: pattern.name,
                category: pattern.category,
                layer,
                span,
                excerpt: truncate(m.as_str(), 200).to_owned(),
            });
        }
    }
    findings.sort_by_key(|f| f.span.start);
    findings
}

fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
#[path = "sanitize_tests.rs"]
mod tests;
