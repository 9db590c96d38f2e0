//! The stream runtime: follows the event log in order and keeps derived state fresh.
//!
//! Every acknowledged event reaches every registered [`EventObserver`] exactly once per
//! process, in log order; at start-up the runtime replays the log, so derived state needs
//! no persistence of its own.
//!
//! [`EventObserver`]: cascade_core::EventObserver

pub mod history;
pub mod runtime;

pub use history::{HistoryKind, UserHistory};
pub use runtime::StreamRuntime;
