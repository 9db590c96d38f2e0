//! Per-user item histories: each user's most recent distinct items of one kind of event
//! (interactions, or exposures), bounded, with the time each was last seen.

use std::collections::{HashMap, VecDeque};

use cascade_core::time::TimestampMs;
use cascade_core::{Event, EventObserver, EventTypes};
use parking_lot::RwLock;

/// Which events a history keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryKind {
    /// Interactions: every type that is not an exposure type.
    Interactions,
    /// Exposures: the exposure types (impressions).
    Exposures,
}

/// Hashed with ahash: a request's filters look up each of hundreds of candidates.
type ById<V> = HashMap<String, V, ahash::RandomState>;

#[derive(Default)]
struct RecentItems {
    order: VecDeque<String>,
    last_seen: ById<TimestampMs>,
}

/// One user's history as [`UserHistory::with_user`] lends it: read under the history's lock,
/// taken once for all the lookups a filter makes.
pub struct UserItems<'a>(Option<&'a RecentItems>);

impl UserItems<'_> {
    /// Whether the user has `item_id` in the (bounded) history.
    pub fn contains(&self, item_id: &str) -> bool {
        self.last_seen(item_id).is_some()
    }

    /// When the user last had an event of this kind with `item_id`.
    pub fn last_seen(&self, item_id: &str) -> Option<TimestampMs> {
        self.0?.last_seen.get(item_id).copied()
    }
}

/// Each user's most recent distinct items of one [`HistoryKind`], newest last, at most
/// `max_items_per_user` per user.
pub struct UserHistory {
    users: RwLock<ById<RecentItems>>,
    max_items_per_user: usize,
    kind: HistoryKind,
    types: EventTypes,
    watermark: RwLock<TimestampMs>,
}

impl UserHistory {
    /// An empty history of `kind`, keeping up to `max_items_per_user` items per user.
    pub fn new(kind: HistoryKind, max_items_per_user: usize, types: EventTypes) -> Self {
        Self {
            users: RwLock::new(HashMap::default()),
            max_items_per_user: max_items_per_user.max(1),
            kind,
            types,
            watermark: RwLock::new(TimestampMs::MIN),
        }
    }

    /// Whether `uid` has `item_id` in the (bounded) history.
    pub fn contains(&self, uid: &str, item_id: &str) -> bool {
        self.with_user(uid, |items| items.contains(item_id))
    }

    /// `read` over `uid`'s history, under one read lock and one lookup of the user: for
    /// checking many items (a filter's candidates) at once. Events wait while it runs.
    pub fn with_user<R>(&self, uid: &str, read: impl FnOnce(UserItems<'_>) -> R) -> R {
        let users = self.users.read();
        read(UserItems(users.get(uid)))
    }

    /// The number of items remembered for `uid`.
    pub fn len(&self, uid: &str) -> usize {
        self.users
            .read()
            .get(uid)
            .map_or(0, |recent| recent.order.len())
    }

    /// `uid`'s remembered items, most recent first.
    pub fn recent(&self, uid: &str, limit: usize) -> Vec<String> {
        self.users.read().get(uid).map_or_else(Vec::new, |recent| {
            recent.order.iter().rev().take(limit).cloned().collect()
        })
    }

    /// The newest event time this history has seen (the event-time clock).
    pub fn watermark(&self) -> TimestampMs {
        *self.watermark.read()
    }

    fn keeps(&self, event_type: &str) -> bool {
        let interaction = self.types.is_interaction(event_type);
        match self.kind {
            HistoryKind::Interactions => interaction,
            HistoryKind::Exposures => !interaction,
        }
    }
}

impl EventObserver for UserHistory {
    fn observe(&self, _seq: u64, event: &Event) {
        if !self.keeps(&event.event_type) {
            return;
        }
        {
            let mut watermark = self.watermark.write();
            *watermark = (*watermark).max(event.timestamp);
        }
        let mut users = self.users.write();
        let recent = users.entry(event.uid.clone()).or_default();
        if let Some(seen) = recent.last_seen.get_mut(&event.item_id) {
            *seen = (*seen).max(event.timestamp);
            return;
        }
        recent.order.push_back(event.item_id.clone());
        recent
            .last_seen
            .insert(event.item_id.clone(), event.timestamp);
        if recent.order.len() > self.max_items_per_user
            && let Some(oldest) = recent.order.pop_front()
        {
            recent.last_seen.remove(&oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(uid: &str, item: &str, kind: &str, timestamp: TimestampMs) -> Event {
        Event::new(&format!("{uid}-{item}-{kind}"), kind, uid, item, timestamp)
    }

    #[test]
    fn keeps_recent_interactions_and_ignores_exposure() {
        let history = UserHistory::new(HistoryKind::Interactions, 2, EventTypes::default());
        history.observe(0, &event("u", "a", "click", 1));
        history.observe(1, &event("u", "b", "impression", 2));
        history.observe(2, &event("u", "c", "like", 3));
        history.observe(3, &event("u", "a", "purchase", 4));
        assert!(history.contains("u", "a"));
        assert_eq!(
            history.with_user("u", |items| items.last_seen("a")),
            Some(4)
        );
        assert!(!history.contains("u", "b"));
        assert_eq!(history.recent("u", 10), ["c", "a"]);
        history.observe(4, &event("u", "d", "click", 5));
        assert!(!history.contains("u", "a"), "the oldest item is evicted");
        assert_eq!(history.len("u"), 2);
    }

    #[test]
    fn exposures_keep_only_exposure_events() {
        let history = UserHistory::new(HistoryKind::Exposures, 10, EventTypes::default());
        history.observe(0, &event("u", "a", "click", 1));
        history.observe(1, &event("u", "b", "impression", 7));
        assert!(!history.contains("u", "a"));
        assert_eq!(
            history.with_user("u", |items| items.last_seen("b")),
            Some(7)
        );
        assert_eq!(history.watermark(), 7);
    }
}
