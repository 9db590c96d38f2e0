//! The state a replay keeps as of its current time: each user's profile and distinct
//! items, each item's statistics, and the popularity the negatives are drawn by.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use cascade_core::time::TimestampMs;
use cascade_core::{Event, RequestContext};

use super::Catalogue;
use super::sampler::PopularitySampler;
use crate::features::{FeatureSource, ItemStats, ProfileNeeds, RATING_EVENT, UserProfile};

/// One user as of now.
#[derive(Debug, Default)]
pub(super) struct UserState {
    pub(super) profile: Arc<UserProfile>,
    /// The distinct items interacted with.
    pub(super) seen: HashSet<String>,
    /// The newest interaction applied.
    pub(super) last: Option<TimestampMs>,
}

/// One item as of now.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct ItemState {
    pub(super) stats: ItemStats,
    /// The newest interaction applied.
    pub(super) last: Option<TimestampMs>,
}

/// Users, items and popularity after the events applied so far.
pub(super) struct State<'a> {
    catalogue: &'a Catalogue,
    pub(super) users: HashMap<String, UserState>,
    pub(super) items: HashMap<String, ItemState>,
    /// (uid, item id) pairs whose rating is counted (the first rating of a pair counts, as
    /// online).
    rated: HashSet<(String, String)>,
    pub(super) popularity: PopularitySampler,
}

impl<'a> State<'a> {
    pub(super) fn new(catalogue: &'a Catalogue) -> Self {
        Self {
            catalogue,
            users: HashMap::new(),
            items: HashMap::new(),
            rated: HashSet::new(),
            popularity: PopularitySampler::new(catalogue.len()),
        }
    }

    /// Applies one interaction event: the user's first interaction with the item adds it to
    /// their profile and counts them among the item's users; a user's first rating of the item
    /// counts in its rating mean.
    pub(super) fn apply(&mut self, event: &Event) {
        let user = self.users.entry(event.uid.clone()).or_default();
        let first = user.seen.insert(event.item_id.clone());
        let item = self.items.entry(event.item_id.clone()).or_default();
        if first {
            let known = self.catalogue.index(&event.item_id);
            Arc::make_mut(&mut user.profile).push(known.map(|i| self.catalogue.item(i)));
            item.stats.count_user();
            if let Some(index) = known {
                self.popularity.add_user(index);
            }
        }
        if event.event_type == RATING_EVENT
            && self
                .rated
                .insert((event.uid.clone(), event.item_id.clone()))
        {
            item.stats.count_rating(event.value);
        }
        user.last = user.last.max(Some(event.timestamp));
        item.last = item.last.max(Some(event.timestamp));
    }

    /// Whether `uid` has interacted with `item_id`.
    pub(super) fn has_seen(&self, uid: &str, item_id: &str) -> bool {
        self.users
            .get(uid)
            .is_some_and(|user| user.seen.contains(item_id))
    }

    /// The newest event time that the state of `uid` and of `item_id` holds.
    pub(super) fn as_of(&self, uid: &str, item_id: &str) -> Option<TimestampMs> {
        let user = self.users.get(uid).and_then(|u| u.last);
        let item = self.items.get(item_id).and_then(|i| i.last);
        user.max(item)
    }
}

/// The state as a [`FeatureSource`]: profiles and statistics as of now; recall scores from
/// `recall` when one is given, else none.
pub(super) struct AsOf<'s, 'a> {
    pub(super) state: &'s State<'a>,
    pub(super) recall: Option<&'s dyn FeatureSource>,
}

impl FeatureSource for AsOf<'_, '_> {
    fn user(&self, request: &RequestContext, _: &ProfileNeeds) -> Arc<UserProfile> {
        self.state
            .users
            .get(&request.uid)
            .map(|user| user.profile.clone())
            .unwrap_or_default()
    }

    fn item_stats(&self, item_id: &str) -> ItemStats {
        self.state
            .items
            .get(item_id)
            .map(|item| item.stats)
            .unwrap_or_default()
    }

    fn recall_score(&self, request: &RequestContext, source: &str, item_id: &str) -> Option<f64> {
        self.recall?.recall_score(request, source, item_id)
    }
}
