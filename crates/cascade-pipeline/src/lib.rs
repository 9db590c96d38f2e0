//! Recommendation pipelines: recall → filter → rank → re-rank.
//!
//! Today's pipeline recalls the most popular items and filters out what the user already
//! interacted with and what is no longer in the catalogue; the configurable cascade of
//! scenes, components and experiments grows here.

pub mod recommender;

pub use recommender::Recommender;
