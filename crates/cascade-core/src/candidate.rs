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
}
