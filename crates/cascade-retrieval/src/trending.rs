//! Trending: interaction counts that decay exponentially with a configurable half-life.
//!
//! An item's score is `Σ 2^(-(t_now - t_event) / half_life)` over its interactions, where
//! `t_now` is the newest event time seen (the watermark, as in [`crate::popular`]), so history
//! imported from the past is served as of its own end. Each item keeps the base-2 logarithm of
//! `Σ 2^(t_event / half_life)`: one event is one log-add, O(1), whatever its time (late events
//! included), and the score is `2^(log - t_now / half_life)`. Exposure events (impressions) do
//! not count.

use std::collections::HashMap;
use std::f64::consts::LN_2;

use cascade_core::time::TimestampMs;
use cascade_core::{Candidate, Event, EventObserver, EventTypes, RequestContext};
use parking_lot::RwLock;

use crate::ranking::{CachedRanking, Ranking, top_k};
use crate::source::RecallSource;

const HOUR_MS: f64 = 3_600_000.0;
/// How many of the most trending items the ranked list keeps.
const RANKED_LEN: usize = 10_000;

/// Trending settings.
#[derive(Debug, Clone, PartialEq)]
pub struct TrendingConfig {
    /// After how many hours an interaction counts half as much (positive).
    pub half_life_hours: f64,
    /// How often the server recomputes the ranked list in the background
    /// ([`TrendingIndex::refresh`]), in milliseconds; 0: a read recomputes it when scores
    /// changed.
    pub refresh_millis: u64,
}

impl Default for TrendingConfig {
    fn default() -> Self {
        Self {
            half_life_hours: 24.0,
            refresh_millis: 1000,
        }
    }
}

struct Scores {
    /// Per item, `log2 Σ 2^(t_event / half_life)`.
    log: HashMap<String, f64>,
    watermark: TimestampMs,
}

/// Exponentially decayed interaction counts, with a cached ranking.
pub struct TrendingIndex {
    name: String,
    half_life_ms: f64,
    types: EventTypes,
    scores: RwLock<Scores>,
    ranked: CachedRanking,
}

impl TrendingIndex {
    /// An empty index named `name` (the candidates' `retrieve_id`); `types` says which events
    /// are exposure only.
    ///
    /// # Panics
    /// If the half-life is not positive.
    pub fn new(name: &str, config: &TrendingConfig, types: EventTypes) -> Self {
        assert!(
            config.half_life_hours > 0.0,
            "the trending half-life must be positive"
        );
        Self {
            name: name.to_string(),
            half_life_ms: config.half_life_hours * HOUR_MS,
            types,
            scores: RwLock::new(Scores {
                log: HashMap::new(),
                watermark: TimestampMs::MIN,
            }),
            ranked: CachedRanking::new(config.refresh_millis > 0),
        }
    }

    /// The item's decayed count as of the newest event time seen; 0 for an unknown item.
    pub fn score(&self, item: &str) -> f64 {
        let scores = self.scores.read();
        scores
            .log
            .get(item)
            .map_or(0.0, |&log| self.decayed(log, scores.watermark))
    }

    /// The most trending items, best first (at most 10,000), scored as of the newest event time
    /// seen when the list was last computed: by [`TrendingIndex::refresh`], or with a refresh
    /// period of 0 by the first read after new events.
    pub fn ranked(&self) -> Ranking {
        self.ranked.get(|| self.rank())
    }

    /// Recomputes the list off the request path, if it was read and scores changed since the
    /// last call.
    pub fn refresh(&self) {
        self.ranked.refresh(|| self.rank());
    }

    /// Computes the ranking now if events arrived since it was computed, read or not: once
    /// the start-up replay is applied, so that the first request finds it computed.
    pub fn prime(&self) {
        self.ranked.prime(|| self.rank());
    }

    /// The top of the scores as they are now.
    fn rank(&self) -> Vec<(String, f64)> {
        let scores = self.scores.read();
        let logs = scores.log.iter().map(|(id, &log)| (id.as_str(), log));
        top_k(logs, RANKED_LEN)
            .into_iter()
            .map(|(id, log)| (id.to_string(), self.decayed(log, scores.watermark)))
            .collect()
    }

    /// The event time in half-lives.
    fn half_lives(&self, time: TimestampMs) -> f64 {
        time as f64 / self.half_life_ms
    }

    fn decayed(&self, log: f64, now: TimestampMs) -> f64 {
        (log - self.half_lives(now)).exp2()
    }
}

/// `log2(2^a + 2^b)`, without overflow; `a` may be negative infinity (an empty sum).
fn log2_add(a: f64, b: f64) -> f64 {
    let (high, low) = if a > b { (a, b) } else { (b, a) };
    high + (low - high).exp2().ln_1p() / LN_2
}

impl EventObserver for TrendingIndex {
    fn observe(&self, _seq: u64, event: &Event) {
        if !self.types.is_interaction(&event.event_type) {
            return;
        }
        let time = self.half_lives(event.timestamp);
        let mut scores = self.scores.write();
        let log = scores
            .log
            .entry(event.item_id.clone())
            .or_insert(f64::NEG_INFINITY);
        *log = log2_add(*log, time);
        scores.watermark = scores.watermark.max(event.timestamp);
        self.ranked.changed();
    }
}

impl RecallSource for TrendingIndex {
    fn name(&self) -> &str {
        &self.name
    }

    fn recall(&self, _request: &RequestContext, limit: usize) -> Vec<Candidate> {
        self.ranked()
            .iter()
            .take(limit)
            .map(|(item_id, score)| Candidate::new(item_id.clone(), *score, self.name.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HALF_LIFE_HOURS: i64 = 6;
    const HALF_LIFE_MS: TimestampMs = HALF_LIFE_HOURS * 3_600_000;
    const EPSILON: f64 = 1e-9;

    fn index() -> TrendingIndex {
        let config = TrendingConfig {
            half_life_hours: HALF_LIFE_HOURS as f64,
            refresh_millis: 0,
        };
        TrendingIndex::new("trending", &config, EventTypes::default())
    }

    /// A click on `item` at `half_lives` half-lives after a realistic epoch time.
    fn click(index: &TrendingIndex, item: &str, half_lives: f64) {
        let start: TimestampMs = 1_764_000_000_000;
        let time = start + (half_lives * HALF_LIFE_MS as f64) as TimestampMs;
        index.observe(0, &Event::new("", "click", "u", item, time));
    }

    fn assert_close(actual: f64, expected: f64) {
        assert!(
            (actual - expected).abs() < EPSILON,
            "{actual} vs {expected}"
        );
    }

    fn ids(index: &TrendingIndex) -> Vec<String> {
        index.ranked().iter().map(|(id, _)| id.clone()).collect()
    }

    #[test]
    fn decay_halves_the_count_every_half_life() {
        let index = index();
        click(&index, "a", 0.0);
        assert_close(index.score("a"), 1.0);
        click(&index, "a", 1.0);
        assert_close(index.score("a"), 1.5);
        click(&index, "b", 3.0);
        assert_close(index.score("a"), 1.5 / 4.0);
        click(&index, "a", 2.0);
        assert_close(index.score("a"), 1.5 / 4.0 + 0.5);
        assert_close(index.score("b"), 1.0);
        assert_close(index.score("unknown"), 0.0);
    }

    #[test]
    fn a_recent_burst_outranks_an_older_larger_count() {
        let index = index();
        for _ in 0..10 {
            click(&index, "old", 0.0);
        }
        click(&index, "new", 0.0);
        assert_eq!(ids(&index), ["old", "new"]);
        for _ in 0..3 {
            click(&index, "new", 4.0);
        }
        assert_eq!(ids(&index), ["new", "old"]);
        let ranked = index.ranked();
        assert_close(ranked[0].1, 3.0 + 1.0 / 16.0);
        assert_close(ranked[1].1, 10.0 / 16.0);
        let candidates = index.recall(&RequestContext::default(), 1);
        assert_eq!(candidates.len(), 1);
        assert_eq!(
            (
                candidates[0].item_id.as_str(),
                candidates[0].retrieve_id.as_str()
            ),
            ("new", "trending")
        );
    }

    #[test]
    fn impressions_do_not_count() {
        let index = index();
        let shown = Event::new("", "impression", "u", "x", 0);
        index.observe(0, &shown);
        assert_close(index.score("x"), 0.0);
        assert!(index.ranked().is_empty());
    }
}
