//! A cursor over one line of an exposition, and the lexical pieces of the format.

use super::ParseError;

/// A position in one line. Every position it stops at is on a character boundary:
/// it only ever steps over ASCII bytes, or to the end of the line.
pub(super) struct Cursor<'a> {
    line: &'a str,
    bytes: &'a [u8],
    pub(super) pos: usize,
    line_no: usize,
}

pub(super) fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b':'
}

fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b':'
}

impl<'a> Cursor<'a> {
    pub(super) fn new(line_no: usize, line: &'a str) -> Self {
        Cursor {
            line,
            bytes: line.as_bytes(),
            pos: 0,
            line_no,
        }
    }

    pub(super) fn error(&self, at: usize, message: impl Into<String>) -> ParseError {
        let column = self.line.get(..at).map_or(at, |p| p.chars().count()) + 1;
        ParseError {
            line: self.line_no,
            column,
            message: message.into(),
        }
    }

    pub(super) fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    pub(super) fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    pub(super) fn skip_blanks(&mut self) {
        while self.peek().is_some_and(is_blank) {
            self.pos += 1;
        }
    }

    /// The character at the cursor, for messages.
    pub(super) fn describe_here(&self) -> String {
        match self.line.get(self.pos..).and_then(|s| s.chars().next()) {
            Some(c) => format!("{c:?}"),
            None => "the end of the line".into(),
        }
    }

    /// A run of non-blank characters (possibly empty).
    pub(super) fn token(&mut self) -> (usize, &'a str) {
        let start = self.pos;
        while self.peek().is_some_and(|b| !is_blank(b)) {
            self.pos += 1;
        }
        (start, self.line.get(start..self.pos).unwrap_or_default())
    }

    /// `[a-zA-Z_:][a-zA-Z0-9_:]*`, or `[a-zA-Z_][a-zA-Z0-9_]*` for a label name.
    pub(super) fn name(&mut self, label: bool) -> Option<&'a str> {
        let ok_start = |b: u8| is_name_start(b) && !(label && b == b':');
        let ok_char = |b: u8| is_name_char(b) && !(label && b == b':');
        let start = self.pos;
        if !self.peek().is_some_and(ok_start) {
            return None;
        }
        while self.peek().is_some_and(ok_char) {
            self.pos += 1;
        }
        self.line.get(start..self.pos)
    }

    /// The rest of the line, without trailing blanks.
    pub(super) fn rest(&mut self) -> (usize, &'a str) {
        let start = self.pos;
        self.pos = self.bytes.len();
        let rest = self.line.get(start..).unwrap_or_default();
        (start, rest.trim_end_matches([' ', '\t']))
    }

    /// A label value after its opening quote (at `open`), up to and including the
    /// closing quote.
    pub(super) fn label_value(&mut self, open: usize) -> Result<String, ParseError> {
        let mut out = String::new();
        let mut seg = self.pos;
        loop {
            match self.peek() {
                None => return Err(self.error(open, "unterminated label value")),
                Some(b'"') => {
                    out.push_str(self.line.get(seg..self.pos).unwrap_or_default());
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    out.push_str(self.line.get(seg..self.pos).unwrap_or_default());
                    let at = self.pos;
                    self.pos += 1;
                    match self.peek() {
                        Some(b'\\') => out.push('\\'),
                        Some(b'"') => out.push('"'),
                        Some(b'n') => out.push('\n'),
                        None => return Err(self.error(open, "unterminated label value")),
                        Some(_) => {
                            let ch = self.line.get(self.pos..).and_then(|s| s.chars().next());
                            return Err(self.error(
                                at,
                                format!(
                                    "invalid escape \\{} in a label value (only \\\\, \\\" and \\n)",
                                    ch.unwrap_or('?')
                                ),
                            ));
                        }
                    }
                    self.pos += 1;
                    seg = self.pos;
                }
                Some(_) => self.pos += 1,
            }
        }
    }
}

/// Unescapes a HELP docstring: `\\` and `\n`.
pub(super) fn unescape_help(
    c: &Cursor<'_>,
    start: usize,
    text: &str,
) -> Result<String, ParseError> {
    if !text.contains('\\') {
        return Ok(text.to_owned());
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.char_indices();
    while let Some((i, ch)) = chars.next() {
        if ch != '\\' {
            out.push(ch);
            continue;
        }
        match chars.next() {
            Some((_, '\\')) => out.push('\\'),
            Some((_, 'n')) => out.push('\n'),
            Some((_, other)) => {
                return Err(c.error(
                    start + i,
                    format!("invalid escape \\{other} in HELP text (only \\\\ and \\n)"),
                ))
            }
            None => return Err(c.error(start + i, "HELP text ends with a lone backslash")),
        }
    }
    Ok(out)
}

pub(super) fn parse_value(text: &str) -> Option<f64> {
    // Go's ParseFloat accepts what Rust's does for decimal input, and both accept
    // `NaN`, `Inf`, `+Inf`, `-Inf` in any case.
    text.parse::<f64>().ok()
}
