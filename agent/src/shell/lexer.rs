//! The tokenizer behind [`super::parse`]: words (with their quoting, escapes and expansions
//! resolved as the shell would), redirection and list operators, and newlines, each with its
//! byte offset; anything that could hide a command is an error here.

use super::{Connector, Dynamic, ParseError, ParseErrorKind, RedirectOp, Word, error, is_name};

pub(super) enum Token {
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

pub(super) struct Lexer<'a> {
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

impl<'a> Lexer<'a> {
    pub(super) fn new(src: &'a str) -> Lexer<'a> {
        Lexer { src, pos: 0 }
    }

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

    pub(super) fn next_token(&mut self) -> Result<Option<Token>, ParseError> {
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
