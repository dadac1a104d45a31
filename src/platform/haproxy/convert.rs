//! HAProxy's vocabulary (server weights and states) to the common model and
//! back: weights ↔ percentages, server status → ready or not and why.

use std::collections::BTreeMap;

use super::stat::ServerStat;
use crate::core::model::TrafficSplit;

/// Percentages from weights (share = weight / sum), rounded so that they sum
/// to 100 (largest remainder; ties go to the name that sorts first).
/// `None` when every weight is 0.
pub fn split_from_weights(weights: &BTreeMap<String, u32>) -> Option<TrafficSplit> {
    let sum: u64 = weights.values().map(|&w| u64::from(w)).sum();
    if sum == 0 {
        return None;
    }
    let mut parts: Vec<(&str, u64, u64)> = weights
        .iter()
        .map(|(n, &w)| {
            let scaled = u64::from(w) * 100;
            (n.as_str(), scaled / sum, scaled % sum)
        })
        .collect();
    let given: u64 = parts.iter().map(|p| p.1).sum();
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_by(|&a, &b| parts[b].2.cmp(&parts[a].2).then(a.cmp(&b)));
    for &i in order.iter().take((100 - given) as usize) {
        parts[i].1 += 1;
    }
    TrafficSplit::new(parts.into_iter().map(|(n, p, _)| (n.to_string(), p as u32))).ok()
}

/// The weight each server gets for `split`: its percentage (weights then sum to
/// 100, within HAProxy's 0..=256). Servers the split does not name get 0.
pub fn weights_for(split: &TrafficSplit, servers: &[String]) -> BTreeMap<String, u32> {
    servers
        .iter()
        .map(|s| (s.clone(), u32::from(split.percent_of(s))))
        .collect()
}

/// `a=20,b=80` (the preview's form too).
pub use crate::core::preview::weights_string;

/// Whether HAProxy sends the server traffic, and why not (or a caveat).
pub fn readiness(s: &ServerStat, backend: &str) -> (bool, Option<String>) {
    let status = s.status.trim();
    let check = {
        let mut parts: Vec<&str> = [s.check_status.as_str(), s.check_desc.as_str()]
            .into_iter()
            .filter(|p| !p.is_empty())
            .collect();
        let last = s.last_check.as_str();
        let detail = (!last.is_empty()).then(|| format!("({last})"));
        if let Some(d) = detail.as_deref() {
            parts.push(d);
        }
        parts.join(" ")
    };
    let with_check = |what: String| {
        if check.is_empty() {
            what
        } else {
            format!("{what}: {check}")
        }
    };
    if status == "UP" {
        (true, None)
    } else if let Some(rest) = status.strip_prefix("UP ") {
        (
            true,
            Some(with_check(format!(
                "health checks failing ({rest}), going down"
            ))),
        )
    } else if status == "no check" {
        (
            true,
            Some("not health-checked: HAProxy assumes it is up".into()),
        )
    } else if status.starts_with("DOWN") {
        (false, Some(with_check(format!("HAProxy says {status}"))))
    } else if status.starts_with("MAINT") {
        (
            false,
            Some(format!(
                "in maintenance ({status}): `set server {backend}/{} state ready` brings it back",
                s.name
            )),
        )
    } else if status.starts_with("DRAIN") {
        (
            false,
            Some(format!(
                "draining ({status}): HAProxy sends it no new traffic"
            )),
        )
    } else if status.starts_with("NOLB") {
        (
            false,
            Some("NOLB: stopping, HAProxy sends it no new traffic".into()),
        )
    } else {
        (false, Some(format!("HAProxy status `{status}`")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(pairs: &[(&str, u32)]) -> BTreeMap<String, u32> {
        pairs.iter().map(|(n, w)| (n.to_string(), *w)).collect()
    }

    #[test]
    fn weights_to_percent_sum_to_100() {
        let s = split_from_weights(&w(&[("a", 20), ("b", 80)])).expect("split");
        assert_eq!(s.to_flag(), "b=80,a=20");
        let s = split_from_weights(&w(&[("a", 1), ("b", 1), ("c", 1)])).expect("split");
        assert_eq!(s.percent_of("a"), 34);
        assert_eq!(s.percent_of("b"), 33);
        assert_eq!(s.percent_of("c"), 33);
        let s = split_from_weights(&w(&[("a", 256), ("b", 0)])).expect("split");
        assert_eq!(s, TrafficSplit::all_to("a"));
        assert!(split_from_weights(&w(&[("a", 0), ("b", 0)])).is_none());
        assert!(split_from_weights(&w(&[])).is_none());
    }

    #[test]
    fn percent_to_weights_names_every_server() {
        let split = TrafficSplit::new([("a", 20), ("b", 80)]).expect("valid");
        let servers = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        assert_eq!(
            weights_for(&split, &servers),
            w(&[("a", 20), ("b", 80), ("c", 0)])
        );
        assert_eq!(weights_string(&w(&[("a", 20), ("b", 80)])), "a=20,b=80");
    }

    #[test]
    fn status_to_readiness() {
        let mut s = ServerStat {
            name: "v2".into(),
            status: "UP".into(),
            ..ServerStat::default()
        };
        assert_eq!(readiness(&s, "app"), (true, None));
        s.status = "DOWN".into();
        s.check_status = "L4CON".into();
        s.check_desc = "Layer4 connection problem".into();
        s.last_check = "Connection refused".into();
        let (ready, why) = readiness(&s, "app");
        assert!(!ready);
        assert_eq!(
            why.as_deref(),
            Some("HAProxy says DOWN: L4CON Layer4 connection problem (Connection refused)")
        );
        s.status = "MAINT".into();
        assert!(readiness(&s, "app")
            .1
            .expect("why")
            .contains("set server app/v2 state ready"));
        s.status = "DRAIN".into();
        assert!(!readiness(&s, "app").0);
        s.status = "no check".into();
        assert!(readiness(&s, "app").0);
        s.status = "UP 1/3".into();
        assert!(readiness(&s, "app").0);
    }
}
