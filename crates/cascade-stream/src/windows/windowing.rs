//! The contract of a window type: where a sample goes, when a window closes, what is read.

use std::borrow::Cow;

use cascade_core::time::TimestampMs;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::aggregate::Accumulator;
use super::sample::Sample;

/// The event-time extent of one window: `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Span {
    /// The first instant inside.
    pub start: TimestampMs,
    /// The first instant after.
    pub end: TimestampMs,
}

/// A window type. A window is closed once its end is at or before the watermark (the newest
/// event time seen minus the allowed lateness); a closed window takes no more events and its
/// state is evicted.
pub trait Windowing: Send + Sync + 'static {
    /// One key's windows.
    type Slots<A: Accumulator>: Default + Clone + Serialize + DeserializeOwned + Send + Sync;

    /// Adds `sample` to its windows unless they are all closed at `watermark`; whether it was added.
    fn add<A: Accumulator>(
        &self,
        slots: &mut Self::Slots<A>,
        params: &A::Params,
        sample: &Sample<'_>,
        watermark: TimestampMs,
    ) -> bool;

    /// Drops what closed at `watermark`; whether nothing is left.
    fn evict<A: Accumulator>(&self, slots: &mut Self::Slots<A>, watermark: TimestampMs) -> bool;

    /// The window containing `clock` (the newest event time seen), if it holds events; borrowed
    /// where one slot is that window, merged where it spans several.
    fn current<'a, A: Accumulator>(
        &self,
        slots: &'a Self::Slots<A>,
        params: &A::Params,
        clock: TimestampMs,
    ) -> Option<Cow<'a, A>>;

    /// Every window still open at `watermark` that holds events, oldest first.
    fn open<A: Accumulator>(
        &self,
        slots: &Self::Slots<A>,
        params: &A::Params,
        watermark: TimestampMs,
    ) -> Vec<(Span, A)>;

    /// Changes whenever the clock may have moved keys' current windows on (a new pane, a
    /// session gap elapsed): then every key's value is re-read.
    fn epoch(&self, clock: TimestampMs) -> i64;
}
