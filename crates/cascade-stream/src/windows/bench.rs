//! A throughput measurement of window features, for `cascade bench`: generated events
//! through the five features of the required examples, with changed values drained (as for
//! a store write) every 10 000 events.

use std::sync::Arc;
use std::time::Instant;

use cascade_core::config::WindowFeatureConf;
use cascade_core::{Event, EventTypes, FieldValue};

use super::build::build;
use super::feature::WindowFeature;

/// What [`measure_throughput`] measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Throughput {
    /// Events applied.
    pub events: usize,
    /// Window features each event went through.
    pub features: usize,
    /// Values handed to the (absent) store.
    pub changes: usize,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Events per second.
    pub events_per_second: f64,
}

/// The benchmark's features: clicks in 30 min sliding every 5 min, CTR over 24 h, session
/// length and distinct categories per 30-min-gap session, the last 50 interacted items.
pub const BENCH_FEATURES: &str = r#"[
  {"Name": "user_clicks_30m", "Key": "user", "EventTypes": ["click"],
   "Window": {"Type": "sliding", "Size": "30m", "Slide": "5m"},
   "Aggregation": {"Type": "count"}, "AllowedLateness": "1m"},
  {"Name": "item_ctr_24h", "Key": "item",
   "Window": {"Type": "tumbling", "Size": "24h"},
   "Aggregation": {"Type": "ratio", "Numerator": ["click"], "Denominator": ["impression"]},
   "AllowedLateness": "5m"},
  {"Name": "user_session_seconds", "Key": "user",
   "Window": {"Type": "session", "Gap": "30m"}, "Aggregation": {"Type": "duration"}},
  {"Name": "user_session_categories", "Key": "user",
   "Window": {"Type": "session", "Gap": "30m"},
   "Aggregation": {"Type": "distinct_count", "Of": "field:category"}},
  {"Name": "user_last_items", "Key": "user", "Window": {"Type": "global"},
   "Aggregation": {"Type": "last_n", "N": 50}}
]"#;

/// Drives `events` generated events (10 000 users, 50 000 items in 100 categories, 70 %
/// impressions, slightly out of order) through [`BENCH_FEATURES`] on this thread.
pub fn measure_throughput(events: usize) -> Throughput {
    let confs: Vec<WindowFeatureConf> =
        serde_json::from_str(BENCH_FEATURES).expect("the benchmark features parse");
    let categories: Arc<Vec<String>> = Arc::new((0..100).map(|c| format!("c{c}")).collect());
    let fields = Arc::new(move |item: &str, _: &str| {
        let index: usize = item.get(1..)?.parse().ok()?;
        Some(FieldValue::Keyword(categories[index % 100].clone()))
    });
    let types = EventTypes::default();
    let mut features: Vec<Box<dyn WindowFeature>> = confs
        .iter()
        .map(|conf| build(conf, &types, fields.clone()))
        .collect();
    let stream = bench_events(events);
    let mut changes = 0;
    let started = Instant::now();
    for (seq, event) in stream.iter().enumerate() {
        for feature in &mut features {
            feature.observe(seq as u64, event);
        }
        if seq % 10_000 == 9_999 {
            for feature in &mut features {
                feature.drain_changes(&mut |_, _| changes += 1);
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    Throughput {
        events,
        features: features.len(),
        changes,
        seconds,
        events_per_second: events as f64 / seconds.max(1e-9),
    }
}

/// The benchmark's events: 10 000 users, 50 000 items (`i0` …, in categories `c0` … `c99` by
/// number modulo 100), 70 % impressions, 25 % clicks, 5 % likes, 10 ms apart in event time
/// with up to 5 s of disorder; ids are `"0"`, `"1"` ….
pub fn bench_events(count: usize) -> Vec<Event> {
    let mut state = 0x5eed_u64;
    let mut next = move || {
        // splitmix64
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    (0..count)
        .map(|i| {
            let kind = match next() % 100 {
                0..70 => "impression",
                70..95 => "click",
                _ => "like",
            };
            let timestamp = 1_700_000_000_000 + i as i64 * 10 - (next() % 5_000) as i64;
            let uid = format!("u{}", next() % 10_000);
            let item = format!("i{}", next() % 50_000);
            Event::new(&i.to_string(), kind, &uid, &item, timestamp)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_the_five_features() {
        let measured = measure_throughput(20_000);
        assert_eq!((measured.events, measured.features), (20_000, 5));
        assert!(measured.changes > 0 && measured.events_per_second > 0.0);
    }
}
