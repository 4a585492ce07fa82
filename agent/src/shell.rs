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
    let mut lexer = Lexer { src: input, pos: 0 };
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

enum Token {
    Word(Word),
    IoNumber(u32),
    Redirect(RedirectOp, usize),
    Operator(Connector, &'static str, usize),
    Newline,
}

/// Operators, longest first so that `&&` is not read as `&` `&`.
const OPERATORS: &[&str] = &[
    "&>>", "<<<", "<<-", ";;&", "&&", "||", "|&", ";;", ";&", "<<", "<>", "<&", "<(", ">>", ">|",
    ">&", ">(", "&>", "|", ";", "&", "<", ">", "(", ")",
];

fn is_meta(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t' | '\n' | '&' | '|' | ';' | '<' | '>' | '(' | ')'
    )
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

/// Accumulates one word's bytes (ANSI-C escapes can produce any byte).
#[derive(Default)]
struct WordBuf {
    bytes: Vec<u8>,
    literal_prefix: Option<usize>,
    dynamic: Option<Dynamic>,
    open_bracket: bool,
}

impl WordBuf {
    fn literal(&mut self, c: char) {
        let mut b = [0; 4];
        self.bytes
            .extend_from_slice(c.encode_utf8(&mut b).as_bytes());
    }

    /// Marks the end of the unquoted prefix, which decides whether `NAME=` is an assignment.
    fn mark(&mut self) {
        self.literal_prefix.get_or_insert(self.bytes.len());
    }

    fn quoted(&mut self, c: char) {
        self.mark();
        self.literal(c);
    }

    /// A parameter expansion, kept as written.
    fn parameter(&mut self, text: &str) {
        self.dynamic(Dynamic::Parameter);
        self.bytes.extend_from_slice(text.as_bytes());
    }

    fn dynamic(&mut self, d: Dynamic) {
        // Glob, brace and tilde characters stay literal in the value (and are never part of a
        // name); an expansion's value is unknown, so it ends the literal prefix.
        if d == Dynamic::Parameter {
            self.mark();
        }
        self.dynamic.get_or_insert(d);
    }
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn peek_second(&self) -> Option<char> {
        self.src[self.pos..].chars().nth(1)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn next_token(&mut self) -> Result<Option<Token>, ParseError> {
        loop {
            match self.peek() {
                None => return Ok(None),
                Some(' ' | '\t') => {
                    self.bump();
                }
                Some('\\') if self.peek_second() == Some('\n') => self.pos += 2,
                Some('#') => {
                    let rest = &self.src[self.pos..];
                    self.pos += rest.find('\n').unwrap_or(rest.len());
                }
                Some(_) => break,
            }
        }
        let start = self.pos;
        match self.peek() {
            Some('\n') => {
                self.bump();
                Ok(Some(Token::Newline))
            }
            Some(c) if is_meta(c) => self.operator(start).map(Some),
            _ => {
                let word = self.word()?;
                let fd_digits = word.is_plain() && word.value.bytes().all(|b| b.is_ascii_digit());
                if fd_digits
                    && matches!(self.peek(), Some('<' | '>'))
                    && let Ok(fd) = word.value.parse()
                {
                    return Ok(Some(Token::IoNumber(fd)));
                }
                Ok(Some(Token::Word(word)))
            }
        }
    }

    fn operator(&mut self, start: usize) -> Result<Token, ParseError> {
        let rest = &self.src[start..];
        let Some(op) = OPERATORS.iter().copied().find(|op| rest.starts_with(op)) else {
            return Err(error(ParseErrorKind::Subshell, start)); // unreachable: every meta char is an operator
        };
        self.pos += op.len();
        let redirect = |r| Ok(Token::Redirect(r, start));
        let list = |c| Ok(Token::Operator(c, op, start));
        match op {
            "&&" => list(Connector::And),
            "||" => list(Connector::Or),
            "|" | "|&" => list(Connector::Pipe),
            ";" => list(Connector::Sequence),
            "&" => list(Connector::Background),
            "<" => redirect(RedirectOp::Read),
            ">" => redirect(RedirectOp::Write),
            ">>" => redirect(RedirectOp::Append),
            ">|" => redirect(RedirectOp::Clobber),
            "<>" => redirect(RedirectOp::ReadWrite),
            "<&" => redirect(RedirectOp::DupInput),
            ">&" => redirect(RedirectOp::DupOutput),
            "&>" => redirect(RedirectOp::WriteBoth),
            "&>>" => redirect(RedirectOp::AppendBoth),
            "<<" | "<<-" => Err(error(ParseErrorKind::HereDocument, start)),
            "<<<" => Err(error(ParseErrorKind::HereString, start)),
            "<(" | ">(" => Err(error(ParseErrorKind::ProcessSubstitution, start)),
            "(" | ")" => Err(error(ParseErrorKind::Subshell, start)),
            other => Err(error(ParseErrorKind::UnsupportedOperator(other), start)),
        }
    }

    fn word(&mut self) -> Result<Word, ParseError> {
        let start = self.pos;
        let mut w = WordBuf::default();
        while let Some(c) = self.peek() {
            if is_meta(c) {
                break;
            }
            match c {
                '\\' => {
                    self.bump();
                    match self.bump() {
                        Some('\n') => {} // line continuation: both characters vanish
                        Some(c) => w.quoted(c),
                        None => w.literal('\\'),
                    }
                }
                '\'' => self.single_quoted(&mut w)?,
                '"' => self.double_quoted(&mut w)?,
                '`' => return Err(error(ParseErrorKind::Backquote, self.pos)),
                '$' => self.dollar(&mut w, false)?,
                _ => {
                    self.bump();
                    match c {
                        '*' | '?' => w.dynamic(Dynamic::Glob),
                        '[' => w.open_bracket = true,
                        ']' if w.open_bracket => w.dynamic(Dynamic::Glob),
                        '{' | '}' => w.dynamic(Dynamic::Brace),
                        '~' if w.bytes.is_empty() && w.literal_prefix.is_none() => {
                            w.dynamic(Dynamic::Tilde)
                        }
                        _ => {}
                    }
                    w.literal(c);
                }
            }
        }
        let literal_prefix = w.literal_prefix.unwrap_or(w.bytes.len());
        Ok(Word {
            // Invalid UTF-8 can only come from `$'\xNN'`; U+FFFD keeps it from matching a name.
            value: String::from_utf8_lossy(&w.bytes).into_owned(),
            span: start..self.pos,
            dynamic: w.dynamic,
            literal_prefix,
        })
    }

    fn single_quoted(&mut self, w: &mut WordBuf) -> Result<(), ParseError> {
        let start = self.pos;
        self.bump();
        w.mark();
        loop {
            match self.bump() {
                None => return Err(error(ParseErrorKind::Unterminated("single quote"), start)),
                Some('\'') => return Ok(()),
                Some(c) => w.literal(c),
            }
        }
    }

    fn double_quoted(&mut self, w: &mut WordBuf) -> Result<(), ParseError> {
        let start = self.pos;
        self.bump();
        w.mark();
        loop {
            match self.peek() {
                None => return Err(error(ParseErrorKind::Unterminated("double quote"), start)),
                Some('"') => {
                    self.bump();
                    return Ok(());
                }
                Some('`') => return Err(error(ParseErrorKind::Backquote, self.pos)),
                Some('$') => self.dollar(w, true)?,
                Some('\\') => {
                    self.bump();
                    // Inside double quotes a backslash only escapes these.
                    match self.peek() {
                        Some('\n') => {
                            self.bump();
                        }
                        Some(c @ ('$' | '`' | '"' | '\\')) => {
                            self.bump();
                            w.literal(c);
                        }
                        _ => w.literal('\\'),
                    }
                }
                Some(c) => {
                    self.bump();
                    w.literal(c);
                }
            }
        }
    }

    fn dollar(&mut self, w: &mut WordBuf, in_double_quotes: bool) -> Result<(), ParseError> {
        let start = self.pos;
        self.bump();
        match self.peek() {
            Some('(') if self.peek_second() == Some('(') => {
                Err(error(ParseErrorKind::ArithmeticExpansion, start))
            }
            Some('(') => Err(error(ParseErrorKind::CommandSubstitution, start)),
            Some('[') => Err(error(ParseErrorKind::ArithmeticExpansion, start)),
            Some('{') => {
                let rest = &self.src[self.pos + 1..];
                let Some(end) = rest.find('}') else {
                    return Err(error(ParseErrorKind::Unterminated("`${`"), start));
                };
                let inner = &rest[..end];
                let name = inner
                    .strip_prefix('#')
                    .filter(|n| !n.is_empty())
                    .unwrap_or(inner);
                if !(is_name(name) || is_special_parameter(name)) {
                    return Err(error(ParseErrorKind::ParameterOperator, start));
                }
                self.pos += 1 + end + 1;
                w.parameter(&self.src[start..self.pos]);
                Ok(())
            }
            Some('\'') if !in_double_quotes => self.ansi_c(w, start),
            Some('"') if !in_double_quotes => self.double_quoted(w), // bash `$"..."` (translated)
            Some(c) if c == '_' || c.is_ascii_alphabetic() => {
                while matches!(self.peek(), Some(c) if c == '_' || c.is_ascii_alphanumeric()) {
                    self.bump();
                }
                w.parameter(&self.src[start..self.pos]);
                Ok(())
            }
            Some(c) if c.is_ascii_digit() || "@*#?-$!".contains(c) => {
                self.bump();
                w.parameter(&self.src[start..self.pos]);
                Ok(())
            }
            _ => {
                w.literal('$');
                Ok(())
            }
        }
    }

    /// `$'...'`: bash's ANSI-C quoting.
    fn ansi_c(&mut self, w: &mut WordBuf, start: usize) -> Result<(), ParseError> {
        self.bump();
        w.mark();
        let unterminated = || error(ParseErrorKind::Unterminated("`$'` string"), start);
        loop {
            let c = self.bump().ok_or_else(unterminated)?;
            if c == '\'' {
                return Ok(());
            }
            if c != '\\' {
                w.literal(c);
                continue;
            }
            let at = self.pos - 1;
            let e = self.bump().ok_or_else(unterminated)?;
            let byte = |b: u8| Some(vec![b]);
            let produced: Option<Vec<u8>> = match e {
                'a' => byte(7),
                'b' => byte(8),
                'e' | 'E' => byte(0x1b),
                'f' => byte(0x0c),
                'n' => byte(b'\n'),
                'r' => byte(b'\r'),
                't' => byte(b'\t'),
                'v' => byte(0x0b),
                '\\' | '\'' | '"' | '?' => byte(e as u8),
                '0'..='7' => {
                    let v = self.digits(8, 2, e.to_digit(8).unwrap_or(0));
                    byte((v & 0xff) as u8)
                }
                'x' => self.hex(2).map(|v| vec![(v & 0xff) as u8]),
                'u' | 'U' => self.hex(if e == 'u' { 4 } else { 8 }).map(|v| {
                    let ch = char::from_u32(v).unwrap_or(char::REPLACEMENT_CHARACTER);
                    ch.to_string().into_bytes()
                }),
                'c' => {
                    let x = self.bump().ok_or_else(unterminated)?;
                    byte((x as u32 & 0x1f) as u8)
                }
                _ => None,
            };
            match produced {
                // bash cuts the string at a NUL; refuse rather than mirror that.
                Some(b) if b.contains(&0) => return Err(error(ParseErrorKind::Nul, at)),
                Some(b) => w.bytes.extend_from_slice(&b),
                None => {
                    // Unknown escape, or `\x` with no digits: bash keeps it as written.
                    w.literal('\\');
                    w.literal(e);
                }
            }
        }
    }

    /// Up to `max` more digits in `radix`, continuing from `first`.
    fn digits(&mut self, radix: u32, max: usize, first: u32) -> u32 {
        let mut v = first;
        for _ in 0..max {
            match self.peek().and_then(|c| c.to_digit(radix)) {
                Some(d) => {
                    self.bump();
                    v = v.saturating_mul(radix).saturating_add(d);
                }
                None => break,
            }
        }
        v
    }

    /// One to `max` hex digits, or `None` when there is none.
    fn hex(&mut self, max: usize) -> Option<u32> {
        let first = self.peek()?.to_digit(16)?;
        self.bump();
        Some(self.digits(16, max - 1, first))
    }
}

fn is_special_parameter(s: &str) -> bool {
    (s.len() == 1 && "@*#?-$!".contains(s))
        || (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
#[path = "shell_tests.rs"]
mod tests;
