//! Any text: the condition parser returns (never panics); what it accepts evaluates
//! (to a value or an error) against a small exposition without panicking.
#![no_main]

use canary::checks::expr::parse_condition;
use canary::metrics::exposition;
use libfuzzer_sys::fuzz_target;

const METRICS: &[u8] = b"x 1\ny{a=\"1\"} 0\ny{a=\"2\"} 2\nz NaN\n";

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(condition) = parse_condition(src) {
        if let Ok(metrics) = exposition::parse(METRICS) {
            let _ = condition.evaluate(&metrics);
        }
    }
});
