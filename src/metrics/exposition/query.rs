//! Reading values out of a parsed exposition.

use super::{Exposition, Family, Sample};

/// Whether samples named `sample_name` may live in `family`.
fn may_hold(family: &Family, sample_name: &str) -> bool {
    match sample_name.strip_prefix(family.name.as_str()) {
        Some(rest) => matches!(rest, "" | "_bucket" | "_sum" | "_count"),
        None => false,
    }
}

impl Exposition {
    /// The family declared (or implied) with this exact name.
    pub fn family(&self, name: &str) -> Option<&Family> {
        self.families.iter().find(|f| f.name == name)
    }

    /// Every sample with this exact sample name (e.g. `rpc_duration_seconds_count`),
    /// whichever family holds it.
    pub fn samples<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Sample> + 'a {
        self.families
            .iter()
            .filter(move |f| may_hold(f, name))
            .flat_map(|f| f.samples.iter())
            .filter(move |s| s.name == name)
    }

    /// The value of the first sample named `name` that carries every label of
    /// `labels` (it may carry others).
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples(name)
            .find(|s| s.matches(labels))
            .map(|s| s.value)
    }

    /// The sum over every sample named `name`, whatever its labels: the total of a
    /// counter split by labels, like `http_requests_total{code=...}`.
    /// `None` when there is no such sample (which is not the same as 0).
    pub fn sum(&self, name: &str) -> Option<f64> {
        self.sum_matching(name, &[])
    }

    /// The sum over every sample named `name` that carries every label of `labels`.
    /// `None` when no sample matches.
    pub fn sum_matching(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut found = false;
        let mut total = 0.0;
        for s in self.samples(name).filter(|s| s.matches(labels)) {
            found = true;
            total += s.value;
        }
        found.then_some(total)
    }

    /// The `q`-quantile (0 ≤ q ≤ 1) of the histogram `family`, computed from its
    /// `_bucket` samples the way PromQL's `histogram_quantile` does: linear
    /// interpolation inside the bucket where the rank falls, the upper bound of the
    /// last finite bucket when it falls in the `+Inf` bucket.
    ///
    /// Buckets of every series matching `labels` are added together per `le` first
    /// (like `histogram_quantile(q, sum by (le) (...))`).
    ///
    /// `None` when there is no matching bucket; `Some(NaN)` when the buckets cannot
    /// give an answer (no `+Inf` bucket, fewer than two buckets, no observations);
    /// `-Inf`/`+Inf` for q < 0 / q > 1, as PromQL does.
    pub fn histogram_quantile(&self, q: f64, family: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let bucket_name = format!("{family}_bucket");
        let mut buckets: Vec<(f64, f64)> = Vec::new();
        for s in self.samples(&bucket_name).filter(|s| s.matches(labels)) {
            let Some(le) = s.label("le").and_then(|v| v.parse::<f64>().ok()) else {
                continue;
            };
            if le.is_nan() {
                continue;
            }
            match buckets.iter_mut().find(|(b, _)| *b == le) {
                Some(entry) => entry.1 += s.value,
                None => buckets.push((le, s.value)),
            }
        }
        if buckets.is_empty() {
            return None;
        }
        Some(bucket_quantile(q, buckets))
    }
}

/// PromQL's `bucketQuantile` over `(upper bound, cumulative count)` pairs.
pub(crate) fn bucket_quantile(q: f64, mut buckets: Vec<(f64, f64)>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    if buckets.len() < 2 || buckets.last().map(|b| b.0) != Some(f64::INFINITY) {
        return f64::NAN;
    }
    // Counts must not go down; scrapes of live histograms sometimes do, slightly.
    let mut max = f64::NEG_INFINITY;
    for b in &mut buckets {
        if b.1 < max {
            b.1 = max;
        } else {
            max = b.1;
        }
    }
    let observations = buckets[buckets.len() - 1].1;
    if observations.is_nan() || observations <= 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let b = buckets
        .iter()
        .position(|(_, count)| *count >= rank)
        .unwrap_or(buckets.len() - 1);
    if b == buckets.len() - 1 {
        return buckets[buckets.len() - 2].0;
    }
    if b == 0 && buckets[0].0 <= 0.0 {
        return buckets[0].0;
    }
    let mut start = 0.0;
    let end = buckets[b].0;
    let mut count = buckets[b].1;
    if b > 0 {
        start = buckets[b - 1].0;
        count -= buckets[b - 1].1;
        rank -= buckets[b - 1].1;
    }
    if count <= 0.0 {
        return start;
    }
    start + (end - start) * (rank / count)
}
