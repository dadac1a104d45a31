//! Our own parser for the Prometheus text exposition format, version 0.0.4
//! (what an app serves on `/api/metrics`), and a few queries over the result.
//!
//! What is accepted:
//! - `# HELP name text` (escapes `\\` and `\n`), `# TYPE name counter|gauge|histogram|summary|untyped`;
//!   any other `#` line is a comment and ignored;
//! - samples `name{label="value",...} value [timestamp_ms]`, label values with the escapes
//!   `\\`, `\"` and `\n`, an optional trailing comma in the label set, blanks and tabs
//!   between tokens and around label names, values and separators;
//! - values as Go's `ParseFloat` writes them, including `NaN`, `+Inf`, `-Inf`, `Inf` and
//!   exponents; timestamps as signed 64-bit milliseconds;
//! - blank lines, `\r\n` line endings, a missing final line feed.
//!
//! Samples are grouped into [`Family`]s: a histogram's `_bucket` (which must carry `le`),
//! `_sum` and `_count` samples and a summary's `{quantile=...}`, `_sum` and `_count`
//! samples belong to the family declared by `# TYPE`. A sample whose name has no
//! declared family gets an untyped family of its own name. Samples of one family may
//! appear in several groups; they are merged in order.
//!
//! Errors carry a 1-based line and column (in characters). The parser never panics,
//! whatever the input, including invalid UTF-8 (reported with the line it is on).

mod cursor;
mod parse;
mod query;
mod render;
#[cfg(test)]
mod tests;

use std::fmt;

pub use render::format_value;

/// Parses a whole exposition. See the module documentation for what is accepted.
pub fn parse(input: &[u8]) -> Result<Exposition, ParseError> {
    parse::parse(input)
}

/// The declared type of a metric family (`# TYPE`); `Untyped` when none was declared.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    Summary,
    #[default]
    Untyped,
}

impl MetricType {
    pub const ALL: [MetricType; 5] = [
        MetricType::Counter,
        MetricType::Gauge,
        MetricType::Histogram,
        MetricType::Summary,
        MetricType::Untyped,
    ];

    /// The word used on a `# TYPE` line.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::Summary => "summary",
            MetricType::Untyped => "untyped",
        }
    }

    /// Parses the word of a `# TYPE` line (exact, lower case, as the format requires).
    pub fn parse(s: &str) -> Option<MetricType> {
        MetricType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for MetricType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One sample line.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The name as written, e.g. `http_request_duration_seconds_bucket`.
    pub name: String,
    /// In the order written.
    pub labels: Vec<(String, String)>,
    pub value: f64,
    pub timestamp_ms: Option<i64>,
}

impl Sample {
    /// The value of one label, if present.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the sample carries every `(label, value)` pair of `filter`
    /// (other labels are allowed; an empty filter matches everything).
    pub fn matches(&self, filter: &[(&str, &str)]) -> bool {
        filter.iter().all(|(k, v)| self.label(k) == Some(*v))
    }
}

/// A metric family: every sample that belongs to one `# TYPE`/`# HELP` name.
#[derive(Clone, Debug, PartialEq)]
pub struct Family {
    pub name: String,
    pub help: Option<String>,
    pub kind: MetricType,
    pub samples: Vec<Sample>,
}

/// A parsed exposition: families in the order they first appeared.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Exposition {
    pub families: Vec<Family>,
}

/// An exposition in a form that compares exactly: every value by its bits,
/// every NaN as one NaN (for round-trip tests and the fuzz target).
pub type Canonical = Vec<(
    String,
    Option<String>,
    MetricType,
    Vec<(String, Vec<(String, String)>, u64, Option<i64>)>,
)>;

impl Exposition {
    /// See [`Canonical`].
    pub fn canonical(&self) -> Canonical {
        let bits = |v: f64| {
            if v.is_nan() {
                f64::NAN.to_bits()
            } else {
                v.to_bits()
            }
        };
        self.families
            .iter()
            .map(|f| {
                let samples = f
                    .samples
                    .iter()
                    .map(|s| {
                        (
                            s.name.clone(),
                            s.labels.clone(),
                            bits(s.value),
                            s.timestamp_ms,
                        )
                    })
                    .collect();
                (f.name.clone(), f.help.clone(), f.kind, samples)
            })
            .collect()
    }
}

/// Why an exposition could not be parsed, and where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct ParseError {
    /// 1-based.
    pub line: usize,
    /// 1-based, counted in characters (in bytes on a line that is not valid UTF-8).
    pub column: usize,
    pub message: String,
}
