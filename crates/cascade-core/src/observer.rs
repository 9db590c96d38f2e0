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

/// Derived state that follows the catalogue: told of every item write after it is durable.
pub trait ItemObserver: Send + Sync {
    /// An item was inserted or replaced.
    fn upserted(&self, item: &crate::Item);
    /// An item was deleted.
    fn deleted(&self, id: &str);
}
