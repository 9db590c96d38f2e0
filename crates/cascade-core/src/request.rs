//! The context every recommendation request carries through the cascade.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

/// Who is asking, where, and for how much.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestContext {
    /// The request's id, echoed in the response and in logged impressions.
    pub request_id: String,
    /// The user asking.
    pub uid: String,
    /// The scene (surface) asking, e.g. `home_feed`.
    pub scene_id: String,
    /// How many items are wanted.
    pub size: usize,
    /// The item being viewed, for item-to-item scenes.
    pub item_id: Option<String>,
    /// Request-time features sent by the caller.
    pub features: BTreeMap<String, serde_json::Value>,
    /// Whether the caller asked for a per-candidate trace.
    pub debug: bool,
    /// When the answer is due (the engine sets it from `EngineConf.TimeoutMs`): a stage that
    /// waits on something outside the process, such as the feature store, stops waiting then
    /// and goes on without it. `None`: no deadline.
    pub deadline: Option<Instant>,
    /// What the answer did without, noted by the stages that went on without something (feature
    /// values the feature store did not give); the engine marks the answer degraded with them.
    pub shortfalls: Shortfalls,
}

/// The shortfalls of one request: each noted once, in the order first noted. Clones share
/// the list, so every stage of a request notes into the same one.
#[derive(Debug, Clone, Default)]
pub struct Shortfalls(Arc<Mutex<Vec<String>>>);

impl Shortfalls {
    /// Notes what the request did without, and why (once: a second equal note is dropped).
    pub fn note(&self, what: impl Into<String>) {
        let what = what.into();
        let mut noted = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if !noted.contains(&what) {
            noted.push(what);
        }
    }

    /// Takes the notes out, leaving none.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn snapshot(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl PartialEq for Shortfalls {
    /// The same notes (two handles of one list are always equal).
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.snapshot() == other.snapshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_note_into_one_list_each_note_once() {
        let request = RequestContext::default();
        let stage = request.clone();
        stage.shortfalls.note("feature store: read failed");
        request.shortfalls.note("feature store: read failed");
        stage.shortfalls.note("another");
        assert_eq!(request, stage);
        assert_eq!(
            request.shortfalls.take(),
            ["feature store: read failed", "another"]
        );
        assert!(stage.shortfalls.take().is_empty());
    }
}
