//! The condition language of `metrics-endpoint` checks.

use canary::checks::expr::{display_number, parse_condition, CmpOp, EvalError, Evaluation};
use canary::metrics::exposition::{self, Exposition};
use proptest::prelude::*;

const METRICS: &str = r#"# TYPE memory_analysis_failure_total counter
memory_analysis_failure_total 1
# TYPE cache_hits_total counter
cache_hits_total{cache="a"} 600
cache_hits_total{cache="b"} 133
# TYPE cache_misses_total counter
cache_misses_total{cache="a"} 200
cache_misses_total{cache="b"} 67
# TYPE http_requests_total counter
http_requests_total{method="get",code="200"} 980
http_requests_total{method="post",code="200"} 10
http_requests_total{method="get",code="500"} 7
http_requests_total{method="post",code="500"} 3
# TYPE idle_total counter
idle_total 0
weird NaN
"#;

fn metrics() -> Exposition {
    exposition::parse(METRICS.as_bytes()).expect("fixture parses")
}

fn eval(src: &str) -> Result<Evaluation, EvalError> {
    let c = parse_condition(src).unwrap_or_else(|e| panic!("{src}: {e}"));
    c.evaluate(&metrics())
}

fn passes(src: &str) -> bool {
    eval(src).unwrap_or_else(|e| panic!("{src}: {e}")).passed
}

#[test]
fn the_teams_two_conditions() {
    let e = eval("memory_analysis_failure_total <= 2").expect("evaluates");
    assert_eq!(
        (e.measured, e.op, e.threshold, e.passed),
        (1.0, CmpOp::Le, 2.0, true)
    );
    assert_eq!(e.to_string(), "measured 1 vs <= 2");

    let e = eval("cache_hits_total / (cache_hits_total + cache_misses_total) > 0.8")
        .expect("evaluates");
    assert!((e.measured - 0.733).abs() < 1e-9, "{}", e.measured);
    assert!(!e.passed);
    assert_eq!(e.to_string(), "measured 0.733 vs > 0.8");
    assert_eq!(e.measured_text(), "0.733");
    assert_eq!(e.expected_text(), "> 0.8");
}

#[test]
fn selectors_sum_matching_samples() {
    assert_eq!(
        eval("http_requests_total == 1000").map(|e| e.passed),
        Ok(true)
    );
    assert_eq!(
        eval(r#"http_requests_total{code="500"} == 10"#).map(|e| e.passed),
        Ok(true)
    );
    assert_eq!(
        eval(r#"http_requests_total{code="500", method="get",} == 7"#).map(|e| e.passed),
        Ok(true)
    );
    assert!(passes(
        r#"http_requests_total{code="500"} / http_requests_total < 0.011"#
    ));
    assert!(passes(
        r#"100 * http_requests_total{code = "500"} / http_requests_total >= 1"#
    ));
}

#[test]
fn arithmetic_precedence_and_signs() {
    for src in [
        "1 + 2 * 3 == 7",
        "(1 + 2) * 3 == 9",
        "8 / 2 / 2 == 2",
        "10 - 4 - 3 == 3",
        "-2 < 0",
        "2 - -1 == 3",
        "-(1 + 1) * 2 == -4",
        "+3 == 3",
        "1e3 == 1000",
        ".5 == 0.5",
        "2.5E-1 == 0.25",
        "1 != 2",
        "3 >= 3",
        "idle_total == 0",
    ] {
        assert!(passes(src), "{src}");
    }
}

#[test]
fn missing_metrics_are_errors_not_zero() {
    assert_eq!(
        eval("nope_total <= 2"),
        Err(EvalError::MetricNotFound("nope_total".into()))
    );
    let e = eval(r#"http_requests_total{code="999"} < 1"#).expect_err("no such code");
    assert_eq!(
        e.to_string(),
        r#"metric http_requests_total{code="999"} not found"#
    );
}

#[test]
fn division_by_zero_is_an_error() {
    let e = eval("cache_hits_total / idle_total > 0.8").expect_err("x / 0");
    assert_eq!(
        e.to_string(),
        "division by zero: cache_hits_total / idle_total = 733 / 0"
    );
    let e = eval("1 < idle_total / (idle_total + idle_total)").expect_err("0 / 0");
    assert_eq!(
        e.to_string(),
        "division by zero: idle_total / (idle_total + idle_total) = 0 / 0"
    );
}

#[test]
fn nan_never_passes() {
    assert!(!passes("weird < 1"));
    assert!(!passes("weird != 1"));
    assert_eq!(
        eval("weird > 0").map(|e| e.measured_text()),
        Ok("NaN".into())
    );
}

#[test]
fn syntax_errors_say_where() {
    let cases: &[(&str, usize, &str)] = &[
        ("", 1, "empty condition"),
        ("x", 2, "expected a comparison"),
        ("x <", 4, "found the end"),
        ("x = 2", 3, "use '=='"),
        ("x <= 2 <= 3", 8, "only one comparison"),
        ("x{a=1} > 0", 5, "expected a quoted label value"),
        ("x{a='1'} > 0", 5, "label values take double quotes"),
        ("x{a!=\"1\"} > 0", 4, "only '=' label matchers"),
        ("x{a=\"1\" b=\"2\"} > 0", 9, "expected ',' or '}'"),
        ("x{a=\"1\",a=\"2\"} > 0", 9, "label a appears twice"),
        ("x{a=\"1} > 0", 5, "unterminated string"),
        ("x{a=\"\\d\"} > 0", 6, "invalid escape \\d"),
        ("(x > 1", 4, "expected ')'"),
        ("x > 1)", 6, "unexpected ')'"),
        ("x > 5y", 5, "invalid number 5y"),
        ("x > 1e", 5, "invalid number 1e"),
        ("é > 1", 1, "unexpected character 'é'"),
        ("x > * 2", 5, "expected a number, a metric or '('"),
        ("x 2 > 1", 3, "found a number"),
    ];
    for (src, column, msg) in cases {
        let e = parse_condition(src).expect_err(src);
        assert_eq!(e.column, *column, "{src:?}: {e}");
        assert!(e.message.contains(msg), "{src:?}: {e}");
    }
    let e = parse_condition("x <").expect_err("incomplete");
    assert_eq!(
        e.to_string(),
        "column 4: expected a number, a metric or '(', found the end"
    );
}

#[test]
fn nesting_and_length_are_bounded() {
    let deep = format!("{}x{} > 1", "(".repeat(200), ")".repeat(200));
    let e = parse_condition(&deep).expect_err("too deep");
    assert!(e.message.contains("nested deeper"), "{e}");
    let ok = format!("{}1{} > 0", "(".repeat(30), ")".repeat(30));
    assert!(parse_condition(&ok).is_ok());
    let negs = format!("{}1 > 0", "-".repeat(100_000));
    assert!(parse_condition(&negs).is_err());
    let long = format!("{} > 0", vec!["1"; 100_000].join(" + "));
    let e = parse_condition(&long).expect_err("too long");
    assert!(e.message.contains("too long"), "{e}");
}

#[test]
fn condition_knows_its_metrics_and_text() {
    let c = parse_condition("cache_hits_total / (cache_hits_total + cache_misses_total) > 0.8")
        .expect("parses");
    assert_eq!(c.metric_names(), ["cache_hits_total", "cache_misses_total"]);
    assert_eq!(c.text(&c.rhs), "0.8");
    assert_eq!(c.to_string(), c.source);
    let same: canary::checks::expr::Condition = c.source.parse().expect("FromStr");
    assert_eq!(same, c);
}

#[test]
fn numbers_read_well() {
    assert_eq!(display_number(2.0), "2");
    assert_eq!(display_number(0.733), "0.733");
    assert_eq!(display_number(0.7333333), "0.7333");
    assert_eq!(display_number(1234.5678), "1234.57");
    assert_eq!(display_number(0.000123456), "0.0001235");
    assert_eq!(display_number(-0.5), "-0.5");
    assert_eq!(display_number(1e20), "1.000e20");
    assert_eq!(display_number(f64::INFINITY), "+Inf");
}

fn token_soup() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("x".to_owned()),
        Just("cache_hits_total".to_owned()),
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just("a=\"1\"".to_owned()),
        Just(",".to_owned()),
        Just("(".to_owned()),
        Just(")".to_owned()),
        Just("+".to_owned()),
        Just("-".to_owned()),
        Just("*".to_owned()),
        Just("/".to_owned()),
        Just("<=".to_owned()),
        Just("==".to_owned()),
        Just("!".to_owned()),
        Just("=".to_owned()),
        Just("\"".to_owned()),
        Just("\\".to_owned()),
        Just("0".to_owned()),
        Just("1.5e".to_owned()),
        Just(" ".to_owned()),
        Just("é".to_owned()),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

proptest! {
    #[test]
    fn parser_never_panics_on_any_string(s in any::<String>()) {
        if let Err(e) = parse_condition(&s) {
            prop_assert!(e.column >= 1 && e.column <= s.chars().count() + 1, "{e}");
        }
    }

    #[test]
    fn parser_and_evaluation_never_panic_on_token_soup(s in token_soup()) {
        match parse_condition(&s) {
            Ok(c) => { let _ = c.evaluate(&metrics()); }
            Err(e) => prop_assert!(e.column >= 1 && e.column <= s.chars().count() + 1, "{e}"),
        }
    }
}
