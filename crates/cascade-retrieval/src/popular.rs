//! Popularity: the items with the most interactions over a trailing window.
//!
//! Counts are kept per hour bucket. The window trails the newest event time seen (the
//! watermark), so history imported from the past is served as of its own end and live
//! traffic as of now; buckets that fall out of the window are dropped. Exposure events
//! (impressions) do not count.

use std::collections::{BTreeMap, HashMap};

use cascade_core::config::PopularConf;
use cascade_core::time::TimestampMs;
use cascade_core::{Candidate, Event, EventObserver, EventTypes, RequestContext};
use parking_lot::RwLock;

use crate::ranking::{CachedRanking, Ranking, top_k};
use crate::source::RecallSource;

const BUCKET_MS: TimestampMs = 3_600_000;
/// How many of the most popular items the ranked list keeps.
const RANKED_LEN: usize = 10_000;

/// The name popular candidates carry as their `retrieve_id`.
pub const POPULAR: &str = "popular";

#[derive(Default)]
struct Counts {
    buckets: BTreeMap<TimestampMs, HashMap<String, f64>>,
    totals: HashMap<String, f64>,
    watermark: TimestampMs,
}

/// Interaction counts over a trailing window, with a cached ranking.
pub struct PopularIndex {
    counts: RwLock<Counts>,
    ranked: CachedRanking,
    window_ms: TimestampMs,
    types: EventTypes,
}

impl PopularIndex {
    /// An empty index configured by `conf`; `types` says which events are exposure only.
    pub fn new(conf: &PopularConf, types: EventTypes) -> Self {
        Self {
            counts: RwLock::new(Counts::default()),
            ranked: CachedRanking::new(conf.refresh_millis > 0),
            window_ms: (conf.window_hours as TimestampMs).saturating_mul(BUCKET_MS),
            types,
        }
    }

    /// The most popular items in the window, best first (at most 10,000), as of the last
    /// [`PopularIndex::refresh`] (with a refresh period of 0, as of the last event).
    pub fn ranked(&self) -> Ranking {
        self.ranked.get(|| self.rank())
    }

    /// Recomputes the ranking if it was read and events arrived since the last refresh (the
    /// server calls this every `PopularConf.RefreshMillis`).
    pub fn refresh(&self) {
        self.ranked.refresh(|| self.rank());
    }

    /// Computes the ranking now if events arrived since it was computed, read or not: once
    /// the start-up replay is applied, so that the first request finds it computed.
    pub fn prime(&self) {
        self.ranked.prime(|| self.rank());
    }

    /// The top of the counts as they are now.
    fn rank(&self) -> Vec<(String, f64)> {
        let counts = self.counts.read();
        let totals = counts
            .totals
            .iter()
            .map(|(id, &count)| (id.as_str(), count));
        top_k(totals, RANKED_LEN)
            .into_iter()
            .map(|(id, count)| (id.to_string(), count))
            .collect()
    }

    fn window_start(&self, watermark: TimestampMs) -> TimestampMs {
        watermark.saturating_sub(self.window_ms)
    }
}

impl EventObserver for PopularIndex {
    fn observe(&self, _seq: u64, event: &Event) {
        if !self.types.is_interaction(&event.event_type) {
            return;
        }
        let mut counts = self.counts.write();
        if event.timestamp < self.window_start(counts.watermark) {
            return;
        }
        let bucket = event.timestamp.div_euclid(BUCKET_MS);
        *counts
            .buckets
            .entry(bucket)
            .or_default()
            .entry(event.item_id.clone())
            .or_default() += 1.0;
        *counts.totals.entry(event.item_id.clone()).or_default() += 1.0;
        self.ranked.changed();
        if event.timestamp > counts.watermark {
            counts.watermark = event.timestamp;
            let first_kept = self.window_start(event.timestamp).div_euclid(BUCKET_MS);
            evict_before(&mut counts, first_kept);
        }
    }
}

fn evict_before(counts: &mut Counts, first_kept_bucket: TimestampMs) {
    let kept = counts.buckets.split_off(&first_kept_bucket);
    let expired = std::mem::replace(&mut counts.buckets, kept);
    for (item, count) in expired.into_values().flatten() {
        if let Some(total) = counts.totals.get_mut(&item) {
            *total -= count;
            if *total <= 0.5 {
                counts.totals.remove(&item);
            }
        }
    }
}

impl RecallSource for PopularIndex {
    fn name(&self) -> &str {
        POPULAR
    }

    fn recall(&self, _request: &RequestContext, limit: usize) -> Vec<Candidate> {
        self.ranked()
            .iter()
            .take(limit)
            .map(|(item_id, count)| Candidate::new(item_id.clone(), *count, POPULAR.to_string()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn click(item: &str, hour: i64) -> Event {
        Event::new("", "click", "u", item, hour * BUCKET_MS)
    }

    fn index(window_hours: u64) -> PopularIndex {
        let conf = PopularConf {
            window_hours,
            refresh_millis: 0,
        };
        PopularIndex::new(&conf, EventTypes::default())
    }

    fn ids(index: &PopularIndex) -> Vec<(String, f64)> {
        index.ranked().to_vec()
    }

    #[test]
    fn ranks_by_count_within_the_window() {
        let index = index(2);
        for (item, hour) in [("a", 0), ("b", 1), ("b", 1), ("c", 1), ("a", 1)] {
            index.observe(0, &click(item, hour));
        }
        assert_eq!(
            ids(&index),
            [("a".into(), 2.0), ("b".into(), 2.0), ("c".into(), 1.0)]
        );
        index.observe(0, &click("c", 3));
        assert_eq!(
            ids(&index),
            [("b".into(), 2.0), ("c".into(), 2.0), ("a".into(), 1.0)],
            "hour 0 left the window when the watermark reached hour 3"
        );
        index.observe(0, &click("a", 0));
        assert_eq!(
            ids(&index)[2],
            ("a".into(), 1.0),
            "events older than the window are ignored"
        );
    }

    #[test]
    fn impressions_do_not_count() {
        let index = index(24);
        let mut shown = click("x", 0);
        shown.event_type = "impression".into();
        index.observe(0, &shown);
        assert!(ids(&index).is_empty());
    }
}
