//! What a feature log file holds: a header naming the columns, then one record per shown item.

use cascade_core::time::TimestampMs;
use serde::{Deserialize, Serialize};

/// The `format` every feature log header declares.
pub const LOG_FORMAT: &str = "cascade-feature-log";
/// The format version this build writes and reads.
pub const LOG_VERSION: u32 = 1;

/// The first line of a log file: what the records' feature columns are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogHeader {
    /// Always [`LOG_FORMAT`].
    pub format: String,
    /// The format version, [`LOG_VERSION`] when written by this build.
    pub version: u32,
    /// The feature names, in column order.
    pub schema: Vec<String>,
    /// When the file was started, ms since the epoch.
    pub created_at: TimestampMs,
}

impl LogHeader {
    /// The header of a file of this build's format over `schema`.
    pub fn new(schema: Vec<String>, created_at: TimestampMs) -> Self {
        Self {
            format: LOG_FORMAT.into(),
            version: LOG_VERSION,
            schema,
            created_at,
        }
    }
}

/// One shown item of one request, with the feature values it was ranked with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureLogRecord {
    /// The recommend request that showed the item.
    pub request_id: String,
    /// The user it was shown to.
    pub uid: String,
    /// The scene.
    pub scene: String,
    /// The item shown.
    pub item_id: String,
    /// Its 0-based position in the response (as impressions and click events carry it).
    pub position: u32,
    /// When it was shown, ms since the epoch.
    pub logged_at: TimestampMs,
    /// The feature values in the header's column order; `null` where a value is missing
    /// (NaN in a feature matrix).
    pub features: Vec<Option<f64>>,
}

impl FeatureLogRecord {
    /// The values as a feature-matrix row: a missing value is NaN.
    pub fn row(&self) -> impl Iterator<Item = f64> + '_ {
        self.features.iter().map(|value| value.unwrap_or(f64::NAN))
    }

    /// Checks the record against its file's column count: ids present, one value per column.
    pub fn check(&self, columns: usize) -> Result<(), String> {
        if self.request_id.is_empty() {
            return Err("`request_id` is empty".into());
        }
        if self.item_id.is_empty() {
            return Err("`item_id` is empty".into());
        }
        if self.features.len() != columns {
            return Err(format!(
                "`features` has {} values; the header names {columns} features",
                self.features.len()
            ));
        }
        Ok(())
    }
}

/// A feature-matrix value as logged: NaN and infinities (which JSON cannot hold) are missing.
pub(crate) fn logged_value(value: f64) -> Option<f64> {
    value.is_finite().then_some(value)
}
