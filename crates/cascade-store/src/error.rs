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
}

impl StoreError {
    /// Wraps any database error.
    pub fn database(error: impl Into<redb::Error>) -> Self {
        StoreError::Database(error.into().to_string())
    }
}
