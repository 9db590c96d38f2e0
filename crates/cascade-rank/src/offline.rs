//! Offline evaluation: hold out part of each user's interactions, rank for every user, and
//! measure how much of the held-out part the top of the ranking finds.
//!
//! Everything here works on dense user and item indices and is deterministic for a seed.

mod metrics;
mod popularity;
mod split;

pub use metrics::{Evaluation, Metrics, ndcg_at_k, recall_at_k};
pub use popularity::Popularity;
pub use split::{Interaction, Protocol, Split};
