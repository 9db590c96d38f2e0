//! Training the logistic model with `linfa-logistic`: standardise, fit (L2, L-BFGS), and
//! measure log-loss and AUC on the training rows and the held-out ones.

use std::collections::BTreeMap;

use linfa::Dataset;
use linfa::prelude::{Fit, ParamGuard};
use linfa_logistic::LogisticRegression;
use linfa_ndarray::{Array1, Array2};
use serde_json::json;

use super::LogisticError;
use super::metrics::{auc, log_loss};
use super::model::{
    LOGISTIC_FORMAT, LOGISTIC_VERSION, LogisticModel, LogisticModelFile, Standardization,
};
use crate::features::FeatureSet;
use crate::gbdt::RankingData;
use crate::model_file::{DataSpan, TrainingInfo};

/// Logistic-regression hyper-parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct LogisticConfig {
    /// The L2 penalty `α/2 · ‖w‖²` added to the summed log-loss (the intercept is not
    /// penalised).
    pub alpha: f64,
    /// L-BFGS iterations, at most.
    pub max_iterations: u64,
    /// Stops when the gradient's norm falls below this.
    pub gradient_tolerance: f64,
}

impl Default for LogisticConfig {
    fn default() -> Self {
        Self {
            alpha: 1.0,
            max_iterations: 200,
            gradient_tolerance: 1e-4,
        }
    }
}

impl LogisticConfig {
    /// The parameters as recorded in the model file.
    pub fn params(&self) -> serde_json::Value {
        json!({
            "solver": "linfa-logistic L-BFGS",
            "alpha": self.alpha,
            "max_iterations": self.max_iterations,
            "gradient_tolerance": self.gradient_tolerance,
            "standardize": true,
            "impute": "training mean",
        })
    }
}

/// A row's label as a class: positive when its grade is above 0.
fn classes(data: &RankingData) -> Vec<bool> {
    data.labels().iter().map(|&l| l > 0.0).collect()
}

/// Trains a logistic model on the rows of `train` (queries are ignored: each row is one
/// example, positive when its label is above 0); the file records `features`, the
/// standardisation, the parameters, the data span and log-loss and AUC on `train` and, when
/// given, on `valid`.
pub fn train_logistic(
    features: &FeatureSet,
    train: &RankingData,
    valid: Option<&RankingData>,
    config: &LogisticConfig,
    data_span: Option<DataSpan>,
) -> Result<LogisticModel, LogisticError> {
    let matrix = train.features();
    if matrix.columns() != features.len() {
        return Err(LogisticError::Width {
            expected: features.len(),
            found: matrix.columns(),
        });
    }
    let labels = classes(train);
    let positives = labels.iter().filter(|&&l| l).count();
    if positives == 0 || positives == labels.len() {
        return Err(LogisticError::Data(format!(
            "{positives} positive rows of {}: both classes are needed",
            labels.len()
        )));
    }
    let scale = Standardization::fit(matrix);
    let (rows, columns) = (matrix.rows(), matrix.columns());
    let records = Array2::from_shape_fn((rows, columns), |(i, j)| scale.apply(j, matrix.row(i)[j]));
    let dataset = Dataset::new(records, Array1::from(labels.clone()));
    let fitted = LogisticRegression::default()
        .alpha(config.alpha)
        .max_iterations(config.max_iterations)
        .gradient_tolerance(config.gradient_tolerance)
        .check()
        .map_err(|e| LogisticError::Fit(e.to_string()))?
        .fit(&dataset)
        .map_err(|e| LogisticError::Fit(e.to_string()))?;
    // linfa's probability is that of its "positive" class, the larger one (here usually
    // `false`, since negatives outnumber positives); turn it into that of a positive label.
    let sign = if fitted.labels().pos.class { 1.0 } else { -1.0 };
    let weights: Vec<f64> = fitted.params().iter().map(|w| sign * w).collect();
    let intercept = sign * fitted.intercept();

    let mut file = LogisticModelFile {
        format: LOGISTIC_FORMAT.into(),
        version: LOGISTIC_VERSION,
        objective: "binary_logistic".into(),
        features: features.names(),
        training: TrainingInfo {
            trained_at_ms: cascade_core::time::now_ms(),
            data_span,
            rows,
            queries: train.queries(),
            positives,
            trees: 0,
            params: config.params(),
            metrics: BTreeMap::new(),
        },
        standardization: scale,
        weights,
        intercept,
    };
    let model = LogisticModel::from_file(file.clone())?;
    let mut metrics = measure(&model, "train", train)?;
    if let Some(valid) = valid {
        metrics.append(&mut measure(&model, "valid", valid)?);
    }
    file.training.metrics = metrics;
    LogisticModel::from_file(file)
}

/// `{prefix}_logloss` and `{prefix}_auc` of the model on `data` (each where defined).
fn measure(
    model: &LogisticModel,
    prefix: &str,
    data: &RankingData,
) -> Result<BTreeMap<String, f64>, LogisticError> {
    let predicted = model.predict(data.features())?;
    let labels = classes(data);
    let mut metrics = BTreeMap::new();
    if let Some(loss) = log_loss(&predicted, &labels) {
        metrics.insert(format!("{prefix}_logloss"), loss);
    }
    if let Some(auc) = auc(&predicted, &labels) {
        metrics.insert(format!("{prefix}_auc"), auc);
    }
    Ok(metrics)
}
