//! The newest items (PAI-Rec's `ColdStartRecall`): the catalogue ordered by a time field,
//! newest first; the source for items that have no interactions yet.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};

use cascade_core::{Candidate, FieldValue, Item, ItemObserver, RequestContext};
use parking_lot::RwLock;

use crate::source::RecallSource;

#[derive(Default)]
struct Order {
    by_time: BTreeSet<(Reverse<i64>, String)>,
    time_of: HashMap<String, i64>,
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

    fn time_of(&self, item: &Item) -> Option<i64> {
        match item.fields.get(&self.time_field)? {
            FieldValue::Timestamp(t) => Some(*t),
            FieldValue::Numeric(x) => Some(*x as i64),
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
            .map(|(Reverse(time), id)| Candidate::new(id.clone(), *time as f64, self.name.clone()))
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
}
