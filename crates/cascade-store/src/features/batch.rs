//! The ranking read: one user's features and many items' features in one round trip.

use super::{FeatureKey, FeatureStore, FeatureValue};
use crate::error::StoreError;

/// What [`read_user_and_items`] found; `None` where a value is missing or expired.
#[derive(Debug, Clone, PartialEq)]
pub struct UserItemFeatures {
    /// The user's values, in the order of the user feature names.
    pub user: Vec<Option<FeatureValue>>,
    /// Per item (in the order given), its values in the order of the item feature names.
    pub items: Vec<Vec<Option<FeatureValue>>>,
}

/// Reads `user_features` of `uid` and `item_features` of every item in `items` with one
/// [`FeatureStore::read`], i.e. one round trip (one `MGET` on Redis).
pub fn read_user_and_items(
    store: &dyn FeatureStore,
    uid: &str,
    user_features: &[&str],
    items: &[&str],
    item_features: &[&str],
) -> Result<UserItemFeatures, StoreError> {
    let user_keys = user_features.iter().map(|&feature| FeatureKey {
        feature,
        entity: uid,
    });
    let item_keys = items.iter().flat_map(|&entity| {
        item_features
            .iter()
            .map(move |&feature| FeatureKey { feature, entity })
    });
    let keys: Vec<FeatureKey<'_>> = user_keys.chain(item_keys).collect();
    let mut values = store.read(&keys)?.into_iter();
    let user = values.by_ref().take(user_features.len()).collect();
    let items = items
        .iter()
        .map(|_| values.by_ref().take(item_features.len()).collect())
        .collect();
    Ok(UserItemFeatures { user, items })
}
