//! Split a command line the way POSIX `sh -c` would, into simple commands and their words.
//!
//! The parser models non-interactive `sh`/`bash -c` (no aliases, no history expansion) for the
//! subset an agent should need: words with single, double and ANSI-C (`$'...'`) quoting,
//! backslash escapes, line continuations, comments, parameter expansions (`$name`, `${name}`),
//! redirections, and the list operators `&&`, `||`, `;`, `|`, `|&`, `&` and newline.
//!
//! Everything that could run a command the caller cannot see is an error, never guessed at:
//! command substitution (`$(...)`, backquotes), arithmetic expansion, process substitution,
//! subshells, brace groups and other compound commands, here-documents and here-strings,
//! parameter expansions with operators (`${x:-$(...)}`), and NUL characters.

use std::fmt;
use std::ops::Range;

use thiserror::Error;

/// One simple command: its words (assignments included) and redirections, and how the shell
/// joins it to the command after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimpleCommand {
    /// Words in order, after quote removal: leading `NAME=value` assignments, then the program
    /// and its arguments.
    pub words: Vec<Word>,
    /// Redirections, in order.
    pub redirects: Vec<Redirect>,
    /// The operator after this command; `None` for a last command with no terminator.
    pub connector: Option<Connector>,
    /// Byte range of the command in the input.
    pub span: Range<usize>,
}

/// The list operator that follows a simple command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connector {
    /// `&&`
    And,
    /// `||`
    Or,
    /// `|` or `|&`
    Pipe,
    /// `;` or a newline
    Sequence,
    /// `&`: the command runs in the background.
    Background,
}

/// A word after quote removal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// What the shell passes on, quotes and escapes removed; expansions are kept as written
    /// (`$HOME`), since their value is only known when the shell runs.
    pub value: String,
    /// Byte range in the input.
    pub span: Range<usize>,
    /// The first part of the word the shell would still expand, if any.
    pub dynamic: Option<Dynamic>,
    /// Bytes of `value` before the first quoted, escaped or expanded character.
    literal_prefix: usize,
}

/// A part of a word whose value the shell decides at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dynamic {
    /// `$name`, `${name}`, `$1`, `$@`, ...
    Parameter,
    /// A leading unquoted `~`.
    Tilde,
    /// Unquoted `*`, `?` or `[...]`.
    Glob,
    /// Unquoted `{` or `}` (bash brace expansion: `{rm,-rf,x}` is three words).
    Brace,
}

impl fmt::Display for Dynamic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dynamic::Parameter => "a parameter expansion",
            Dynamic::Tilde => "a tilde expansion",
            Dynamic::Glob => "a glob pattern",
            Dynamic::Brace => "a brace expansion",
        })
    }
}

impl Word {
    /// `Some((name, value))` when the shell treats this word as an assignment in front of a
    /// command: an unquoted valid name followed by an unquoted `=`.
    pub fn assignment(&self) -> Option<(&str, &str)> {
        let eq = self.value.find('=')?;
        let name = &self.value[..eq];
        (eq < self.literal_prefix && is_name(name)).then(|| (name, &self.value[eq + 1..]))
    }

    /// True when no character of the word was quoted, escaped or expanded.
    pub fn is_plain(&self) -> bool {
        self.is_unquoted() && self.dynamic.is_none()
    }

    /// True when no character was quoted or escaped (reserved words must be unquoted).
    fn is_unquoted(&self) -> bool {
        self.literal_prefix == self.value.len()
    }
}

/// A redirection such as `2>&1` or `>> log`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// The explicit file descriptor (`2` in `2>x`).
    pub fd: Option<u32>,
    /// The operator.
    pub op: RedirectOp,
    /// The file or descriptor redirected to.
    pub target: Word,
}

/// A redirection operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirectOp {
    /// `<`
    Read,
    /// `>`
    Write,
    /// `>>`
    Append,
    /// `>|`
    Clobber,
    /// `<>`
    ReadWrite,
    /// `<&`
    DupInput,
    /// `>&`
    DupOutput,
    /// `&>` (bash: stdout and stderr)
    WriteBoth,
    /// `&>>`
    AppendBoth,
}

impl Redirect {
    /// True when the redirection creates or writes a file (rather than duplicating a descriptor
    /// or reading).
    pub fn writes_file(&self) -> bool {
        match self.op {
            RedirectOp::Read | RedirectOp::DupInput => false,
            // bash reads `>&word` as `&>word` unless word is a descriptor number or `-`.
            RedirectOp::DupOutput => {
                let t = &self.target.value;
                !(t == "-" || (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit())))
            }
            _ => true,
        }
    }
}

/// Why a command line was refused, and where (a byte offset into it).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{kind} at byte {offset}")]
pub struct ParseError {
    /// What was found.
    pub kind: ParseErrorKind,
    /// Byte offset into the command line.
    pub offset: usize,
}

/// What the parser refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ParseErrorKind {
    #[error("command substitution `$(...)`")]
    CommandSubstitution,
    #[error("command substitution with backquotes")]
    Backquote,
    #[error("arithmetic expansion `$((...))` or `$[...]`")]
    ArithmeticExpansion,
    #[error("process substitution `<(...)` or `>(...)`")]
    ProcessSubstitution,
    #[error("subshell or parenthesis")]
    Subshell,
    #[error("brace group `{{ ...; }}`")]
    BraceGroup,
    #[error("compound command `{0}`")]
    CompoundCommand(String),
    #[error("here-document `<<`")]
    HereDocument,
    #[error("here-string `<<<`")]
    HereString,
    #[error("unterminated {0}")]
    Unterminated(&'static str),
    #[error(
        "parameter expansion with an operator (only `${{name}}` and `${{#name}}` are understood)"
    )]
    ParameterOperator,
    #[error("NUL character")]
    Nul,
    #[error("`{0}` with no command before it")]
    MissingCommand(&'static str),
    #[error("`{0}` with no command after it")]
    IncompleteCommand(&'static str),
    #[error("unsupported operator `{0}`")]
    UnsupportedOperator(&'static str),
    #[error("redirection without a target")]
    MissingRedirectTarget,
}

/// Words the shell reads as the start or end of a compound command when they come first.
const RESERVED: &[&str] = &[
    "!", "{", "}", "[[", "]]", "case", "coproc", "do", "done", "elif", "else", "esac", "fi", "for",
    "function", "if", "in", "select", "then", "until", "while",
];

/// Split `input` into simple commands, or say what could not be understood and where.
pub fn parse(input: &str) -> Result<Vec<SimpleCommand>, ParseError> {
    if let Some(offset) = input.find('\0') {
        return Err(ParseError {
            kind: ParseErrorKind::Nul,
            offset,
        });
    }
    let mut lexer = Lexer::new(input);
    let mut commands = Vec::new();
    let mut current = Builder::default();
    // After `&&`, `||` and `|` a command must follow (newlines in between are allowed).
    let mut awaiting: Option<(&'static str, usize)> = None;
    let mut io_number: Option<u32> = None;

    while let Some(token) = lexer.next_token()? {
        match token {
            Token::Word(word) => {
                if current.words.is_empty() && word.is_unquoted() {
                    reserved_word_check(&word)?;
                }
                current.add(word.span.clone());
                current.words.push(word);
                awaiting = None;
            }
            Token::IoNumber(fd) => io_number = Some(fd),
            Token::Redirect(op, at) => {
                let fd = io_number.take();
                let target = match lexer.next_token()? {
                    Some(Token::Word(w)) => w,
                    _ => return Err(error(ParseErrorKind::MissingRedirectTarget, at)),
                };
                current.add(at..target.span.end);
                current.redirects.push(Redirect { fd, op, target });
                awaiting = None;
            }
            // A blank line, or a line break after `&&`, `||` or `|`.
            Token::Newline if current.is_empty() => {}
            Token::Newline => commands.push(current.finish(Connector::Sequence)),
            Token::Operator(connector, text, at) => {
                if current.is_empty() {
                    return Err(error(ParseErrorKind::MissingCommand(text), at));
                }
                commands.push(current.finish(connector));
                if matches!(connector, Connector::And | Connector::Or | Connector::Pipe) {
                    awaiting = Some((text, at));
                }
            }
        }
    }
    if !current.is_empty() {
        commands.push(current.end());
    } else if let Some((text, at)) = awaiting {
        return Err(error(ParseErrorKind::IncompleteCommand(text), at));
    }
    Ok(commands)
}

fn reserved_word_check(word: &Word) -> Result<(), ParseError> {
    let v = word.value.as_str();
    if !RESERVED.contains(&v) {
        return Ok(());
    }
    let kind = if v == "{" || v == "}" {
        ParseErrorKind::BraceGroup
    } else {
        ParseErrorKind::CompoundCommand(v.to_owned())
    };
    Err(error(kind, word.span.start))
}

fn error(kind: ParseErrorKind, offset: usize) -> ParseError {
    ParseError { kind, offset }
}

/// A valid shell variable name.
pub(crate) fn is_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b == b'_' || b.is_ascii_alphabetic())
        && bytes.all(|b| b == b'_' || b.is_ascii_alphanumeric())
}

#[derive(Default)]
struct Builder {
    words: Vec<Word>,
    redirects: Vec<Redirect>,
    span: Option<Range<usize>>,
}

impl Builder {
    fn is_empty(&self) -> bool {
        self.words.is_empty() && self.redirects.is_empty()
    }

    fn add(&mut self, r: Range<usize>) {
        self.span = Some(match self.span.take() {
            Some(s) => s.start..r.end,
            None => r,
        });
    }

    fn finish(&mut self, connector: Connector) -> SimpleCommand {
        let mut cmd = std::mem::take(self).end();
        cmd.connector = Some(connector);
        cmd
    }

    fn end(self) -> SimpleCommand {
        SimpleCommand {
            words: self.words,
            redirects: self.redirects,
            connector: None,
            span: self.span.unwrap_or(0..0),
        }
    }
}

#[path = "shell/lexer.rs"]
mod lexer;
use lexer::{Lexer, Token};

#[cfg(test)]
#[path = "shell_tests.rs"]
mod tests;
