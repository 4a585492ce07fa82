//! Errors from loading a profile. Each names the file, and where it can the line, the key and
//! what was expected, so a user can fix the profile without reading our source.

use std::fmt;
use std::path::PathBuf;

/// Where in a profile file something is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub key: Option<String>,
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

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("profile `{name}` not found; looked in: {}", searched.join(", "))]
    NotFound { name: String, searched: Vec<String> },

    #[error("cannot read profile {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("{at}: {message}")]
    Parse { at: Location, message: String },

    #[error("{at}: {message}; expected {expected}")]
    Invalid {
        at: Location,
        message: String,
        expected: String,
    },

    #[error("profile inheritance cycle: {}", chain.join(" -> "))]
    Cycle { chain: Vec<String> },

    #[error("profile inheritance deeper than {max} levels: {}", chain.join(" -> "))]
    TooDeep { chain: Vec<String>, max: usize },

    #[error("invalid invocation: {0}")]
    Invocation(String),
}

/// Find the line and column of `key` inside `[section]` in a TOML text. Used to point
/// validation errors (found after parsing) at the line that caused them.
pub fn locate(text: &str, section: Option<&str>, key: &str) -> (Option<usize>, Option<usize>) {
    let mut current: Option<String> = None;
    for (idx, raw_line) in text.lines().enumerate() {
        let line = raw_line.trim_start();
        if let Some(rest) = line.strip_prefix('[') {
            current = rest.split(']').next().map(|s| s.trim().to_string());
            continue;
        }
        let in_section = match section {
            None => current.is_none(),
            Some(s) => current.as_deref() == Some(s),
        };
        if !in_section {
            continue;
        }
        if let Some(after) = line.strip_prefix(key)
            && after.trim_start().starts_with('=')
        {
            let col = raw_line.len() - line.len() + 1;
            return (Some(idx + 1), Some(col));
        }
    }
    (None, None)
}

/// Turn a TOML/serde error into a located `PolicyError`, naming the key on the line it points at.
pub fn from_toml(file: &str, text: &str, err: &toml::de::Error) -> PolicyError {
    let (line, column, key) = match err.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let col = before
                .rfind('\n')
                .map_or(before.len(), |nl| before.len() - nl - 1)
                + 1;
            (Some(line), Some(col), key_at(text, line))
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
        message: err.message().to_string(),
    }
}

/// The dotted key (`section.key`) defined on a 1-based line, if that line defines one.
fn key_at(text: &str, line_no: usize) -> Option<String> {
    let mut section: Option<String> = None;
    for (idx, raw_line) in text.lines().enumerate() {
        let line = raw_line.trim();
        if let Some(rest) = line.strip_prefix('[') {
            section = rest.split(']').next().map(|s| s.trim().to_string());
            if idx + 1 == line_no {
                return section;
            }
            continue;
        }
        if idx + 1 == line_no {
            let key = line.split('=').next()?.trim();
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
