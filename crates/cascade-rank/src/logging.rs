//! Feature logging: at serving time the feature vectors of the items a response showed are
//! logged with the request id and position ([`FeatureLogger`]); training joins them to the
//! clicks and conversions that followed, by request id and item ([`training_data_from_logs`]).
//!
//! The features are those the model would have seen when the item was shown, computed by the
//! same [`FeatureSet::extract`](crate::features::FeatureSet::extract) as scoring, so training
//! on them needs no point-in-time reconstruction of state; the labels come only from events
//! after the impression and within the attribution window, so nothing later leaks in.
//!
//! The log is a directory of NDJSON segment files (`features-<ms>-<seq>.ndjson`), each opening
//! with a [`LogHeader`] that names the feature columns, followed by one [`FeatureLogRecord`]
//! per shown item; a file is closed and a new one started once it reaches a size.

mod join;
mod logger;
mod reader;
mod record;
mod segment;

pub use join::{JoinCounts, LabelRule, LoggedTrainingData, RowOrigin, training_data_from_logs};
pub use logger::{FeatureLogStats, FeatureLogger, LogOutcome, feature_set, sampled};
pub use reader::{FeatureLog, LogSegment, read_feature_log, read_segment};
pub use record::{FeatureLogRecord, LOG_FORMAT, LOG_VERSION, LogHeader};

use cascade_core::config::ConfigIssue;

use crate::gbdt::GbdtError;

/// Why feature logs could not be written, read or joined.
#[derive(Debug, thiserror::Error)]
pub enum FeatureLogError {
    /// The logging configuration is invalid.
    #[error("invalid config: {0}")]
    Config(ConfigIssue),
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// What failed.
        source: std::io::Error,
    },
    /// A line of a log file is not a valid header or record.
    #[error("{path}:{line}: {reason}")]
    Record {
        /// The file.
        path: String,
        /// The 1-based line (the header is line 1).
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// Two files of one log have different feature columns.
    #[error(
        "the feature schema changed within {dir}: {first} logs {first_schema:?} but {other} logs \
         {other_schema:?}; one training set takes one schema (move the files of the other one \
         to another directory)"
    )]
    SchemaChanged {
        /// The log directory.
        dir: String,
        /// The first file read.
        first: String,
        /// Its feature names.
        first_schema: Vec<String>,
        /// The file that differs.
        other: String,
        /// Its feature names.
        other_schema: Vec<String>,
    },
    /// The directory holds no log file.
    #[error("{0}: no feature log files (features-*.ndjson)")]
    NoLog(String),
    /// The label rule cannot label.
    #[error("label rule: {0}")]
    Label(String),
    /// The joined rows do not make ranking data.
    #[error(transparent)]
    Data(#[from] GbdtError),
}

impl FeatureLogError {
    fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

#[cfg(test)]
mod tests;
