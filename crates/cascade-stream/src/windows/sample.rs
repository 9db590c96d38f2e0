//! What an aggregation sees of one event.

use cascade_core::time::TimestampMs;

/// One event as one aggregation reads it.
#[derive(Debug, Clone, Copy)]
pub struct Sample<'a> {
    /// The event time.
    pub ts: TimestampMs,
    /// The event's log position.
    pub seq: u64,
    /// The event's value (rating, watch time …).
    pub value: f64,
    /// The selected value (`Of`) for distinct counts and last-N; empty for other aggregations.
    pub label: &'a str,
    /// Whether the event counts above the line of a ratio.
    pub numerator: bool,
    /// Whether the event counts below the line of a ratio.
    pub denominator: bool,
}
