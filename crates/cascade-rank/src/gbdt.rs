//! Gradient-boosted trees for the rank stages: LambdaMART training through LightGBM
//! ([`train_lambdamart`]), a versioned model file that carries its feature schema
//! ([`ModelFile`]), and a batched [`GbdtScorer`].
//!
//! LightGBM trains (through the `lightgbm3` bindings) and its text model is stored inside the
//! model file; scoring walks the same trees in Rust ([`Forest`]), so a loaded model is plain
//! data that every request thread can share, and its scores match LightGBM's own prediction
//! (a test holds them to it).

mod forest;
mod model;
mod scorer;
mod train;

pub use forest::Forest;
pub use model::{DataSpan, GbdtModel, MODEL_FORMAT, MODEL_VERSION, ModelFile, TrainingInfo};
pub use scorer::GbdtScorer;
pub use train::{LambdaMartConfig, RankingData, lightgbm_predict, mean_ndcg, train_lambdamart};

use crate::features::FeatureError;

/// Why a GBDT model could not be trained, saved, loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum GbdtError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What failed.
        source: std::io::Error,
    },
    /// The file is not a Cascade GBDT model file.
    #[error("not a Cascade GBDT model file: {0}")]
    Format(String),
    /// The file is of a format version this build does not read.
    #[error(
        "model file format version {found} is not supported; this build reads version {supported}"
    )]
    Version {
        /// The file's version.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// The LightGBM model inside is malformed or uses what the scorer cannot evaluate.
    #[error("bad LightGBM model: {0}")]
    Model(String),
    /// The model's feature names are not the ones the caller computes.
    #[error(
        "feature schema mismatch: the model was trained on {found_len} features {found:?}, \
         the scorer computes {expected_len} features {expected:?}; {difference}"
    )]
    Schema {
        /// The features the caller computes.
        expected: Vec<String>,
        /// How many.
        expected_len: usize,
        /// The features the model was trained on.
        found: Vec<String>,
        /// How many.
        found_len: usize,
        /// Where they first differ, in words.
        difference: String,
    },
    /// The model's feature names do not declare a feature set.
    #[error("the model's features: {0}")]
    Features(#[from] FeatureError),
    /// A feature matrix of the wrong width was given.
    #[error("rows have {found} features; the model takes {expected}")]
    Width {
        /// The model's feature count.
        expected: usize,
        /// The rows' feature count.
        found: usize,
    },
    /// Training data is unusable.
    #[error("training data: {0}")]
    Data(String),
    /// LightGBM refused.
    #[error("LightGBM: {0}")]
    LightGbm(String),
}

impl From<crate::model_file::FileError> for GbdtError {
    fn from(error: crate::model_file::FileError) -> Self {
        match error {
            crate::model_file::FileError::Io { path, source } => GbdtError::Io { path, source },
            crate::model_file::FileError::Json { path, reason } => {
                GbdtError::Format(format!("{path}: {reason}"))
            }
        }
    }
}

impl From<lightgbm3::Error> for GbdtError {
    fn from(error: lightgbm3::Error) -> Self {
        GbdtError::LightGbm(error.to_string())
    }
}

#[cfg(test)]
mod tests;
