//! What every Cascade model file shares, whatever the model: the span of data it was trained
//! on ([`DataSpan`]), how it was trained ([`TrainingInfo`]), the format name and version check
//! ([`check_header`]), the feature schema check ([`check_schema`]), and reading and writing
//! the JSON envelope ([`read_json`], [`write_json`]).

use std::collections::BTreeMap;
use std::path::Path;

use cascade_core::time::TimestampMs;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::features::FeatureSet;

/// The time span of the interactions a model was trained on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataSpan {
    /// The earliest interaction, ms since the epoch.
    pub from_ms: TimestampMs,
    /// The latest interaction, ms since the epoch.
    pub to_ms: TimestampMs,
}

impl DataSpan {
    /// The span of `times`; `None` when there are none.
    pub fn of(times: impl IntoIterator<Item = TimestampMs>) -> Option<Self> {
        times.into_iter().fold(None, |span, t| {
            Some(match span {
                None => Self {
                    from_ms: t,
                    to_ms: t,
                },
                Some(span) => span.union(Self {
                    from_ms: t,
                    to_ms: t,
                }),
            })
        })
    }

    /// The smallest span holding both.
    pub fn union(self, other: Self) -> Self {
        Self {
            from_ms: self.from_ms.min(other.from_ms),
            to_ms: self.to_ms.max(other.to_ms),
        }
    }
}

/// How a model was trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingInfo {
    /// When training finished, ms since the epoch.
    pub trained_at_ms: TimestampMs,
    /// The span of the interactions behind the training data, when known.
    pub data_span: Option<DataSpan>,
    /// Training rows (candidates).
    pub rows: usize,
    /// Training queries (users, or label events).
    pub queries: usize,
    /// Rows with a positive label.
    pub positives: usize,
    /// Trees kept (after early stopping, if any); 0 for a model without trees.
    #[serde(default)]
    pub trees: usize,
    /// The trainer's parameters.
    pub params: serde_json::Value,
    /// Offline metrics by name, e.g. `train_ndcg@10`, `valid_auc`.
    pub metrics: BTreeMap<String, f64>,
}

/// A model file whose format name or version this build does not read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HeaderError {
    /// Another format (or none).
    #[error("format is `{found}`, expected `{expected}`")]
    Format {
        /// The file's format name.
        found: String,
        /// The format this reader takes.
        expected: String,
    },
    /// The right format in a version this build does not read.
    #[error(
        "model file format version {found} is not supported; this build reads version {supported}"
    )]
    Version {
        /// The file's version.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
}

/// `Ok` when a file declares format `expected` in version `supported`.
pub fn check_header(
    format: &str,
    version: u32,
    expected: &str,
    supported: u32,
) -> Result<(), HeaderError> {
    if format != expected {
        return Err(HeaderError::Format {
            found: format.to_string(),
            expected: expected.to_string(),
        });
    }
    if version != supported {
        return Err(HeaderError::Version {
            found: version,
            supported,
        });
    }
    Ok(())
}

/// A model trained on other features than the ones its caller computes.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "feature schema mismatch: the model was trained on {} features {found:?}, the scorer \
     computes {} features {expected:?}; {difference}",
    found.len(),
    expected.len()
)]
pub struct SchemaMismatch {
    /// The features the caller computes.
    pub expected: Vec<String>,
    /// The features the model was trained on.
    pub found: Vec<String>,
    /// Where they first differ, in words.
    pub difference: String,
}

/// `Ok` when a model's features (`found`) are `expected`, in order; otherwise both lists and
/// the first column where they differ.
pub fn check_schema(found: &FeatureSet, expected: &FeatureSet) -> Result<(), SchemaMismatch> {
    if found == expected {
        return Ok(());
    }
    let (expected, found) = (expected.names(), found.names());
    let difference = match expected.iter().zip(&found).position(|(a, b)| a != b) {
        Some(i) => format!(
            "column {i} is `{}` in the model but `{}` in the scorer",
            found[i], expected[i]
        ),
        None => "one list is a prefix of the other".to_string(),
    };
    Err(SchemaMismatch {
        expected,
        found,
        difference,
    })
}

/// Why a model file could not be read or written as JSON.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What failed.
        source: std::io::Error,
    },
    /// The text is not the JSON of the expected envelope.
    #[error("{path}: {reason}")]
    Json {
        /// The file.
        path: String,
        /// What serde said (with line and column).
        reason: String,
    },
}

/// Reads a JSON model file.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, FileError> {
    let text = std::fs::read_to_string(path).map_err(|source| FileError::Io {
        path: path.display().to_string(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| FileError::Json {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// Writes a model file as pretty JSON.
pub fn write_json<T: Serialize>(path: &Path, file: &T) -> Result<(), FileError> {
    let text = serde_json::to_string_pretty(file).map_err(|e| FileError::Json {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    std::fs::write(path, text).map_err(|source| FileError::Io {
        path: path.display().to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_headers_and_schemas() {
        assert_eq!(DataSpan::of([]), None);
        assert_eq!(
            DataSpan::of([5, 2, 9]),
            Some(DataSpan {
                from_ms: 2,
                to_ms: 9
            })
        );
        assert!(check_header("x", 1, "x", 1).is_ok());
        assert!(matches!(
            check_header("y", 1, "x", 1),
            Err(HeaderError::Format { .. })
        ));
        assert_eq!(
            check_header("x", 2, "x", 1),
            Err(HeaderError::Version {
                found: 2,
                supported: 1
            })
        );
        let a = FeatureSet::parse(&["item.a", "item.b"]).unwrap();
        let b = FeatureSet::parse(&["item.a", "item.c"]).unwrap();
        assert!(check_schema(&a, &a).is_ok());
        let error = check_schema(&a, &b).unwrap_err();
        assert_eq!(error.found, ["item.a", "item.b"]);
        assert!(
            error.to_string().contains("column 1 is `item.b`"),
            "{error}"
        );
    }
}
