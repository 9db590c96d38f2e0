//! How the ANN index of an item embedding is shaped and stored (`AnnConfs`).

use serde::{Deserialize, Serialize};

/// How an ANN index stores its vectors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnnPrecision {
    /// 32-bit floats: exact scores.
    #[default]
    F32,
    /// 16-bit floats: half the memory and faster builds and searches; scores are off by about
    /// 1e-3.
    F16,
}

/// The ANN index of one item embedding, an entry of `AnnConfs` keyed by the embedding's name
/// in `ItemSchema.Embeddings`. Changing it rebuilds the saved index at the next start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct AnnConf {
    /// How vectors are stored: `f32` or `f16`.
    #[serde(default)]
    pub precision: AnnPrecision,
    /// Graph connectivity (HNSW `M`): neighbours kept per node.
    #[serde(default = "default_connectivity")]
    pub connectivity: usize,
    /// Candidate list size while inserting (HNSW `ef_construction`).
    #[serde(default = "default_ef_construction")]
    pub ef_construction: usize,
}

impl Default for AnnConf {
    fn default() -> Self {
        Self {
            precision: AnnPrecision::default(),
            connectivity: default_connectivity(),
            ef_construction: default_ef_construction(),
        }
    }
}

fn default_connectivity() -> usize {
    16
}

fn default_ef_construction() -> usize {
    128
}
