use super::*;

/// The example exposition from the format's documentation ("Exposition formats",
/// text format details), typed again here, including its odd spacing.
const DOC_EXAMPLE: &str = r##"# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000

# Escaping in label values:
msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9

# Minimalistic line:
metric_without_timestamp_and_labels 12.47

# A weird metric from before the epoch:
something_weird{problem="division by zero"} +Inf -3982045

# A histogram, which has a pretty complex representation in the text format:
# HELP http_request_duration_seconds A histogram of the request duration.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.05"} 24054
http_request_duration_seconds_bucket{le="0.1"} 33444
http_request_duration_seconds_bucket{le="0.2"} 100392
http_request_duration_seconds_bucket{le="0.5"} 129389
http_request_duration_seconds_bucket{le="1"} 133988
http_request_duration_seconds_bucket{le="+Inf"} 144320
http_request_duration_seconds_sum 53423
http_request_duration_seconds_count 144320

# Finally a summary, which has a complex representation, too:
# HELP rpc_duration_seconds A summary of the RPC duration in seconds.
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{quantile="0.01"} 3102
rpc_duration_seconds{quantile="0.05"} 3272
rpc_duration_seconds{quantile="0.5"} 4773
rpc_duration_seconds{quantile="0.9"} 9001
rpc_duration_seconds{quantile="0.99"} 76656
rpc_duration_seconds_sum 1.7560473e+07
rpc_duration_seconds_count 2693
"##;

fn ok(s: &str) -> Exposition {
    match parse(s.as_bytes()) {
        Ok(e) => e,
        Err(e) => panic!("parse failed: {e}\ninput:\n{s}"),
    }
}

fn err(s: &[u8]) -> ParseError {
    match parse(s) {
        Ok(e) => panic!("expected an error, got {e:?}"),
        Err(e) => e,
    }
}

fn pairs(labels: &[(&str, &str)]) -> Vec<(String, String)> {
    labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn documented_example_parses_into_six_families() {
    let e = ok(DOC_EXAMPLE);
    let names: Vec<&str> = e.families.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "http_requests_total",
            "msdos_file_access_time_seconds",
            "metric_without_timestamp_and_labels",
            "something_weird",
            "http_request_duration_seconds",
            "rpc_duration_seconds",
        ]
    );
    let requests = e.family("http_requests_total").expect("family");
    assert_eq!(requests.kind, MetricType::Counter);
    assert_eq!(
        requests.help.as_deref(),
        Some("The total number of HTTP requests.")
    );
    assert_eq!(
        requests.samples[1],
        Sample {
            name: "http_requests_total".into(),
            labels: pairs(&[("method", "post"), ("code", "400")]),
            value: 3.0,
            timestamp_ms: Some(1_395_066_363_000),
        }
    );
    assert_eq!(e.sum("http_requests_total"), Some(1030.0));
    assert_eq!(
        e.value("http_requests_total", &[("code", "200")]),
        Some(1027.0)
    );

    let msdos = &e
        .family("msdos_file_access_time_seconds")
        .expect("family")
        .samples[0];
    assert_eq!(msdos.label("path"), Some(r"C:\DIR\FILE.TXT"));
    assert_eq!(
        msdos.label("error"),
        Some("Cannot find file:\n\"FILE.TXT\"")
    );
    assert_eq!(msdos.value, 1.458255915e9);
    assert_eq!(msdos.timestamp_ms, None);

    assert_eq!(e.sum("metric_without_timestamp_and_labels"), Some(12.47));
    let weird = &e.family("something_weird").expect("family").samples[0];
    assert_eq!(weird.value, f64::INFINITY);
    assert_eq!(weird.timestamp_ms, Some(-3_982_045));

    let hist = e.family("http_request_duration_seconds").expect("family");
    assert_eq!(hist.kind, MetricType::Histogram);
    assert_eq!(hist.samples.len(), 8);
    assert_eq!(
        e.sum("http_request_duration_seconds_count"),
        Some(144_320.0)
    );
    assert_eq!(
        e.value("http_request_duration_seconds_bucket", &[("le", "+Inf")]),
        Some(144_320.0)
    );

    let summary = e.family("rpc_duration_seconds").expect("family");
    assert_eq!(summary.kind, MetricType::Summary);
    assert_eq!(summary.samples.len(), 7);
    assert_eq!(
        e.value("rpc_duration_seconds", &[("quantile", "0.99")]),
        Some(76656.0)
    );
    assert_eq!(e.sum("rpc_duration_seconds_sum"), Some(1.7560473e7));
    assert_eq!(e.family("rpc_duration_seconds_sum"), None);
}

#[test]
fn documented_example_survives_render_and_parse() {
    let e = ok(DOC_EXAMPLE);
    assert_eq!(ok(&e.render()), e);
}

#[test]
fn histogram_quantile_interpolates_like_promql() {
    let e = ok(DOC_EXAMPLE);
    let q = |q| e.histogram_quantile(q, "http_request_duration_seconds", &[]);
    // rank 72160 falls in (0.1, 0.2]: 0.1 + 0.1 * (72160 - 33444) / (100392 - 33444)
    let p50 = q(0.5).expect("buckets");
    assert!(
        (p50 - (0.1 + 0.1 * 38716.0 / 66948.0)).abs() < 1e-12,
        "{p50}"
    );
    // rank 0.95 * 144320 = 137104 is past le=1 (133988): the last finite bound.
    assert_eq!(q(0.95), Some(1.0));
    assert_eq!(q(-0.1), Some(f64::NEG_INFINITY));
    assert_eq!(q(1.5), Some(f64::INFINITY));
    assert_eq!(e.histogram_quantile(0.5, "nope", &[]), None);
    assert_eq!(
        e.histogram_quantile(0.5, "http_request_duration_seconds", &[("x", "y")]),
        None
    );
}

#[test]
fn histogram_quantile_adds_series_per_le_and_needs_inf_bucket() {
    let e = ok("# TYPE lat histogram\n\
        lat_bucket{path=\"/a\",le=\"0.1\"} 10\n\
        lat_bucket{path=\"/a\",le=\"+Inf\"} 10\n\
        lat_bucket{path=\"/b\",le=\"0.1\"} 0\n\
        lat_bucket{path=\"/b\",le=\"+Inf\"} 10\n\
        # TYPE partial histogram\n\
        partial_bucket{le=\"1\"} 3\n\
        partial_bucket{le=\"2\"} 5\n");
    // 20 observations, 10 under 0.1: the median is 0.1 exactly.
    assert_eq!(e.histogram_quantile(0.5, "lat", &[]), Some(0.1));
    assert_eq!(
        e.histogram_quantile(0.5, "lat", &[("path", "/a")]),
        Some(0.05)
    );
    assert_eq!(
        e.histogram_quantile(0.9, "lat", &[("path", "/b")]),
        Some(0.1)
    );
    assert!(e
        .histogram_quantile(0.5, "partial", &[])
        .expect("buckets")
        .is_nan());
}

#[test]
fn escapes_in_help_and_label_values() {
    let e = ok("# HELP m A \\\\ backslash,\\na new line, a \"quote\".\n\
        m{a=\"x\\\\y\",b=\"say \\\"hi\\\"\",c=\"l1\\nl2\",d=\"é ✓ {}=,\"} 1\n");
    let f = &e.families[0];
    assert_eq!(
        f.help.as_deref(),
        Some("A \\ backslash,\na new line, a \"quote\".")
    );
    let s = &f.samples[0];
    assert_eq!(s.label("a"), Some("x\\y"));
    assert_eq!(s.label("b"), Some("say \"hi\""));
    assert_eq!(s.label("c"), Some("l1\nl2"));
    assert_eq!(s.label("d"), Some("é ✓ {}=,"));
}

#[test]
fn special_values_exponents_and_timestamps() {
    let e =
        ok("a NaN\nb +Inf\nc -Inf\nd Inf\ne 1.5e-3\nf -2E+4 -5\ng +7 9223372036854775807\nh .5\n");
    let v = |n: &str| e.sum(n).expect(n);
    assert!(v("a").is_nan());
    assert_eq!(v("b"), f64::INFINITY);
    assert_eq!(v("c"), f64::NEG_INFINITY);
    assert_eq!(v("d"), f64::INFINITY);
    assert_eq!(v("e"), 0.0015);
    assert_eq!(v("f"), -20000.0);
    assert_eq!(v("g"), 7.0);
    assert_eq!(v("h"), 0.5);
    assert_eq!(e.families[5].samples[0].timestamp_ms, Some(-5));
    assert_eq!(e.families[6].samples[0].timestamp_ms, Some(i64::MAX));
}

#[test]
fn blanks_crlf_trailing_comma_and_no_final_newline() {
    let e =
        ok("\r\n  \t\r\n# just a comment\r\n#\r\n  m { a = \"1\" , b=\"2\", }\t42\t  \r\nn{} 3");
    assert_eq!(e.families.len(), 2);
    let s = &e.families[0].samples[0];
    assert_eq!(s.labels, pairs(&[("a", "1"), ("b", "2")]));
    assert_eq!(s.value, 42.0);
    assert!(e.families[1].samples[0].labels.is_empty());
    assert_eq!(ok(""), Exposition::default());
}

#[test]
fn samples_of_one_family_may_come_in_several_groups() {
    let e = ok("# TYPE c counter\nc{a=\"1\"} 1\nother 2\nc{a=\"2\"} 3\n");
    assert_eq!(e.families.len(), 2);
    assert_eq!(e.sum("c"), Some(4.0));
    assert_eq!(e.sum_matching("c", &[("a", "2")]), Some(3.0));
    assert_eq!(e.sum("missing"), None);
    assert_eq!(e.sum_matching("c", &[("a", "3")]), None);
}

#[test]
fn summary_and_histogram_samples_join_their_family_only_when_declared() {
    let e = ok("x_sum 1\nx_count 2\n# TYPE s summary\ns_sum 3\n# TYPE g gauge\ng_sum 4\n");
    let names: Vec<&str> = e.families.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["x_sum", "x_count", "s", "g", "g_sum"]);
}

#[test]
fn errors_say_where() {
    let cases: &[(&str, usize, usize, &str)] = &[
        ("ok 1\nbad{a=\"1\" 2\n", 2, 11, "expected ',' or '}'"),
        ("m{a=\"1\"} x\n", 1, 10, "invalid value \"x\""),
        ("m 1 2.5\n", 1, 5, "invalid timestamp"),
        ("m 1 2 3\n", 1, 7, "after the timestamp"),
        ("m\n", 1, 2, "expected a value"),
        ("m{1=\"a\"} 1\n", 1, 3, "expected a label name"),
        ("m{a=\"x\\q\"} 1\n", 1, 7, "invalid escape \\q"),
        ("m{a=\"unterminated} 1\n", 1, 5, "unterminated label value"),
        ("m{a=1} 1\n", 1, 5, "expected '\"'"),
        ("m{a=\"1\",a=\"2\"} 1\n", 1, 9, "label a appears twice"),
        ("m-x 1\n", 1, 2, "unexpected '-' in metric name"),
        ("9m 1\n", 1, 1, "expected a metric name"),
        ("\n\n# TYPE m histogrammm\n", 3, 10, "unknown type"),
        ("# TYPE m\n", 1, 9, "has no type"),
        (
            "# TYPE m counter extra\n",
            1,
            18,
            "unexpected text after the type",
        ),
        ("# TYPE m gauge\n# TYPE m gauge\n", 2, 8, "second TYPE line"),
        ("m 1\n# TYPE m gauge\n", 2, 8, "after its samples"),
        ("# HELP m a\n# HELP m b\n", 2, 8, "second HELP line"),
        ("# HELP m bad \\t escape\n", 1, 14, "invalid escape \\t"),
        ("# HELP\n", 1, 7, "expected a metric name after HELP"),
        ("# TYPE h histogram\nh_bucket 1\n", 2, 1, "needs a le label"),
        (
            "# TYPE h histogram\nh_bucket{le=\"x\"} 1\n",
            2,
            1,
            "not a number",
        ),
        ("# TYPE h histogram\nh 1\n", 2, 1, "is a histogram"),
        ("# TYPE s summary\ns 1\n", 2, 1, "needs a quantile label"),
        ("é{ü=\"1\"} 1\n", 1, 1, "expected a metric name, found 'é'"),
        ("m{é=\"1\"} 1\n", 1, 3, "found 'é'"),
        ("m{a=\"é\"} é\n", 1, 10, "invalid value \"é\""),
    ];
    for (input, line, column, msg) in cases {
        let e = err(input.as_bytes());
        assert_eq!((e.line, e.column), (*line, *column), "{input:?} -> {e}");
        assert!(e.message.contains(msg), "{input:?} -> {e}");
    }
    let e = err(b"m 1\n{x} 2\n");
    assert_eq!(
        e.to_string(),
        "line 2, column 1: expected a metric name, found '{'"
    );
}

#[test]
fn invalid_utf8_is_reported_with_its_line() {
    let e = err(b"ok 1\n# HELP x fine\nm{a=\"\xc3\xa9\xff\"} 1\n");
    assert_eq!((e.line, e.column), (3, 7), "{e}");
    assert_eq!(e.message, "invalid UTF-8");
    assert_eq!(e.to_string(), "line 3, column 7: invalid UTF-8");
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    for input in [
        &b"<html><body>502 Bad Gateway</body></html>"[..],
        b"{\"status\":\"ok\"}",
        b"\x00\x01\x02",
        b"m{",
        b"m{a",
        b"m{a=",
        b"m{a=\"",
        b"m{a=\"\\",
        b"m{a=\"b\"",
        b"m{a=\"b\",",
        b"m\t",
        b"\xff\xfe",
        b"# TYPE",
        b"# HELP m \\",
    ] {
        assert!(
            parse(input).is_err(),
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn format_value_reads_back() {
    for v in [
        0.0,
        -0.0,
        1.0,
        0.5,
        1e-7,
        1e300,
        -3.25,
        123456789.0,
        f64::MIN_POSITIVE,
        f64::MAX,
    ] {
        let text = format_value(v);
        assert_eq!(text.parse::<f64>().ok(), Some(v), "{text}");
    }
    assert_eq!(format_value(f64::NAN), "NaN");
    assert_eq!(format_value(f64::INFINITY), "+Inf");
    assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
    assert_eq!(format_value(2.0), "2");
}
