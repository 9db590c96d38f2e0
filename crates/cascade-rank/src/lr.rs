//! A logistic-regression CTR model for the rank stages: trained with `linfa-logistic` (L2
//! regularised, L-BFGS) on standardised features ([`train_logistic`]), stored in a versioned
//! model file that carries its feature schema, the standardisation, training metrics and data
//! span ([`LogisticModelFile`]), and scored in batches by [`LogisticScorer`].
//!
//! Each feature is standardised with the mean and standard deviation of the training rows; a
//! missing (NaN) value is imputed with the training mean, so it contributes nothing. The file
//! stores the weights on that standardised scale and the mean and deviation beside them, so
//! scoring is `sigmoid(intercept + Σ wᵢ (xᵢ − meanᵢ) / stdᵢ)`: the predicted probability of a
//! positive label (an interaction).

mod metrics;
mod model;
mod scorer;
mod train;

pub use metrics::{auc, log_loss};
pub use model::{
    LOGISTIC_FORMAT, LOGISTIC_VERSION, LogisticModel, LogisticModelFile, Standardization,
};
pub use scorer::LogisticScorer;
pub use train::{LogisticConfig, train_logistic};

use crate::features::FeatureError;
use crate::model_file::{FileError, HeaderError, SchemaMismatch};

/// Why a logistic model could not be trained, saved, loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum LogisticError {
    /// Reading, writing or parsing the file failed.
    #[error("logistic model file {0}")]
    File(#[from] FileError),
    /// The file is not a logistic model file of this version.
    #[error("not a Cascade logistic model file: {0}")]
    Header(#[from] HeaderError),
    /// The model's feature names do not declare a feature set.
    #[error("the model's features: {0}")]
    Features(#[from] FeatureError),
    /// The model's features are not the ones the caller computes.
    #[error(transparent)]
    Schema(#[from] SchemaMismatch),
    /// The file's weights or standardisation do not fit its features.
    #[error("bad logistic model: {0}")]
    Model(String),
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
    /// linfa refused or failed to fit.
    #[error("linfa-logistic: {0}")]
    Fit(String),
}

#[cfg(test)]
mod tests;
