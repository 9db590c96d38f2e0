//! The model file: a LightGBM model with the feature schema it was trained on, how it was
//! trained and on which span of data, under a format name and version.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::GbdtError;
use super::forest::Forest;
use crate::features::{FeatureMatrix, FeatureSet};
use crate::model_file::{self, HeaderError};
pub use crate::model_file::{DataSpan, TrainingInfo};

/// The `format` every Cascade GBDT model file declares.
pub const MODEL_FORMAT: &str = "cascade-gbdt";
/// The format version this build writes and reads.
pub const MODEL_VERSION: u32 = 1;

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
        model_file::check_header(&file.format, file.version, MODEL_FORMAT, MODEL_VERSION).map_err(
            |e| match e {
                HeaderError::Format { .. } => GbdtError::Format(e.to_string()),
                HeaderError::Version { found, supported } => {
                    GbdtError::Version { found, supported }
                }
            },
        )?;
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
        let file: ModelFile = model_file::read_json(path)?;
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
        model_file::check_schema(&self.features, expected).map_err(|mismatch| GbdtError::Schema {
            expected_len: mismatch.expected.len(),
            found_len: mismatch.found.len(),
            expected: mismatch.expected,
            found: mismatch.found,
            difference: mismatch.difference,
        })
    }

    /// Writes the model file (JSON).
    pub fn save(&self, path: &Path) -> Result<(), GbdtError> {
        Ok(model_file::write_json(path, &self.file)?)
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
