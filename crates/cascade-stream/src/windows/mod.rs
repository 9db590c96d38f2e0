//! Windowed feature aggregations (`WindowFeatureConfs`): tumbling, sliding, session and
//! global windows over event time; count, sum, mean, duration, distinct count, ratio and
//! last-N; keyed by user, item, user × item field or a context field.
//!
//! Time is event time. The watermark is the newest event time seen minus the allowed
//! lateness; a window whose end is at or before the watermark is closed: its state is
//! evicted, and an event whose windows are all closed is dropped and counted
//! (`cascade_window_late_events_dropped_total`). Each key's current value is the window
//! containing the newest event time seen; a window without events has no value.
//!
//! [`WindowObserver`] runs the features on the stream; a writer thread of its own writes
//! changed values to the feature store in coalesced batches and checkpoints a copy of the
//! state together with the log position it covers, off the stream thread.

mod aggregate;
mod bench;
mod build;
mod feature;
mod global;
mod observer;
mod panes;
mod sample;
mod select;
mod session;
mod windowing;

pub use bench::{BENCH_FEATURES, Throughput, bench_events, measure_throughput};
pub use build::build;
pub use feature::{StateSnapshot, WindowFeature};
pub use observer::{CHECKPOINT_NAME, WindowError, WindowObserver};
pub use select::{ItemFields, KEY_SEPARATOR, composite_key};
pub use windowing::Span;
