//! Numerator events over denominator events, e.g. clicks / impressions.

use cascade_store::FeatureValue;
use serde::{Deserialize, Serialize};

use super::Accumulator;
use crate::windows::sample::Sample;

/// Counts the two roles of [`Sample`]; undefined while the denominator is zero.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Ratio {
    numerator: u64,
    denominator: u64,
}

impl Accumulator for Ratio {
    type Params = ();

    fn add(&mut self, _: &(), sample: &Sample<'_>) {
        self.numerator += u64::from(sample.numerator);
        self.denominator += u64::from(sample.denominator);
    }

    fn merge(&mut self, _: &(), other: &Self) {
        self.numerator += other.numerator;
        self.denominator += other.denominator;
    }

    fn value(&self) -> Option<FeatureValue> {
        (self.denominator > 0)
            .then(|| FeatureValue::Number(self.numerator as f64 / self.denominator as f64))
    }
}
