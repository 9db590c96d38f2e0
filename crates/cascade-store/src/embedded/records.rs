//! Records stored by id as JSON: the shared mechanics of the item and user tables.

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::StoreError;

type Table = TableDefinition<'static, &'static str, &'static [u8]>;

/// Inserts or replaces records in one durable transaction.
pub(super) fn upsert<'a, T: Serialize + 'a>(
    db: &Database,
    table: Table,
    records: impl Iterator<Item = (&'a str, &'a T)>,
) -> Result<(), StoreError> {
    let txn = db.begin_write().map_err(StoreError::database)?;
    {
        let mut table = txn.open_table(table).map_err(StoreError::database)?;
        for (id, record) in records {
            let bytes = serde_json::to_vec(record).map_err(|e| StoreError::Corrupt {
                key: id.to_owned(),
                reason: e.to_string(),
            })?;
            table
                .insert(id, bytes.as_slice())
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
pub(super) fn delete(db: &Database, table: Table, id: &str) -> Result<bool, StoreError> {
    let txn = db.begin_write().map_err(StoreError::database)?;
    let existed = {
        let mut table = txn.open_table(table).map_err(StoreError::database)?;
        table.remove(id).map_err(StoreError::database)?.is_some()
    };
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
