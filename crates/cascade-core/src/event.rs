//! Behaviour events: what users did with items.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::time::TimestampMs;

/// One thing a user did with an item, as acknowledged into the event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The caller's unique id for the event; a second event with the same id is a duplicate.
    pub event_id: String,
    /// The event type, one of the configured [`EventTypes`].
    #[serde(rename = "type")]
    pub event_type: String,
    /// The user who acted.
    pub uid: String,
    /// The item acted on.
    pub item_id: String,
    /// When it happened, in milliseconds since the Unix epoch.
    pub timestamp: TimestampMs,
    /// A magnitude: a rating, a watch time, a price; 1.0 when not given.
    #[serde(default = "one")]
    pub value: f64,
    /// Where and how it happened.
    #[serde(default, skip_serializing_if = "EventContext::is_empty")]
    pub context: EventContext,
    /// Free text attached to the event (a comment, a search query).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

fn one() -> f64 {
    1.0
}

impl Event {
    /// An event with value 1.0, no context and no text.
    pub fn new(
        event_id: &str,
        event_type: &str,
        uid: &str,
        item_id: &str,
        timestamp: TimestampMs,
    ) -> Self {
        Self {
            event_id: event_id.to_string(),
            event_type: event_type.to_string(),
            uid: uid.to_string(),
            item_id: item_id.to_string(),
            timestamp,
            value: 1.0,
            context: EventContext::default(),
            text: None,
        }
    }
}

/// The circumstances of an event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventContext {
    /// The scene the item was shown in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scene: Option<String>,
    /// The recommend request that showed the item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The item's 0-based position in that response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<u32>,
    /// The experiment the request was assigned to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment_id: Option<String>,
    /// The device or platform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// Anything else, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl EventContext {
    /// Whether no context was given.
    pub fn is_empty(&self) -> bool {
        *self == EventContext::default()
    }
}

/// The configured event types, and which of them count as a user's interaction with an item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct EventTypes {
    /// Every accepted event type.
    #[serde(default = "default_types")]
    pub types: BTreeSet<String>,
    /// Types that only record exposure; they do not count as interactions.
    #[serde(default = "default_exposure_types")]
    pub exposure_types: BTreeSet<String>,
}

impl Default for EventTypes {
    fn default() -> Self {
        Self {
            types: default_types(),
            exposure_types: default_exposure_types(),
        }
    }
}

impl EventTypes {
    /// Whether `event_type` is configured.
    pub fn accepts(&self, event_type: &str) -> bool {
        self.types.contains(event_type)
    }

    /// Whether an event of this type is an interaction (not mere exposure).
    pub fn is_interaction(&self, event_type: &str) -> bool {
        !self.exposure_types.contains(event_type)
    }
}

fn default_types() -> BTreeSet<String> {
    [
        "impression",
        "click",
        "like",
        "share",
        "play",
        "purchase",
        "comment",
        "rating",
    ]
    .into_iter()
    .map(String::from)
    .collect()
}

fn default_exposure_types() -> BTreeSet<String> {
    BTreeSet::from(["impression".to_string()])
}
