//! The feature store: named feature values per entity (a user, an item, a user × category
//! pair …), with a time to live, and the checkpoints of the state that computes them.
//!
//! Two backends implement [`FeatureStore`]: [`EmbeddedFeatureStore`] (a redb file of its own
//! in the data directory) and [`RedisFeatureStore`] (one string key per value, shared by
//! replicas). [`FeatureStore::read`] answers any number of keys in one round trip, which is
//! what [`read_user_and_items`] builds on.

mod batch;
mod embedded;
mod redis;

use std::path::Path;
use std::sync::Arc;

use cascade_core::config::FeatureStoreConf;
use cascade_core::config::features::FeatureBackend;
use serde::{Deserialize, Serialize};

use crate::error::StoreError;
pub use batch::{UserItemFeatures, read_user_and_items};
pub use embedded::{EmbeddedFeatureStore, FEATURES_FILE};
pub use redis::{RedisFeatureStore, RedisTimeouts};

/// A feature value: a number (a count, a mean, a ratio), a list (the last N items) or a
/// vector (an embedding written by an enricher).
///
/// Stored untagged: a JSON number, a list of strings or a list of numbers; an empty list
/// reads as an empty `List`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FeatureValue {
    /// A number.
    Number(f64),
    /// A list of values, newest first.
    List(Vec<String>),
    /// A vector of numbers, e.g. a text embedding.
    Vector(Vec<f32>),
}

/// Which value: a feature of an entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FeatureKey<'a> {
    /// The feature's name.
    pub feature: &'a str,
    /// The entity the value belongs to, e.g. a user id.
    pub entity: &'a str,
}

/// One write: a new value, or `None` to delete the value.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureWrite<'a> {
    /// Which value.
    pub key: FeatureKey<'a>,
    /// The value; `None` removes it.
    pub value: Option<FeatureValue>,
}

/// Feature values by (feature, entity), and checkpoints by name.
pub trait FeatureStore: Send + Sync {
    /// Writes values (each living for the store's time to live) and deletes those given as
    /// `None`, in one round trip.
    fn write(&self, writes: &[FeatureWrite<'_>]) -> Result<(), StoreError>;
    /// The values of `keys`, in order, in one round trip; expired values read as `None`.
    fn read(&self, keys: &[FeatureKey<'_>]) -> Result<Vec<Option<FeatureValue>>, StoreError>;
    /// Stores a checkpoint durably, replacing the one of the same name; checkpoints never expire.
    fn save_checkpoint(&self, name: &str, state: &[u8]) -> Result<(), StoreError>;
    /// The checkpoint of this name, if one was saved.
    fn load_checkpoint(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// One value.
    fn read_one(&self, key: FeatureKey<'_>) -> Result<Option<FeatureValue>, StoreError> {
        Ok(self.read(&[key])?.pop().flatten())
    }
}

/// Opens the configured backend; the embedded one lives in `data_dir`.
pub fn open_feature_store(
    conf: &FeatureStoreConf,
    data_dir: &Path,
) -> Result<Arc<dyn FeatureStore>, StoreError> {
    Ok(match conf.backend {
        FeatureBackend::Embedded => {
            Arc::new(EmbeddedFeatureStore::open(data_dir, conf.ttl_seconds)?)
        }
        FeatureBackend::Redis => Arc::new(RedisFeatureStore::open(
            &conf.redis_url,
            &conf.key_prefix,
            conf.ttl_seconds,
            RedisTimeouts::from_conf(conf),
        )?),
    })
}

fn encode(value: &FeatureValue) -> Vec<u8> {
    let mut bytes = Vec::new();
    encode_into(value, &mut bytes);
    bytes
}

/// Appends the JSON of `value` to `bytes`.
fn encode_into(value: &FeatureValue, bytes: &mut Vec<u8>) {
    serde_json::to_writer(bytes, value).expect("a feature value always serializes");
}

fn decode(key: FeatureKey<'_>, bytes: &[u8]) -> Result<FeatureValue, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        key: format!("{}/{}", key.feature, key.entity),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(value: &FeatureValue) -> FeatureValue {
        let key = FeatureKey {
            feature: "f",
            entity: "e",
        };
        decode(key, &encode(value)).unwrap()
    }

    #[test]
    fn numbers_lists_and_vectors_decode_as_what_they_were() {
        let list = FeatureValue::List(vec!["i2".into(), "1.5".into()]);
        let vector = FeatureValue::Vector(vec![0.25, -1.0, 3.5]);
        let number = FeatureValue::Number(2.5);
        for value in [&list, &vector, &number] {
            assert_eq!(&round_trip(value), value);
        }
        let parsed: FeatureValue = serde_json::from_str(r#"["a", "b"]"#).unwrap();
        assert_eq!(parsed, FeatureValue::List(vec!["a".into(), "b".into()]));
        let parsed: FeatureValue = serde_json::from_str("[1, 2.5]").unwrap();
        assert_eq!(parsed, FeatureValue::Vector(vec![1.0, 2.5]));
        let parsed: FeatureValue = serde_json::from_str("[]").unwrap();
        assert_eq!(parsed, FeatureValue::List(Vec::new()));
        assert!(serde_json::from_str::<FeatureValue>(r#"["a", 1]"#).is_err());
    }
}
