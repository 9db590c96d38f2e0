//! The hook through which derived state follows the event log.

use crate::event::Event;

/// Derived state (indexes, histories, features) that is updated from acknowledged events.
///
/// The stream runtime calls [`EventObserver::observe`] once per acknowledged event, in
/// log order; `seq` is the event's position in the log.
pub trait EventObserver: Send + Sync {
    /// Applies one acknowledged event.
    fn observe(&self, seq: u64, event: &Event);
}
