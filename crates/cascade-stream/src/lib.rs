//! The stream runtime: follows the event log in order and keeps derived state fresh.
//!
//! Every acknowledged event reaches every registered [`EventObserver`] exactly once per
//! process, in log order; at start-up the runtime replays the log, so most derived state needs
//! no persistence of its own. Window features ([`windows`]) checkpoint their state with the
//! log position instead, and resume from it (`StreamRuntime::start_from`).
//!
//! [`EventObserver`]: cascade_core::EventObserver

pub mod enrich;
pub mod history;
pub mod kafka;
pub mod runtime;
pub mod windows;

pub use history::{HistoryKind, UserHistory, UserItems};
pub use kafka::{KafkaSink, KafkaSource};
pub use runtime::StreamRuntime;
pub use windows::{WindowFeature, WindowObserver};
