//! The logistic model as a [`Scorer`]: features for the whole batch, then the predicted
//! probability of each row.

use std::path::Path;
use std::sync::Arc;

use cascade_core::RequestContext;

use super::LogisticError;
use super::model::LogisticModel;
use crate::features::{FeatureSet, FeatureSource};
use crate::scorer::{ScoreError, Scorer, ScoringInput};

/// Scores candidates with a logistic model: computes the model's features for the batch from
/// the candidates, their items and a [`FeatureSource`], and gives each its predicted
/// probability of an interaction.
pub struct LogisticScorer {
    name: String,
    model: Arc<LogisticModel>,
    source: Arc<dyn FeatureSource>,
}

impl LogisticScorer {
    /// A scorer named `name` (for errors) over a loaded model.
    pub fn new(name: &str, model: Arc<LogisticModel>, source: Arc<dyn FeatureSource>) -> Self {
        Self {
            name: name.to_string(),
            model,
            source,
        }
    }

    /// Loads the model file at `path`, refusing one trained on other features than
    /// `expected` when given.
    pub fn load(
        name: &str,
        path: &Path,
        expected: Option<&FeatureSet>,
        source: Arc<dyn FeatureSource>,
    ) -> Result<Self, LogisticError> {
        let model = match expected {
            Some(expected) => LogisticModel::load_expecting(path, expected)?,
            None => LogisticModel::load(path)?,
        };
        Ok(Self::new(name, Arc::new(model), source))
    }

    /// The model.
    pub fn model(&self) -> &LogisticModel {
        &self.model
    }
}

impl Scorer for LogisticScorer {
    fn score(
        &self,
        request: &RequestContext,
        inputs: &[ScoringInput<'_>],
    ) -> Result<Vec<f64>, ScoreError> {
        let matrix = self
            .model
            .features()
            .extract(self.source.as_ref(), request, inputs);
        self.model.predict(&matrix).map_err(|e| ScoreError {
            scorer: self.name.clone(),
            reason: e.to_string(),
        })
    }
}
