//! Group commit for record upserts: concurrent upserts into one table share one durable
//! transaction, so that many writers pay for one fsync between them.
//!
//! Flat combining, without a thread of its own: a writer queues its encoded rows and takes the
//! commit lock; if an earlier holder already committed its rows it returns that outcome, else
//! it commits everything queued, in queue order, and hands the outcome to each writer in the
//! group. Every queued writer waits on the commit lock, so no rows are left behind, and the
//! queue holds at most one entry per waiting writer.

use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use redb::Database;
use serde::Serialize;

use super::records::{self, EncodedRow, Records};
use crate::error::StoreError;

/// The writes into one record table.
pub(super) struct GroupCommit {
    records: Records,
    queue: Mutex<Vec<Queued>>,
    commit: Mutex<()>,
}

/// One writer's rows and the slot for the outcome of the transaction that wrote them.
struct Queued {
    rows: Vec<EncodedRow>,
    outcome: Arc<OnceLock<Result<(), StoreError>>>,
}

impl GroupCommit {
    /// The writes into `records`.
    pub(super) fn new(records: Records) -> Self {
        Self {
            records,
            queue: Mutex::new(Vec::new()),
            commit: Mutex::new(()),
        }
    }

    /// Inserts or replaces `rows` durably; returns once the transaction holding them has
    /// committed. Rows of concurrent calls are written in the order the calls queued them.
    /// No rows, no transaction.
    pub(super) fn upsert<'a, T: Serialize + 'a>(
        &self,
        db: &Database,
        rows: impl Iterator<Item = (&'a str, &'a T)>,
    ) -> Result<(), StoreError> {
        let rows = records::encode(rows)?;
        if rows.is_empty() {
            return Ok(());
        }
        let outcome = Arc::new(OnceLock::new());
        self.queue.lock().push(Queued {
            rows,
            outcome: outcome.clone(),
        });
        let _commit = self.commit.lock();
        if let Some(committed) = outcome.get() {
            return committed.clone();
        }
        let group = std::mem::take(&mut *self.queue.lock());
        let committed = records::write(
            db,
            self.records,
            group.iter().flat_map(|queued| &queued.rows),
        );
        if let Err(error) = &committed {
            tracing::error!(%error, writers = group.len(), "record commit failed");
        }
        for queued in &group {
            // Only this group's committer sets these slots.
            let _ = queued.outcome.set(committed.clone());
        }
        committed
    }
}
