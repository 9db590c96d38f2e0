//! The mean of the events' values.

use cascade_store::FeatureValue;
use serde::{Deserialize, Serialize};

use super::{Accumulator, Sum};
use crate::windows::sample::Sample;

/// Averages event values: a [`Sum`] divided by its event count.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Mean(Sum);

impl Accumulator for Mean {
    type Params = ();

    fn add(&mut self, params: &(), sample: &Sample<'_>) {
        self.0.add(params, sample);
    }

    fn merge(&mut self, params: &(), other: &Self) {
        self.0.merge(params, &other.0);
    }

    fn value(&self) -> Option<FeatureValue> {
        let (sum, events) = self.0.totals();
        (events > 0).then(|| FeatureValue::Number(sum / events as f64))
    }
}
