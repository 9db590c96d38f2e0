//! ONNX models as a [`Scorer`]: any model over the declared features, run by tract
//! ([`cascade_infer::onnx::OnnxModel`]).
//!
//! The model contract (what `scripts/train-onnx-ranker.py` exports):
//!
//! * one input, float32 `[batch, width]`, one output, float32 `[batch]` or `[batch, 1]`: the
//!   score of each row, higher is better;
//! * `metadata_props` `cascade.features`: the names of the features the model was trained on,
//!   comma-separated, in column order; they declare the model's [`FeatureSet`] and their count
//!   is the width. A model without them, or with another count, is refused;
//! * a missing feature value (NaN from [`FeatureSet::extract`]) reaches the graph as
//!   [`MISSING_VALUE`] (0.0): the training script imputes NaN as 0, so the scorer replaces NaN
//!   by 0.0 before running the graph, which itself never sees a NaN.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cascade_core::RequestContext;
use cascade_infer::onnx::{FEATURES_KEY, OnnxError, OnnxModel};

use crate::features::{FeatureError, FeatureMatrix, FeatureSet, FeatureSource};
use crate::model_file::{SchemaMismatch, check_schema};
use crate::scorer::{ScoreError, Scorer, ScoringInput};

/// The value a missing feature (NaN) is given before the graph runs, as in training.
pub const MISSING_VALUE: f32 = 0.0;

/// Why an ONNX model could not be used as a scorer.
#[derive(Debug, thiserror::Error)]
pub enum OnnxScorerError {
    /// The file could not be loaded as an ONNX scoring model.
    #[error(transparent)]
    Model(#[from] OnnxError),
    /// The model does not say which features it takes.
    #[error(
        "ONNX model {}: no `{FEATURES_KEY}` metadata; a ranking model must list the features \
         it was trained on (comma-separated, in column order), as \
         scripts/train-onnx-ranker.py writes them",
        path.display()
    )]
    NoFeatures {
        /// The file.
        path: PathBuf,
    },
    /// The `cascade.features` metadata does not declare a feature set.
    #[error("ONNX model {}: its `{FEATURES_KEY}` metadata: {source}", path.display())]
    Features {
        /// The file.
        path: PathBuf,
        /// What is wrong with the names.
        source: FeatureError,
    },
    /// The model declares another number of features than its input takes.
    #[error(
        "ONNX model {}: `{FEATURES_KEY}` declares {declared} features but the input takes rows \
         of {width} values",
        path.display()
    )]
    Width {
        /// The file.
        path: PathBuf,
        /// How many features the metadata lists.
        declared: usize,
        /// The input's width.
        width: usize,
    },
    /// The model was trained on other features than the caller computes.
    #[error("ONNX model {}: {source}", path.display())]
    Schema {
        /// The file.
        path: PathBuf,
        /// Both lists and where they differ.
        source: SchemaMismatch,
    },
}

/// Scores candidates with an ONNX model: computes the model's declared features for the batch
/// from the candidates, their items and a [`FeatureSource`], then runs the graph over all rows.
pub struct OnnxScorer {
    name: String,
    model: Arc<OnnxModel>,
    features: FeatureSet,
    source: Arc<dyn FeatureSource>,
}

impl OnnxScorer {
    /// A scorer named `name` (for errors) over a loaded model, whose `cascade.features`
    /// metadata must declare a feature set of the model's width.
    pub fn new(
        name: &str,
        model: Arc<OnnxModel>,
        source: Arc<dyn FeatureSource>,
    ) -> Result<Self, OnnxScorerError> {
        let features = declared_features(&model)?;
        Ok(Self {
            name: name.to_string(),
            model,
            features,
            source,
        })
    }

    /// Loads the ONNX file at `path`, refusing one trained on other features than `expected`
    /// when given (both lists are in the error).
    pub fn load(
        name: &str,
        path: &Path,
        expected: Option<&FeatureSet>,
        source: Arc<dyn FeatureSource>,
    ) -> Result<Self, OnnxScorerError> {
        let scorer = Self::new(name, Arc::new(OnnxModel::load(path)?), source)?;
        if let Some(expected) = expected {
            check_schema(&scorer.features, expected).map_err(|source| OnnxScorerError::Schema {
                path: path.to_path_buf(),
                source,
            })?;
        }
        Ok(scorer)
    }

    /// The model.
    pub fn model(&self) -> &OnnxModel {
        &self.model
    }

    /// The features the model reads, in column order.
    pub fn features(&self) -> &FeatureSet {
        &self.features
    }
}

/// The feature set a model's `cascade.features` metadata declares, checked against its width.
fn declared_features(model: &OnnxModel) -> Result<FeatureSet, OnnxScorerError> {
    let path = || model.path().to_path_buf();
    let names = model
        .feature_names()
        .ok_or_else(|| OnnxScorerError::NoFeatures { path: path() })?;
    let features = FeatureSet::parse(&names).map_err(|source| OnnxScorerError::Features {
        path: path(),
        source,
    })?;
    if features.len() != model.width() {
        return Err(OnnxScorerError::Width {
            path: path(),
            declared: features.len(),
            width: model.width(),
        });
    }
    Ok(features)
}

/// The matrix as the graph's float32 rows, a missing value (NaN) as [`MISSING_VALUE`].
pub fn model_rows(matrix: &FeatureMatrix) -> Vec<f32> {
    matrix
        .values()
        .iter()
        .map(|&value| {
            if value.is_nan() {
                MISSING_VALUE
            } else {
                value as f32
            }
        })
        .collect()
}

impl Scorer for OnnxScorer {
    fn score(
        &self,
        request: &RequestContext,
        inputs: &[ScoringInput<'_>],
    ) -> Result<Vec<f64>, ScoreError> {
        let matrix = self.features.extract(self.source.as_ref(), request, inputs);
        let scores = self
            .model
            .run(&model_rows(&matrix), matrix.rows())
            .map_err(|e| ScoreError {
                scorer: self.name.clone(),
                reason: e.to_string(),
            })?;
        Ok(scores.into_iter().map(f64::from).collect())
    }
}
