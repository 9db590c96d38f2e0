//! Recall sources: where candidates come from.
//!
//! Each source implements [`RecallSource`] and is registered by name; a pipeline lists the
//! names it recalls from.

pub mod als;
pub mod ann;
pub mod embed;
pub mod hybrid;
pub mod itemcf;
pub mod newest;
pub mod persisted;
pub mod popular;
mod ranking;
pub mod source;
pub mod text;
pub mod text_commit;
pub mod text_recall;
pub mod trending;
pub mod vector;

pub use als::{AlsConfig, AlsModel, AlsRecall};
pub use ann::{AnnConfig, AnnError, AnnHit, AnnIndex, AnnMetric, AnnPrecision};
pub use embed::{EmbedError, ItemEmbedder};
pub use itemcf::{ItemCfConfig, ItemCfIndex, ItemCfRecall, Similarity};
pub use newest::NewestItems;
pub use persisted::IndexOrigin;
pub use popular::PopularIndex;
pub use source::RecallSource;
pub use text::{TextError, TextField, TextHit, TextIndex, TextTokenizer};
pub use text_commit::TextCommitter;
pub use text_recall::TextRecall;
pub use trending::{TrendingConfig, TrendingIndex};
pub use vector::{ItemVectors, VectorRecall};
