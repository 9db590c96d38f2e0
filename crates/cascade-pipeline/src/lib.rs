//! Recommendation pipelines: recall → filter → rank → re-rank.
//!
//! A scene runs its main pipeline and its `PipelineConfs` pipelines; experiments decide,
//! per user, which settings each pipeline runs with.

pub mod experiment;
pub mod recommender;
pub mod spec;

pub use experiment::{Assignment, ExperimentRouter};
pub use recommender::Recommender;
