//! Filters: drop candidates. Each is a `FilterConfs` type, built from its settings.

use std::collections::HashSet;
use std::sync::Arc;

use cascade_core::RequestContext;
use cascade_core::expr::Expr;
use cascade_stream::UserHistory;

use crate::entry::Entry;

/// Drops candidates from a list.
pub trait Filter: Send + Sync {
    /// The candidates to keep, in their order.
    fn filter(&self, request: &RequestContext, entries: Vec<Entry>) -> Vec<Entry>;
}

/// `UniqueFilter`: the first occurrence of each item.
pub struct UniqueFilter;

impl Filter for UniqueFilter {
    fn filter(&self, _: &RequestContext, mut entries: Vec<Entry>) -> Vec<Entry> {
        let mut seen = HashSet::with_capacity_and_hasher(entries.len(), ahash::RandomState::new());
        let first: Vec<bool> = entries.iter().map(|e| seen.insert(e.id())).collect();
        drop(seen);
        let mut first = first.into_iter();
        entries.retain(|_| first.next().unwrap_or(false));
        entries
    }
}

/// `User2ItemExposureFilter`: drops items shown to the user within the last `Hours`
/// (of event time), from impression events.
pub struct ExposureFilter {
    /// Exposure history.
    pub exposures: Arc<UserHistory>,
    /// The window, in milliseconds.
    pub window_ms: i64,
}

impl Filter for ExposureFilter {
    fn filter(&self, request: &RequestContext, mut entries: Vec<Entry>) -> Vec<Entry> {
        let since = self.exposures.watermark().saturating_sub(self.window_ms);
        self.exposures.with_user(&request.uid, |shown| {
            entries.retain(|e| shown.last_seen(e.id()).is_none_or(|seen| seen < since));
        });
        entries
    }
}

/// `UserInteractedFilter`: drops items the user already interacted with.
pub struct InteractedFilter {
    /// Interaction history.
    pub interactions: Arc<UserHistory>,
}

impl Filter for InteractedFilter {
    fn filter(&self, request: &RequestContext, mut entries: Vec<Entry>) -> Vec<Entry> {
        self.interactions.with_user(&request.uid, |interacted| {
            entries.retain(|e| !interacted.contains(e.id()));
        });
        entries
    }
}

/// `ItemStateFilter`: keeps items that are in the catalogue and, when a `Condition` is set,
/// satisfy it (e.g. `status == 'online' && year >= 2000`).
pub struct ItemStateFilter {
    /// The condition over item fields, if any.
    pub condition: Option<Expr>,
}

impl Filter for ItemStateFilter {
    fn filter(&self, _: &RequestContext, mut entries: Vec<Entry>) -> Vec<Entry> {
        entries.retain(|e| {
            e.item.is_some()
                && self
                    .condition
                    .as_ref()
                    .is_none_or(|c| c.eval(&|name| e.value(name)).is_true())
        });
        entries
    }
}

/// `AdjustCountFilter`: keeps the first `Count` candidates.
pub struct AdjustCountFilter {
    /// How many to keep.
    pub count: usize,
}

impl Filter for AdjustCountFilter {
    fn filter(&self, _: &RequestContext, mut entries: Vec<Entry>) -> Vec<Entry> {
        entries.truncate(self.count);
        entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::test_entry;
    use cascade_core::{Event, EventObserver, EventTypes, FieldValue};
    use cascade_stream::HistoryKind;

    fn request() -> RequestContext {
        RequestContext {
            uid: "u".into(),
            ..RequestContext::default()
        }
    }

    fn ids(entries: &[Entry]) -> Vec<&str> {
        entries.iter().map(Entry::id).collect()
    }

    fn shown(item: &str, timestamp: i64) -> Event {
        Event::new(
            &format!("{item}{timestamp}"),
            "impression",
            "u",
            item,
            timestamp,
        )
    }

    #[test]
    fn exposure_filter_drops_only_recent_impressions() {
        let exposures = Arc::new(UserHistory::new(
            HistoryKind::Exposures,
            10,
            EventTypes::default(),
        ));
        exposures.observe(0, &shown("old", 0));
        exposures.observe(1, &shown("new", 10 * 3_600_000));
        let filter = ExposureFilter {
            exposures,
            window_ms: 3_600_000,
        };
        let entries = ["old", "new", "never"]
            .map(|id| test_entry(id, 0.0, "main", &[]))
            .to_vec();
        assert_eq!(ids(&filter.filter(&request(), entries)), ["old", "never"]);
    }

    #[test]
    fn item_state_needs_the_item_and_the_condition() {
        let filter = ItemStateFilter {
            condition: Some(Expr::parse("year >= 2000").unwrap()),
        };
        let mut gone = test_entry("gone", 0.0, "main", &[]);
        gone.item = None;
        let entries = vec![
            test_entry("new", 0.0, "main", &[("year", FieldValue::Numeric(2010.0))]),
            test_entry("old", 0.0, "main", &[("year", FieldValue::Numeric(1990.0))]),
            test_entry("unknown_year", 0.0, "main", &[]),
            gone,
        ];
        assert_eq!(ids(&filter.filter(&request(), entries)), ["new"]);
    }

    #[test]
    fn unique_and_adjust_count() {
        let entries = ["a", "b", "a", "c"]
            .map(|id| test_entry(id, 0.0, "main", &[]))
            .to_vec();
        let unique = UniqueFilter.filter(&request(), entries);
        assert_eq!(ids(&unique), ["a", "b", "c"]);
        assert_eq!(
            ids(&AdjustCountFilter { count: 2 }.filter(&request(), unique)),
            ["a", "b"]
        );
    }
}
