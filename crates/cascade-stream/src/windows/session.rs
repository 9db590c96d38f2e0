//! Session windows: a key's events closer than `gap` to each other form one session, which
//! ends `gap` after its last event. A new event merges every session it comes within `gap` of.

use std::borrow::Cow;

use cascade_core::time::TimestampMs;
use serde::{Deserialize, Serialize};

use super::aggregate::Accumulator;
use super::sample::Sample;
use super::windowing::{Span, Windowing};

/// Sessions separated by at least `gap` milliseconds of inactivity.
#[derive(Debug, Clone, Copy)]
pub struct Sessions {
    gap: i64,
}

impl Sessions {
    /// Sessions that end after `gap` milliseconds without an event.
    pub fn new(gap: i64) -> Self {
        assert!(gap > 0, "the gap is positive");
        Self { gap }
    }
}

/// One session of one key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session<A> {
    first: TimestampMs,
    last: TimestampMs,
    acc: A,
}

impl<A> Session<A> {
    fn span(&self, gap: i64) -> Span {
        Span {
            start: self.first,
            end: self.last.saturating_add(gap),
        }
    }
}

impl Sessions {
    /// Inserts a session of `sample` alone at `at`, unless it is closed at `watermark` already;
    /// whether it was inserted.
    fn start_session<A: Accumulator>(
        &self,
        slots: &mut Vec<Session<A>>,
        at: usize,
        params: &A::Params,
        sample: &Sample<'_>,
        watermark: TimestampMs,
    ) -> bool {
        let mut session = Session {
            first: sample.ts,
            last: sample.ts,
            acc: A::default(),
        };
        session.acc.add(params, sample);
        if session.span(self.gap).end <= watermark {
            return false;
        }
        slots.insert(at, session);
        true
    }
}

impl Windowing for Sessions {
    /// Sessions by start, ascending, never overlapping.
    type Slots<A: Accumulator> = Vec<Session<A>>;

    fn add<A: Accumulator>(
        &self,
        slots: &mut Self::Slots<A>,
        params: &A::Params,
        sample: &Sample<'_>,
        watermark: TimestampMs,
    ) -> bool {
        // A closed session is final: a late event may not reopen it.
        self.evict(slots, watermark);
        let ts = sample.ts;
        let touches = |s: &Session<A>| s.first - self.gap < ts && ts < s.last + self.gap;
        let from = slots.partition_point(|s| !touches(s) && s.first < ts);
        let to = from + slots[from..].iter().take_while(|s| touches(s)).count();
        if from == to {
            return self.start_session(slots, from, params, sample, watermark);
        }
        // The sample joins the first session it touches, in place (no copy of its state);
        // the later ones it bridges merge into it.
        let later: Vec<Session<A>> = slots.drain(from + 1..to).collect();
        let session = &mut slots[from];
        session.first = session.first.min(ts);
        session.last = session.last.max(ts);
        session.acc.add(params, sample);
        for merged in &later {
            session.first = session.first.min(merged.first);
            session.last = session.last.max(merged.last);
            session.acc.merge(params, &merged.acc);
        }
        true
    }

    fn evict<A: Accumulator>(&self, slots: &mut Self::Slots<A>, watermark: TimestampMs) -> bool {
        slots.retain(|s| s.span(self.gap).end > watermark);
        slots.is_empty()
    }

    fn current<'a, A: Accumulator>(
        &self,
        slots: &'a Self::Slots<A>,
        _: &A::Params,
        clock: TimestampMs,
    ) -> Option<Cow<'a, A>> {
        let latest = slots.last()?;
        (latest.span(self.gap).end > clock).then_some(Cow::Borrowed(&latest.acc))
    }

    fn open<A: Accumulator>(
        &self,
        slots: &Self::Slots<A>,
        _: &A::Params,
        watermark: TimestampMs,
    ) -> Vec<(Span, A)> {
        slots
            .iter()
            .map(|s| (s.span(self.gap), s.acc.clone()))
            .filter(|(span, _)| span.end > watermark)
            .collect()
    }

    fn epoch(&self, clock: TimestampMs) -> i64 {
        clock.div_euclid(self.gap)
    }
}
