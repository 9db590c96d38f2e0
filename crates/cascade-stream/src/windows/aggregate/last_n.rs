//! The N most recent values by event time (ties: log position, then the value).

use cascade_core::time::TimestampMs;
use cascade_store::FeatureValue;
use serde::{Deserialize, Serialize};

use super::Accumulator;
use crate::windows::sample::Sample;

/// Keeps the N newest (time, position, value) entries, oldest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LastN(Vec<(TimestampMs, u64, String)>);

impl LastN {
    fn keep_newest(&mut self, n: usize) {
        let excess = self.0.len().saturating_sub(n);
        self.0.drain(..excess);
    }
}

impl Accumulator for LastN {
    /// N.
    type Params = usize;

    fn add(&mut self, &n: &usize, sample: &Sample<'_>) {
        let order = |entry: &(TimestampMs, u64, String)| {
            (entry.0, entry.1, entry.2.as_str()).cmp(&(sample.ts, sample.seq, sample.label))
        };
        let at = self.0.partition_point(|entry| order(entry).is_lt());
        if self.0.len() >= n && at == 0 {
            return;
        }
        self.0
            .insert(at, (sample.ts, sample.seq, sample.label.to_owned()));
        self.keep_newest(n);
    }

    fn merge(&mut self, &n: &usize, other: &Self) {
        self.0.extend(other.0.iter().cloned());
        self.0.sort_unstable();
        self.keep_newest(n);
    }

    fn value(&self) -> Option<FeatureValue> {
        (!self.0.is_empty())
            .then(|| FeatureValue::List(self.0.iter().rev().map(|(_, _, v)| v.clone()).collect()))
    }
}
