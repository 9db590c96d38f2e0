//! The embedded feature store: a redb file of its own, so feature writes never wait for the
//! event log's writer. Each value is stored with its expiry instant; reads ignore expired
//! values. Expiry is indexed by coarse buckets (a fraction of the time to live), so rewriting
//! a value within its bucket touches only the value; every write transaction also evicts a
//! bounded number of values whose bucket has passed.

use std::path::Path;

use cascade_core::time::{TimestampMs, now_ms};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, Table, TableDefinition};

use super::{FeatureKey, FeatureStore, FeatureValue, FeatureWrite, decode, encode_into};
use crate::error::StoreError;

/// The name of the feature database file inside the data directory.
pub const FEATURES_FILE: &str = "features.redb";

/// (feature, entity) → expiry (8 bytes, big-endian milliseconds) followed by the JSON value.
const VALUES: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("feature_values");
/// Expiry index: (end of the expiry bucket, feature, entity) → (). A value's bucket ends at or
/// after its expiry; an entry may be stale (its value since rewritten or removed), so eviction
/// checks the value's own expiry.
const EXPIRY: TableDefinition<(i64, &str, &str), ()> = TableDefinition::new("feature_expiry");
/// Checkpoints by name.
const CHECKPOINTS: TableDefinition<&str, &[u8]> = TableDefinition::new("checkpoints");

/// The most expiry entries one write transaction evicts.
const EVICT_PER_WRITE: usize = 1000;
/// The expiry of a value that never expires.
const NEVER: TimestampMs = TimestampMs::MAX;
/// Expiry buckets are this fraction of the time to live wide …
const BUCKETS_PER_TTL: i64 = 64;
/// … and at most this wide (milliseconds).
const MAX_BUCKET_MS: i64 = 3_600_000;

/// Feature values in `features.redb` inside the data directory.
pub struct EmbeddedFeatureStore {
    db: Database,
    ttl_ms: Option<i64>,
    /// The width of an expiry bucket (milliseconds).
    bucket_ms: i64,
}

impl EmbeddedFeatureStore {
    /// Opens (or creates) the store in `data_dir`; values live `ttl_seconds` (0: until replaced).
    pub fn open(data_dir: &Path, ttl_seconds: u64) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            StoreError::Database(format!("cannot create {}: {e}", data_dir.display()))
        })?;
        let db = Database::create(data_dir.join(FEATURES_FILE)).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => {
                StoreError::InUse(data_dir.display().to_string())
            }
            other => StoreError::database(other),
        })?;
        let txn = db.begin_write().map_err(StoreError::database)?;
        txn.open_table(VALUES).map_err(StoreError::database)?;
        txn.open_table(EXPIRY).map_err(StoreError::database)?;
        txn.open_table(CHECKPOINTS).map_err(StoreError::database)?;
        txn.commit().map_err(StoreError::database)?;
        let ttl_ms = (ttl_seconds > 0).then(|| ttl_seconds.saturating_mul(1000) as i64);
        let bucket_ms = ttl_ms.map_or(1, |ttl| (ttl / BUCKETS_PER_TTL).clamp(1, MAX_BUCKET_MS));
        Ok(Self {
            db,
            ttl_ms,
            bucket_ms,
        })
    }

    /// The end of the expiry bucket of a value expiring at `expires`: at or after it.
    fn bucket(&self, expires: TimestampMs) -> TimestampMs {
        let width = self.bucket_ms;
        expires
            .saturating_add(width - 1)
            .div_euclid(width)
            .saturating_mul(width)
    }

    /// Removes up to [`EVICT_PER_WRITE`] expiry entries whose bucket ended before `now`, and
    /// the values they point to if those have expired; a value still live (rewritten since)
    /// gets the entry of its own bucket back.
    fn evict(
        &self,
        values: &mut Table<(&str, &str), &[u8]>,
        expiry: &mut Table<(i64, &str, &str), ()>,
        now: TimestampMs,
    ) -> Result<(), StoreError> {
        let passed: Vec<(i64, String, String)> = expiry
            .range(..(now, "", ""))
            .map_err(StoreError::database)?
            .take(EVICT_PER_WRITE)
            .map(|entry| {
                let (key, _) = entry.map_err(StoreError::database)?;
                let (at, feature, entity) = key.value();
                Ok((at, feature.to_owned(), entity.to_owned()))
            })
            .collect::<Result<_, StoreError>>()?;
        for (at, feature, entity) in &passed {
            let key = (feature.as_str(), entity.as_str());
            expiry
                .remove((*at, key.0, key.1))
                .map_err(StoreError::database)?;
            let expires = values
                .get(key)
                .map_err(StoreError::database)?
                .map(|stored| expiry_of(stored.value()));
            match expires {
                Some(t) if t <= now => {
                    values.remove(key).map_err(StoreError::database)?;
                }
                Some(t) if t != NEVER => {
                    expiry
                        .insert((self.bucket(t), key.0, key.1), ())
                        .map_err(StoreError::database)?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}

fn expiry_of(bytes: &[u8]) -> TimestampMs {
    bytes
        .get(..8)
        .and_then(|head| head.try_into().ok())
        .map_or(NEVER, TimestampMs::from_be_bytes)
}

impl FeatureStore for EmbeddedFeatureStore {
    fn write(&self, writes: &[FeatureWrite<'_>]) -> Result<(), StoreError> {
        let now = now_ms();
        let expires = self.ttl_ms.map_or(NEVER, |ttl| now.saturating_add(ttl));
        let bucket = (expires != NEVER).then(|| self.bucket(expires));
        let mut txn = self.db.begin_write().map_err(StoreError::database)?;
        // Feature values are derived state: a crash loses at most what the next durable
        // checkpoint would have covered, and replay from that checkpoint rewrites it.
        txn.set_durability(Durability::None)
            .map_err(|e| StoreError::Database(e.to_string()))?;
        {
            let mut values = txn.open_table(VALUES).map_err(StoreError::database)?;
            let mut expiry = txn.open_table(EXPIRY).map_err(StoreError::database)?;
            let mut bytes = Vec::new();
            for write in writes {
                let key = (write.key.feature, write.key.entity);
                let old = match write.value.as_ref() {
                    Some(value) => {
                        bytes.clear();
                        bytes.extend_from_slice(&expires.to_be_bytes());
                        encode_into(value, &mut bytes);
                        values.insert(key, bytes.as_slice())
                    }
                    None => values.remove(key),
                }
                .map_err(StoreError::database)?
                .map(|old| expiry_of(old.value()))
                .filter(|&t| t != NEVER)
                .map(|t| self.bucket(t));
                let new = bucket.filter(|_| write.value.is_some());
                if old == new {
                    continue;
                }
                if let Some(old) = old {
                    expiry
                        .remove((old, key.0, key.1))
                        .map_err(StoreError::database)?;
                }
                if let Some(new) = new {
                    expiry
                        .insert((new, key.0, key.1), ())
                        .map_err(StoreError::database)?;
                }
            }
            self.evict(&mut values, &mut expiry, now)?;
        }
        txn.commit().map_err(StoreError::database)
    }

    fn read(&self, keys: &[FeatureKey<'_>]) -> Result<Vec<Option<FeatureValue>>, StoreError> {
        let now = now_ms();
        let txn = self.db.begin_read().map_err(StoreError::database)?;
        let values = txn.open_table(VALUES).map_err(StoreError::database)?;
        keys.iter()
            .map(|&key| {
                let Some(stored) = values
                    .get((key.feature, key.entity))
                    .map_err(StoreError::database)?
                else {
                    return Ok(None);
                };
                let bytes = stored.value();
                if expiry_of(bytes) <= now {
                    return Ok(None);
                }
                decode(key, bytes.get(8..).unwrap_or_default()).map(Some)
            })
            .collect()
    }

    fn save_checkpoint(&self, name: &str, state: &[u8]) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(StoreError::database)?;
        txn.open_table(CHECKPOINTS)
            .map_err(StoreError::database)?
            .insert(name, state)
            .map_err(StoreError::database)?;
        txn.commit().map_err(StoreError::database)
    }

    fn load_checkpoint(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read().map_err(StoreError::database)?;
        let table = txn.open_table(CHECKPOINTS).map_err(StoreError::database)?;
        Ok(table
            .get(name)
            .map_err(StoreError::database)?
            .map(|bytes| bytes.value().to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use redb::ReadableTableMetadata;

    use super::*;

    fn stored(store: &EmbeddedFeatureStore) -> (u64, u64) {
        let txn = store.db.begin_read().unwrap();
        let values = txn.open_table(VALUES).unwrap().len().unwrap();
        let expiry = txn.open_table(EXPIRY).unwrap().len().unwrap();
        (values, expiry)
    }

    #[test]
    fn a_write_evicts_expired_values_and_rewrites_move_the_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedFeatureStore::open(dir.path(), 1).unwrap();
        let write = |entity| FeatureWrite {
            key: FeatureKey {
                feature: "f",
                entity,
            },
            value: Some(FeatureValue::Number(1.0)),
        };
        store.write(&[write("a"), write("b")]).unwrap();
        store.write(&[write("a")]).unwrap();
        assert_eq!(
            stored(&store),
            (2, 2),
            "a rewrite replaces the expiry entry"
        );
        std::thread::sleep(std::time::Duration::from_millis(1100));
        store.write(&[write("c")]).unwrap();
        assert_eq!(stored(&store), (1, 1), "only the fresh value is left");
    }

    #[test]
    fn a_stale_expiry_entry_never_evicts_a_live_value() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedFeatureStore::open(dir.path(), 3600).unwrap();
        let key = FeatureKey {
            feature: "f",
            entity: "a",
        };
        let value = Some(FeatureValue::Number(2.0));
        store.write(&[FeatureWrite { key, value }]).unwrap();
        // An entry whose bucket has passed, as an older file or another time to live leaves.
        let txn = store.db.begin_write().unwrap();
        txn.open_table(EXPIRY)
            .unwrap()
            .insert((now_ms() - 10, "f", "a"), ())
            .unwrap();
        txn.commit().unwrap();
        assert_eq!(stored(&store), (1, 2));
        store.write(&[]).unwrap();
        assert_eq!(
            store.read_one(key).unwrap(),
            Some(FeatureValue::Number(2.0))
        );
        assert_eq!(stored(&store), (1, 1), "the live value keeps one entry");
        let txn = store.db.begin_read().unwrap();
        let bucket = txn
            .open_table(EXPIRY)
            .unwrap()
            .iter()
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .0
            .value()
            .0;
        assert!(
            bucket >= now_ms() + 3_599_000,
            "the entry is its own bucket's"
        );
    }

    #[test]
    fn buckets_end_at_or_after_the_expiry_they_hold() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedFeatureStore::open(dir.path(), 7 * 86_400).unwrap();
        assert_eq!(store.bucket_ms, MAX_BUCKET_MS);
        for expires in [0, 1, MAX_BUCKET_MS - 1, MAX_BUCKET_MS, MAX_BUCKET_MS + 1] {
            let end = store.bucket(expires);
            assert!(
                end >= expires && end - expires < MAX_BUCKET_MS,
                "{expires} → {end}"
            );
            assert_eq!(end % MAX_BUCKET_MS, 0);
        }
    }
}
