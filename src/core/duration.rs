//! Durations as people write and read them: one module for every parser
//! and formatter, so that a config, a scenario file, the screen, the journal
//! and the report agree on how a duration is written.
//!
//! Pure (std only) and in the core because the core itself writes durations
//! (plan reasons, retry notes); everything above the core parses and
//! formats with it too.
//!
//! - [`parse`] / [`format()`]: the config's grammar (`500ms`, `2s`, `15m`,
//!   `1h`, `1h30m`, `1d`), strict, with errors a person can act on; exact
//!   inverses of each other.
//! - [`parse_lenient`]: scenario files' looser grammar (decimals, sums).
//! - [`human`]: for messages and reasons (`1.5s`, `1m30s`).
//! - [`hms`], [`age`], [`stopwatch`], [`two_units`]: the screen's styles,
//!   each tested as it prints (they differ on purpose: an age column is
//!   one unit wide, a countdown keeps its seconds, a check's time its
//!   tenths, the judge's estimates always two fields).

use std::time::Duration;

/// Units from largest to smallest, with their length in milliseconds.
const UNITS: [(&str, u64); 5] = [
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// Parses `500ms`, `2s`, `15m`, `1h`, `1h30m`, `1d`: one or more `<integer><unit>`
/// groups, units `d h m s ms` from largest to smallest, each at most once.
///
/// The error is the reason alone (it does not repeat the input), e.g.
/// `unknown unit "minutes": use ms, s, m, h or d`.
pub fn parse(input: &str) -> Result<Duration, String> {
    let s = input.trim();
    if s.is_empty() {
        return Err("empty duration: write a number and a unit, e.g. \"2s\"".into());
    }
    if s.starts_with('-') {
        return Err("a duration cannot be negative".into());
    }
    let mut rest = s;
    let mut total: u64 = 0;
    // Index into UNITS of the last unit seen; the next must be strictly smaller.
    let mut last: Option<usize> = None;
    while !rest.is_empty() {
        let digits_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits_len == 0 {
            return Err(format!(
                "expected a number at {:?}: write a number followed by a unit (ms, s, m, h or d), e.g. \"1h30m\"",
                rest
            ));
        }
        let (digits, after) = rest.split_at(digits_len);
        let number: u64 = digits
            .parse()
            .map_err(|_| "the number is too large".to_string())?;
        let unit_len = after.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (unit, after) = after.split_at(unit_len);
        if unit.is_empty() {
            return Err(match after.chars().next() {
                None => format!(
                    "missing unit after {number}: add one of ms, s, m, h or d (e.g. \"{number}s\")"
                ),
                Some('.') | Some(',') => {
                    "fractions are not supported: use a smaller unit (e.g. \"1500ms\" rather than \"1.5s\")"
                        .to_string()
                }
                Some(c) if c.is_whitespace() => format!(
                    "write the number and the unit together, with a unit among ms, s, m, h or d (e.g. \"{number}m\")"
                ),
                Some(c) => format!("unexpected {c:?} after {number}: expected a unit (ms, s, m, h or d)"),
            });
        }
        let Some(index) = UNITS.iter().position(|(name, _)| *name == unit) else {
            return Err(format!("unknown unit {unit:?}: use ms, s, m, h or d"));
        };
        if last.is_some_and(|l| index <= l) {
            return Err(
                "units must go from largest to smallest, each at most once (e.g. \"1h30m\")".into(),
            );
        }
        last = Some(index);
        total = number
            .checked_mul(UNITS[index].1)
            .and_then(|ms| total.checked_add(ms))
            .ok_or_else(|| "the duration is too large".to_string())?;
        rest = after;
    }
    Ok(Duration::from_millis(total))
}

/// Scenario files' grammar, looser than [`parse`]: `800ms`, `30s`, `20m`,
/// `3h`, `9d`, decimals (`1.5s`) and sums in any order (`1m30s`); one
/// error message for every mistake.
pub fn parse_lenient(s: &str) -> Result<Duration, String> {
    let bad = || format!("`{s}` is not a duration (e.g. \"800ms\", \"30s\", \"20m\", \"3d\")");
    let s = s.trim();
    if s.is_empty() {
        return Err(bad());
    }
    let mut total = 0.0_f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let value: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86_400.0,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total += value * unit;
    }
    if !total.is_finite() || total > 1e9 {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(total))
}

/// The inverse of [`parse`], to the millisecond: `1h30m`, `500ms`, `0s`.
pub fn format(d: Duration) -> String {
    let mut ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (name, len) in UNITS {
        let n = ms / len;
        if n > 0 {
            out.push_str(&n.to_string());
            out.push_str(name);
            ms -= n * len;
        }
    }
    out
}

/// For messages: `300ms`, `1.5s`, `30s`, `2m`, `1m30s`, `1h` (below a
/// minute to the tenth of a second, above it to the second).
pub fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = d.as_secs();
    if secs < 60 {
        if ms.is_multiple_of(1000) {
            return format!("{secs}s");
        }
        return format!("{:.1}s", d.as_secs_f64());
    }
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 {
        out.push_str(&format!("{s}s"));
    }
    out
}

/// Elapsed and remaining times on screen: `45s`, `12m30s`, `15m`, `1h`,
/// `1h30m` (inner fields zero-padded, trailing zero fields dropped).
pub fn hms(secs: i64) -> String {
    let s = secs.max(0);
    let (h, m, s) = (s / 3600, (s / 60) % 60, s % 60);
    match (h, m, s) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s:02}s"),
        (h, 0, 0) => format!("{h}h"),
        (h, m, 0) => format!("{h}h{m:02}m"),
        (h, m, s) => format!("{h}h{m:02}m{s:02}s"),
    }
}

/// How old something is, in its largest unit only: `2s`, `14m`, `3h`,
/// `9d` (ages on screen; a negative age is `0s`).
pub fn age(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// How long a check took: `300ms`, `2.0s` (to the tenth below ten
/// seconds), then as [`hms`].
pub fn stopwatch(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 10_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else {
        hms((ms / 1000) as i64)
    }
}

/// The judge's lag and estimates: `45s`, `1m30s`, `15m00s`, `1h05m`
/// (the two largest fields, both always shown; rounded to the second).
pub fn two_units(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn parses_single_units() {
        assert_eq!(parse("500ms"), Ok(ms(500)));
        assert_eq!(parse("2s"), Ok(ms(2_000)));
        assert_eq!(parse("15m"), Ok(ms(900_000)));
        assert_eq!(parse("1h"), Ok(ms(3_600_000)));
        assert_eq!(parse("1d"), Ok(ms(86_400_000)));
        assert_eq!(parse("0s"), Ok(ms(0)));
        assert_eq!(parse(" 2s "), Ok(ms(2_000)));
    }

    #[test]
    fn parses_compound() {
        assert_eq!(parse("1h30m"), Ok(ms(5_400_000)));
        assert_eq!(parse("1d2h3m4s5ms"), Ok(ms(93_784_005)));
        assert_eq!(parse("1m500ms"), Ok(ms(60_500)));
    }

    #[test]
    fn refuses_with_a_reason() {
        let cases = [
            ("", "empty duration"),
            ("-1s", "cannot be negative"),
            ("5", "missing unit after 5"),
            ("5 minutes", "write the number and the unit together"),
            ("5minutes", "unknown unit \"minutes\""),
            ("1.5s", "fractions are not supported"),
            ("s", "expected a number"),
            ("30m1h", "largest to smallest"),
            ("1s1s", "largest to smallest"),
            ("1h30", "missing unit after 30"),
            ("99999999999999999999s", "too large"),
            ("9999999999999999d", "too large"),
            ("2s!", "expected a number at \"!\""),
        ];
        for (input, fragment) in cases {
            let err = parse(input).expect_err(input);
            assert!(err.contains(fragment), "{input:?}: {err}");
        }
    }

    #[test]
    fn formats_and_round_trips() {
        assert_eq!(format(ms(0)), "0s");
        assert_eq!(format(ms(500)), "500ms");
        assert_eq!(format(ms(5_400_000)), "1h30m");
        assert_eq!(format(ms(93_784_005)), "1d2h3m4s5ms");
        for s in ["500ms", "2s", "15m", "1h", "1h30m", "1d", "1d1ms"] {
            let d = parse(s).expect(s);
            assert_eq!(format(d), s);
        }
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(human(Duration::from_millis(300)), "300ms");
        assert_eq!(human(Duration::from_millis(1500)), "1.5s");
        assert_eq!(human(Duration::from_secs(30)), "30s");
        assert_eq!(human(Duration::from_secs(120)), "2m");
        assert_eq!(human(Duration::from_secs(90)), "1m30s");
        assert_eq!(human(Duration::from_secs(3600)), "1h");
    }

    #[test]
    fn ages_read_in_one_unit() {
        assert_eq!(age(2), "2s");
        assert_eq!(age(20 * 60), "20m");
        assert_eq!(age(3 * 86_400 + 5), "3d");
        assert_eq!(age(-4), "0s");
    }

    #[test]
    fn durations_read_short() {
        assert_eq!(hms(45), "45s");
        assert_eq!(hms(750), "12m30s");
        assert_eq!(hms(900), "15m");
        assert_eq!(hms(3600), "1h");
        assert_eq!(hms(5400), "1h30m");
        assert_eq!(hms(-3), "0s");
    }

    #[test]
    fn stopwatch_reads_to_the_tenth_then_as_hms() {
        assert_eq!(stopwatch(300), "300ms");
        assert_eq!(stopwatch(2000), "2.0s");
        assert_eq!(stopwatch(9_940), "9.9s");
        assert_eq!(stopwatch(12_000), "12s");
        assert_eq!(stopwatch(750_000), "12m30s");
    }

    #[test]
    fn two_units_always_shows_both_fields() {
        assert_eq!(two_units(45.0), "45s");
        assert_eq!(two_units(90.0), "1m30s");
        assert_eq!(two_units(900.0), "15m00s");
        assert_eq!(two_units(3_930.0), "1h05m");
        assert_eq!(two_units(-2.0), "0s");
    }

    #[test]
    fn lenient_takes_decimals_and_sums() {
        assert_eq!(parse_lenient("800ms"), Ok(Duration::from_millis(800)));
        assert_eq!(parse_lenient("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_lenient("3d"), Ok(Duration::from_secs(3 * 86_400)));
        assert!(parse_lenient("30x").is_err());
        assert!(parse_lenient("").is_err());
        assert!(parse_lenient("s").is_err());
        assert_eq!(parse_lenient("1.5s"), Ok(Duration::from_millis(1500)));
    }
}
