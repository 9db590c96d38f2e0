//! Recall sources: where candidates come from.
//!
//! Each source implements [`RecallSource`] and is registered by name; a pipeline lists the
//! names it recalls from.

pub mod popular;
pub mod source;

pub use popular::PopularIndex;
pub use source::RecallSource;
