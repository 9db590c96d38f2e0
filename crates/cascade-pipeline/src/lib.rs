//! Recommendation pipelines, PAI-Rec style: a scene runs its main pipeline and its
//! `PipelineConfs` pipelines concurrently — recall → filter → general rank → rank or
//! cold-start rank → sort — and merges them. Experiments decide, per user, which settings
//! each pipeline runs with; components are built by name from the [`registry`].

pub mod breaker;
pub mod engine;
pub mod entry;
pub mod experiment;
pub mod feature_reads;
pub mod features;
pub mod filters;
pub mod item_cache;
pub mod recommender;
pub mod registry;
pub mod run;
pub mod scorers;
pub mod sorters;
pub mod spec;
pub mod trace;

pub use engine::{Engine, EngineError, Outcome, Shared};
pub use experiment::{Assignment, ExperimentRouter};
pub use features::{ItemStatsIndex, LiveFeatureSource};
pub use item_cache::ItemCache;
pub use recommender::Recommender;
pub use registry::{Deps, Registry};
