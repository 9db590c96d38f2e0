//! The context every recommendation request carries through the cascade.

use std::collections::BTreeMap;

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
}
