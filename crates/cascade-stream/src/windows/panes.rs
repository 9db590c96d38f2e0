//! Tumbling and sliding windows, kept as panes: a sliding window of `size` every `slide` is
//! `size / slide` consecutive panes of length `slide`, and a tumbling window is one pane
//! (`slide == size`). Each event lands in exactly one pane; windows are merged panes.

use std::borrow::Cow;
use std::collections::BTreeSet;

use cascade_core::time::TimestampMs;

use super::aggregate::Accumulator;
use super::sample::Sample;
use super::windowing::{Span, Windowing};

/// Windows `[k·slide, k·slide + size)` for every k.
#[derive(Debug, Clone, Copy)]
pub struct Panes {
    size: i64,
    slide: i64,
}

impl Panes {
    /// Tumbling windows of `size` milliseconds.
    pub fn tumbling(size: i64) -> Self {
        Self::sliding(size, size)
    }

    /// Windows of `size` milliseconds every `slide`; `size` is a positive multiple of `slide`.
    pub fn sliding(size: i64, slide: i64) -> Self {
        assert!(
            slide > 0 && size % slide == 0,
            "size is a multiple of slide"
        );
        Self { size, slide }
    }

    fn pane_of(&self, ts: TimestampMs) -> TimestampMs {
        ts.div_euclid(self.slide) * self.slide
    }

    /// Whether every window containing the pane that starts at `pane` has closed.
    fn closed(&self, pane: TimestampMs, watermark: TimestampMs) -> bool {
        pane.saturating_add(self.size) <= watermark
    }

    /// The panes that start inside `span`, oldest first.
    fn inside<A: Accumulator>(panes: &[(TimestampMs, A)], span: Span) -> impl Iterator<Item = &A> {
        panes
            .iter()
            .filter(move |(start, _)| (span.start..span.end).contains(start))
            .map(|(_, acc)| acc)
    }

    fn merged<A: Accumulator>(
        panes: &[(TimestampMs, A)],
        params: &A::Params,
        span: Span,
    ) -> Option<A> {
        Self::inside(panes, span).fold(None, |merged, acc| {
            let mut merged = merged.unwrap_or_else(A::default);
            merged.merge(params, acc);
            Some(merged)
        })
    }

    fn span(&self, start: TimestampMs) -> Span {
        Span {
            start,
            end: start.saturating_add(self.size),
        }
    }
}

impl Windowing for Panes {
    /// Panes by start, ascending.
    type Slots<A: Accumulator> = Vec<(TimestampMs, A)>;

    fn add<A: Accumulator>(
        &self,
        slots: &mut Self::Slots<A>,
        params: &A::Params,
        sample: &Sample<'_>,
        watermark: TimestampMs,
    ) -> bool {
        let pane = self.pane_of(sample.ts);
        if self.closed(pane, watermark) {
            return false;
        }
        let at = match slots.binary_search_by_key(&pane, |(start, _)| *start) {
            Ok(at) => at,
            Err(at) => {
                slots.insert(at, (pane, A::default()));
                at
            }
        };
        slots[at].1.add(params, sample);
        true
    }

    fn evict<A: Accumulator>(&self, slots: &mut Self::Slots<A>, watermark: TimestampMs) -> bool {
        slots.retain(|(pane, _)| !self.closed(*pane, watermark));
        slots.is_empty()
    }

    /// A window of one pane (every tumbling window) is that pane, borrowed: merging a single
    /// pane into an empty accumulator gives the pane's own value.
    fn current<'a, A: Accumulator>(
        &self,
        slots: &'a Self::Slots<A>,
        params: &A::Params,
        clock: TimestampMs,
    ) -> Option<Cow<'a, A>> {
        let start = (self.pane_of(clock) + self.slide).saturating_sub(self.size);
        let span = self.span(start);
        let mut inside = Self::inside(slots, span);
        match (inside.next(), inside.next()) {
            (None, _) => None,
            (Some(only), None) => Some(Cow::Borrowed(only)),
            (Some(_), Some(_)) => Self::merged(slots, params, span).map(Cow::Owned),
        }
    }

    fn open<A: Accumulator>(
        &self,
        slots: &Self::Slots<A>,
        params: &A::Params,
        watermark: TimestampMs,
    ) -> Vec<(Span, A)> {
        let starts: BTreeSet<TimestampMs> = slots
            .iter()
            .flat_map(|&(pane, _)| (0..self.size / self.slide).map(move |k| pane - k * self.slide))
            .filter(|&start| self.span(start).end > watermark)
            .collect();
        starts
            .into_iter()
            .filter_map(|start| {
                let span = self.span(start);
                Self::merged(slots, params, span).map(|acc| (span, acc))
            })
            .collect()
    }

    fn epoch(&self, clock: TimestampMs) -> i64 {
        clock.div_euclid(self.slide)
    }
}
