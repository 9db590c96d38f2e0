//! The Prometheus text exposition, as far as the load bench reads it: samples by series,
//! histogram buckets, the difference of two scrapes and quantiles estimated from buckets the
//! way PromQL's `histogram_quantile` does (linear within a bucket).

use std::collections::BTreeMap;

/// One scrape of `/metrics`: every sample by its series (`name{labels}` as written).
#[derive(Debug, Default, Clone)]
pub struct Scrape {
    samples: BTreeMap<String, f64>,
}

/// Cumulative bucket counts of one histogram series: `(upper bound, count)`, ascending, the
/// last bound `+Inf`.
pub type Buckets = Vec<(f64, f64)>;

impl Scrape {
    /// Parses the text format; comment lines and lines that are not `series value` are skipped.
    pub fn parse(text: &str) -> Self {
        let mut samples = BTreeMap::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            // the value follows the series, after the closing brace when there are labels
            let split_from = line.rfind('}').map_or(0, |brace| brace + 1);
            let Some(space) = line[split_from..].find(' ').map(|s| s + split_from) else {
                continue;
            };
            let (series, rest) = (&line[..space], line[space..].trim());
            let value = rest.split_whitespace().next().and_then(parse_value);
            if let Some(value) = value {
                samples.insert(series.to_string(), value);
            }
        }
        Self { samples }
    }

    /// The value of a series without labels, e.g. `process_resident_memory_bytes`.
    pub fn value(&self, series: &str) -> Option<f64> {
        self.samples.get(series).copied()
    }

    /// The histograms called `name`: buckets by the series' other labels (`""` for none).
    pub fn histograms(&self, name: &str) -> BTreeMap<String, Buckets> {
        let prefix = format!("{name}_bucket{{");
        let mut out: BTreeMap<String, Buckets> = BTreeMap::new();
        for (series, value) in self.samples.range(prefix.clone()..) {
            let Some(labels) = series.strip_prefix(&prefix) else {
                break;
            };
            let labels = labels.trim_end_matches('}');
            let mut le = None;
            let mut others = Vec::new();
            for label in split_labels(labels) {
                match label.strip_prefix("le=") {
                    Some(bound) => le = parse_value(bound.trim_matches('"')),
                    None => others.push(label),
                }
            }
            if let Some(le) = le {
                out.entry(others.join(",")).or_default().push((le, *value));
            }
        }
        for buckets in out.values_mut() {
            buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        out
    }
}

/// Splits `a="x",b="y,z"` at the commas outside quotes.
fn split_labels(labels: &str) -> Vec<&str> {
    let (mut parts, mut start, mut quoted, mut escaped) = (Vec::new(), 0, false, false);
    for (i, c) in labels.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&labels[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < labels.len() {
        parts.push(&labels[start..]);
    }
    parts
}

fn parse_value(text: &str) -> Option<f64> {
    match text {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => text.parse().ok(),
    }
}

/// The observations between two scrapes of one histogram: `after - before` per bucket (a
/// series that was absent before counts from zero).
pub fn diff(before: Option<&Buckets>, after: &Buckets) -> Buckets {
    after
        .iter()
        .map(|&(le, count)| {
            let earlier = before
                .and_then(|b| b.iter().find(|(bound, _)| *bound == le))
                .map_or(0.0, |&(_, c)| c);
            (le, (count - earlier).max(0.0))
        })
        .collect()
}

/// The number of observations in cumulative buckets.
pub fn count(buckets: &Buckets) -> f64 {
    buckets.last().map_or(0.0, |&(_, c)| c)
}

/// The `q` quantile (0..=1) of cumulative buckets, interpolated linearly within the bucket it
/// falls in; in the `+Inf` bucket, the largest finite bound. `None` without observations.
pub fn quantile(buckets: &Buckets, q: f64) -> Option<f64> {
    let total = count(buckets);
    if total <= 0.0 {
        return None;
    }
    let rank = q.clamp(0.0, 1.0) * total;
    let mut lower = (0.0, 0.0);
    for &(le, cumulative) in buckets {
        if cumulative >= rank && cumulative > lower.1 {
            if le.is_infinite() {
                return Some(lower.0);
            }
            let within = (rank - lower.1) / (cumulative - lower.1);
            return Some(lower.0 + (le - lower.0) * within);
        }
        lower = (le, cumulative);
    }
    Some(lower.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = r#"# TYPE cascade_stage_duration_seconds histogram
cascade_stage_duration_seconds_bucket{stage="recall:popular",le="0.001"} 10
cascade_stage_duration_seconds_bucket{stage="recall:popular",le="0.005"} 10
cascade_stage_duration_seconds_bucket{stage="recall:popular",le="+Inf"} 10
cascade_stage_duration_seconds_sum{stage="recall:popular"} 0.004
cascade_stage_duration_seconds_count{stage="recall:popular"} 10
process_resident_memory_bytes 1.5e8
"#;

    const AFTER: &str = r#"cascade_stage_duration_seconds_bucket{stage="recall:popular",le="0.001"} 60
cascade_stage_duration_seconds_bucket{stage="recall:popular",le="0.005"} 110
cascade_stage_duration_seconds_bucket{stage="recall:popular",le="+Inf"} 110
cascade_stage_duration_seconds_bucket{stage="filter:a,b",le="0.001"} 4
cascade_stage_duration_seconds_bucket{stage="filter:a,b",le="+Inf"} 4
cascade_recommend_duration_seconds_bucket{le="0.01"} 3
cascade_recommend_duration_seconds_bucket{le="+Inf"} 4
"#;

    #[test]
    fn buckets_are_read_per_series_and_differenced() {
        let (before, after) = (Scrape::parse(BEFORE), Scrape::parse(AFTER));
        assert_eq!(before.value("process_resident_memory_bytes"), Some(1.5e8));
        let old = before.histograms("cascade_stage_duration_seconds");
        let new = after.histograms("cascade_stage_duration_seconds");
        assert_eq!(
            new.keys().collect::<Vec<_>>(),
            [r#"stage="filter:a,b""#, r#"stage="recall:popular""#]
        );
        let key = r#"stage="recall:popular""#;
        let run = diff(old.get(key), &new[key]);
        assert_eq!(
            run,
            vec![(0.001, 50.0), (0.005, 100.0), (f64::INFINITY, 100.0)]
        );
        let fresh = diff(
            old.get(r#"stage="filter:a,b""#),
            &new[r#"stage="filter:a,b""#],
        );
        assert_eq!(count(&fresh), 4.0);
        let unlabelled = after.histograms("cascade_recommend_duration_seconds");
        assert_eq!(count(&unlabelled[""]), 4.0);
    }

    #[test]
    fn quantiles_interpolate_within_the_bucket() {
        let buckets = vec![(0.001, 50.0), (0.005, 100.0), (f64::INFINITY, 100.0)];
        assert!((quantile(&buckets, 0.5).unwrap() - 0.001).abs() < 1e-12);
        // rank 99 of 100: 49/50 of the way from 1 ms to 5 ms
        assert!((quantile(&buckets, 0.99).unwrap() - 0.00492).abs() < 1e-9);
        assert!((quantile(&buckets, 0.25).unwrap() - 0.0005).abs() < 1e-12);
        let overflow = vec![(0.01, 3.0), (f64::INFINITY, 4.0)];
        assert_eq!(quantile(&overflow, 0.99), Some(0.01));
        assert_eq!(
            quantile(&vec![(0.01, 0.0), (f64::INFINITY, 0.0)], 0.5),
            None
        );
    }
}
