//! A bounded cache of catalogue items in front of the item store, read by every request (each
//! recall candidate, each history item of the user profile) and by the stream thread (item
//! fields of window features). Items are held as [`RankItem`]s, so the ranking features cut
//! a cached item once ([`cascade_rank::features::ItemDigest`]), not once per request.
//!
//! Eviction by the CLOCK policy (second chance), in shards hashed with ahash: a hit takes its
//! shard's read lock, finds the entry and marks it referenced, with no list to reorder, so
//! concurrent readers do not wait on each other and a hit touches no memory but its own entry.
//! The capacity is the whole cache's, not a share per shard: a shard grows while the cache has
//! room, so a catalogue that fits is cached whole however unevenly its ids hash (a fixed share
//! per shard left a 1M-item catalogue about 2,000 items short in a cache of 1M, and those items
//! were read from the store again and again). When the full cache takes a new item, the clock
//! hand of the item's shard sweeps that shard's entries in insertion order, sparing (and
//! unmarking) those read since the hand last passed, and replaces the first that was not.
//! (A least-recently-used list under a mutex cost a tenth of the server's CPU at 1M items:
//! every hit unlinked and relinked list nodes scattered over memory; a moka cache before it
//! cost as much in admission and read-recording bookkeeping.)
//!
//! A miss reads the store outside the lock. A write marks the item stale and bumps its shard's
//! generation; a read that started before the bump does not cache what it read, so a stale
//! item never outlives the write that replaced it.
//!
//! [`ItemCache::warm`] fills the cache from a scan of the catalogue at start-up, beside the
//! event replay, so that the first requests after a start do not each read hundreds of
//! candidates from the store (at 1M items, thousands of answers in the first minute were
//! degraded by those misses, and the misses were 8 % of the server's CPU 40 s into the load).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use cascade_core::{FieldValue, Item};
use cascade_rank::features::RankItem;
use cascade_store::{ItemStore, StoreError};
use cascade_stream::windows::ItemFields;
use parking_lot::RwLock;

/// Shards: enough that request threads rarely meet on one lock.
const SHARDS: usize = 16;

/// How many scanned items [`ItemCache::warm`] logs its progress after.
const WARM_PROGRESS_EVERY: usize = 250_000;

/// What the cache knows of one id.
enum Known {
    /// The catalogue's item.
    Item(Arc<RankItem>),
    /// The catalogue has no such item.
    Absent,
    /// A write replaced the item since it was read: the next read goes to the store.
    Stale,
}

/// One cached id: what is known of it, and whether it was read since the clock hand passed.
struct Entry {
    known: Known,
    referenced: AtomicBool,
}

/// The cache's capacity, shared by all its shards.
struct Slots {
    capacity: usize,
    used: AtomicUsize,
}

impl Slots {
    /// Takes a free slot; false when the cache is full.
    fn take(&self) -> bool {
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                (used < self.capacity).then_some(used + 1)
            })
            .is_ok()
    }

    /// Whether a slot is free.
    fn any_free(&self) -> bool {
        self.used.load(Ordering::Relaxed) < self.capacity
    }
}

/// One shard: its entries, their ids in the clock's order, and its write generation.
struct Shard {
    entries: HashMap<Arc<str>, Entry, ahash::RandomState>,
    /// The ids of `entries`, each once; `hand` is the next the clock considers evicting.
    clock: Vec<Arc<str>>,
    hand: usize,
    generation: u64,
}

impl Shard {
    /// Caches what is known of `id` in a free slot of `slots` or, when the cache is full, in
    /// the place of this shard's first entry not read since the hand last passed. A shard
    /// with no entries to give up does not cache a new id in a full cache.
    fn insert(&mut self, id: &str, known: Known, slots: &Slots) {
        if let Some(entry) = self.entries.get_mut(id) {
            entry.known = known;
            return;
        }
        if slots.take() {
            self.add(id.into(), known);
        } else if !self.clock.is_empty() {
            self.replace(id.into(), known);
        }
    }

    /// Caches a new id in a slot already taken.
    fn add(&mut self, id: Arc<str>, known: Known) {
        self.clock.push(id.clone());
        self.entries.insert(id, Entry::new(known));
    }

    /// Caches a new id in the place of the first entry the clock hand finds not read since it
    /// last passed.
    fn replace(&mut self, id: Arc<str>, known: Known) {
        let evicted = loop {
            let at = self.hand;
            self.hand = (at + 1) % self.clock.len();
            let entry = &self.entries[&self.clock[at]];
            let spared = entry.referenced.swap(false, Ordering::Relaxed)
                && !matches!(entry.known, Known::Stale);
            if !spared {
                break std::mem::replace(&mut self.clock[at], id.clone());
            }
        };
        self.entries.remove(&evicted);
        self.entries.insert(id, Entry::new(known));
    }
}

/// Items by id, at most `capacity` of them, read through from the store.
pub struct ItemCache {
    store: Arc<dyn ItemStore>,
    shards: Vec<RwLock<Shard>>,
    slots: Slots,
    hasher: ahash::RandomState,
}

impl ItemCache {
    /// A cache of at most `capacity` items (at least one) over `store`.
    pub fn new(store: Arc<dyn ItemStore>, capacity: u64) -> Self {
        let shards = (0..SHARDS)
            .map(|_| {
                RwLock::new(Shard {
                    entries: HashMap::default(),
                    clock: Vec::new(),
                    hand: 0,
                    generation: 0,
                })
            })
            .collect();
        Self {
            store,
            shards,
            slots: Slots {
                capacity: usize::try_from(capacity).unwrap_or(usize::MAX).max(1),
                used: AtomicUsize::new(0),
            },
            hasher: ahash::RandomState::new(),
        }
    }

    fn shard(&self, id: &str) -> &RwLock<Shard> {
        &self.shards[self.shard_index(id)]
    }

    fn shard_index(&self, id: &str) -> usize {
        (self.hasher.hash_one(id) as usize) % SHARDS
    }

    /// Caches the catalogue's items, in the store's scan order, while their shards have room;
    /// returns how many it cached. Items already cached are kept; a shard written since the
    /// scan began takes no more items from it (its writes may be newer than the scan's view).
    pub fn warm(&self) -> Result<usize, StoreError> {
        let since = self.generations();
        let started = Instant::now();
        let (mut scanned, mut cached) = (0usize, 0usize);
        self.store.scan_items(&mut |item| {
            scanned += 1;
            if scanned % WARM_PROGRESS_EVERY == 0 {
                tracing::info!(scanned, cached, "warming the item cache");
            }
            cached += usize::from(self.warm_with(item, &since));
        })?;
        tracing::info!(
            scanned,
            cached,
            seconds = started.elapsed().as_secs_f64(),
            "item cache warmed"
        );
        Ok(cached)
    }

    /// Each shard's write generation.
    fn generations(&self) -> Vec<u64> {
        self.shards.iter().map(|s| s.read().generation).collect()
    }

    /// Caches `item`, read by a scan that began at the shards' generations `since`, if the
    /// cache has room and its shard holds nothing for its id and has not been written since.
    fn warm_with(&self, item: Item, since: &[u64]) -> bool {
        let id = item.id.clone();
        let index = self.shard_index(&id);
        let takes = |shard: &Shard| {
            shard.generation == since[index]
                && self.slots.any_free()
                && !shard.entries.contains_key(id.as_str())
        };
        if !takes(&self.shards[index].read()) {
            return false;
        }
        let known = Known::Item(Arc::new(RankItem::new(item)));
        let mut shard = self.shards[index].write();
        // The slot is taken under the shard's lock, so a full cache evicts nothing for a warm.
        let taken = takes(&shard) && self.slots.take();
        if taken {
            shard.add(id.as_str().into(), known);
        }
        taken
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

    /// The cached entry of `id`, marked referenced, or on a miss its shard's generation.
    fn cached(&self, id: &str) -> Result<Option<Arc<RankItem>>, u64> {
        let shard = self.shard(id).read();
        let Some(entry) = shard.entries.get(id) else {
            return Err(shard.generation);
        };
        let hit = match &entry.known {
            Known::Item(item) => Some(item.clone()),
            Known::Absent => None,
            Known::Stale => return Err(shard.generation),
        };
        entry.touch();
        Ok(hit)
    }

    /// Caches what a miss at `generation` read, unless a write has landed since.
    fn fill(&self, id: &str, generation: u64, read: Option<Arc<RankItem>>) {
        let mut shard = self.shard(id).write();
        if shard.generation == generation {
            shard.insert(id, read.map_or(Known::Absent, Known::Item), &self.slots);
        }
    }

    /// Forgets item `id` after a catalogue write, so its new version is read.
    pub fn invalidate(&self, id: &str) {
        let mut shard = self.shard(id).write();
        if let Some(entry) = shard.entries.get_mut(id) {
            entry.known = Known::Stale;
        }
        shard.generation += 1;
    }

    /// How many items are cached.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards.iter().map(|s| s.read().entries.len()).sum()
    }
}

impl Entry {
    /// A new entry, not yet read.
    fn new(known: Known) -> Self {
        Self {
            known,
            referenced: AtomicBool::new(false),
        }
    }

    /// Marks the entry read since the hand passed (written only when not already marked, so
    /// hits on a hot entry from several cores do not fight over its cache line).
    fn touch(&self) {
        if !self.referenced.load(Ordering::Relaxed) {
            self.referenced.store(true, Ordering::Relaxed);
        }
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

    /// A store of 2,000 items (in a directory that lives as long as the first value) and
    /// their ids.
    fn store_of_2000_items() -> (tempfile::TempDir, Arc<EmbeddedStore>, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        let ids: Vec<String> = (0..2000).map(|i| format!("i{i}")).collect();
        let items: Vec<Item> = ids.iter().map(|id| item(id, "c")).collect();
        store.upsert_items(&items).unwrap();
        (dir, store, ids)
    }

    #[test]
    fn holds_at_most_its_capacity_sparing_items_read_since_the_hand_passed() {
        let (_dir, store, ids) = store_of_2000_items();
        let cache = ItemCache::new(store.clone(), SHARDS as u64 * 2);
        for id in &ids {
            cache.get(id);
        }
        assert_eq!(cache.len(), SHARDS * 2);

        // Three ids of one shard in a fresh cache of two: a and b fill it, a is read again, so
        // c takes b's place.
        let cache = ItemCache::new(store, 2);
        let [a, b, c] = ids_of_one_shard(&cache, &ids);
        for id in [a, b, a, c] {
            assert!(cache.get(id).is_some());
        }
        let shard = cache.shard(a).read();
        assert!(shard.entries.contains_key(a), "read since the hand passed");
        assert!(!shard.entries.contains_key(b), "not read again: evicted");
        assert!(shard.entries.contains_key(c));
        assert_eq!(shard.clock.len(), 2);
    }

    /// The first three of `ids` that hash to the shard of the first.
    fn ids_of_one_shard<'a>(cache: &ItemCache, ids: &'a [String]) -> [&'a str; 3] {
        let mut same_shard = ids
            .iter()
            .filter(|id| std::ptr::eq(cache.shard(id), cache.shard(&ids[0])));
        [(); 3].map(|_| same_shard.next().unwrap().as_str())
    }

    #[test]
    fn one_shard_may_hold_more_than_its_share_while_the_cache_has_room() {
        let (_dir, store, ids) = store_of_2000_items();
        // Room for three items in all, far less than one per shard on average.
        let cache = ItemCache::new(store.clone(), 3);
        let same_shard = ids_of_one_shard(&cache, &ids);
        for id in same_shard {
            assert!(cache.get(id).is_some());
        }
        let shard = cache.shard(same_shard[0]).read();
        assert!(same_shard.iter().all(|id| shard.entries.contains_key(*id)));
        drop(shard);
        // Full: an id of another shard, which has nothing to give up, is read but not cached.
        let other = ids
            .iter()
            .find(|id| !std::ptr::eq(cache.shard(id), cache.shard(same_shard[0])))
            .unwrap();
        assert!(cache.get(other).is_some());
        assert_eq!(cache.len(), 3);
        assert!(
            !cache
                .shard(other)
                .read()
                .entries
                .contains_key(other.as_str())
        );
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

    #[test]
    fn warming_caches_the_catalogue_up_to_capacity_but_not_over_a_newer_write() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        let items: Vec<Item> = (0..500).map(|i| item(&format!("i{i}"), "old")).collect();
        store.upsert_items(&items).unwrap();

        let capacity = SHARDS * 10;
        let cache = ItemCache::new(store.clone(), capacity as u64);
        assert!(cache.get("i7").is_some(), "already cached before the warm");
        let cached = cache.warm().unwrap();
        assert_eq!(cache.len(), capacity, "every shard full");
        assert_eq!(cache.len(), cached + 1);

        let cache = ItemCache::new(store.clone(), 1000);
        assert_eq!(cache.warm().unwrap(), 500);
        store.upsert_items(&[item("i1", "new")]).unwrap();
        assert_eq!(
            category(&cache, "i1"),
            Some(FieldValue::Keyword("old".into())),
            "served from the cache without a store read"
        );

        // A scan that read i2 before a write of it must not cache what it read.
        let cache = ItemCache::new(store.clone(), 1000);
        let since = cache.generations();
        let scanned = store.get_item("i2").unwrap().unwrap();
        store.upsert_items(&[item("i2", "new")]).unwrap();
        cache.invalidate("i2");
        assert!(!cache.warm_with(scanned, &since));
        assert_eq!(
            category(&cache, "i2"),
            Some(FieldValue::Keyword("new".into()))
        );
    }
}
