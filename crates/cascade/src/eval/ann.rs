//! ALS served through an HNSW index, as `VectorRecall` serves any embedding: the item factors in
//! an inner-product ANN index, each user's vector as the query, training items filtered out
//! while the graph is walked. Beside the exact ALS row it shows what the index costs in quality.

use cascade_retrieval::als::AlsModel;
use cascade_retrieval::{AnnConfig, AnnIndex, AnnMetric};

/// The row's name.
pub const ALS_ANN: &str = "als-ann";

/// The search breadth (HNSW `ef`).
const EF: usize = 64;

/// An ANN index over an ALS model's item factors.
pub struct AlsAnn {
    index: AnnIndex,
}

impl AlsAnn {
    /// Indexes every item vector of `model` (ids are the item indexes).
    pub fn build(model: &AlsModel, factors: usize) -> anyhow::Result<Self> {
        let config = AnnConfig::new("als", factors, AnnMetric::InnerProduct);
        let mut index = AnnIndex::new(config)?;
        let ids: Vec<String> = (0..model.item_count()).map(|i| i.to_string()).collect();
        let batch: Vec<(&str, &[f32])> = ids
            .iter()
            .enumerate()
            .filter_map(|(i, id)| Some((id.as_str(), model.item_vector(i as u32)?)))
            .collect();
        index.insert_batch(&batch)?;
        Ok(Self { index })
    }

    /// The `k` items nearest to `user_vector`, `seen` (sorted) excluded.
    pub fn rank(&self, user_vector: &[f32], seen: &[u32], k: usize) -> Vec<u32> {
        let unseen = |id: &str| {
            id.parse::<u32>()
                .is_ok_and(|item| seen.binary_search(&item).is_err())
        };
        match self.index.search_filtered(user_vector, k, EF, unseen) {
            Ok(hits) => hits
                .into_iter()
                .filter_map(|hit| hit.item_id.parse().ok())
                .collect(),
            Err(error) => {
                tracing::warn!(%error, "ANN search failed");
                Vec::new()
            }
        }
    }
}
