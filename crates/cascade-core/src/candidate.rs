//! Candidates: items on their way through the cascade.

use serde::Serialize;

/// An item proposed by a recall source, carried through the ranking stages.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    /// The item's id.
    pub item_id: String,
    /// The current score; each stage may replace it.
    pub score: f64,
    /// The name of the recall source that proposed it (PAI-Rec's `retrieve_id`).
    pub retrieve_id: String,
    /// The score each recall source that proposed the item gave it, in recall order. Ranking
    /// stages replace `score`, never these, so a model's recall features read the same value
    /// whichever stages ran before it (and the feature log records what the model saw).
    #[serde(skip)]
    pub recall_scores: Vec<(String, f64)>,
}

impl Candidate {
    /// A candidate that recall source `retrieve_id` proposed with `score`.
    pub fn new(item_id: String, score: f64, retrieve_id: String) -> Self {
        Self {
            recall_scores: vec![(retrieve_id.clone(), score)],
            item_id,
            score,
            retrieve_id,
        }
    }

    /// The score recall source `source` gave the item, if it proposed it.
    pub fn recall_score(&self, source: &str) -> Option<f64> {
        self.recall_scores
            .iter()
            .find(|(name, _)| name == source)
            .map(|&(_, score)| score)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recall_scores_outlive_rescoring() {
        let mut candidate = Candidate::new("i".into(), 0.7, "als".into());
        candidate.score = 3.0;
        candidate.recall_scores.push(("popular".into(), 120.0));
        assert_eq!(candidate.recall_score("als"), Some(0.7));
        assert_eq!(candidate.recall_score("popular"), Some(120.0));
        assert_eq!(candidate.recall_score("swing"), None);
        let json = serde_json::to_value(&candidate).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"item_id": "i", "score": 3.0, "retrieve_id": "als"})
        );
    }
}
