//! The embedded backend: items, users and the event log in one redb file inside the data directory.
//!
//! The file is held by a [`ReopeningDatabase`]: after an I/O error (a full disk) every
//! operation fails with [`StoreError::Unavailable`] until the store has re-opened the file,
//! which it does by itself once the storage writes again.

mod event_writer;
mod group_commit;
mod records;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cascade_core::time::TimestampMs;
use cascade_core::{Event, Item, User};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::watch;

use crate::error::StoreError;
use crate::reopening::ReopeningDatabase;
use crate::traits::{AppendTicket, EventLog, ItemStore, LoggedEvent, Stores, UserStore};
use event_writer::EventWriter;
use group_commit::GroupCommit;
use records::Records;

/// Events by log position, JSON-encoded.
pub(crate) const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
/// Time index: (timestamp, position) → ().
pub(crate) const EVENTS_BY_TIME: TableDefinition<(i64, u64), ()> =
    TableDefinition::new("events_by_time");
/// Dedup index: event id → position.
pub(crate) const EVENT_IDS: TableDefinition<&str, u64> = TableDefinition::new("event_ids");
/// Items by id; every write increments the catalogue version.
const ITEMS: Records = Records {
    table: TableDefinition::new("items"),
    version: Some("catalogue"),
};
/// Users by id.
const USERS: Records = Records {
    table: TableDefinition::new("users"),
    version: None,
};

/// The name of the database file inside the data directory.
pub const DATABASE_FILE: &str = "cascade.redb";

/// All of Cascade's durable state in one data directory.
pub struct EmbeddedStore {
    db: Arc<ReopeningDatabase>,
    writer: EventWriter,
    item_writes: GroupCommit,
    user_writes: GroupCommit,
}

impl EmbeddedStore {
    /// Opens (or creates) the store in `data_dir`, recovering after a crash if needed.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            StoreError::Database(format!("cannot create {}: {e}", data_dir.display()))
        })?;
        let path: PathBuf = data_dir.join(DATABASE_FILE);
        let db = Arc::new(ReopeningDatabase::open(&path, create_tables)?);
        let durable_len = db.run(count_events)?;
        let writer = EventWriter::start(db.clone(), durable_len);
        Ok(Self {
            db,
            writer,
            item_writes: GroupCommit::new(ITEMS),
            user_writes: GroupCommit::new(USERS),
        })
    }

    /// Opens the store and hands it out as the three store traits.
    pub fn open_stores(data_dir: &Path) -> Result<Stores, StoreError> {
        let store = Arc::new(Self::open(data_dir)?);
        Ok(Stores {
            items: store.clone(),
            users: store.clone(),
            events: store,
        })
    }
}

fn create_tables(db: &Database) -> Result<(), StoreError> {
    let txn = db.begin_write().map_err(StoreError::database)?;
    txn.open_table(EVENTS).map_err(StoreError::database)?;
    txn.open_table(EVENTS_BY_TIME)
        .map_err(StoreError::database)?;
    txn.open_table(EVENT_IDS).map_err(StoreError::database)?;
    txn.open_table(ITEMS.table).map_err(StoreError::database)?;
    txn.open_table(USERS.table).map_err(StoreError::database)?;
    records::create_tables(&txn)?;
    txn.commit().map_err(StoreError::database)
}

fn count_events(db: &Database) -> Result<u64, StoreError> {
    let txn = db.begin_read().map_err(StoreError::database)?;
    let table = txn.open_table(EVENTS).map_err(StoreError::database)?;
    let last = table.last().map_err(StoreError::database)?;
    Ok(last.map_or(0, |(seq, _)| seq.value() + 1))
}

pub(crate) fn decode_event(seq: u64, bytes: &[u8]) -> Result<LoggedEvent, StoreError> {
    let event: Event = serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        key: format!("event #{seq}"),
        reason: e.to_string(),
    })?;
    Ok(LoggedEvent { seq, event })
}

impl ItemStore for EmbeddedStore {
    fn upsert_items(&self, items: &[Item]) -> Result<(), StoreError> {
        self.db.run(|db| {
            self.item_writes
                .upsert(db, items.iter().map(|item| (item.id.as_str(), item)))
        })
    }

    fn get_item(&self, id: &str) -> Result<Option<Item>, StoreError> {
        self.db.run(|db| records::get(db, ITEMS.table, id))
    }

    fn contains_item(&self, id: &str) -> Result<bool, StoreError> {
        self.db.run(|db| records::contains(db, ITEMS.table, id))
    }

    fn delete_item(&self, id: &str) -> Result<bool, StoreError> {
        self.db.run(|db| records::delete(db, ITEMS, id))
    }

    fn item_count(&self) -> Result<u64, StoreError> {
        self.db.run(|db| records::count(db, ITEMS.table))
    }

    fn scan_items(&self, visit: &mut dyn FnMut(Item)) -> Result<(), StoreError> {
        self.db.run(|db| records::scan(db, ITEMS.table, visit))
    }

    fn catalogue_version(&self) -> Result<u64, StoreError> {
        self.db.run(|db| records::version(db, "catalogue"))
    }
}

impl UserStore for EmbeddedStore {
    fn upsert_users(&self, users: &[User]) -> Result<(), StoreError> {
        self.db.run(|db| {
            self.user_writes
                .upsert(db, users.iter().map(|user| (user.id.as_str(), user)))
        })
    }

    fn get_user(&self, id: &str) -> Result<Option<User>, StoreError> {
        self.db.run(|db| records::get(db, USERS.table, id))
    }

    fn delete_user(&self, id: &str) -> Result<bool, StoreError> {
        self.db.run(|db| records::delete(db, USERS, id))
    }
}

impl EventLog for EmbeddedStore {
    fn append(&self, events: Vec<Event>) -> AppendTicket {
        self.writer.submit(events)
    }

    fn read_from(&self, from_seq: u64, limit: usize) -> Result<Vec<LoggedEvent>, StoreError> {
        self.db.run(|db| read_events(db, from_seq, limit))
    }

    fn scan_time_range(
        &self,
        from: TimestampMs,
        to: TimestampMs,
        visit: &mut dyn FnMut(LoggedEvent) -> bool,
    ) -> Result<(), StoreError> {
        if from >= to {
            return Ok(());
        }
        self.db.run(|db| scan_events(db, from, to, visit))
    }

    fn writable(&self) -> Result<(), StoreError> {
        self.db.health()
    }

    fn durable_len(&self) -> watch::Receiver<u64> {
        self.writer.durable_len()
    }
}

/// Up to `limit` events from position `from_seq` on.
fn read_events(db: &Database, from_seq: u64, limit: usize) -> Result<Vec<LoggedEvent>, StoreError> {
    let txn = db.begin_read().map_err(StoreError::database)?;
    let table = txn.open_table(EVENTS).map_err(StoreError::database)?;
    let mut out = Vec::with_capacity(limit.min(4096));
    for entry in table
        .range(from_seq..)
        .map_err(StoreError::database)?
        .take(limit)
    {
        let (seq, bytes) = entry.map_err(StoreError::database)?;
        out.push(decode_event(seq.value(), bytes.value())?);
    }
    Ok(out)
}

/// Visits the events whose timestamp is in `[from, to)` until `visit` returns `false`.
fn scan_events(
    db: &Database,
    from: TimestampMs,
    to: TimestampMs,
    visit: &mut dyn FnMut(LoggedEvent) -> bool,
) -> Result<(), StoreError> {
    let txn = db.begin_read().map_err(StoreError::database)?;
    let by_time = txn
        .open_table(EVENTS_BY_TIME)
        .map_err(StoreError::database)?;
    let events = txn.open_table(EVENTS).map_err(StoreError::database)?;
    for entry in by_time
        .range((from, 0)..(to, 0))
        .map_err(StoreError::database)?
    {
        let (key, _) = entry.map_err(StoreError::database)?;
        let (_, seq) = key.value();
        let bytes = events
            .get(seq)
            .map_err(StoreError::database)?
            .ok_or_else(|| StoreError::Corrupt {
                key: format!("event #{seq}"),
                reason: "listed in the time index but missing from the log".into(),
            })?;
        if !visit(decode_event(seq, bytes.value())?) {
            break;
        }
    }
    Ok(())
}
