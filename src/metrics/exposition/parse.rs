//! The line parser and the grouping of samples into families.

use std::collections::HashMap;

use super::cursor::{is_blank, parse_value, unescape_help, Cursor};
use super::{Exposition, Family, MetricType, ParseError, Sample};

pub(super) fn parse(input: &[u8]) -> Result<Exposition, ParseError> {
    let mut builder = Builder::default();
    for (idx, raw) in input.split(|&b| b == b'\n').enumerate() {
        let line_no = idx + 1;
        // `\r\n` endings, and trailing blanks, which the format ignores.
        let end = raw
            .iter()
            .rposition(|&b| !matches!(b, b'\r' | b' ' | b'\t'))
            .map_or(0, |i| i + 1);
        let raw = &raw[..end];
        let line = std::str::from_utf8(raw).map_err(|e| {
            let valid = raw.get(..e.valid_up_to()).unwrap_or_default();
            let column = std::str::from_utf8(valid).map_or(e.valid_up_to(), |s| s.chars().count());
            ParseError {
                line: line_no,
                column: column + 1,
                message: "invalid UTF-8".into(),
            }
        })?;
        builder.line(line_no, line)?;
    }
    Ok(Exposition {
        families: builder.families,
    })
}

#[derive(Default)]
struct Builder {
    families: Vec<Family>,
    index: HashMap<String, usize>,
    /// Per family: a `# TYPE` line was seen.
    typed: Vec<bool>,
}

impl Builder {
    fn line(&mut self, line_no: usize, line: &str) -> Result<(), ParseError> {
        let mut c = Cursor::new(line_no, line);
        c.skip_blanks();
        match c.peek() {
            None => Ok(()),
            Some(b'#') => {
                c.pos += 1;
                self.comment(&mut c)
            }
            Some(_) => self.sample(&mut c),
        }
    }

    fn family_index(&mut self, name: &str) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = self.families.len();
        self.families.push(Family {
            name: name.to_owned(),
            help: None,
            kind: MetricType::Untyped,
            samples: Vec::new(),
        });
        self.typed.push(false);
        self.index.insert(name.to_owned(), i);
        i
    }

    fn comment(&mut self, c: &mut Cursor<'_>) -> Result<(), ParseError> {
        c.skip_blanks();
        let (_, keyword) = c.token();
        if keyword != "HELP" && keyword != "TYPE" {
            return Ok(());
        }
        c.skip_blanks();
        let name_at = c.pos;
        let name = c.name(false).ok_or_else(|| {
            c.error(
                name_at,
                format!(
                    "expected a metric name after {keyword}, found {}",
                    c.describe_here()
                ),
            )
        })?;
        if !c.at_end() && !c.peek().is_some_and(is_blank) {
            return Err(c.error(
                c.pos,
                format!("unexpected {} in metric name", c.describe_here()),
            ));
        }
        c.skip_blanks();
        if keyword == "HELP" {
            let (start, text) = c.rest();
            let help = unescape_help(c, start, text)?;
            let i = self.family_index(name);
            let family = &mut self.families[i];
            if family.help.is_some() {
                return Err(c.error(name_at, format!("second HELP line for {name}")));
            }
            family.help = Some(help);
            return Ok(());
        }
        let (type_at, word) = c.token();
        let kind = MetricType::parse(word).ok_or_else(|| {
            if word.is_empty() {
                c.error(type_at, format!("TYPE line for {name} has no type"))
            } else {
                c.error(
                    type_at,
                    format!(
                        "unknown type {word:?} (counter, gauge, histogram, summary or untyped)"
                    ),
                )
            }
        })?;
        c.skip_blanks();
        if !c.at_end() {
            return Err(c.error(c.pos, "unexpected text after the type"));
        }
        let i = self.family_index(name);
        if self.typed[i] {
            return Err(c.error(name_at, format!("second TYPE line for {name}")));
        }
        if !self.families[i].samples.is_empty() {
            return Err(c.error(name_at, format!("TYPE line for {name} after its samples")));
        }
        self.typed[i] = true;
        self.families[i].kind = kind;
        Ok(())
    }

    fn sample(&mut self, c: &mut Cursor<'_>) -> Result<(), ParseError> {
        let name_at = c.pos;
        let name = c.name(false).ok_or_else(|| {
            c.error(
                name_at,
                format!("expected a metric name, found {}", c.describe_here()),
            )
        })?;
        let mut labels: Vec<(String, String)> = Vec::new();
        c.skip_blanks();
        if c.peek() == Some(b'{') {
            c.pos += 1;
            loop {
                c.skip_blanks();
                if c.peek() == Some(b'}') {
                    c.pos += 1;
                    break;
                }
                let label_at = c.pos;
                let label = c.name(true).ok_or_else(|| {
                    c.error(
                        label_at,
                        format!("expected a label name or '}}', found {}", c.describe_here()),
                    )
                })?;
                c.skip_blanks();
                if c.peek() != Some(b'=') {
                    return Err(c.error(
                        c.pos,
                        format!(
                            "expected '=' after label {label}, found {}",
                            c.describe_here()
                        ),
                    ));
                }
                c.pos += 1;
                c.skip_blanks();
                if c.peek() != Some(b'"') {
                    return Err(c.error(
                        c.pos,
                        format!(
                            "expected '\"' to open the value of label {label}, found {}",
                            c.describe_here()
                        ),
                    ));
                }
                let open = c.pos;
                c.pos += 1;
                let value = c.label_value(open)?;
                if labels.iter().any(|(k, _)| k == label) {
                    return Err(c.error(label_at, format!("label {label} appears twice")));
                }
                labels.push((label.to_owned(), value));
                c.skip_blanks();
                match c.peek() {
                    Some(b',') => c.pos += 1,
                    Some(b'}') => {
                        c.pos += 1;
                        break;
                    }
                    _ => {
                        return Err(c.error(
                            c.pos,
                            format!(
                                "expected ',' or '}}' after the value of label {label}, found {}",
                                c.describe_here()
                            ),
                        ))
                    }
                }
            }
            c.skip_blanks();
        } else if !c.at_end() && c.pos == name_at + name.len() {
            return Err(c.error(
                c.pos,
                format!("unexpected {} in metric name", c.describe_here()),
            ));
        }
        let (value_at, value_text) = c.token();
        if value_text.is_empty() {
            return Err(c.error(value_at, format!("expected a value for {name}")));
        }
        let value = parse_value(value_text)
            .ok_or_else(|| c.error(value_at, format!("invalid value {value_text:?}")))?;
        c.skip_blanks();
        let mut timestamp_ms = None;
        if !c.at_end() {
            let (ts_at, ts_text) = c.token();
            let ts = ts_text.parse::<i64>().map_err(|_| {
                c.error(
                    ts_at,
                    format!("invalid timestamp {ts_text:?} (integer milliseconds expected)"),
                )
            })?;
            timestamp_ms = Some(ts);
            c.skip_blanks();
            if !c.at_end() {
                return Err(c.error(c.pos, "unexpected text after the timestamp"));
            }
        }
        let sample = Sample {
            name: name.to_owned(),
            labels,
            value,
            timestamp_ms,
        };
        let i = self.resolve(c, name_at, &sample)?;
        self.families[i].samples.push(sample);
        Ok(())
    }

    /// The family a sample belongs to, checking the histogram and summary rules.
    fn resolve(
        &mut self,
        c: &Cursor<'_>,
        name_at: usize,
        sample: &Sample,
    ) -> Result<usize, ParseError> {
        let name = sample.name.as_str();
        if let Some(&i) = self.index.get(name) {
            match self.families[i].kind {
                MetricType::Histogram => {
                    return Err(c.error(
                        name_at,
                        format!("{name} is a histogram: its samples are {name}_bucket, {name}_sum and {name}_count"),
                    ))
                }
                MetricType::Summary => {
                    self.check_bound(c, name_at, sample, "quantile")?;
                }
                _ => {}
            }
            return Ok(i);
        }
        for suffix in ["_bucket", "_sum", "_count"] {
            let Some(base) = name.strip_suffix(suffix) else {
                continue;
            };
            let Some(&i) = self.index.get(base) else {
                continue;
            };
            match (self.families[i].kind, suffix) {
                (MetricType::Histogram, "_bucket") => {
                    self.check_bound(c, name_at, sample, "le")?;
                    return Ok(i);
                }
                (MetricType::Histogram | MetricType::Summary, "_sum" | "_count") => return Ok(i),
                _ => {}
            }
        }
        Ok(self.family_index(name))
    }

    fn check_bound(
        &self,
        c: &Cursor<'_>,
        name_at: usize,
        sample: &Sample,
        label: &str,
    ) -> Result<(), ParseError> {
        match sample.label(label) {
            None => Err(c.error(name_at, format!("{} needs a {label} label", sample.name))),
            Some(v) if parse_value(v).is_none() => Err(c.error(
                name_at,
                format!("{} has {label}={v:?}, which is not a number", sample.name),
            )),
            Some(_) => Ok(()),
        }
    }
}
