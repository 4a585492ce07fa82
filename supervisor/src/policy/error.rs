//! Errors from loading a profile. Each names the file, and where it can the line, the key and
//! what was expected, so a user can fix the profile without reading our source.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

use toml::de::{DeTable, DeValue};

/// Where in a profile file something is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub key: Option<String>,
}

impl Location {
    /// The location of byte offset `span.start` of `text` (indexed by `lines`), in `file`, about
    /// `key`.
    pub fn at(
        file: &str,
        text: &str,
        lines: &LineIndex,
        span: Range<usize>,
        key: Option<String>,
    ) -> Self {
        let (line, column) = lines.position(text, span.start);
        Location {
            file: file.to_string(),
            line: Some(line),
            column: Some(column),
            key,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        if let Some(key) = &self.key {
            write!(f, ": key `{key}`")?;
        }
        Ok(())
    }
}

// Display is written by hand below (everything printed goes through `printable`), so no
// `#[error]` attributes here.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// `profile `{name}` not found; looked in: ...`
    NotFound { name: String, searched: Vec<String> },

    /// `cannot read profile {path}: {source}`
    Read {
        path: PathBuf,
        source: std::io::Error,
    },

    /// `{at}: {message}`
    Parse { at: Location, message: String },

    /// `{at}: {message}; expected {expected}`
    Invalid {
        at: Location,
        message: String,
        expected: String,
    },

    /// A parent named in `extends` could not be found or read: `{at}: {source}`, where `at` is
    /// the `extends` entry in the file that names the parent.
    Extends {
        at: Location,
        source: Box<PolicyError>,
    },

    /// `profile inheritance cycle: a -> b -> a`
    Cycle { chain: Vec<String> },

    /// `profile inheritance deeper than {max} levels: ...`
    TooDeep { chain: Vec<String>, max: usize },

    /// `invalid invocation: {0}`
    Invocation(String),
}

impl PolicyError {
    fn render(&self, f: &mut impl fmt::Write) -> fmt::Result {
        match self {
            PolicyError::NotFound { name, searched } => write!(
                f,
                "profile `{name}` not found; looked in: {}",
                searched.join(", ")
            ),
            PolicyError::Read { path, source } => {
                write!(f, "cannot read profile {}: {source}", path.display())
            }
            PolicyError::Parse { at, message } => write!(f, "{at}: {message}"),
            PolicyError::Invalid {
                at,
                message,
                expected,
            } => write!(f, "{at}: {message}; expected {expected}"),
            PolicyError::Extends { at, source } => {
                write!(f, "{at}: ")?;
                match source.as_ref() {
                    // Not an invocation problem here: the name is in the file.
                    PolicyError::Invocation(message) => f.write_str(message),
                    other => other.render(f),
                }
            }
            PolicyError::Cycle { chain } => {
                write!(f, "profile inheritance cycle: {}", chain.join(" -> "))
            }
            PolicyError::TooDeep { chain, max } => write!(
                f,
                "profile inheritance deeper than {max} levels: {}",
                chain.join(" -> ")
            ),
            PolicyError::Invocation(message) => write!(f, "invalid invocation: {message}"),
        }
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = String::new();
        self.render(&mut text)?;
        // Profile values are echoed in messages; a NUL, an escape sequence or a newline in one
        // must not reach the terminal raw.
        f.write_str(&printable(&text))
    }
}

/// `text` with control and invisible formatting characters escaped (`\0`, `\n`, `\u{1b}`,
/// `\u{202e}`), so that an echoed value prints as one visible line.
pub fn printable(text: &str) -> Cow<'_, str> {
    fn hidden(c: char) -> bool {
        c.is_control()
            || matches!(c,
                '\u{200b}'..='\u{200f}'   // zero-width spaces and marks
                | '\u{2028}'..='\u{202e}' // line/paragraph separators, bidi embeddings
                | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
                | '\u{2066}'..='\u{2069}' // bidi isolates
                | '\u{feff}'              // byte-order mark
            )
    }
    if !text.chars().any(hidden) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\0' => out.push_str("\\0"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if hidden(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Where each line of a text starts: every grant of a profile is located when it loads, so
/// a lookup must not rescan the text from its start.
#[derive(Debug, Clone, Default)]
pub struct LineIndex(Vec<usize>);

impl LineIndex {
    pub fn new(text: &str) -> Self {
        let starts = memchr::memchr_iter(b'\n', text.as_bytes()).map(|nl| nl + 1);
        LineIndex(std::iter::once(0).chain(starts).collect())
    }

    /// The 1-based line and column (in characters) of byte offset `offset` of `text`, the text
    /// this index was built from.
    pub fn position(&self, text: &str, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        // The number of lines starting at or before `offset` is its line number.
        let line = self.0.partition_point(|&start| start <= offset).max(1);
        let start = self.0.get(line - 1).copied().unwrap_or(0).min(offset);
        (line, text[start..offset].chars().count() + 1)
    }
}

/// The 1-based line and column (in characters) of byte offset `offset` of `text`.
pub fn position(text: &str, offset: usize) -> (usize, usize) {
    LineIndex::new(text).position(text, offset)
}

/// The table name in a `[name]` or `[[name]]` header line.
fn header_name(line: &str) -> Option<String> {
    let rest = line.strip_prefix("[[").or_else(|| line.strip_prefix('['))?;
    rest.split(']').next().map(|s| s.trim().to_string())
}

/// Turn a TOML/serde error into a located `PolicyError`, naming the key it is about.
pub fn from_toml(file: &str, text: &str, err: &toml::de::Error) -> PolicyError {
    let (line, column, key) = match err.span() {
        Some(span) => {
            let (line, col) = position(text, span.start);
            // A value that parsed but did not deserialise: its key is found from the parsed
            // document's spans. A syntax error: from the text of the line.
            let key = match DeTable::parse(text) {
                Ok(doc) => key_for_span(doc.get_ref(), span.start),
                Err(_) => key_at(text, line),
            };
            (Some(line), Some(col), key)
        }
        None => (None, None, None),
    };
    PolicyError::Parse {
        at: Location {
            file: file.to_string(),
            line,
            column,
            key,
        },
        message: user_wording(err.message()),
    }
}

/// Serde's words for TOML's types, replaced by TOML's. Anchored at the fixed parts of serde's
/// `invalid type: X, expected Y` so an echoed value is never rewritten.
fn user_wording(message: &str) -> String {
    let mut out = message.to_string();
    for (serde, toml) in [
        ("invalid type: sequence,", "invalid type: array,"),
        ("invalid type: map,", "invalid type: table,"),
    ] {
        if let Some(rest) = out.strip_prefix(serde) {
            out = format!("{toml}{rest}");
        }
    }
    for (serde, toml) in [
        (", expected a sequence", ", expected an array"),
        (", expected a map", ", expected a table"),
    ] {
        if let Some(head) = out.strip_suffix(serde) {
            out = format!("{head}{toml}");
        }
    }
    out
}

/// The dotted key path of the deepest key or value in `table` that contains byte `offset`.
fn key_for_span(table: &DeTable<'_>, offset: usize) -> Option<String> {
    let mut path = Vec::new();
    if find_in_table(table, offset, &mut path) {
        Some(path.join("."))
    } else {
        None
    }
}

fn contains(span: &Range<usize>, offset: usize) -> bool {
    span.start <= offset && offset < span.end.max(span.start + 1)
}

fn find_in_table(table: &DeTable<'_>, offset: usize, path: &mut Vec<String>) -> bool {
    for (key, value) in table.iter() {
        path.push(key.get_ref().to_string());
        if contains(&key.span(), offset) || find_in_value(value, offset, path) {
            return true;
        }
        path.pop();
    }
    false
}

fn find_in_value(
    value: &toml::Spanned<DeValue<'_>>,
    offset: usize,
    path: &mut Vec<String>,
) -> bool {
    // A table's span is its header (or its inline braces); the keys of a `[section]` lie
    // outside it, so look inside every table, and at the span itself last.
    let inside = match value.get_ref() {
        DeValue::Table(t) => find_in_table(t, offset, path),
        DeValue::Array(a) => a.iter().any(|item| {
            matches!(item.get_ref(), DeValue::Table(_) | DeValue::Array(_))
                && find_in_value(item, offset, path)
        }),
        _ => false,
    };
    inside || contains(&value.span(), offset)
}

/// The dotted key (`section.key`) defined on a 1-based line, if that line defines one. Used for
/// syntax errors, where there is no parsed document to take spans from.
fn key_at(text: &str, line_no: usize) -> Option<String> {
    let mut section: Option<String> = None;
    for (idx, raw_line) in text.lines().enumerate() {
        let line = raw_line.trim();
        if line.starts_with('[') {
            section = header_name(line);
            if idx + 1 == line_no {
                return section;
            }
            continue;
        }
        if idx + 1 == line_no {
            let key = line.split('=').next()?.trim();
            // `memory "1GiB"` (no `=`): the key is the first word, unless it is quoted.
            let key = match key.split_whitespace().next() {
                Some(word) if !key.starts_with(['"', '\'']) => word,
                _ => key,
            };
            if key.is_empty() || key.starts_with('#') {
                return section;
            }
            return Some(match &section {
                Some(s) => format!("{s}.{key}"),
                None => key.to_string(),
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_escapes_control_and_invisible_characters() {
        assert_eq!(printable("plain `x`"), "plain `x`");
        assert_eq!(printable("a\0b\nc\u{1b}[1m"), "a\\0b\\nc\\u{1b}[1m");
        assert_eq!(printable("x\u{202e}y"), "x\\u{202e}y");
        assert_eq!(printable("café"), "café");
    }

    #[test]
    fn positions_count_characters() {
        assert_eq!(position("ab\ncd", 0), (1, 1));
        assert_eq!(position("ab\ncd", 4), (2, 2));
        assert_eq!(position("é = 1", 3), (1, 3));
    }

    #[test]
    fn keys_are_found_from_spans() {
        let text = "[limits]\n\"processes\" = 4\n[[kernel]]\nrequire = 1\n";
        let doc = DeTable::parse(text).unwrap();
        let at = |needle: &str| key_for_span(doc.get_ref(), text.find(needle).unwrap());
        assert_eq!(at("4").as_deref(), Some("limits.processes"));
        assert_eq!(at("\"processes\"").as_deref(), Some("limits.processes"));
        assert_eq!(at("[[kernel]]").as_deref(), Some("kernel"));
        assert_eq!(at("1\n").as_deref(), Some("kernel.require"));
    }
}
