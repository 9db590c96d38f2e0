//! Item fields for window features keyed or counted by a field of the event's item
//! (`user_x_field:category`, `field:category`): a bounded cache in front of the item store,
//! so an event costs a hash lookup, not a store read and a JSON decode.

use std::sync::Arc;

use cascade_core::{FieldValue, Item};
use cascade_store::ItemStore;
use cascade_stream::windows::ItemFields;
use moka::sync::Cache;

/// Items as the window features read them (`None`: not in the catalogue), cached.
pub struct ItemFieldCache {
    store: Arc<dyn ItemStore>,
    items: Cache<String, Option<Arc<Item>>>,
}

impl ItemFieldCache {
    /// A cache of at most `capacity` items over `store`.
    pub fn new(store: Arc<dyn ItemStore>, capacity: u64) -> Self {
        Self {
            store,
            items: Cache::new(capacity),
        }
    }

    /// Forgets item `id` after a catalogue write, so its new fields are read.
    pub fn forget(&self, id: &str) {
        self.items.invalidate(id);
    }
}

impl ItemFields for ItemFieldCache {
    fn field(&self, item_id: &str, field: &str) -> Option<FieldValue> {
        let item = self.items.get_with_by_ref(item_id, || {
            self.store.get_item(item_id).ok().flatten().map(Arc::new)
        })?;
        item.fields.get(field).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cascade_store::EmbeddedStore;

    #[test]
    fn reads_through_the_cache_until_the_item_is_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn ItemStore> = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        let put = |category: &str| {
            let item = Item {
                id: "i1".into(),
                fields: [("category".into(), FieldValue::Keyword(category.into()))].into(),
                embeddings: Default::default(),
            };
            store.upsert_items(&[item]).unwrap();
        };
        put("books");
        let cache = ItemFieldCache::new(store.clone(), 10);
        let category = || cache.field("i1", "category");
        assert_eq!(category(), Some(FieldValue::Keyword("books".into())));
        put("music");
        assert_eq!(category(), Some(FieldValue::Keyword("books".into())));
        cache.forget("i1");
        assert_eq!(category(), Some(FieldValue::Keyword("music".into())));
        assert_eq!(cache.field("missing", "category"), None);
    }
}
