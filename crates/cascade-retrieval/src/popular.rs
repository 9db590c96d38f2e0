//! Popularity: the items with the most interactions over a trailing window.
//!
//! Counts are kept per hour bucket. The window trails the newest event time seen (the
//! watermark), so history imported from the past is served as of its own end and live
//! traffic as of now. Exposure events (impressions) do not count.
//!
//! Counts that fall out of the window (and events older than it) move to the earlier counts,
//! which only fill the ranking when the window holds fewer items than it keeps: one event
//! far newer than the rest (a live event after history from years ago) moves the window past
//! all of that history, and the ranking is then that event's item followed by what was
//! popular before, rather than one item. The earlier counts keep their most counted items
//! only (at most twice the ranking's length), so their memory is bounded.

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

/// How many items the earlier counts keep: when they hold more than this, they are cut to
/// the [`RANKED_LEN`] most counted.
const EARLIER_KEPT: usize = 2 * RANKED_LEN;

#[derive(Default)]
struct Counts {
    buckets: BTreeMap<TimestampMs, HashMap<String, f64>>,
    totals: HashMap<String, f64>,
    /// Counts of the interactions before the window, of the most counted items.
    earlier: HashMap<String, f64>,
    watermark: TimestampMs,
}

impl Counts {
    /// Adds counts from before the window, keeping the most counted items only.
    fn add_earlier(&mut self, counts: impl IntoIterator<Item = (String, f64)>) {
        for (item, count) in counts {
            *self.earlier.entry(item).or_default() += count;
        }
        if self.earlier.len() > EARLIER_KEPT {
            self.earlier = top_k(self.earlier.drain(), RANKED_LEN)
                .into_iter()
                .collect();
        }
    }
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
    /// [`PopularIndex::refresh`] (with a refresh period of 0, as of the last event). When the
    /// window holds fewer, the most counted items before it follow, scoring their earlier
    /// count scaled into (0, 1): below every item of the window, which scores at least 1.
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

    /// The top of the counts as they are now: the window's, filled from the earlier counts.
    fn rank(&self) -> Vec<(String, f64)> {
        let counts = self.counts.read();
        let totals = counts
            .totals
            .iter()
            .map(|(id, &count)| (id.as_str(), count));
        let mut ranked: Vec<(String, f64)> = top_k(totals, RANKED_LEN)
            .into_iter()
            .map(|(id, count)| (id.to_string(), count))
            .collect();
        let missing = RANKED_LEN - ranked.len();
        if missing > 0 {
            let earlier = counts
                .earlier
                .iter()
                .filter(|(id, _)| !counts.totals.contains_key(*id))
                .map(|(id, &count)| (id.as_str(), count));
            let fill = top_k(earlier, missing);
            let scale = fill.first().map_or(1.0, |(_, most)| most + 1.0);
            ranked.extend(
                fill.into_iter()
                    .map(|(id, count)| (id.to_string(), count / scale)),
            );
        }
        ranked
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
            counts.add_earlier([(event.item_id.clone(), 1.0)]);
            self.ranked.changed();
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

/// Moves the buckets before `first_kept_bucket` out of the window into the earlier counts.
fn evict_before(counts: &mut Counts, first_kept_bucket: TimestampMs) {
    let kept = counts.buckets.split_off(&first_kept_bucket);
    let expired = std::mem::replace(&mut counts.buckets, kept);
    if expired.is_empty() {
        return;
    }
    let mut left = HashMap::new();
    for (item, count) in expired.into_values().flatten() {
        if let Some(total) = counts.totals.get_mut(&item) {
            *total -= count;
            if *total <= 0.5 {
                counts.totals.remove(&item);
            }
        }
        *left.entry(item).or_default() += count;
    }
    counts.add_earlier(left);
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
    fn a_window_with_fewer_items_than_asked_is_filled_with_earlier_counts() {
        let index = index(24);
        // History from long ago: item `old{i}` clicked 12 - i times, then one event today.
        for i in 0..12 {
            for _ in i..12 {
                index.observe(0, &click(&format!("old{i}"), 0));
            }
        }
        index.observe(0, &click("old0", 100_000));
        index.observe(0, &click("today", 100_000));
        let ranked = index.recall(&RequestContext::default(), 10);
        let ids: Vec<&str> = ranked.iter().map(|c| c.item_id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "old0", "today", "old1", "old2", "old3", "old4", "old5", "old6", "old7", "old8"
            ],
            "the window's items first, then what was popular before; none twice"
        );
        assert_eq!(ranked[1].score, 1.0);
        assert!(ranked[2].score < 1.0 && ranked[2].score > ranked[3].score);

        for _ in 0..5 {
            index.observe(0, &click("old11", 0));
        }
        let ranked = index.recall(&RequestContext::default(), 10);
        assert_eq!(
            (ranked[7].item_id.as_str(), ranked[8].item_id.as_str()),
            ("old11", "old6"),
            "events older than the window count as earlier: old11 rose from 1 to 6"
        );
    }

    #[test]
    fn earlier_counts_keep_only_the_most_counted_items() {
        let index = index(1);
        for i in 0..EARLIER_KEPT + 1 {
            index.observe(0, &click(&format!("i{i}"), 0));
        }
        index.observe(0, &click("i0", 0));
        index.observe(0, &click("now", 10));
        let counts = index.counts.read();
        assert_eq!(counts.earlier.len(), RANKED_LEN);
        assert_eq!(counts.earlier["i0"], 2.0);
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
