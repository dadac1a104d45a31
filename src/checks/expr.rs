//! Conditions over a Prometheus exposition, for `metrics-endpoint` checks:
//!
//! ```text
//! memory_analysis_failure_total <= 2
//! cache_hits_total / (cache_hits_total + cache_misses_total) > 0.8
//! http_requests_total{code="500"} / http_requests_total < 0.01
//! ```
//!
//! A condition is `expression comparison expression`, with the comparisons
//! `<`, `<=`, `>`, `>=`, `==`, `!=`. Expressions have numbers (`0.8`, `1e3`), metric
//! selectors, `+ - * /`, unary minus and parentheses, with the usual precedence.
//!
//! A selector is a sample name with optional label matchers, `name{label="value",...}`
//! (label values take the escapes `\\`, `\"`, `\n`). Its value is the **sum of every
//! sample with that name that carries all the given labels**; without labels, the sum
//! over all its samples (e.g. every `code` of `http_requests_total`). A selector that
//! matches no sample is an error ("metric X not found"), never 0; so is a division
//! by zero. A comparison with NaN on either side fails.

mod lex;
mod parse;

use std::fmt;
use std::str::FromStr;

use crate::metrics::exposition::Exposition;

pub use parse::parse_condition;

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl CmpOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
        }
    }

    /// `a op b`; false whenever either side is NaN.
    pub fn holds(self, a: f64, b: f64) -> bool {
        if a.is_nan() || b.is_nan() {
            return false;
        }
        match self {
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
        }
    }
}

impl fmt::Display for CmpOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An arithmetic operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
}

/// A parsed expression; `span` is its byte range in the condition's source.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub node: Node,
    pub span: (usize, usize),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    Number(f64),
    Selector {
        name: String,
        labels: Vec<(String, String)>,
    },
    Neg(Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
}

/// A parsed condition: `lhs op rhs`.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    pub source: String,
    pub lhs: Expr,
    pub op: CmpOp,
    pub rhs: Expr,
}

/// A syntax error, with the 1-based column (in characters) where it was found.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct ExprError {
    pub column: usize,
    pub message: String,
}

/// Why a condition could not be evaluated against an exposition.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// No sample matches the selector (written as in the condition).
    #[error("metric {0} not found")]
    MetricNotFound(String),
    /// `expr` (as written) divided `numerator` by zero.
    #[error("division by zero: {expr} = {} / 0", display_number(*.numerator))]
    DivisionByZero { expr: String, numerator: f64 },
}

/// The result of evaluating a condition: what was measured against what.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evaluation {
    /// The left-hand side's value.
    pub measured: f64,
    pub op: CmpOp,
    /// The right-hand side's value.
    pub threshold: f64,
    pub passed: bool,
}

impl Evaluation {
    /// The measured value as shown: `0.7333`.
    pub fn measured_text(&self) -> String {
        display_number(self.measured)
    }

    /// What was expected: `> 0.8`.
    pub fn expected_text(&self) -> String {
        format!("{} {}", self.op, display_number(self.threshold))
    }
}

impl fmt::Display for Evaluation {
    /// `measured 0.7333 vs > 0.8`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "measured {} vs {}",
            self.measured_text(),
            self.expected_text()
        )
    }
}

/// A number for people: integers as integers, others with about four significant
/// digits (at least two decimals), very large or small ones in exponent form.
pub fn display_number(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let a = v.abs();
    if v.fract() == 0.0 && a < 1e15 {
        return format!("{v:.0}");
    }
    if !(1e-6..1e15).contains(&a) {
        return format!("{v:.3e}");
    }
    let decimals = (3 - a.log10().floor() as i32).clamp(2, 9) as usize;
    let s = format!("{v:.decimals$}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_owned()
}

impl FromStr for Condition {
    type Err = ExprError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_condition(s)
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl Condition {
    /// The source text of a sub-expression.
    pub fn text(&self, e: &Expr) -> &str {
        self.source
            .get(e.span.0..e.span.1)
            .unwrap_or_default()
            .trim()
    }

    /// Evaluates both sides against `exposition` and compares them.
    pub fn evaluate(&self, exposition: &Exposition) -> Result<Evaluation, EvalError> {
        let measured = self.eval(&self.lhs, exposition)?;
        let threshold = self.eval(&self.rhs, exposition)?;
        Ok(Evaluation {
            measured,
            op: self.op,
            threshold,
            passed: self.op.holds(measured, threshold),
        })
    }

    /// Every sample name the condition reads, in order, without repeats.
    pub fn metric_names(&self) -> Vec<&str> {
        let mut out = Vec::new();
        let mut stack = vec![&self.lhs, &self.rhs];
        while let Some(e) = stack.pop() {
            match &e.node {
                Node::Number(_) => {}
                Node::Selector { name, .. } => {
                    if !out.contains(&name.as_str()) {
                        out.push(name.as_str());
                    }
                }
                Node::Neg(inner) => stack.push(inner),
                Node::Binary(_, l, r) => {
                    stack.push(r);
                    stack.push(l);
                }
            }
        }
        out
    }

    fn eval(&self, e: &Expr, x: &Exposition) -> Result<f64, EvalError> {
        match &e.node {
            Node::Number(v) => Ok(*v),
            Node::Selector { name, labels } => {
                let filter: Vec<(&str, &str)> = labels
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                x.sum_matching(name, &filter)
                    .ok_or_else(|| EvalError::MetricNotFound(self.text(e).to_owned()))
            }
            Node::Neg(inner) => Ok(-self.eval(inner, x)?),
            Node::Binary(op, l, r) => {
                let a = self.eval(l, x)?;
                let b = self.eval(r, x)?;
                Ok(match op {
                    BinOp::Add => a + b,
                    BinOp::Sub => a - b,
                    BinOp::Mul => a * b,
                    BinOp::Div => {
                        if b == 0.0 {
                            return Err(EvalError::DivisionByZero {
                                expr: self.text(e).to_owned(),
                                numerator: a,
                            });
                        }
                        a / b
                    }
                })
            }
        }
    }
}
