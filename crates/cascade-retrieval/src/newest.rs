//! The newest items (PAI-Rec's `ColdStartRecall`): the catalogue ordered by a time field,
//! newest first; the source for items that have no interactions yet.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};

use cascade_core::{Candidate, FieldValue, Item, ItemObserver, RequestContext};
use parking_lot::RwLock;

use crate::source::RecallSource;

/// An item's time as its score: the field's value, ordered totally.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Time(f64);

impl Eq for Time {}

impl PartialOrd for Time {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Time {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

#[derive(Default)]
struct Order {
    by_time: BTreeSet<(Reverse<Time>, String)>,
    time_of: HashMap<String, Time>,
}

/// Items ordered by a numeric or timestamp field, newest first.
pub struct NewestItems {
    name: String,
    time_field: String,
    order: RwLock<Order>,
}

impl NewestItems {
    /// An empty index named `name` (the candidates' `retrieve_id`) over `time_field`.
    pub fn new(name: &str, time_field: &str) -> Self {
        Self {
            name: name.to_string(),
            time_field: time_field.to_string(),
            order: RwLock::new(Order::default()),
        }
    }

    /// The item's time field as a number; a numeric field keeps its value whatever its size
    /// (stores written before numbers were bounded may hold any finite one).
    fn time_of(&self, item: &Item) -> Option<Time> {
        match item.fields.get(&self.time_field)? {
            FieldValue::Timestamp(t) => Some(Time(*t as f64)),
            FieldValue::Numeric(x) => Some(Time(*x)),
            _ => None,
        }
    }
}

impl ItemObserver for NewestItems {
    fn upserted(&self, item: &Item) {
        self.deleted(&item.id);
        if let Some(time) = self.time_of(item) {
            let mut order = self.order.write();
            order.by_time.insert((Reverse(time), item.id.clone()));
            order.time_of.insert(item.id.clone(), time);
        }
    }

    fn deleted(&self, id: &str) {
        let mut order = self.order.write();
        if let Some(time) = order.time_of.remove(id) {
            order.by_time.remove(&(Reverse(time), id.to_string()));
        }
    }
}

impl RecallSource for NewestItems {
    fn name(&self) -> &str {
        &self.name
    }

    fn recall(&self, _request: &RequestContext, limit: usize) -> Vec<Candidate> {
        self.order
            .read()
            .by_time
            .iter()
            .take(limit)
            .map(|(Reverse(time), id)| Candidate::new(id.clone(), time.0, self.name.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, year: f64) -> Item {
        Item {
            id: id.into(),
            fields: [("year".to_string(), FieldValue::Numeric(year))].into(),
            embeddings: Default::default(),
        }
    }

    #[test]
    fn newest_first_and_follows_updates_and_deletes() {
        let newest = NewestItems::new("fresh", "year");
        newest.upserted(&item("a", 2001.0));
        newest.upserted(&item("b", 2010.0));
        newest.upserted(&item("c", 1990.0));
        newest.upserted(&item("c", 2020.0));
        newest.deleted("b");
        let ids: Vec<String> = newest
            .recall(&RequestContext::default(), 10)
            .into_iter()
            .map(|c| c.item_id)
            .collect();
        assert_eq!(ids, ["c", "a"]);
    }

    #[test]
    fn a_huge_or_fractional_time_scores_its_own_value() {
        let newest = NewestItems::new("fresh", "year");
        newest.upserted(&item("huge", 1e308));
        newest.upserted(&item("later", 2001.75));
        newest.upserted(&item("earlier", 2001.25));
        let recalled: Vec<(String, f64)> = newest
            .recall(&RequestContext::default(), 10)
            .into_iter()
            .map(|c| (c.item_id, c.score))
            .collect();
        assert_eq!(
            recalled,
            [
                ("huge".into(), 1e308),
                ("later".into(), 2001.75),
                ("earlier".into(), 2001.25)
            ]
        );
    }
}
