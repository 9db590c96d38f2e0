//! The model file: a LightGBM model with the feature schema it was trained on, how it was
//! trained and on which span of data, under a format name and version.

use std::collections::BTreeMap;
use std::path::Path;

use cascade_core::time::TimestampMs;
use serde::{Deserialize, Serialize};

use super::GbdtError;
use super::forest::Forest;
use crate::features::{FeatureMatrix, FeatureSet};

/// The `format` every Cascade GBDT model file declares.
pub const MODEL_FORMAT: &str = "cascade-gbdt";
/// The format version this build writes and reads.
pub const MODEL_VERSION: u32 = 1;

/// The time span of the interactions a model was trained on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataSpan {
    /// The earliest interaction, ms since the epoch.
    pub from_ms: TimestampMs,
    /// The latest interaction, ms since the epoch.
    pub to_ms: TimestampMs,
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
    /// Training queries (users).
    pub queries: usize,
    /// Rows with a positive label.
    pub positives: usize,
    /// Trees kept (after early stopping, if any).
    pub trees: usize,
    /// The LightGBM parameters used.
    pub params: serde_json::Value,
    /// Offline metrics by name, e.g. `train_ndcg@10`, `valid_ndcg@10`.
    pub metrics: BTreeMap<String, f64>,
}

/// A model file as stored: JSON with the LightGBM text model inside.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelFile {
    /// Always [`MODEL_FORMAT`].
    pub format: String,
    /// The format version, [`MODEL_VERSION`] when written by this build.
    pub version: u32,
    /// The training objective (e.g. `lambdarank`).
    pub objective: String,
    /// The feature names, in column order: the schema a scorer must compute.
    pub features: Vec<String>,
    /// How the model was trained.
    pub training: TrainingInfo,
    /// The LightGBM model in its text format.
    pub lightgbm_model: String,
}

/// A loaded model: its feature set, its trees and how it was trained.
#[derive(Debug, Clone)]
pub struct GbdtModel {
    file: ModelFile,
    features: FeatureSet,
    forest: Forest,
}

impl GbdtModel {
    /// Checks a model file and builds the model: format and version, feature names that
    /// declare a feature set, and a LightGBM model over exactly those features.
    pub fn from_file(file: ModelFile) -> Result<Self, GbdtError> {
        if file.format != MODEL_FORMAT {
            return Err(GbdtError::Format(format!(
                "format is `{}`, expected `{MODEL_FORMAT}`",
                file.format
            )));
        }
        if file.version != MODEL_VERSION {
            return Err(GbdtError::Version {
                found: file.version,
                supported: MODEL_VERSION,
            });
        }
        let features = FeatureSet::parse(&file.features)?;
        let forest = Forest::parse(&file.lightgbm_model)?;
        if forest.feature_names() != file.features.as_slice() {
            return Err(GbdtError::Model(format!(
                "the LightGBM model's features {:?} are not the file's {:?}",
                forest.feature_names(),
                file.features
            )));
        }
        Ok(Self {
            file,
            features,
            forest,
        })
    }

    /// Loads a model file written by [`GbdtModel::save`].
    pub fn load(path: &Path) -> Result<Self, GbdtError> {
        let text = std::fs::read_to_string(path).map_err(|source| GbdtError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let file: ModelFile = serde_json::from_str(&text)
            .map_err(|e| GbdtError::Format(format!("{}: {e}", path.display())))?;
        Self::from_file(file)
    }

    /// Loads a model file and checks that it was trained on exactly `expected`, the features
    /// the caller computes; a model of another schema is refused with both lists.
    pub fn load_expecting(path: &Path, expected: &FeatureSet) -> Result<Self, GbdtError> {
        let model = Self::load(path)?;
        model.check_schema(expected)?;
        Ok(model)
    }

    /// `Ok` when the model's features are `expected`, in order.
    pub fn check_schema(&self, expected: &FeatureSet) -> Result<(), GbdtError> {
        if &self.features == expected {
            return Ok(());
        }
        let (expected, found) = (expected.names(), self.features.names());
        let difference = match expected.iter().zip(&found).position(|(a, b)| a != b) {
            Some(i) => format!(
                "column {i} is `{}` in the model but `{}` in the scorer",
                found[i], expected[i]
            ),
            None => "one list is a prefix of the other".to_string(),
        };
        Err(GbdtError::Schema {
            expected_len: expected.len(),
            found_len: found.len(),
            expected,
            found,
            difference,
        })
    }

    /// Writes the model file (JSON).
    pub fn save(&self, path: &Path) -> Result<(), GbdtError> {
        let text = serde_json::to_string_pretty(&self.file)
            .map_err(|e| GbdtError::Format(e.to_string()))?;
        std::fs::write(path, text).map_err(|source| GbdtError::Io {
            path: path.display().to_string(),
            source,
        })
    }

    /// The features the model reads, in column order.
    pub fn features(&self) -> &FeatureSet {
        &self.features
    }

    /// How the model was trained.
    pub fn training(&self) -> &TrainingInfo {
        &self.file.training
    }

    /// The stored file.
    pub fn file(&self) -> &ModelFile {
        &self.file
    }

    /// The trees.
    pub fn forest(&self) -> &Forest {
        &self.forest
    }

    /// One score per row of `matrix`, whose columns must be the model's features.
    pub fn predict(&self, matrix: &FeatureMatrix) -> Result<Vec<f64>, GbdtError> {
        if matrix.columns() != self.features.len() {
            return Err(GbdtError::Width {
                expected: self.features.len(),
                found: matrix.columns(),
            });
        }
        Ok(self.forest.predict(matrix.values()))
    }
}
