//! Tokens of the condition language.

use super::{CmpOp, ExprError};

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Tok {
    Number(f64),
    Ident(String),
    Str(String),
    LParen,
    RParen,
    LBrace,
    RBrace,
    Comma,
    Assign,
    Plus,
    Minus,
    Star,
    Slash,
    Cmp(CmpOp),
    End,
}

impl Tok {
    pub(super) fn describe(&self) -> String {
        match self {
            Tok::Number(_) => "a number".into(),
            Tok::Ident(name) => format!("`{name}`"),
            Tok::Str(_) => "a string".into(),
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::LBrace => "'{'".into(),
            Tok::RBrace => "'}'".into(),
            Tok::Comma => "','".into(),
            Tok::Assign => "'='".into(),
            Tok::Plus => "'+'".into(),
            Tok::Minus => "'-'".into(),
            Tok::Star => "'*'".into(),
            Tok::Slash => "'/'".into(),
            Tok::Cmp(op) => format!("'{op}'"),
            Tok::End => "the end".into(),
        }
    }
}

/// A token and its byte range in the source.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Token {
    pub tok: Tok,
    pub start: usize,
    pub end: usize,
}

pub(super) fn column(src: &str, at: usize) -> usize {
    src.get(..at).map_or(at, |p| p.chars().count()) + 1
}

pub(super) fn error(src: &str, at: usize, message: impl Into<String>) -> ExprError {
    ExprError {
        column: column(src, at),
        message: message.into(),
    }
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b':'
}

fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b':'
}

/// Splits the source into tokens, ending with [`Tok::End`].
pub(super) fn lex(src: &str) -> Result<Vec<Token>, ExprError> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let two = |next: u8| b.get(i + 1) == Some(&next);
        let (tok, len) = match c {
            b'(' => (Tok::LParen, 1),
            b')' => (Tok::RParen, 1),
            b'{' => (Tok::LBrace, 1),
            b'}' => (Tok::RBrace, 1),
            b',' => (Tok::Comma, 1),
            b'+' => (Tok::Plus, 1),
            b'-' => (Tok::Minus, 1),
            b'*' => (Tok::Star, 1),
            b'/' => (Tok::Slash, 1),
            b'<' if two(b'=') => (Tok::Cmp(CmpOp::Le), 2),
            b'<' => (Tok::Cmp(CmpOp::Lt), 1),
            b'>' if two(b'=') => (Tok::Cmp(CmpOp::Ge), 2),
            b'>' => (Tok::Cmp(CmpOp::Gt), 1),
            b'=' if two(b'=') => (Tok::Cmp(CmpOp::Eq), 2),
            b'=' => (Tok::Assign, 1),
            b'!' if two(b'=') => (Tok::Cmp(CmpOp::Ne), 2),
            b'"' => {
                let (s, end) = string(src, i)?;
                out.push(Token {
                    tok: Tok::Str(s),
                    start,
                    end,
                });
                i = end;
                continue;
            }
            c if c.is_ascii_digit()
                || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) =>
            {
                let end = number_end(b, i);
                let text = src.get(i..end).unwrap_or_default();
                let v = text
                    .parse::<f64>()
                    .map_err(|_| error(src, i, format!("invalid number {text}")))?;
                (Tok::Number(v), end - i)
            }
            c if is_ident_start(c) => {
                let mut end = i + 1;
                while b.get(end).copied().is_some_and(is_ident_char) {
                    end += 1;
                }
                let name = src.get(i..end).unwrap_or_default().to_owned();
                (Tok::Ident(name), end - i)
            }
            _ => {
                let ch = src.get(i..).and_then(|s| s.chars().next()).unwrap_or('?');
                let hint = if ch == '\'' {
                    " (label values take double quotes)"
                } else {
                    ""
                };
                return Err(error(src, i, format!("unexpected character {ch:?}{hint}")));
            }
        };
        i += len;
        out.push(Token { tok, start, end: i });
    }
    out.push(Token {
        tok: Tok::End,
        start: b.len(),
        end: b.len(),
    });
    Ok(out)
}

/// `123`, `1.5`, `.5`, `1e3`, `2.5E-4`; a following letter is an error (`5x`).
fn number_end(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(b.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        if b.get(j).is_some_and(u8::is_ascii_digit) {
            i = j;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        }
    }
    // Swallow trailing identifier characters so that `5x` is reported as one bad number.
    while b.get(i).copied().is_some_and(is_ident_char) {
        i += 1;
    }
    i
}

/// A double-quoted string starting at `open`; returns its value and the end offset.
fn string(src: &str, open: usize) -> Result<(String, usize), ExprError> {
    let b = src.as_bytes();
    let mut out = String::new();
    let mut i = open + 1;
    let mut seg = i;
    loop {
        match b.get(i) {
            None => return Err(error(src, open, "unterminated string")),
            Some(b'"') => {
                out.push_str(src.get(seg..i).unwrap_or_default());
                return Ok((out, i + 1));
            }
            Some(b'\\') => {
                out.push_str(src.get(seg..i).unwrap_or_default());
                match b.get(i + 1) {
                    Some(b'\\') => out.push('\\'),
                    Some(b'"') => out.push('"'),
                    Some(b'n') => out.push('\n'),
                    None => return Err(error(src, open, "unterminated string")),
                    Some(_) => {
                        let ch = src
                            .get(i + 1..)
                            .and_then(|s| s.chars().next())
                            .unwrap_or('?');
                        return Err(error(
                            src,
                            i,
                            format!("invalid escape \\{ch} (only \\\\, \\\" and \\n)"),
                        ));
                    }
                }
                i += 2;
                seg = i;
            }
            Some(_) => i += 1,
        }
    }
}
