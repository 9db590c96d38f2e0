//! The sum of the events' values.

use cascade_store::FeatureValue;
use serde::{Deserialize, Serialize};

use super::Accumulator;
use crate::windows::sample::Sample;

/// Sums event values.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Sum {
    sum: f64,
    events: u64,
}

impl Sum {
    /// The sum and the number of events summed.
    pub(super) fn totals(&self) -> (f64, u64) {
        (self.sum, self.events)
    }
}

impl Accumulator for Sum {
    type Params = ();

    fn add(&mut self, _: &(), sample: &Sample<'_>) {
        self.sum += sample.value;
        self.events += 1;
    }

    fn merge(&mut self, _: &(), other: &Self) {
        self.sum += other.sum;
        self.events += other.events;
    }

    fn value(&self) -> Option<FeatureValue> {
        (self.events > 0).then_some(FeatureValue::Number(self.sum))
    }
}
