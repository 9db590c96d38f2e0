//! The replay: events in time order, queries emitted from the state before each label's
//! time, then the events of that time applied.

use std::collections::HashSet;

use cascade_core::{Candidate, Event, EventTypes, RequestContext};
use indicatif::ProgressBar;
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::rows::{BackfillCounts, QueryInfo, RowInfo, TrainingRows};
use super::state::{AsOf, State};
use super::{BackfillConfig, Catalogue};
use crate::features::{FeatureMatrix, FeatureSet};
use crate::model_file::DataSpan;
use crate::scorer::ScoringInput;

/// The `retrieve_id` of backfilled candidates.
pub(super) const BACKFILL_SOURCE: &str = "backfill";

/// When the events of a time are applied relative to the queries of that time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Order {
    /// Queries first, from the state strictly before their time: point in time.
    EmitThenApply,
    /// The events first: each query sees its own label event. Leaky; only the tests build
    /// it, to show the checker catches it.
    #[cfg(test)]
    ApplyThenEmit,
}

/// Computes point-in-time training rows of `features` from `events` (any order: they are
/// replayed by timestamp, ties in the order given) over `catalogue`. Interaction types are
/// those `types` does not list as exposures. `progress` advances by one per event read.
pub fn backfill(
    events: &[Event],
    catalogue: &Catalogue,
    types: &EventTypes,
    features: &FeatureSet,
    config: &BackfillConfig,
    progress: &ProgressBar,
) -> TrainingRows {
    replay(
        events,
        catalogue,
        types,
        features,
        config,
        progress,
        Order::EmitThenApply,
    )
}

/// [`backfill`], with the order of emitting and applying chosen.
pub(super) fn replay(
    events: &[Event],
    catalogue: &Catalogue,
    types: &EventTypes,
    features: &FeatureSet,
    config: &BackfillConfig,
    progress: &ProgressBar,
    order: Order,
) -> TrainingRows {
    let mut timeline: Vec<usize> = (0..events.len())
        .filter(|&i| config.until.is_none_or(|until| events[i].timestamp < until))
        .collect();
    timeline.sort_by_key(|&i| events[i].timestamp);
    progress.set_length(timeline.len() as u64);
    let mut out = TrainingRows {
        features: features.clone(),
        matrix: FeatureMatrix::new(features.len()),
        labels: Vec::new(),
        rows: Vec::new(),
        queries: Vec::new(),
        events_span: DataSpan::of(timeline.iter().map(|&i| events[i].timestamp)),
        counts: BackfillCounts {
            events: timeline.len(),
            ..BackfillCounts::default()
        },
    };
    let mut state = State::new(catalogue);
    let mut emitter = Emitter {
        catalogue,
        features,
        config,
        rng: StdRng::seed_from_u64(config.seed),
    };
    let mut start = 0;
    while start < timeline.len() {
        let time = events[timeline[start]].timestamp;
        let end = start
            + timeline[start..]
                .iter()
                .take_while(|&&i| events[i].timestamp == time)
                .count();
        let group: Vec<&Event> = timeline[start..end]
            .iter()
            .map(|&i| &events[i])
            .filter(|event| {
                let interaction = types.is_interaction(&event.event_type);
                out.counts.exposures += usize::from(!interaction);
                interaction
            })
            .collect();
        let labels: Vec<(&Event, usize)> = group
            .iter()
            .filter_map(|event| Some((*event, emitter.label(event, &state, &mut out.counts)?)))
            .collect();
        if order != Order::EmitThenApply {
            group.iter().for_each(|event| state.apply(event));
        }
        for (event, positive) in labels {
            emitter.emit(event, positive, &state, &mut out);
        }
        if order == Order::EmitThenApply {
            group.iter().for_each(|event| state.apply(event));
        }
        progress.inc((end - start) as u64);
        start = end;
    }
    out.counts.queries = out.queries.len();
    out
}

/// Forms queries.
struct Emitter<'a> {
    catalogue: &'a Catalogue,
    features: &'a FeatureSet,
    config: &'a BackfillConfig,
    rng: StdRng,
}

impl Emitter<'_> {
    /// The catalogue index of the positive when an interaction event is a label: a first
    /// interaction with a catalogue item, at or after `since`; otherwise counts why not.
    fn label(
        &self,
        event: &Event,
        state: &State<'_>,
        counts: &mut BackfillCounts,
    ) -> Option<usize> {
        if self
            .config
            .since
            .is_some_and(|since| event.timestamp < since)
        {
            counts.before_since += 1;
            return None;
        }
        let Some(positive) = self.catalogue.index(&event.item_id) else {
            counts.unknown_items += 1;
            return None;
        };
        if state.has_seen(&event.uid, &event.item_id) {
            counts.repeats += 1;
            return None;
        }
        Some(positive)
    }

    /// Emits the query of a label event: the positive and its negatives, with features from
    /// `state`.
    fn emit(&mut self, event: &Event, positive: usize, state: &State<'_>, out: &mut TrainingRows) {
        let counts = &mut out.counts;
        let negatives = self.negatives(event, positive, state);
        if negatives.is_empty() {
            counts.short_queries += 1;
            return;
        }
        counts.short_queries += usize::from(negatives.len() < self.config.negatives);
        let items: Vec<usize> = std::iter::once(positive).chain(negatives).collect();
        let candidates: Vec<Candidate> = items
            .iter()
            .map(|&i| {
                Candidate::new(
                    self.catalogue.item(i).id.clone(),
                    0.0,
                    BACKFILL_SOURCE.into(),
                )
            })
            .collect();
        let inputs: Vec<ScoringInput<'_>> = candidates
            .iter()
            .zip(&items)
            .map(|(candidate, &i)| ScoringInput {
                candidate,
                item: Some(self.catalogue.item(i)),
            })
            .collect();
        let request = RequestContext {
            uid: event.uid.clone(),
            ..RequestContext::default()
        };
        let source = AsOf {
            state,
            recall: self.config.recall.as_deref(),
        };
        let matrix = self.features.extract(&source, &request, &inputs);
        let first = out.rows.len();
        out.matrix.append(&matrix);
        for (k, candidate) in candidates.into_iter().enumerate() {
            out.labels.push(if k == 0 { 1.0 } else { 0.0 });
            out.rows.push(RowInfo {
                as_of: state.as_of(&event.uid, &candidate.item_id),
                item_id: candidate.item_id,
            });
        }
        out.queries.push(QueryInfo {
            uid: event.uid.clone(),
            event_id: event.event_id.clone(),
            label_time: event.timestamp,
            rows: first..out.rows.len(),
        });
    }

    /// Up to K distinct catalogue items, drawn by popularity as of now, that are not the
    /// positive and that the user has not interacted with.
    fn negatives(&mut self, event: &Event, positive: usize, state: &State<'_>) -> Vec<usize> {
        let wanted = self.config.negatives;
        let mut chosen: HashSet<usize> = HashSet::with_capacity(wanted);
        let mut drawn = Vec::with_capacity(wanted);
        let mut tries = 0;
        while drawn.len() < wanted && tries < 20 * wanted + 100 {
            tries += 1;
            let Some(item) = state.popularity.sample(&mut self.rng) else {
                break;
            };
            if item == positive
                || chosen.contains(&item)
                || state.has_seen(&event.uid, &self.catalogue.item(item).id)
            {
                continue;
            }
            chosen.insert(item);
            drawn.push(item);
        }
        drawn
    }
}
