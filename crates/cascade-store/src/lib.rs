//! Cascade's storage: traits for items, users and the event log, and the embedded
//! backend that keeps all of them in one data directory.
//!
//! The traits are what the rest of Cascade sees; a Redis backend implements the same
//! traits for many replicas.

pub mod embedded;
pub mod error;
pub mod traits;

pub use embedded::EmbeddedStore;
pub use error::StoreError;
pub use traits::{
    AppendOutcome, AppendTicket, EventLog, ItemStore, LoggedEvent, Stores, UserStore,
};
