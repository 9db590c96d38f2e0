//! Per-user interaction history: each user's most recent distinct items, bounded.

use std::collections::{HashMap, HashSet, VecDeque};

use cascade_core::{Event, EventObserver, EventTypes};
use parking_lot::RwLock;

#[derive(Default)]
struct RecentItems {
    order: VecDeque<String>,
    members: HashSet<String>,
}

/// The items each user interacted with (exposure events do not count), newest last,
/// at most `max_items_per_user` per user.
pub struct UserHistory {
    users: RwLock<HashMap<String, RecentItems>>,
    max_items_per_user: usize,
    types: EventTypes,
}

impl UserHistory {
    /// An empty history keeping up to `max_items_per_user` items per user.
    pub fn new(max_items_per_user: usize, types: EventTypes) -> Self {
        Self {
            users: RwLock::new(HashMap::new()),
            max_items_per_user: max_items_per_user.max(1),
            types,
        }
    }

    /// Whether `uid` interacted with `item_id` (within the bounded history).
    pub fn contains(&self, uid: &str, item_id: &str) -> bool {
        self.users
            .read()
            .get(uid)
            .is_some_and(|recent| recent.members.contains(item_id))
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
}

impl EventObserver for UserHistory {
    fn observe(&self, _seq: u64, event: &Event) {
        if !self.types.is_interaction(&event.event_type) {
            return;
        }
        let mut users = self.users.write();
        let recent = users.entry(event.uid.clone()).or_default();
        if recent.members.contains(&event.item_id) {
            return;
        }
        recent.order.push_back(event.item_id.clone());
        recent.members.insert(event.item_id.clone());
        if recent.order.len() > self.max_items_per_user
            && let Some(oldest) = recent.order.pop_front()
        {
            recent.members.remove(&oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(uid: &str, item: &str, kind: &str) -> Event {
        Event {
            event_id: format!("{uid}-{item}-{kind}"),
            event_type: kind.into(),
            uid: uid.into(),
            item_id: item.into(),
            timestamp: 0,
            value: 1.0,
            context: Default::default(),
            text: None,
        }
    }

    #[test]
    fn keeps_recent_interactions_and_ignores_exposure() {
        let history = UserHistory::new(2, EventTypes::default());
        history.observe(0, &event("u", "a", "click"));
        history.observe(1, &event("u", "b", "impression"));
        history.observe(2, &event("u", "c", "like"));
        history.observe(3, &event("u", "a", "purchase"));
        assert!(history.contains("u", "a"));
        assert!(!history.contains("u", "b"));
        assert_eq!(history.recent("u", 10), ["c", "a"]);
        history.observe(4, &event("u", "d", "click"));
        assert!(!history.contains("u", "a"), "the oldest item is evicted");
        assert_eq!(history.len("u"), 2);
    }
}
