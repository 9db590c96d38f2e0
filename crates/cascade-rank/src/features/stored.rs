//! The feature-store side of a batch: `user_feature.*` and `item_feature.*` values, read for
//! the user and every candidate in one [`FeatureSource::store_features`] call.

use cascade_core::RequestContext;
use cascade_store::FeatureValue;

use super::source::FeatureSource;
use super::spec::{Feature, FeatureSet};
use crate::scorer::ScoringInput;

/// The numbers the feature store holds for one batch; NaN where a value is missing or is not
/// a number (a list, a vector).
pub(super) struct StoredValues<'a> {
    user_names: Vec<&'a str>,
    item_names: Vec<&'a str>,
    user: Vec<f64>,
    /// Per input, its values in the order of `item_names`.
    items: Vec<Vec<f64>>,
}

impl<'a> StoredValues<'a> {
    /// Reads what `set` declares for the request's user and each input's item, in one call;
    /// reads nothing when `set` declares no store feature.
    pub(super) fn read(
        set: &'a FeatureSet,
        source: &dyn FeatureSource,
        request: &RequestContext,
        inputs: &[ScoringInput<'_>],
    ) -> Self {
        let names = |wanted: fn(&Feature) -> Option<&str>| {
            let mut names: Vec<&str> = Vec::new();
            for name in set.features().iter().filter_map(wanted) {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
            names
        };
        let user_names = names(|f| match f {
            Feature::UserFeature(name) => Some(name),
            _ => None,
        });
        let item_names = names(|f| match f {
            Feature::ItemFeature(name) => Some(name),
            _ => None,
        });
        let mut values = Self {
            user: vec![f64::NAN; user_names.len()],
            items: vec![vec![f64::NAN; item_names.len()]; inputs.len()],
            user_names,
            item_names,
        };
        if values.user_names.is_empty() && values.item_names.is_empty() {
            return values;
        }
        let ids: Vec<&str> = inputs
            .iter()
            .map(|input| input.candidate.item_id.as_str())
            .collect();
        let read = source.store_features(request, &values.user_names, &ids, &values.item_names);
        if let Some(read) = read {
            numbers_into(&mut values.user, &read.user);
            for (row, found) in values.items.iter_mut().zip(&read.items) {
                numbers_into(row, found);
            }
        }
        values
    }

    /// `user_feature.NAME` of the request's user.
    pub(super) fn user(&self, name: &str) -> f64 {
        lookup(&self.user_names, &self.user, name)
    }

    /// `item_feature.NAME` of input `index`.
    pub(super) fn item(&self, index: usize, name: &str) -> f64 {
        lookup(&self.item_names, &self.items[index], name)
    }
}

fn numbers_into(numbers: &mut [f64], values: &[Option<FeatureValue>]) {
    for (number, value) in numbers.iter_mut().zip(values) {
        if let Some(FeatureValue::Number(x)) = value {
            *number = *x;
        }
    }
}

fn lookup(names: &[&str], values: &[f64], name: &str) -> f64 {
    names
        .iter()
        .position(|n| *n == name)
        .map_or(f64::NAN, |i| values[i])
}
