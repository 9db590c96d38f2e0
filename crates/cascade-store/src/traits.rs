//! What the rest of Cascade sees of storage.

use std::sync::Arc;

use cascade_core::time::TimestampMs;
use cascade_core::{Event, Item, User};
use tokio::sync::{oneshot, watch};

use crate::error::StoreError;

/// Items by id.
pub trait ItemStore: Send + Sync {
    /// Inserts or replaces items, durably, in one transaction (which concurrent calls may
    /// share: the embedded store commits them together).
    fn upsert_items(&self, items: &[Item]) -> Result<(), StoreError>;
    /// The item with this id.
    fn get_item(&self, id: &str) -> Result<Option<Item>, StoreError>;
    /// Whether an item with this id exists.
    fn contains_item(&self, id: &str) -> Result<bool, StoreError>;
    /// Deletes an item; `false` when there was none.
    fn delete_item(&self, id: &str) -> Result<bool, StoreError>;
    /// How many items are stored.
    fn item_count(&self) -> Result<u64, StoreError>;
    /// Visits every item in id order.
    fn scan_items(&self, visit: &mut dyn FnMut(Item)) -> Result<(), StoreError>;
    /// A number that changes with every item write or delete, by any process: an index
    /// persisted together with the version it reflects is current while the two agree.
    fn catalogue_version(&self) -> Result<u64, StoreError>;
}

/// Users by id.
pub trait UserStore: Send + Sync {
    /// Inserts or replaces users, durably, in one transaction (which concurrent calls may
    /// share).
    fn upsert_users(&self, users: &[User]) -> Result<(), StoreError>;
    /// The user with this id.
    fn get_user(&self, id: &str) -> Result<Option<User>, StoreError>;
    /// Deletes a user; `false` when there was none.
    fn delete_user(&self, id: &str) -> Result<bool, StoreError>;
}

/// An event together with its position in the log.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedEvent {
    /// The position in the log: 0 for the first event ever acknowledged, then 1, 2, …
    pub seq: u64,
    /// The event.
    pub event: Event,
}

/// What an append did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppendOutcome {
    /// How many events were new and are now durable.
    pub accepted: usize,
    /// The ids of events that were already in the log (or earlier in the same append); not stored again.
    pub duplicates: Vec<String>,
}

/// The pending result of an append: resolves once the events are durable.
pub struct AppendTicket(oneshot::Receiver<Result<AppendOutcome, StoreError>>);

impl AppendTicket {
    /// A ticket and the sender that completes it.
    pub fn new() -> (oneshot::Sender<Result<AppendOutcome, StoreError>>, Self) {
        let (tx, rx) = oneshot::channel();
        (tx, Self(rx))
    }

    /// Waits (asynchronously) until the append is durable or has failed.
    pub async fn wait(self) -> Result<AppendOutcome, StoreError> {
        self.0.await.unwrap_or(Err(StoreError::Closed))
    }

    /// Waits (blocking the thread) until the append is durable or has failed.
    pub fn wait_blocking(self) -> Result<AppendOutcome, StoreError> {
        self.0.blocking_recv().unwrap_or(Err(StoreError::Closed))
    }
}

/// The append-only event log: durable, deduplicated by `event_id`, ordered by acknowledgement.
pub trait EventLog: Send + Sync {
    /// Appends events. The ticket resolves once they are durable; only then may they be
    /// acknowledged. Concurrent appends are committed together (group commit).
    fn append(&self, events: Vec<Event>) -> AppendTicket;
    /// Up to `limit` events from position `from_seq` on, in log order.
    fn read_from(&self, from_seq: u64, limit: usize) -> Result<Vec<LoggedEvent>, StoreError>;
    /// Visits events whose timestamp is in `[from, to)`, in time order, until `visit` returns `false`.
    fn scan_time_range(
        &self,
        from: TimestampMs,
        to: TimestampMs,
        visit: &mut dyn FnMut(LoggedEvent) -> bool,
    ) -> Result<(), StoreError>;
    /// The number of durable events; it grows as appends commit.
    fn durable_len(&self) -> watch::Receiver<u64>;
    /// `Ok` while the storage takes writes; else why not (the embedded store after an I/O
    /// error, until it has re-opened its file). By default, always `Ok`.
    fn writable(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// The three stores a Cascade process works with.
#[derive(Clone)]
pub struct Stores {
    /// Items.
    pub items: Arc<dyn ItemStore>,
    /// Users.
    pub users: Arc<dyn UserStore>,
    /// The event log.
    pub events: Arc<dyn EventLog>,
}
