//! Records stored by id as JSON: the shared mechanics of the item and user tables.

use redb::{
    Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
    WriteTransaction,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::StoreError;

type Table = TableDefinition<'static, &'static str, &'static [u8]>;

/// Counters kept beside the records, by name.
const VERSIONS: TableDefinition<&str, u64> = TableDefinition::new("versions");

/// A record table, and the counter (in [`VERSIONS`]) that every change to it increments, if any.
#[derive(Clone, Copy)]
pub(super) struct Records {
    /// The table.
    pub table: Table,
    /// The counter's name; `None` for tables whose changes nobody tracks.
    pub version: Option<&'static str>,
}

/// Creates the counter table.
pub(super) fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(VERSIONS).map_err(StoreError::database)?;
    Ok(())
}

/// The counter's value: how many write transactions have changed the table.
pub(super) fn version(db: &Database, name: &str) -> Result<u64, StoreError> {
    let txn = db.begin_read().map_err(StoreError::database)?;
    let table = txn.open_table(VERSIONS).map_err(StoreError::database)?;
    Ok(table
        .get(name)
        .map_err(StoreError::database)?
        .map_or(0, |v| v.value()))
}

/// Increments the counter of `records`, if it has one, inside `txn`.
fn bump(txn: &WriteTransaction, records: Records) -> Result<(), StoreError> {
    let Some(name) = records.version else {
        return Ok(());
    };
    let mut table = txn.open_table(VERSIONS).map_err(StoreError::database)?;
    let next = table
        .get(name)
        .map_err(StoreError::database)?
        .map_or(0, |v| v.value())
        + 1;
    table.insert(name, next).map_err(StoreError::database)?;
    Ok(())
}

/// A record encoded for storage: its id and its JSON bytes.
pub(super) type EncodedRow = (String, Vec<u8>);

/// Encodes records for [`write`].
pub(super) fn encode<'a, T: Serialize + 'a>(
    rows: impl Iterator<Item = (&'a str, &'a T)>,
) -> Result<Vec<EncodedRow>, StoreError> {
    rows.map(|(id, record)| {
        let bytes = serde_json::to_vec(record).map_err(|e| StoreError::Corrupt {
            key: id.to_owned(),
            reason: e.to_string(),
        })?;
        Ok((id.to_owned(), bytes))
    })
    .collect()
}

/// Inserts or replaces encoded records, in order, in one durable transaction.
pub(super) fn write<'a>(
    db: &Database,
    records: Records,
    rows: impl Iterator<Item = &'a EncodedRow>,
) -> Result<(), StoreError> {
    let txn = db.begin_write().map_err(StoreError::database)?;
    bump(&txn, records)?;
    {
        let mut table = txn
            .open_table(records.table)
            .map_err(StoreError::database)?;
        for (id, bytes) in rows {
            table
                .insert(id.as_str(), bytes.as_slice())
                .map_err(StoreError::database)?;
        }
    }
    txn.commit().map_err(StoreError::database)
}

fn decode<T: DeserializeOwned>(id: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        key: id.to_owned(),
        reason: e.to_string(),
    })
}

/// The record with this id.
pub(super) fn get<T: DeserializeOwned>(
    db: &Database,
    table: Table,
    id: &str,
) -> Result<Option<T>, StoreError> {
    let txn = db.begin_read().map_err(StoreError::database)?;
    let table = txn.open_table(table).map_err(StoreError::database)?;
    match table.get(id).map_err(StoreError::database)? {
        None => Ok(None),
        Some(bytes) => decode(id, bytes.value()).map(Some),
    }
}

/// Whether a record with this id exists.
pub(super) fn contains(db: &Database, table: Table, id: &str) -> Result<bool, StoreError> {
    let txn = db.begin_read().map_err(StoreError::database)?;
    let table = txn.open_table(table).map_err(StoreError::database)?;
    Ok(table.get(id).map_err(StoreError::database)?.is_some())
}

/// Deletes the record with this id; `false` when there was none.
pub(super) fn delete(db: &Database, records: Records, id: &str) -> Result<bool, StoreError> {
    let txn = db.begin_write().map_err(StoreError::database)?;
    let existed = {
        let mut table = txn
            .open_table(records.table)
            .map_err(StoreError::database)?;
        table.remove(id).map_err(StoreError::database)?.is_some()
    };
    if existed {
        bump(&txn, records)?;
    }
    txn.commit().map_err(StoreError::database)?;
    Ok(existed)
}

/// How many records the table holds.
pub(super) fn count(db: &Database, table: Table) -> Result<u64, StoreError> {
    let txn = db.begin_read().map_err(StoreError::database)?;
    let table = txn.open_table(table).map_err(StoreError::database)?;
    table.len().map_err(StoreError::database)
}

/// Visits every record in id order.
pub(super) fn scan<T: DeserializeOwned>(
    db: &Database,
    table: Table,
    visit: &mut dyn FnMut(T),
) -> Result<(), StoreError> {
    let txn = db.begin_read().map_err(StoreError::database)?;
    let table = txn.open_table(table).map_err(StoreError::database)?;
    for entry in table.iter().map_err(StoreError::database)? {
        let (id, bytes) = entry.map_err(StoreError::database)?;
        visit(decode(id.value(), bytes.value())?);
    }
    Ok(())
}
