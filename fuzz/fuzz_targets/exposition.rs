//! Any bytes: the exposition parser returns (never panics), and whatever it accepts
//! renders back to text that parses to the same families.
#![no_main]

use canary::metrics::exposition;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = exposition::parse(data) {
        let text = parsed.render();
        match exposition::parse(text.as_bytes()) {
            Ok(again) => assert_eq!(again.canonical(), parsed.canonical(), "render:\n{text}"),
            Err(e) => panic!("rendered exposition does not parse: {e}\n{text}"),
        }
        for f in &parsed.families {
            let _ = parsed.sum(&f.name);
            let _ = parsed.histogram_quantile(0.95, &f.name, &[]);
        }
    }
});
