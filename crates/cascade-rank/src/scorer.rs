//! Scorers: models that give each candidate a score, batched over candidates.
//!
//! `AlgoConfs` entries are built into scorers by [`build_scorer`]. Built in today: `linear`
//! (a weighted sum of item numeric fields and the incoming score), `lookup` (one item field as
//! the score), and model files (`ModelPath`) over a declared feature set whose features come
//! from a [`FeatureSource`]: `gbdt` (LambdaMART), `onnx` (any ONNX model, run with tract) and
//! `logistic` (the CTR model `cascade train` writes).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use cascade_core::config::rec::AlgoConf;
use cascade_core::{Candidate, FieldValue, RequestContext};

use crate::features::{FeatureSource, RankItem};
use crate::gbdt::GbdtScorer;
use crate::lr::LogisticScorer;
use crate::onnx::OnnxScorer;

/// Why a scorer could not score.
#[derive(Debug, Clone, thiserror::Error)]
#[error("scorer `{scorer}` failed: {reason}")]
pub struct ScoreError {
    /// The scorer's name.
    pub scorer: String,
    /// What went wrong.
    pub reason: String,
}

/// One candidate as a scorer sees it.
pub struct ScoringInput<'a> {
    /// The candidate (its `score` is the score so far).
    pub candidate: &'a Candidate,
    /// The item, when it is in the catalogue.
    pub item: Option<&'a RankItem>,
}

/// A model that scores candidates in batches.
pub trait Scorer: Send + Sync {
    /// One score per input, in order.
    fn score(
        &self,
        request: &RequestContext,
        inputs: &[ScoringInput<'_>],
    ) -> Result<Vec<f64>, ScoreError>;
}

/// The value of a named feature for one input: `score` (the incoming score) or an item's
/// numeric or timestamp field; 0 when absent.
pub fn feature(input: &ScoringInput<'_>, name: &str) -> f64 {
    if name == "score" {
        return input.candidate.score;
    }
    match input.item.and_then(|item| item.fields.get(name)) {
        Some(FieldValue::Numeric(x)) => *x,
        Some(FieldValue::Timestamp(t)) => *t as f64,
        _ => 0.0,
    }
}

/// `bias + Σ weight × feature`.
pub struct LinearScorer {
    weights: Vec<(String, f64)>,
    bias: f64,
}

impl Scorer for LinearScorer {
    fn score(
        &self,
        _: &RequestContext,
        inputs: &[ScoringInput<'_>],
    ) -> Result<Vec<f64>, ScoreError> {
        Ok(inputs
            .iter()
            .map(|input| {
                self.bias
                    + self
                        .weights
                        .iter()
                        .map(|(name, weight)| weight * feature(input, name))
                        .sum::<f64>()
            })
            .collect())
    }
}

/// One feature taken as the score.
pub struct LookupScorer {
    field: String,
}

impl Scorer for LookupScorer {
    fn score(
        &self,
        _: &RequestContext,
        inputs: &[ScoringInput<'_>],
    ) -> Result<Vec<f64>, ScoreError> {
        Ok(inputs
            .iter()
            .map(|input| feature(input, &self.field))
            .collect())
    }
}

/// Builds the scorer an `AlgoConfs` entry describes; models over a feature set read the
/// features `source` does not find on the candidate or its item from it. The error names the
/// setting at fault.
pub fn build_scorer(
    conf: &AlgoConf,
    source: &Arc<dyn FeatureSource>,
) -> Result<Box<dyn Scorer>, (String, String)> {
    let setting = |key: &str| conf.settings.get(key);
    let model_path = || -> Result<PathBuf, (String, String)> {
        setting("ModelPath")
            .and_then(|value| value.as_str())
            .map(PathBuf::from)
            .ok_or_else(|| {
                (
                    "ModelPath".to_string(),
                    format!(
                        "a `{}` model needs the ModelPath of its file",
                        conf.algo_type
                    ),
                )
            })
    };
    match conf.algo_type.as_str() {
        "linear" => {
            let weights: BTreeMap<String, f64> = match setting("Weights") {
                Some(value) => serde_json::from_value(value.clone()).map_err(|e| {
                    (
                        "Weights".to_string(),
                        format!("expected {{feature: number}}: {e}"),
                    )
                })?,
                None => return Err(("Weights".into(), "a linear model needs Weights".into())),
            };
            let bias = match setting("Bias") {
                Some(value) => value
                    .as_f64()
                    .ok_or_else(|| ("Bias".to_string(), "expected a number".to_string()))?,
                None => 0.0,
            };
            Ok(Box::new(LinearScorer {
                weights: weights.into_iter().collect(),
                bias,
            }))
        }
        "lookup" => match setting("Field").and_then(|v| v.as_str()) {
            Some(field) => Ok(Box::new(LookupScorer {
                field: field.to_string(),
            })),
            None => Err((
                "Field".into(),
                "a lookup model needs the Field to read".into(),
            )),
        },
        "gbdt" => {
            let path = model_path()?;
            loaded(
                &path,
                GbdtScorer::load(&conf.name, &path, None, source.clone()),
            )
        }
        "onnx" => {
            let path = model_path()?;
            loaded(
                &path,
                OnnxScorer::load(&conf.name, &path, None, source.clone()),
            )
        }
        "logistic" => {
            let path = model_path()?;
            loaded(
                &path,
                LogisticScorer::load(&conf.name, &path, None, source.clone()),
            )
        }
        other => Err((
            "Type".into(),
            format!(
                "unknown model type `{other}`; expected gbdt, onnx, logistic, linear or lookup"
            ),
        )),
    }
}

/// A model loaded from its file as a boxed scorer, or the error naming the file.
fn loaded<S: Scorer + 'static, E: std::fmt::Display>(
    path: &std::path::Path,
    scorer: Result<S, E>,
) -> Result<Box<dyn Scorer>, (String, String)> {
    scorer
        .map(|scorer| Box::new(scorer) as Box<dyn Scorer>)
        .map_err(|e| ("ModelPath".to_string(), format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cascade_core::Item;
    use serde_json::json;

    fn conf(value: serde_json::Value) -> AlgoConf {
        serde_json::from_value(value).unwrap()
    }

    fn build(value: serde_json::Value) -> Result<Box<dyn Scorer>, (String, String)> {
        let source: Arc<dyn FeatureSource> =
            Arc::new(crate::features::MemoryFeatureSource::default());
        build_scorer(&conf(value), &source)
    }

    #[test]
    fn linear_and_lookup_scores() {
        let item = RankItem::new(Item {
            id: "i".into(),
            fields: [("rating".to_string(), FieldValue::Numeric(4.0))].into(),
            embeddings: Default::default(),
        });
        let candidate = Candidate::new("i".into(), 10.0, "r".into());
        let inputs = [
            ScoringInput {
                candidate: &candidate,
                item: Some(&item),
            },
            ScoringInput {
                candidate: &candidate,
                item: None,
            },
        ];
        let request = RequestContext::default();
        let linear = build(json!({"Name": "l", "Type": "linear",
            "Weights": {"rating": 0.5, "score": 0.1}, "Bias": 1}))
        .unwrap();
        assert_eq!(linear.score(&request, &inputs).unwrap(), [4.0, 2.0]);
        let lookup = build(json!({"Name": "k", "Type": "lookup", "Field": "rating"})).unwrap();
        assert_eq!(lookup.score(&request, &inputs).unwrap(), [4.0, 0.0]);
    }

    #[test]
    fn bad_settings_are_named() {
        let error = build(json!({"Name": "l", "Type": "linear", "Weights": [1]}))
            .err()
            .unwrap();
        assert_eq!(error.0, "Weights");
        let error = build(json!({"Name": "x", "Type": "xgb"})).err().unwrap();
        assert_eq!(error.0, "Type");
        let error = build(json!({"Name": "g", "Type": "gbdt"})).err().unwrap();
        assert_eq!(error.0, "ModelPath");
        let error = build(json!({"Name": "g", "Type": "gbdt", "ModelPath": "/nonexistent/m.json"}))
            .err()
            .unwrap();
        assert_eq!(error.0, "ModelPath");
        assert!(error.1.contains("/nonexistent/m.json"), "{}", error.1);
    }

    #[test]
    fn an_onnx_model_file_is_built_from_its_conf() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../models/goodbooks-ranker.onnx"
        );
        let scorer = build(json!({"Name": "o", "Type": "onnx", "ModelPath": path})).unwrap();
        let candidate = Candidate::new("i".into(), 1.0, "als".into());
        let inputs = [ScoringInput {
            candidate: &candidate,
            item: None,
        }];
        let scores = scorer.score(&RequestContext::default(), &inputs).unwrap();
        assert!(scores.len() == 1 && scores[0].is_finite(), "{scores:?}");
        let error = build(json!({"Name": "o", "Type": "logistic", "ModelPath": path}))
            .err()
            .unwrap();
        assert_eq!(
            error.0, "ModelPath",
            "an ONNX file is no logistic model file"
        );
    }
}
