//! One window feature: events → keys → windows → aggregated values, with a watermark, late
//! event accounting, change tracking for the feature store, and serialisable state.

use std::collections::HashMap;
use std::sync::Arc;

use ahash::RandomState;
use cascade_core::config::WindowFeatureConf;
use cascade_core::config::features::{AggregationConf, Selector};
use cascade_core::time::TimestampMs;
use cascade_core::{Event, EventTypes};
use cascade_store::FeatureValue;
use serde::{Deserialize, Serialize};

use super::aggregate::Accumulator;
use super::sample::Sample;
use super::select::{ItemFields, for_each_key, for_each_value};
use super::windowing::{Span, Windowing};

/// A copy of a feature's state, taken where the state lives; called later (on another thread)
/// it appends the state's JSON to the buffer.
pub type StateSnapshot = Box<dyn FnOnce(&mut Vec<u8>) -> Result<(), serde_json::Error> + Send>;

/// A windowed aggregation kept per key, fed event by event.
pub trait WindowFeature: Send {
    /// The feature's name (its name in the feature store).
    fn name(&self) -> &str;
    /// Applies one event (position `seq` in the log).
    fn observe(&mut self, seq: u64, event: &Event);
    /// The value of `key`'s window containing the newest event time seen; `None` when empty.
    fn current(&self, key: &str) -> Option<FeatureValue>;
    /// Every window of `key` still open (not yet past the watermark) that holds events.
    fn open_windows(&self, key: &str) -> Vec<(Span, FeatureValue)>;
    /// The newest event time seen minus the allowed lateness.
    fn watermark(&self) -> TimestampMs;
    /// How many events arrived after all their windows had closed, and were dropped.
    fn dropped(&self) -> u64;
    /// Hands over every key whose current value may have changed since the last call, with
    /// that value (`None`: delete it). Expired windows are evicted on the way.
    fn drain_changes(&mut self, emit: &mut dyn FnMut(String, Option<FeatureValue>));
    /// A copy of the state, for a checkpoint serialised off the stream thread.
    fn snapshot(&self) -> StateSnapshot;
    /// Replaces the state with a saved one.
    fn load(&mut self, state: serde_json::Value) -> Result<(), serde_json::Error>;
}

/// Which events a feature reads and how it reads them.
struct Reader {
    conf: WindowFeatureConf,
    types: EventTypes,
    /// The value selected for distinct counts and last-N.
    label: Option<Selector>,
    fields: Arc<dyn ItemFields>,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(bound(
    serialize = "S: Serialize",
    deserialize = "S: serde::de::DeserializeOwned"
))]
struct Entry<S> {
    slots: S,
    /// Whether the key is listed among the changed keys.
    #[serde(skip)]
    changed: bool,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(bound(
    serialize = "S: Serialize",
    deserialize = "S: serde::de::DeserializeOwned"
))]
struct State<S> {
    /// Per key; a hasher seeded at random (keys come from events).
    keys: HashMap<String, Entry<S>, RandomState>,
    newest: TimestampMs,
    dropped: u64,
}

/// A [`WindowFeature`] of window type `W` and aggregation `A`.
pub(crate) struct Windowed<W: Windowing, A: Accumulator> {
    reader: Reader,
    windowing: W,
    params: A::Params,
    lateness: i64,
    state: State<W::Slots<A>>,
    changed: Vec<String>,
    /// The epoch of the last full sweep; `None` before the first (e.g. after a restore).
    swept: Option<i64>,
    key_buffer: String,
}

impl<W: Windowing, A: Accumulator> Windowed<W, A> {
    pub(crate) fn new(
        conf: &WindowFeatureConf,
        types: &EventTypes,
        fields: Arc<dyn ItemFields>,
        windowing: W,
        params: A::Params,
    ) -> Self {
        let label = match &conf.aggregation {
            AggregationConf::DistinctCount { of } | AggregationConf::LastN { of, .. } => {
                Some(of.0.clone())
            }
            _ => None,
        };
        Self {
            reader: Reader {
                conf: conf.clone(),
                types: types.clone(),
                label,
                fields,
            },
            windowing,
            params,
            lateness: conf.allowed_lateness.millis(),
            state: State {
                keys: HashMap::default(),
                newest: TimestampMs::MIN,
                dropped: 0,
            },
            changed: Vec::new(),
            swept: None,
            key_buffer: String::new(),
        }
    }
}

/// The value of the window containing `clock`.
fn read<W: Windowing, A: Accumulator>(
    windowing: &W,
    params: &A::Params,
    clock: TimestampMs,
    slots: &W::Slots<A>,
) -> Option<FeatureValue> {
    windowing.current(slots, params, clock)?.value()
}

impl Reader {
    /// Calls `visit` with the sample(s) `event` gives: one, or one per selected value.
    fn samples(&self, sample: Sample<'_>, event: &Event, visit: &mut dyn FnMut(&Sample<'_>)) {
        match &self.label {
            None => visit(&sample),
            Some(selector) => for_each_value(selector, event, &*self.fields, &mut |label| {
                visit(&Sample { label, ..sample })
            }),
        }
    }
}

impl<W: Windowing, A: Accumulator> WindowFeature for Windowed<W, A> {
    fn name(&self) -> &str {
        &self.reader.conf.name
    }

    fn observe(&mut self, seq: u64, event: &Event) {
        let Self {
            reader,
            windowing,
            params,
            state,
            changed,
            key_buffer,
            lateness,
            ..
        } = self;
        if !reader.conf.accepts(&reader.types, &event.event_type) {
            return;
        }
        state.newest = state.newest.max(event.timestamp);
        let watermark = state.newest.saturating_sub(*lateness);
        let sample = match &reader.conf.aggregation {
            AggregationConf::Ratio {
                numerator,
                denominator,
            } => Sample {
                numerator: numerator.contains(&event.event_type),
                denominator: denominator.contains(&event.event_type),
                ..base_sample(seq, event)
            },
            _ => base_sample(seq, event),
        };
        let mut late = false;
        let fields = &*reader.fields;
        for_each_key(&reader.conf.key.0, event, fields, key_buffer, &mut |key| {
            let mut apply = |slots: &mut W::Slots<A>| {
                let (mut added, mut refused) = (false, false);
                reader.samples(sample, event, &mut |s| {
                    if windowing.add(slots, params, s, watermark) {
                        added = true;
                    } else {
                        refused = true;
                    }
                });
                late |= refused;
                added
            };
            match state.keys.get_mut(key) {
                Some(entry) => {
                    if apply(&mut entry.slots) && !entry.changed {
                        entry.changed = true;
                        changed.push(key.to_owned());
                    }
                }
                None => {
                    let mut slots = W::Slots::<A>::default();
                    if apply(&mut slots) {
                        let entry = Entry {
                            slots,
                            changed: true,
                        };
                        state.keys.insert(key.to_owned(), entry);
                        changed.push(key.to_owned());
                    }
                }
            }
        });
        if late {
            state.dropped += 1;
            metrics::counter!("cascade_window_late_events_dropped_total", "feature" => reader.conf.name.clone())
                .increment(1);
        }
    }

    fn current(&self, key: &str) -> Option<FeatureValue> {
        let slots = &self.state.keys.get(key)?.slots;
        read(&self.windowing, &self.params, self.state.newest, slots)
    }

    fn open_windows(&self, key: &str) -> Vec<(Span, FeatureValue)> {
        let Some(entry) = self.state.keys.get(key) else {
            return Vec::new();
        };
        self.windowing
            .open(&entry.slots, &self.params, self.watermark())
            .into_iter()
            .filter_map(|(span, acc)| Some((span, acc.value()?)))
            .collect()
    }

    fn watermark(&self) -> TimestampMs {
        self.state.newest.saturating_sub(self.lateness)
    }

    fn dropped(&self) -> u64 {
        self.state.dropped
    }

    fn drain_changes(&mut self, emit: &mut dyn FnMut(String, Option<FeatureValue>)) {
        let watermark = self.watermark();
        let Self {
            windowing,
            params,
            state,
            changed,
            swept,
            ..
        } = self;
        let clock = state.newest;
        let epoch = windowing.epoch(clock);
        if *swept != Some(epoch) {
            // The clock moved every key's current window on: evict and re-read them all.
            *swept = Some(epoch);
            changed.clear();
            state.keys.retain(|key, entry| {
                entry.changed = false;
                let empty = windowing.evict(&mut entry.slots, watermark);
                let value = if empty {
                    None
                } else {
                    read(windowing, params, clock, &entry.slots)
                };
                emit(key.clone(), value);
                !empty
            });
            return;
        }
        for key in changed.drain(..) {
            if let Some(entry) = state.keys.get_mut(&key) {
                entry.changed = false;
                let value = read(windowing, params, clock, &entry.slots);
                emit(key, value);
            }
        }
    }

    fn snapshot(&self) -> StateSnapshot {
        let state = self.state.clone();
        Box::new(move |bytes| serde_json::to_writer(bytes, &state))
    }

    fn load(&mut self, state: serde_json::Value) -> Result<(), serde_json::Error> {
        self.state = serde_json::from_value(state)?;
        self.changed.clear();
        self.swept = None;
        Ok(())
    }
}

fn base_sample(seq: u64, event: &Event) -> Sample<'static> {
    Sample {
        ts: event.timestamp,
        seq,
        value: event.value,
        label: "",
        numerator: false,
        denominator: false,
    }
}
