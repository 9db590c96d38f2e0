//! Scorers: models that give each candidate a score, batched over candidates.
//!
//! `AlgoConfs` entries are built into scorers by [`build_scorer`]. Built in today: `linear`
//! (a weighted sum of item numeric fields and the incoming score) and `lookup` (one item
//! field as the score).

use std::collections::BTreeMap;

use cascade_core::config::rec::AlgoConf;
use cascade_core::{Candidate, FieldValue, Item, RequestContext};

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
    pub item: Option<&'a Item>,
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

/// Builds the scorer an `AlgoConfs` entry describes; the error names the setting at fault.
pub fn build_scorer(conf: &AlgoConf) -> Result<Box<dyn Scorer>, (String, String)> {
    let setting = |key: &str| conf.settings.get(key);
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
        "gbdt" => Err((
            "Type".into(),
            "`gbdt` models are not loaded from AlgoConfs yet (they need a feature source: \
             see cascade_rank::gbdt::GbdtScorer::load); use linear or lookup"
                .into(),
        )),
        "onnx" => Err((
            "Type".into(),
            "`onnx` models arrive with the ranking work; use linear or lookup".into(),
        )),
        other => Err((
            "Type".into(),
            format!("unknown model type `{other}`; expected gbdt, onnx, linear or lookup"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn conf(value: serde_json::Value) -> AlgoConf {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn linear_and_lookup_scores() {
        let item = Item {
            id: "i".into(),
            fields: [("rating".to_string(), FieldValue::Numeric(4.0))].into(),
            embeddings: Default::default(),
        };
        let candidate = Candidate {
            item_id: "i".into(),
            score: 10.0,
            retrieve_id: "r".into(),
        };
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
        let linear = build_scorer(&conf(json!({"Name": "l", "Type": "linear",
            "Weights": {"rating": 0.5, "score": 0.1}, "Bias": 1})))
        .unwrap();
        assert_eq!(linear.score(&request, &inputs).unwrap(), [4.0, 2.0]);
        let lookup = build_scorer(&conf(
            json!({"Name": "k", "Type": "lookup", "Field": "rating"}),
        ))
        .unwrap();
        assert_eq!(lookup.score(&request, &inputs).unwrap(), [4.0, 0.0]);
    }

    #[test]
    fn bad_settings_are_named() {
        let error = build_scorer(&conf(
            json!({"Name": "l", "Type": "linear", "Weights": [1]}),
        ))
        .err()
        .unwrap();
        assert_eq!(error.0, "Weights");
        let error = build_scorer(&conf(json!({"Name": "x", "Type": "xgb"})))
            .err()
            .unwrap();
        assert_eq!(error.0, "Type");
    }
}
