//! The number of distinct values (items, categories …).

use std::collections::HashSet;

use ahash::RandomState;
use cascade_store::FeatureValue;
use serde::{Deserialize, Serialize};

use super::Accumulator;
use crate::windows::sample::Sample;

/// Counts distinct sample labels; keeps the set, so windows and sessions merge exactly.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DistinctCount(HashSet<String, RandomState>);

impl Accumulator for DistinctCount {
    type Params = ();

    fn add(&mut self, _: &(), sample: &Sample<'_>) {
        if !self.0.contains(sample.label) {
            self.0.insert(sample.label.to_owned());
        }
    }

    fn merge(&mut self, _: &(), other: &Self) {
        self.0.extend(other.0.iter().cloned());
    }

    fn value(&self) -> Option<FeatureValue> {
        (!self.0.is_empty()).then_some(FeatureValue::Number(self.0.len() as f64))
    }
}
