//! Scorers that read the engine's live indexes rather than a model file.

use std::sync::Arc;

use cascade_core::RequestContext;
use cascade_rank::scorer::{ScoreError, Scorer, ScoringInput};
use cascade_retrieval::ItemVectors;
use cascade_retrieval::vector::RecentItems;

/// Coarse rank by embedding dot product (`Type: embedding_dot`): each candidate's cosine
/// similarity to the user's vector — the mean of the embeddings of their recent items,
/// weighted 1/(1+rank), as vector recall builds it. A candidate without a vector, and every
/// candidate of a user without one, scores -1 (the lowest cosine).
pub struct EmbeddingDotScorer {
    vectors: Arc<ItemVectors>,
    recent: RecentItems,
    history_items: usize,
}

/// The score of a candidate the scorer cannot compare: below every cosine.
const NO_VECTOR: f64 = -1.0;

impl EmbeddingDotScorer {
    /// A scorer over the ANN index `vectors`; user vectors from `history_items` recent items.
    pub fn new(vectors: Arc<ItemVectors>, recent: RecentItems, history_items: usize) -> Self {
        Self {
            vectors,
            recent,
            history_items,
        }
    }
}

impl Scorer for EmbeddingDotScorer {
    fn score(
        &self,
        request: &RequestContext,
        inputs: &[ScoringInput<'_>],
    ) -> Result<Vec<f64>, ScoreError> {
        let recent = (self.recent)(&request.uid, self.history_items);
        let Some(user) = self.vectors.profile(&recent) else {
            return Ok(vec![NO_VECTOR; inputs.len()]);
        };
        let ids = inputs.iter().map(|input| input.candidate.item_id.as_str());
        Ok(self
            .vectors
            .similarities(&user, ids)
            .into_iter()
            .map(|similarity| similarity.map_or(NO_VECTOR, f64::from))
            .collect())
    }
}
