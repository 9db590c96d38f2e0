//! Storage errors.

/// Why a storage operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// Another process holds the data directory.
    #[error("data directory {0} is in use by another Cascade process")]
    InUse(String),
    /// The underlying database failed.
    #[error("storage error: {0}")]
    Database(String),
    /// A stored record could not be decoded.
    #[error("stored record {key} is corrupt: {reason}")]
    Corrupt {
        /// The record's key.
        key: String,
        /// What could not be decoded.
        reason: String,
    },
    /// The Redis server refused a command or could not be reached.
    #[error("redis error: {0}")]
    Redis(String),
    /// The store is shutting down and takes no more writes.
    #[error("the store is closed")]
    Closed,
    /// The storage failed with an I/O error (a full disk, a failed `fsync`) and cannot be used
    /// until the store has re-opened it, which it does by itself once the storage writes again.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}

impl StoreError {
    /// Wraps any database error: an I/O error (or redb's refusal to go on after one) as
    /// [`StoreError::Unavailable`], anything else as [`StoreError::Database`].
    pub fn database(error: impl Into<redb::Error>) -> Self {
        match error.into() {
            error
            @ (redb::Error::Io(_) | redb::Error::PreviousIo | redb::Error::DatabaseClosed) => {
                StoreError::Unavailable(error.to_string())
            }
            error => StoreError::Database(error.to_string()),
        }
    }
}
