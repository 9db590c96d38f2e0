//! [`OnnxEnricher`]: an ONNX model (run with tract) over window feature values and numeric
//! item fields; the output is a number.

use std::path::Path;
use std::sync::Arc;

use cascade_core::FieldValue;
use cascade_core::config::enrich::{EnrichKey, ITEM_FIELD_PREFIX};
use cascade_infer::onnx::OnnxModel;
use cascade_store::{FeatureKey, FeatureStore, FeatureValue};

use super::{EnrichError, EnrichInput, Enricher};
use crate::windows::ItemFields;

/// Where one model input is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnnxSource {
    /// A window feature of the event's user or item (as the feature is keyed), from the
    /// feature store.
    Window {
        /// The feature's name.
        name: String,
        /// What it is kept per.
        key: EnrichKey,
    },
    /// A numeric field of the event's item.
    ItemField(String),
}

impl OnnxSource {
    /// The input's name as `Features` writes it: the window feature, or `item.<field>`.
    pub fn name(&self) -> String {
        match self {
            OnnxSource::Window { name, .. } => name.clone(),
            OnnxSource::ItemField(field) => format!("{ITEM_FIELD_PREFIX}{field}"),
        }
    }
}

/// Runs an ONNX scoring model on one row per event: the configured inputs in order, a missing
/// or non-numeric value as 0 (the models of `scripts/train-onnx-ranker.py` take NaN as 0).
/// Window features of a whole batch are read in one feature store round trip. An output that
/// is not finite is left unwritten.
pub struct OnnxEnricher {
    model: OnnxModel,
    inputs: Vec<OnnxSource>,
    store: Arc<dyn FeatureStore>,
    items: Arc<dyn ItemFields>,
}

impl OnnxEnricher {
    /// Loads the model at `path` and checks that it takes one value per input; feature values
    /// are read from `store`, item fields through `items`.
    pub fn load(
        path: &Path,
        inputs: Vec<OnnxSource>,
        store: Arc<dyn FeatureStore>,
        items: Arc<dyn ItemFields>,
    ) -> Result<Self, EnrichError> {
        let model = OnnxModel::load(path)?;
        if model.width() != inputs.len() {
            return Err(EnrichError::Inputs {
                path: path.display().to_string(),
                width: model.width(),
                features: inputs.len(),
            });
        }
        let configured: Vec<String> = inputs.iter().map(OnnxSource::name).collect();
        if let Some(trained) = model.feature_names().filter(|names| *names != configured) {
            tracing::warn!(
                model = %path.display(),
                trained = %trained.join(","),
                configured = %configured.join(","),
                "the model was trained on other feature names than Features lists; the values \
                 are given in Features order"
            );
        }
        Ok(Self {
            model,
            inputs,
            store,
            items,
        })
    }

    /// The rows of `batch`, row-major.
    fn rows(&self, batch: &[EnrichInput]) -> Result<Vec<f32>, EnrichError> {
        let keys: Vec<FeatureKey<'_>> = batch
            .iter()
            .flat_map(|input| {
                self.inputs.iter().filter_map(move |source| match source {
                    OnnxSource::Window { name, key } => Some(FeatureKey {
                        feature: name,
                        entity: match key {
                            EnrichKey::Item => &input.item_id,
                            EnrichKey::User => &input.uid,
                        },
                    }),
                    OnnxSource::ItemField(_) => None,
                })
            })
            .collect();
        let mut stored = self.store.read(&keys)?.into_iter();
        let mut rows = Vec::with_capacity(batch.len() * self.inputs.len());
        for input in batch {
            for source in &self.inputs {
                let value = match source {
                    OnnxSource::Window { .. } => match stored.next().flatten() {
                        Some(FeatureValue::Number(x)) => x,
                        _ => f64::NAN,
                    },
                    OnnxSource::ItemField(field) => match self.items.field(&input.item_id, field) {
                        Some(FieldValue::Numeric(x)) => x,
                        _ => f64::NAN,
                    },
                };
                rows.push(if value.is_finite() { value as f32 } else { 0.0 });
            }
        }
        Ok(rows)
    }
}

impl Enricher for OnnxEnricher {
    fn infer(&mut self, batch: &[EnrichInput]) -> Result<Vec<Option<FeatureValue>>, EnrichError> {
        let rows = self.rows(batch)?;
        let scores = self.model.run(&rows, batch.len())?;
        Ok(scores
            .into_iter()
            .map(|score| {
                score
                    .is_finite()
                    .then(|| FeatureValue::Number(f64::from(score)))
            })
            .collect())
    }
}
