//! The number of events.

use cascade_store::FeatureValue;
use serde::{Deserialize, Serialize};

use super::Accumulator;
use crate::windows::sample::Sample;

/// Counts events.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Count(u64);

impl Accumulator for Count {
    type Params = ();

    fn add(&mut self, _: &(), _: &Sample<'_>) {
        self.0 += 1;
    }

    fn merge(&mut self, _: &(), other: &Self) {
        self.0 += other.0;
    }

    fn value(&self) -> Option<FeatureValue> {
        (self.0 > 0).then_some(FeatureValue::Number(self.0 as f64))
    }
}
