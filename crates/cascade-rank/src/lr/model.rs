//! The logistic model file: weights over standardised features, with the feature schema, the
//! standardisation, how it was trained and on which span of data, under a format name and
//! version.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::LogisticError;
use crate::features::{FeatureMatrix, FeatureSet};
use crate::model_file::{self, TrainingInfo};

/// The `format` every Cascade logistic model file declares.
pub const LOGISTIC_FORMAT: &str = "cascade-logistic";
/// The format version this build writes and reads.
pub const LOGISTIC_VERSION: u32 = 1;

/// How raw feature values become the model's inputs: `(x − mean) / std`, and a missing (NaN)
/// value becomes 0 (the training mean).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standardization {
    /// Each feature's mean over the training rows that have it (0 where none has it).
    pub means: Vec<f64>,
    /// Each feature's standard deviation over those rows (1 where it is 0 or unknown).
    pub stds: Vec<f64>,
}

impl Standardization {
    /// The standardisation of the columns of `matrix`, from the values that are not NaN.
    pub fn fit(matrix: &FeatureMatrix) -> Self {
        let columns = matrix.columns();
        let (mut sums, mut squares, mut counts) =
            (vec![0.0; columns], vec![0.0; columns], vec![0u64; columns]);
        for row in 0..matrix.rows() {
            for (j, &x) in matrix.row(row).iter().enumerate() {
                if x.is_finite() {
                    sums[j] += x;
                    squares[j] += x * x;
                    counts[j] += 1;
                }
            }
        }
        let mut means = vec![0.0; columns];
        let mut stds = vec![1.0; columns];
        for j in 0..columns {
            if counts[j] > 0 {
                let n = counts[j] as f64;
                means[j] = sums[j] / n;
                let variance = (squares[j] / n - means[j] * means[j]).max(0.0);
                if variance > 1e-24 {
                    stds[j] = variance.sqrt();
                }
            }
        }
        Self { means, stds }
    }

    /// The standardised value of feature `column`.
    pub fn apply(&self, column: usize, x: f64) -> f64 {
        if x.is_finite() {
            (x - self.means[column]) / self.stds[column]
        } else {
            0.0
        }
    }
}

/// A logistic model file as stored (JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogisticModelFile {
    /// Always [`LOGISTIC_FORMAT`].
    pub format: String,
    /// The format version, [`LOGISTIC_VERSION`] when written by this build.
    pub version: u32,
    /// The training objective (`binary_logistic`).
    pub objective: String,
    /// The feature names, in column order: the schema a scorer must compute.
    pub features: Vec<String>,
    /// How the model was trained.
    pub training: TrainingInfo,
    /// How raw values are standardised before the weights apply.
    pub standardization: Standardization,
    /// One weight per feature, on the standardised scale.
    pub weights: Vec<f64>,
    /// The bias.
    pub intercept: f64,
}

/// A loaded logistic model.
#[derive(Debug, Clone)]
pub struct LogisticModel {
    file: LogisticModelFile,
    features: FeatureSet,
}

impl LogisticModel {
    /// Checks a model file and builds the model: format and version, feature names that
    /// declare a feature set, and finite weights and a standardisation of one entry per feature.
    pub fn from_file(file: LogisticModelFile) -> Result<Self, LogisticError> {
        model_file::check_header(
            &file.format,
            file.version,
            LOGISTIC_FORMAT,
            LOGISTIC_VERSION,
        )?;
        let features = FeatureSet::parse(&file.features)?;
        let n = features.len();
        let Standardization { means, stds } = &file.standardization;
        for (name, values) in [("weights", &file.weights), ("means", means), ("stds", stds)] {
            if values.len() != n {
                return Err(LogisticError::Model(format!(
                    "{} {name} for {n} features",
                    values.len()
                )));
            }
            if let Some(j) = values.iter().position(|v| !v.is_finite()) {
                return Err(LogisticError::Model(format!(
                    "{name}[{j}] (feature `{}`) is not a finite number",
                    file.features[j]
                )));
            }
        }
        if let Some(j) = stds.iter().position(|&s| s <= 0.0) {
            return Err(LogisticError::Model(format!(
                "stds[{j}] (feature `{}`) is not positive",
                file.features[j]
            )));
        }
        if !file.intercept.is_finite() {
            return Err(LogisticError::Model(
                "the intercept is not a finite number".into(),
            ));
        }
        Ok(Self { file, features })
    }

    /// Loads a model file written by [`LogisticModel::save`].
    pub fn load(path: &Path) -> Result<Self, LogisticError> {
        Self::from_file(model_file::read_json(path)?)
    }

    /// Loads a model file and checks that it was trained on exactly `expected`, the features
    /// the caller computes; a model of another schema is refused with both lists.
    pub fn load_expecting(path: &Path, expected: &FeatureSet) -> Result<Self, LogisticError> {
        let model = Self::load(path)?;
        model_file::check_schema(&model.features, expected)?;
        Ok(model)
    }

    /// Writes the model file (JSON).
    pub fn save(&self, path: &Path) -> Result<(), LogisticError> {
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
    pub fn file(&self) -> &LogisticModelFile {
        &self.file
    }

    /// The predicted probability of a positive label for each row of `matrix`, whose columns
    /// must be the model's features.
    pub fn predict(&self, matrix: &FeatureMatrix) -> Result<Vec<f64>, LogisticError> {
        if matrix.columns() != self.features.len() {
            return Err(LogisticError::Width {
                expected: self.features.len(),
                found: matrix.columns(),
            });
        }
        let scale = &self.file.standardization;
        Ok((0..matrix.rows())
            .map(|row| {
                let z: f64 = matrix
                    .row(row)
                    .iter()
                    .zip(&self.file.weights)
                    .enumerate()
                    .map(|(j, (&x, w))| w * scale.apply(j, x))
                    .sum();
                sigmoid(self.file.intercept + z)
            })
            .collect())
    }
}

/// `1 / (1 + e^-x)`.
fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}
