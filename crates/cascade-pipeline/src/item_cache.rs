//! A bounded cache of catalogue items in front of the item store, read by every request (each
//! recall candidate, each history item of the user profile) and by the stream thread (item
//! fields of window features). Items are held as [`RankItem`]s, so the ranking features cut
//! a cached item once ([`cascade_rank::features::ItemDigest`]), not once per request.
//!
//! Least-recently-used eviction ([`lru`]) in shards, each behind its own lock and hashed with
//! ahash, so a hit costs a hash, an uncontended lock and a list update. (A moka cache here took
//! about a tenth of the server's CPU under load: its admission and read-recording bookkeeping
//! cost more than the lookup.)
//!
//! A miss reads the store outside the lock. A write invalidates the item and bumps its shard's
//! generation; a read that started before the bump does not cache what it read, so a stale
//! item never outlives the write that replaced it.

use std::num::NonZeroUsize;
use std::sync::Arc;

use cascade_core::FieldValue;
use cascade_rank::features::RankItem;
use cascade_store::ItemStore;
use cascade_stream::windows::ItemFields;
use lru::LruCache;
use parking_lot::Mutex;

/// Shards: enough that request threads rarely meet on one lock.
const SHARDS: usize = 16;

/// One shard: its items (`None`: not in the catalogue) and its write generation.
struct Shard {
    items: LruCache<String, Option<Arc<RankItem>>, ahash::RandomState>,
    generation: u64,
}

/// Items by id, at most `capacity` of them, read through from the store.
pub struct ItemCache {
    store: Arc<dyn ItemStore>,
    shards: Vec<Mutex<Shard>>,
    hasher: ahash::RandomState,
}

impl ItemCache {
    /// A cache of at most `capacity` items (at least one per shard) over `store`.
    pub fn new(store: Arc<dyn ItemStore>, capacity: u64) -> Self {
        let per_shard = usize::try_from(capacity.div_ceil(SHARDS as u64)).unwrap_or(usize::MAX);
        let per_shard = NonZeroUsize::new(per_shard).unwrap_or(NonZeroUsize::MIN);
        let shards = (0..SHARDS)
            .map(|_| {
                let mut items = LruCache::unbounded_with_hasher(ahash::RandomState::new());
                items.resize(per_shard);
                Mutex::new(Shard {
                    items,
                    generation: 0,
                })
            })
            .collect();
        Self {
            store,
            shards,
            hasher: ahash::RandomState::new(),
        }
    }

    fn shard(&self, id: &str) -> &Mutex<Shard> {
        let hash = self.hasher.hash_one(id);
        &self.shards[(hash as usize) % SHARDS]
    }

    /// The item, from the cache or else the store (`None`: not in the catalogue, or the store
    /// failed).
    pub fn get(&self, id: &str) -> Option<Arc<RankItem>> {
        let generation = match self.cached(id) {
            Ok(hit) => return hit,
            Err(generation) => generation,
        };
        let read = self
            .store
            .get_item(id)
            .ok()
            .flatten()
            .map(|item| Arc::new(RankItem::new(item)));
        self.fill(id, generation, read.clone());
        read
    }

    /// The cached entry of `id`, or on a miss its shard's generation.
    fn cached(&self, id: &str) -> Result<Option<Arc<RankItem>>, u64> {
        let mut shard = self.shard(id).lock();
        match shard.items.get(id) {
            Some(hit) => Ok(hit.clone()),
            None => Err(shard.generation),
        }
    }

    /// Caches what a miss at `generation` read, unless a write has landed since.
    fn fill(&self, id: &str, generation: u64, read: Option<Arc<RankItem>>) {
        let mut shard = self.shard(id).lock();
        if shard.generation == generation {
            shard.items.put(id.to_owned(), read);
        }
    }

    /// Forgets item `id` after a catalogue write, so its new version is read.
    pub fn invalidate(&self, id: &str) {
        let mut shard = self.shard(id).lock();
        shard.items.pop(id);
        shard.generation += 1;
    }

    /// How many items are cached.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().items.len()).sum()
    }
}

/// Window features keyed or counted by a field of the event's item (`user_x_field:category`,
/// `field:category`) read it through the cache: an event costs a lookup, not a store read and
/// a decode.
impl ItemFields for ItemCache {
    fn field(&self, item_id: &str, field: &str) -> Option<FieldValue> {
        self.get(item_id)?.fields.get(field).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cascade_core::Item;
    use cascade_store::EmbeddedStore;

    fn item(id: &str, category: &str) -> Item {
        Item {
            id: id.into(),
            fields: [("category".into(), FieldValue::Keyword(category.into()))].into(),
            embeddings: Default::default(),
        }
    }

    fn category(cache: &ItemCache, id: &str) -> Option<FieldValue> {
        cache.field(id, "category")
    }

    #[test]
    fn reads_through_until_invalidated_and_remembers_missing_items() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        store.upsert_items(&[item("i1", "books")]).unwrap();
        let cache = ItemCache::new(store.clone(), 100);
        assert_eq!(
            category(&cache, "i1"),
            Some(FieldValue::Keyword("books".into()))
        );
        store.upsert_items(&[item("i1", "music")]).unwrap();
        assert_eq!(
            category(&cache, "i1"),
            Some(FieldValue::Keyword("books".into())),
            "served from the cache"
        );
        cache.invalidate("i1");
        assert_eq!(
            category(&cache, "i1"),
            Some(FieldValue::Keyword("music".into()))
        );
        assert!(cache.get("missing").is_none());
        store.upsert_items(&[item("missing", "new")]).unwrap();
        assert!(cache.get("missing").is_none(), "absence is cached too");
        cache.invalidate("missing");
        assert_eq!(
            category(&cache, "missing"),
            Some(FieldValue::Keyword("new".into()))
        );
    }

    #[test]
    fn holds_at_most_its_capacity_dropping_the_least_recently_used() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        let ids: Vec<String> = (0..2000).map(|i| format!("i{i}")).collect();
        let items: Vec<Item> = ids.iter().map(|id| item(id, "c")).collect();
        store.upsert_items(&items).unwrap();
        // One item per shard: the newest read of a shard evicts the one before it.
        let cache = ItemCache::new(store, SHARDS as u64);
        for id in &ids {
            cache.get(id);
        }
        assert_eq!(cache.len(), SHARDS);
        let first = ids[0].as_str();
        let same_shard = ids[1..]
            .iter()
            .rfind(|id| std::ptr::eq(cache.shard(id), cache.shard(first)))
            .unwrap();
        cache.get(first);
        let shard = cache.shard(first).lock();
        assert!(shard.items.contains(first));
        assert!(!shard.items.contains(same_shard.as_str()));
    }

    #[test]
    fn a_read_overtaken_by_a_write_is_not_cached() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        store.upsert_items(&[item("i1", "old")]).unwrap();
        let cache = ItemCache::new(store.clone(), 100);
        // A miss reads the store, then a write lands before the miss caches what it read.
        let Err(generation) = cache.cached("i1") else {
            panic!("nothing is cached yet")
        };
        let read = store
            .get_item("i1")
            .unwrap()
            .map(|item| Arc::new(RankItem::new(item)));
        store.upsert_items(&[item("i1", "new")]).unwrap();
        cache.invalidate("i1");
        cache.fill("i1", generation, read);
        assert_eq!(
            category(&cache, "i1"),
            Some(FieldValue::Keyword("new".into()))
        );
    }
}
