//! Any bytes: the exposition parser returns (never panics), and whatever it accepts
//! renders back to text that parses to the same families.
#![no_main]

use canary::metrics::exposition::{self, Exposition};
use libfuzzer_sys::fuzz_target;

/// Values compared bit for bit, every NaN as one.
fn canon(
    e: &Exposition,
) -> Vec<(
    String,
    Option<String>,
    String,
    Vec<(String, Vec<(String, String)>, u64, Option<i64>)>,
)> {
    let bits = |v: f64| {
        if v.is_nan() {
            f64::NAN.to_bits()
        } else {
            v.to_bits()
        }
    };
    e.families
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
            (f.name.clone(), f.help.clone(), f.kind.to_string(), samples)
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = exposition::parse(data) {
        let text = parsed.render();
        match exposition::parse(text.as_bytes()) {
            Ok(again) => assert_eq!(canon(&again), canon(&parsed), "render:\n{text}"),
            Err(e) => panic!("rendered exposition does not parse: {e}\n{text}"),
        }
        for f in &parsed.families {
            let _ = parsed.sum(&f.name);
            let _ = parsed.histogram_quantile(0.95, &f.name, &[]);
        }
    }
});
