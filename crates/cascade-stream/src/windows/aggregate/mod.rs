//! Aggregations: what a window computes over its events. Each is an [`Accumulator`] that adds
//! samples, merges with another of its kind (panes into windows, sessions into sessions) and
//! reads out a value.

mod count;
mod distinct;
mod duration;
mod last_n;
mod mean;
mod ratio;
mod sum;

use cascade_store::FeatureValue;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::sample::Sample;
pub use count::Count;
pub use distinct::DistinctCount;
pub use duration::Duration;
pub use last_n::LastN;
pub use mean::Mean;
pub use ratio::Ratio;
pub use sum::Sum;

/// The running state of one aggregation over one window (or pane, or session).
pub trait Accumulator:
    Default + Clone + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// Settings shared by every accumulator of one feature (e.g. the N of last-N).
    type Params: Send + Sync + 'static;
    /// Adds one sample.
    fn add(&mut self, params: &Self::Params, sample: &Sample<'_>);
    /// Adds everything `other` holds; `other` covers different events.
    fn merge(&mut self, params: &Self::Params, other: &Self);
    /// The value, or `None` when it is undefined (no events, a zero denominator).
    fn value(&self) -> Option<FeatureValue>;
}
