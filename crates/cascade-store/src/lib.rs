//! Cascade's storage: traits for items, users, the event log and feature values, and the
//! embedded backend that keeps all of them in one data directory.
//!
//! The traits are what the rest of Cascade sees; the feature store also has a Redis backend,
//! shared by many replicas.

pub mod embedded;
pub mod error;
pub mod features;
mod reopening;
pub mod traits;

pub use embedded::EmbeddedStore;
pub use error::StoreError;
pub use features::{FeatureKey, FeatureStore, FeatureValue, FeatureWrite};
pub use traits::{
    AppendOutcome, AppendTicket, EventLog, ItemStore, LoggedEvent, Stores, UserStore,
};
