//! Seconds from the first event to the last: a session's length.

use cascade_core::time::TimestampMs;
use cascade_store::FeatureValue;
use serde::{Deserialize, Serialize};

use super::Accumulator;
use crate::windows::sample::Sample;

/// The event-time span covered by the events, in seconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Duration {
    first: TimestampMs,
    last: TimestampMs,
}

impl Default for Duration {
    fn default() -> Self {
        Self {
            first: TimestampMs::MAX,
            last: TimestampMs::MIN,
        }
    }
}

impl Accumulator for Duration {
    type Params = ();

    fn add(&mut self, _: &(), sample: &Sample<'_>) {
        self.first = self.first.min(sample.ts);
        self.last = self.last.max(sample.ts);
    }

    fn merge(&mut self, _: &(), other: &Self) {
        self.first = self.first.min(other.first);
        self.last = self.last.max(other.last);
    }

    fn value(&self) -> Option<FeatureValue> {
        (self.first <= self.last)
            .then(|| FeatureValue::Number((self.last - self.first) as f64 / 1000.0))
    }
}
