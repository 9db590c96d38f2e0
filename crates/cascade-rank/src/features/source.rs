//! Where the features that are neither on the candidate nor on the item come from.

use std::collections::HashMap;
use std::sync::Arc;

use cascade_core::RequestContext;
use cascade_store::FeatureValue;
use cascade_store::features::UserItemFeatures;

use super::profile::{ProfileNeeds, UserProfile};

/// The event type whose value is a rating: `item_rating_mean` averages the values of these.
pub const RATING_EVENT: &str = "rating";

/// What the interaction log says about one item.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ItemStats {
    /// How many distinct users interacted with it.
    pub users: u32,
    /// The sum of the rating values it received.
    pub rating_sum: f64,
    /// How many ratings it received.
    pub ratings: u32,
}

impl ItemStats {
    /// The mean rating value, if it has ratings.
    pub fn rating_mean(&self) -> Option<f64> {
        (self.ratings > 0).then(|| self.rating_sum / f64::from(self.ratings))
    }

    /// Counts a user's first interaction with the item.
    pub fn count_user(&mut self) {
        self.users += 1;
    }

    /// Counts a user's rating of the item (once per user).
    pub fn count_rating(&mut self, value: f64) {
        self.rating_sum += value;
        self.ratings += 1;
    }
}

/// The user profiles, item statistics and cross-source recall scores that features read.
///
/// The same trait serves a request online (backed by the feature store) and an offline
/// evaluation or training job (backed by the training interactions), so both compute features
/// with the same code.
pub trait FeatureSource: Send + Sync {
    /// The profile of the request's user, summarising at least what `needs` names (a source
    /// that keeps whole profiles may give one); an empty one for a user without history.
    fn user(&self, request: &RequestContext, needs: &ProfileNeeds) -> Arc<UserProfile>;

    /// The interaction statistics of `item_id`; all zero for an unknown item.
    fn item_stats(&self, item_id: &str) -> ItemStats;

    /// The statistics of each of `item_ids`, in order, as [`FeatureSource::item_stats`] gives
    /// them (by default, one call each); a source behind a lock reads them all under one.
    fn item_stats_of(&self, item_ids: &[&str]) -> Vec<ItemStats> {
        item_ids.iter().map(|id| self.item_stats(id)).collect()
    }

    /// The score recall source `source` would give `item_id` for the request's user, asked for
    /// candidates another source proposed; `None` where it gives none. By default, none.
    fn recall_score(&self, request: &RequestContext, source: &str, item_id: &str) -> Option<f64> {
        let _ = (request, source, item_id);
        None
    }

    /// The feature-store values of `user_features` for the request's user and of
    /// `item_features` for each of `items` (in order), read in one batch — one round trip to
    /// the store; `None` where the source has no feature store. By default, none: the
    /// offline sources (backfill, evaluation, training) hold no feature store, so there
    /// `user_feature.*` and `item_feature.*` read as NaN.
    fn store_features(
        &self,
        request: &RequestContext,
        user_features: &[&str],
        items: &[&str],
        item_features: &[&str],
    ) -> Option<UserItemFeatures> {
        let _ = (request, user_features, items, item_features);
        None
    }
}

/// A [`FeatureSource`] held in memory: profiles by uid, statistics by item id,
/// cross-source recall scores by (uid, source, item id) and feature-store values by
/// (feature, entity).
#[derive(Debug, Clone, Default)]
pub struct MemoryFeatureSource {
    /// Profiles by uid.
    pub users: HashMap<String, Arc<UserProfile>>,
    /// Statistics by item id.
    pub items: HashMap<String, ItemStats>,
    /// Recall scores by (uid, source) and item id.
    pub recall: HashMap<(String, String), HashMap<String, f64>>,
    /// Feature-store values by (feature name, entity: a uid or an item id).
    pub store: HashMap<(String, String), FeatureValue>,
}

impl MemoryFeatureSource {
    fn stored(&self, feature: &str, entity: &str) -> Option<FeatureValue> {
        self.store
            .get(&(feature.to_string(), entity.to_string()))
            .cloned()
    }
}

impl FeatureSource for MemoryFeatureSource {
    fn user(&self, request: &RequestContext, _: &ProfileNeeds) -> Arc<UserProfile> {
        self.users.get(&request.uid).cloned().unwrap_or_default()
    }

    fn item_stats(&self, item_id: &str) -> ItemStats {
        self.items.get(item_id).copied().unwrap_or_default()
    }

    fn recall_score(&self, request: &RequestContext, source: &str, item_id: &str) -> Option<f64> {
        self.recall
            .get(&(request.uid.clone(), source.to_string()))
            .and_then(|scores| scores.get(item_id))
            .copied()
    }

    fn store_features(
        &self,
        request: &RequestContext,
        user_features: &[&str],
        items: &[&str],
        item_features: &[&str],
    ) -> Option<UserItemFeatures> {
        let values = |entity: &str, features: &[&str]| -> Vec<Option<FeatureValue>> {
            features
                .iter()
                .map(|feature| self.stored(feature, entity))
                .collect()
        };
        Some(UserItemFeatures {
            user: values(&request.uid, user_features),
            items: items
                .iter()
                .map(|item| values(item, item_features))
                .collect(),
        })
    }
}
