//! The exposition parser on generated input: round trips, arbitrary bytes, huge input.

use std::time::Instant;

use canary::metrics::exposition::{self, format_value, Exposition, Family, MetricType, Sample};
use proptest::prelude::*;

/// A comparable form: NaN compared as NaN, everything else bit for bit.
fn canon(e: &Exposition) -> exposition::Canonical {
    e.canonical()
}

/// Family names without `_`, so that no name is another's `_sum`/`_count`/`_bucket`.
fn family_name() -> impl Strategy<Value = String> {
    "[a-zA-Z:][a-zA-Z0-9:]{0,8}"
}

fn label_name() -> impl Strategy<Value = String> {
    "[a-zA-Z_][a-zA-Z0-9_]{0,6}".prop_filter("reserved", |n| n != "le" && n != "quantile")
}

fn label_value() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[a-z\\\\\"\n{}=, ]{0,8}"]
}

fn labels() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::btree_map(label_name(), label_value(), 0..4)
        .prop_map(|m| m.into_iter().collect())
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        (-1000i64..1000).prop_map(|v| v as f64),
        -1e6..1e6f64,
    ]
}

/// Help text as it can survive a round trip: no leading blanks, no trailing blanks or `\r`.
fn help() -> impl Strategy<Value = Option<String>> {
    prop::option::of(
        prop_oneof![any::<String>(), "[a-z \\\\\n]{0,12}"].prop_map(|h| {
            h.trim_start_matches([' ', '\t'])
                .trim_end_matches([' ', '\t', '\r'])
                .to_owned()
        }),
    )
}

fn sample(name: &str, labels: Vec<(String, String)>, value: f64, ts: Option<i64>) -> Sample {
    Sample {
        name: name.to_owned(),
        labels,
        value,
        timestamp_ms: ts,
    }
}

fn with(labels: &[(String, String)], k: &str, v: String) -> Vec<(String, String)> {
    let mut l = labels.to_vec();
    l.push((k.to_owned(), v));
    l
}

fn family(name: String) -> impl Strategy<Value = Family> {
    let series = prop::collection::vec(
        (
            labels(),
            prop::collection::vec(value(), 0..4),
            value(),
            value(),
            prop::option::of(any::<i64>()),
        ),
        0..3,
    );
    (
        help(),
        prop::sample::select(MetricType::ALL.to_vec()),
        series,
    )
        .prop_map(move |(help, kind, series)| {
            let mut samples = Vec::new();
            for (labels, values, sum, count, ts) in series {
                match kind {
                    MetricType::Histogram => {
                        let mut bounds: Vec<f64> =
                            values.iter().copied().filter(|v| v.is_finite()).collect();
                        bounds.sort_by(f64::total_cmp);
                        bounds.dedup();
                        bounds.push(f64::INFINITY);
                        for (i, le) in bounds.iter().enumerate() {
                            let l = with(&labels, "le", format_value(*le));
                            samples.push(sample(&format!("{name}_bucket"), l, i as f64, ts));
                        }
                        samples.push(sample(&format!("{name}_sum"), labels.clone(), sum, ts));
                        samples.push(sample(&format!("{name}_count"), labels, count, ts));
                    }
                    MetricType::Summary => {
                        for (i, v) in values.iter().enumerate() {
                            let q = format_value(i as f64 / 4.0);
                            samples.push(sample(&name, with(&labels, "quantile", q), *v, ts));
                        }
                        samples.push(sample(&format!("{name}_sum"), labels.clone(), sum, ts));
                        samples.push(sample(&format!("{name}_count"), labels, count, None));
                    }
                    _ => samples.push(sample(&name, labels, sum, ts)),
                }
            }
            Family {
                name: name.clone(),
                help,
                kind,
                samples,
            }
        })
}

fn exposition() -> impl Strategy<Value = Exposition> {
    prop::collection::btree_set(family_name(), 0..6)
        .prop_flat_map(|names| names.into_iter().map(family).collect::<Vec<_>>())
        .prop_map(|families| Exposition { families })
}

const DOC_SNIPPET: &[u8] = b"# HELP http_requests_total The total number of HTTP requests.\n\
# TYPE http_requests_total counter\n\
http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n\
msdos_file_access_time_seconds{path=\"C:\\\\DIR\\\\FILE.TXT\",error=\"Cannot find file:\\n\\\"FILE.TXT\\\"\"} 1.458255915e9\n\
# TYPE h histogram\nh_bucket{le=\"0.5\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n";

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn render_then_parse_gives_back_the_same_families(e in exposition()) {
        let text = e.render();
        let parsed = exposition::parse(text.as_bytes());
        prop_assert!(parsed.is_ok(), "{:?}\n{}", parsed, text);
        let parsed = parsed.unwrap_or_default();
        prop_assert_eq!(canon(&parsed), canon(&e), "{}", text);
        // CRLF line endings read the same.
        let crlf = exposition::parse(text.replace('\n', "\r\n").as_bytes()).unwrap_or_default();
        prop_assert_eq!(canon(&crlf), canon(&e));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = exposition::parse(&bytes);
    }

    #[test]
    fn mutated_valid_input_never_panics(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8)
    ) {
        let mut bytes = DOC_SNIPPET.to_vec();
        for (at, byte, op) in edits {
            let i = at.index(bytes.len() + 1);
            match op {
                0 => bytes.insert(i, byte),
                1 if i < bytes.len() => { bytes.remove(i); }
                _ if i < bytes.len() => bytes[i] = byte,
                _ => {}
            }
        }
        if let Err(e) = exposition::parse(&bytes) {
            prop_assert!(e.line >= 1 && e.column >= 1);
        }
    }
}

fn huge_input(target: usize) -> (String, usize) {
    let mut out = String::with_capacity(target + 4096);
    let mut samples = 0;
    let mut family = 0;
    while out.len() < target {
        out.push_str(&format!(
            "# HELP app_requests_{family}_total Requests served, by code.\n# TYPE app_requests_{family}_total counter\n"
        ));
        for i in 0..100 {
            out.push_str(&format!(
                "app_requests_{family}_total{{method=\"get\",code=\"{}\",path=\"/api/items/{i}\"}} {}.5 1395066363000\n",
                200 + i % 5,
                i * 7
            ));
            samples += 1;
        }
        family += 1;
    }
    (out, samples)
}

#[test]
fn ten_megabytes_parse_and_the_rate_is_printed() {
    let (text, samples) = huge_input(10 << 20);
    let start = Instant::now();
    let e = exposition::parse(text.as_bytes()).expect("valid");
    let elapsed = start.elapsed();
    let n: usize = e.families.iter().map(|f| f.samples.len()).sum();
    assert_eq!(n, samples);
    assert_eq!(
        e.sum("app_requests_0_total"),
        Some((0..100).map(|i| i as f64 * 7.0 + 0.5).sum())
    );
    let mb = text.len() as f64 / (1 << 20) as f64;
    eprintln!(
        "parsed {mb:.1} MiB, {samples} samples, {} families in {elapsed:?}: {:.0} MiB/s",
        e.families.len(),
        mb / elapsed.as_secs_f64()
    );
}

#[test]
fn huge_garbage_is_an_error_quickly() {
    // One 10 MB line that never closes its label value, then one of NUL bytes.
    let mut text = String::from("m{a=\"");
    text.push_str(&"x".repeat(10 << 20));
    let e = exposition::parse(text.as_bytes()).expect_err("unterminated");
    assert_eq!((e.line, e.column), (1, 5));
    let zeros = vec![0u8; 10 << 20];
    let e = exposition::parse(&zeros).expect_err("garbage");
    assert_eq!((e.line, e.column), (1, 1));
    let newlines = vec![b'\n'; 10 << 20];
    assert_eq!(
        exposition::parse(&newlines).expect("blank lines"),
        Exposition::default()
    );
}
