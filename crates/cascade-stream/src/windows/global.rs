//! The global window: one window per key over all time. Nothing is late, nothing closes; the
//! aggregation bounds the state (e.g. last-N).

use std::borrow::Cow;

use cascade_core::time::TimestampMs;

use super::aggregate::Accumulator;
use super::sample::Sample;
use super::windowing::{Span, Windowing};

/// One window spanning all event time.
#[derive(Debug, Clone, Copy)]
pub struct Global;

const ALL_TIME: Span = Span {
    start: TimestampMs::MIN,
    end: TimestampMs::MAX,
};

impl Windowing for Global {
    type Slots<A: Accumulator> = Option<A>;

    fn add<A: Accumulator>(
        &self,
        slots: &mut Self::Slots<A>,
        params: &A::Params,
        sample: &Sample<'_>,
        _: TimestampMs,
    ) -> bool {
        slots.get_or_insert_with(A::default).add(params, sample);
        true
    }

    fn evict<A: Accumulator>(&self, slots: &mut Self::Slots<A>, _: TimestampMs) -> bool {
        slots.is_none()
    }

    fn current<'a, A: Accumulator>(
        &self,
        slots: &'a Self::Slots<A>,
        _: &A::Params,
        _: i64,
    ) -> Option<Cow<'a, A>> {
        slots.as_ref().map(Cow::Borrowed)
    }

    fn open<A: Accumulator>(
        &self,
        slots: &Self::Slots<A>,
        _: &A::Params,
        _: TimestampMs,
    ) -> Vec<(Span, A)> {
        slots.iter().map(|acc| (ALL_TIME, acc.clone())).collect()
    }

    fn epoch(&self, _: TimestampMs) -> i64 {
        0
    }
}
