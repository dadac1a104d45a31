//! Recursive descent over the tokens, with a nesting limit.

use super::lex::{error, lex, Tok, Token};
use super::{BinOp, CmpOp, Condition, Expr, ExprError, Node};

/// Deeper nesting than this is refused rather than risking the stack.
const MAX_DEPTH: usize = 64;
/// Longer conditions are refused too: evaluation recurses over the tree.
const MAX_TOKENS: usize = 512;

/// Parses `expression comparison expression`.
pub fn parse_condition(src: &str) -> Result<Condition, ExprError> {
    let tokens = lex(src)?;
    if tokens.len() > MAX_TOKENS {
        let at = tokens.get(MAX_TOKENS).map_or(0, |t| t.start);
        return Err(error(
            src,
            at,
            format!("condition too long (more than {MAX_TOKENS} tokens)"),
        ));
    }
    let mut p = Parser {
        src,
        tokens,
        pos: 0,
        depth: 0,
    };
    if p.peek() == &Tok::End {
        return Err(error(
            src,
            0,
            "empty condition (e.g. `memory_analysis_failure_total <= 2`)",
        ));
    }
    let lhs = p.sum()?;
    let op = match p.peek() {
        Tok::Cmp(op) => *op,
        Tok::Assign => {
            let hint = match p.tokens.get(p.pos + 1).map(|t| &t.tok) {
                Some(Tok::Cmp(CmpOp::Lt)) => "; did you mean '<='?",
                Some(Tok::Cmp(CmpOp::Gt)) => "; did you mean '>='?",
                _ => "; use '=='",
            };
            return Err(p.error_here(format!("'=' is not a comparison{hint}")));
        }
        other => {
            let found = other.describe();
            return Err(p.error_here(format!(
                "expected a comparison (<, <=, >, >=, ==, !=), found {found}"
            )));
        }
    };
    p.pos += 1;
    let rhs = p.sum()?;
    match p.peek() {
        Tok::End => {}
        Tok::Cmp(_) => return Err(p.error_here("only one comparison is allowed")),
        other => {
            let found = other.describe();
            return Err(p.error_here(format!("unexpected {found} after the condition")));
        }
    }
    Ok(Condition {
        source: src.to_owned(),
        lhs,
        op,
        rhs,
    })
}

struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn token(&self) -> Option<&Token> {
        self.tokens.get(self.pos).or_else(|| self.tokens.last())
    }

    fn peek(&self) -> &Tok {
        self.token().map_or(&Tok::End, |t| &t.tok)
    }

    fn start(&self) -> usize {
        self.token().map_or(self.src.len(), |t| t.start)
    }

    /// End of the previous token.
    fn prev_end(&self) -> usize {
        self.pos
            .checked_sub(1)
            .and_then(|i| self.tokens.get(i))
            .map_or(0, |t| t.end)
    }

    fn error_here(&self, message: impl Into<String>) -> ExprError {
        error(self.src, self.start(), message)
    }

    fn expect(&mut self, want: &Tok, what: &str) -> Result<(), ExprError> {
        if self.peek() == want {
            self.pos += 1;
            Ok(())
        } else {
            let found = self.peek().describe();
            Err(self.error_here(format!("expected {what}, found {found}")))
        }
    }

    fn sum(&mut self) -> Result<Expr, ExprError> {
        let mut lhs = self.product()?;
        loop {
            let op = match self.peek() {
                Tok::Plus => BinOp::Add,
                Tok::Minus => BinOp::Sub,
                _ => return Ok(lhs),
            };
            self.pos += 1;
            let rhs = self.product()?;
            lhs = binary(op, lhs, rhs);
        }
    }

    fn product(&mut self) -> Result<Expr, ExprError> {
        let mut lhs = self.unary()?;
        loop {
            let op = match self.peek() {
                Tok::Star => BinOp::Mul,
                Tok::Slash => BinOp::Div,
                _ => return Ok(lhs),
            };
            self.pos += 1;
            let rhs = self.unary()?;
            lhs = binary(op, lhs, rhs);
        }
    }

    fn unary(&mut self) -> Result<Expr, ExprError> {
        let start = self.start();
        match self.peek() {
            Tok::Minus | Tok::Plus => {
                let negate = self.peek() == &Tok::Minus;
                self.pos += 1;
                let inner = self.nested(Self::unary)?;
                if !negate {
                    return Ok(inner);
                }
                let span = (start, inner.span.1);
                Ok(Expr {
                    node: Node::Neg(Box::new(inner)),
                    span,
                })
            }
            _ => self.primary(),
        }
    }

    fn nested(&mut self, f: fn(&mut Self) -> Result<Expr, ExprError>) -> Result<Expr, ExprError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error_here(format!("nested deeper than {MAX_DEPTH} levels")));
        }
        self.depth += 1;
        let r = f(self);
        self.depth -= 1;
        r
    }

    fn primary(&mut self) -> Result<Expr, ExprError> {
        let start = self.start();
        match self.peek().clone() {
            Tok::Number(v) => {
                self.pos += 1;
                Ok(Expr {
                    node: Node::Number(v),
                    span: (start, self.prev_end()),
                })
            }
            Tok::LParen => {
                self.pos += 1;
                let inner = self.nested(Self::sum)?;
                self.expect(&Tok::RParen, "')'")?;
                Ok(Expr {
                    node: inner.node,
                    span: (start, self.prev_end()),
                })
            }
            Tok::Ident(name) => {
                self.pos += 1;
                let labels = if self.peek() == &Tok::LBrace {
                    self.pos += 1;
                    self.labels()?
                } else {
                    Vec::new()
                };
                Ok(Expr {
                    node: Node::Selector { name, labels },
                    span: (start, self.prev_end()),
                })
            }
            Tok::End => Err(self.error_here("expected a number, a metric or '(', found the end")),
            other => Err(self.error_here(format!(
                "expected a number, a metric or '(', found {}",
                other.describe()
            ))),
        }
    }

    /// After `{`: `label="value", ...` up to and including `}`.
    fn labels(&mut self) -> Result<Vec<(String, String)>, ExprError> {
        let mut labels: Vec<(String, String)> = Vec::new();
        loop {
            let label_at = self.start();
            let label = match self.peek().clone() {
                Tok::RBrace => {
                    self.pos += 1;
                    return Ok(labels);
                }
                Tok::Ident(l) if !l.contains(':') => l,
                other => {
                    return Err(self.error_here(format!(
                        "expected a label name or '}}', found {}",
                        other.describe()
                    )))
                }
            };
            self.pos += 1;
            if let Tok::Cmp(CmpOp::Ne) = self.peek() {
                return Err(self.error_here("only '=' label matchers are supported"));
            }
            self.expect(&Tok::Assign, "'=' after the label name")?;
            let value = match self.peek().clone() {
                Tok::Str(v) => v,
                other => {
                    return Err(self.error_here(format!(
                        "expected a quoted label value, found {}",
                        other.describe()
                    )))
                }
            };
            self.pos += 1;
            if labels.iter().any(|(k, _)| *k == label) {
                return Err(error(
                    self.src,
                    label_at,
                    format!("label {label} appears twice"),
                ));
            }
            labels.push((label, value));
            match self.peek() {
                Tok::Comma => self.pos += 1,
                Tok::RBrace => {}
                other => {
                    let found = other.describe();
                    return Err(self.error_here(format!("expected ',' or '}}', found {found}")));
                }
            }
        }
    }
}

fn binary(op: BinOp, lhs: Expr, rhs: Expr) -> Expr {
    let span = (lhs.span.0, rhs.span.1);
    Expr {
        node: Node::Binary(op, Box::new(lhs), Box::new(rhs)),
        span,
    }
}
