//! The online feature source: what ranking models read at serving time, from the same live
//! state the recall sources use.
//!
//! [`ItemStatsIndex`] follows the event log and keeps each item's interaction statistics;
//! [`LiveFeatureSource`] answers [`FeatureSource`] from it, from the users' interaction
//! histories, from the engine's item cache and from the feature store (window features,
//! enricher outputs; read through a [`FeatureReader`], within the request's deadline). Offline
//! jobs answer the same trait from training data, so a model sees features computed by the
//! same code in both places.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::sync::Arc;

use cascade_core::{Event, EventObserver, EventTypes, RequestContext};
use cascade_rank::features::{FeatureSource, ItemStats, ProfileNeeds, RATING_EVENT, UserProfile};
use cascade_store::FeatureStore;
use cascade_store::features::UserItemFeatures;
use cascade_stream::UserHistory;
use parking_lot::{Mutex, RwLock};

use crate::breaker::CircuitBreaker;
use crate::engine::Shared;
use crate::feature_reads::FeatureReader;

/// Each item's interaction statistics, kept up to date from the event log: distinct users who
/// interacted (each user counted once per item), and the ratings received (one per user).
pub struct ItemStatsIndex {
    types: EventTypes,
    /// Hashes of the (user, item) pairs and (user, item, rating) triples already counted.
    counted: Mutex<HashSet<u64>>,
    /// By [`item_key`], hashed with ahash: a request reads every candidate's statistics
    /// (SipHash showed in profiles), and a key held in the table's own slot spares each read
    /// a visit to an id string elsewhere in memory. Each item's statistics have their own
    /// lock, so counting an event of an item already known takes only the map's read lock: a
    /// request's reads wait for the event thread (which runs at background priority) only on
    /// the one item it is counting, or while it adds an item seen for the first time.
    stats: RwLock<HashMap<u64, Mutex<ItemStats>, ahash::RandomState>>,
}

/// The key [`ItemStatsIndex`] files an item's statistics under: a fixed 64-bit hash of its
/// id. Two ids of a catalogue of a million sharing a key (and so their statistics) is a one in
/// 30 million chance.
fn item_key(item_id: &str) -> u64 {
    const SEEDS: ahash::RandomState =
        ahash::RandomState::with_seeds(0x5ca1_ab1e, 0xca5c_ade0, 0x0bad_cafe, 0x7e57_ab1e);
    SEEDS.hash_one(item_id)
}

impl ItemStatsIndex {
    /// An empty index that counts the interaction types of `types`.
    pub fn new(types: EventTypes) -> Self {
        Self {
            types,
            counted: Mutex::new(HashSet::new()),
            stats: RwLock::new(HashMap::default()),
        }
    }

    /// The statistics of `item_id`; all zero for an item nobody interacted with.
    pub fn get(&self, item_id: &str) -> ItemStats {
        self.get_all(&[item_id]).pop().unwrap_or_default()
    }

    /// The statistics of each of `item_ids`, in order, read under one lock.
    pub fn get_all(&self, item_ids: &[&str]) -> Vec<ItemStats> {
        let stats = self.stats.read();
        item_ids
            .iter()
            .map(|id| {
                stats
                    .get(&item_key(id))
                    .map(|stats| *stats.lock())
                    .unwrap_or_default()
            })
            .collect()
    }
}

/// A stable hash of one counted fact.
fn fact(uid: &str, item_id: &str, rating: bool) -> u64 {
    BuildHasherDefault::<DefaultHasher>::default().hash_one((uid, item_id, rating))
}

impl EventObserver for ItemStatsIndex {
    fn observe(&self, _seq: u64, event: &Event) {
        if !self.types.is_interaction(&event.event_type) {
            return;
        }
        let rating = event.event_type == RATING_EVENT;
        let (new_user, new_rating) = {
            let mut counted = self.counted.lock();
            let new_user = counted.insert(fact(&event.uid, &event.item_id, false));
            let new_rating = rating && counted.insert(fact(&event.uid, &event.item_id, true));
            (new_user, new_rating)
        };
        if !new_user && !new_rating {
            return;
        }
        let count = |stats: &mut ItemStats| {
            if new_user {
                stats.count_user();
            }
            if new_rating {
                stats.count_rating(event.value);
            }
        };
        let key = item_key(&event.item_id);
        if let Some(known) = self.stats.read().get(&key) {
            count(&mut known.lock());
            return;
        }
        let mut stats = self.stats.write();
        count(stats.entry(key).or_default().get_mut());
    }
}

/// The [`FeatureSource`] of a running engine: user profiles from the users' recent
/// interactions (items read through the engine's cache), item statistics from an
/// [`ItemStatsIndex`], feature-store values from the store given by
/// [`LiveFeatureSource::with_store`] (without one they read as missing; so do they when the
/// store gives no answer by the request's deadline). Scores of recall
/// sources that did not propose a candidate are not computed online: those features read as
/// missing.
pub struct LiveFeatureSource {
    interactions: Arc<UserHistory>,
    stats: Arc<ItemStatsIndex>,
    shared: Arc<Shared>,
    history_len: usize,
    store: Option<FeatureReader>,
}

impl LiveFeatureSource {
    /// A source over live state; profiles summarise at most `history_len` recent items.
    pub fn new(
        interactions: Arc<UserHistory>,
        stats: Arc<ItemStatsIndex>,
        shared: Arc<Shared>,
        history_len: usize,
    ) -> Self {
        Self {
            interactions,
            stats,
            shared,
            history_len,
            store: None,
        }
    }

    /// The same source reading `user_feature.*` and `item_feature.*` from `store`, skipping
    /// the reads while `breaker` is open.
    pub fn with_store(self, store: Arc<dyn FeatureStore>, breaker: CircuitBreaker) -> Self {
        Self {
            store: Some(FeatureReader::start(store, breaker)),
            ..self
        }
    }
}

impl FeatureSource for LiveFeatureSource {
    fn user(&self, request: &RequestContext, needs: &ProfileNeeds) -> Arc<UserProfile> {
        let recent = self.interactions.recent(&request.uid, self.history_len);
        if recent.is_empty() {
            return Arc::default();
        }
        let items: Vec<_> = recent.iter().map(|id| self.shared.item(id)).collect();
        Arc::new(UserProfile::from_history_for(
            needs,
            items.iter().map(Option::as_deref),
        ))
    }

    fn item_stats(&self, item_id: &str) -> ItemStats {
        self.stats.get(item_id)
    }

    fn item_stats_of(&self, item_ids: &[&str]) -> Vec<ItemStats> {
        self.stats.get_all(item_ids)
    }

    /// One [`FeatureReader::read`]; a read that gave no values (failed, late, skipped) reads
    /// as missing and is noted in the request's shortfalls (the answer is marked degraded); a
    /// failed or late one is logged and counted (`cascade_feature_store_read_failures_total`).
    fn store_features(
        &self,
        request: &RequestContext,
        user_features: &[&str],
        items: &[&str],
        item_features: &[&str],
    ) -> Option<UserItemFeatures> {
        let reader = self.store.as_ref()?;
        match reader.read(request, user_features, items, item_features) {
            Ok(values) => Some(values),
            Err(why) => {
                if !why.starts_with("skipped") {
                    tracing::warn!(uid = %request.uid, %why, "ranking features not read from the feature store");
                    metrics::counter!("cascade_feature_store_read_failures_total").increment(1);
                }
                request.shortfalls.note(format!("feature store: {why}"));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(uid: &str, item: &str, kind: &str, value: f64) -> Event {
        let mut event = Event::new(&format!("{uid}-{item}-{kind}-{value}"), kind, uid, item, 0);
        event.value = value;
        event
    }

    #[test]
    fn counts_each_user_once_per_item_and_each_rating_once() {
        let index = ItemStatsIndex::new(EventTypes::default());
        for (seq, e) in [
            event("a", "x", "click", 1.0),
            event("a", "x", "click", 1.0),
            event("b", "x", RATING_EVENT, 4.0),
            event("b", "x", RATING_EVENT, 2.0),
            event("c", "x", "impression", 1.0),
            event("a", "y", RATING_EVENT, 5.0),
        ]
        .iter()
        .enumerate()
        {
            index.observe(seq as u64, e);
        }
        assert_eq!(
            index.get("x"),
            ItemStats {
                users: 2,
                rating_sum: 4.0,
                ratings: 1
            },
            "a twice, b's first rating; the impression is no interaction"
        );
        assert_eq!(index.get("y").rating_mean(), Some(5.0));
        assert_eq!(index.get("z"), ItemStats::default());
        assert_eq!(
            index.get_all(&["z", "x", "y"]),
            [index.get("z"), index.get("x"), index.get("y")],
            "in order, under one lock"
        );
    }
}
