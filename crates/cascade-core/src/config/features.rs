//! Window features and the feature store: `WindowFeatureConfs` and `FeatureStoreConf`.
//!
//! A window feature aggregates the events of one key (a user, an item, a user × item-field
//! pair or a context field) over event-time windows:
//!
//! ```json
//! "WindowFeatureConfs": [{
//!     "Name": "user_clicks_30m",
//!     "Key": "user",
//!     "EventTypes": ["click"],
//!     "Window": {"Type": "sliding", "Size": "30m", "Slide": "5m"},
//!     "Aggregation": {"Type": "count"},
//!     "AllowedLateness": "1m"
//! }]
//! ```
//!
//! Durations are a whole number of seconds (`90`) or a string of digits with one unit:
//! `ms`, `s`, `m`, `h` or `d` (`"500ms"`, `"30m"`, `"24h"`, `"7d"`).

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::references::ConfigIssue;
use crate::event::EventTypes;

/// A span of event time, in milliseconds; written in configs as seconds or `"30m"`-style text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration(pub i64);

impl Duration {
    /// The span in milliseconds.
    pub fn millis(self) -> i64 {
        self.0
    }

    /// Parses `"500ms"`, `"30s"`, `"30m"`, `"24h"`, `"7d"` or a bare number of seconds.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (digits, unit) = text.split_at(split);
        let unit_ms = match unit {
            "ms" => 1,
            "" | "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(format!("`{text}`: the unit is one of ms, s, m, h, d")),
        };
        digits
            .parse::<i64>()
            .ok()
            .and_then(|n| n.checked_mul(unit_ms))
            .map(Duration)
            .ok_or_else(|| format!("`{text}` is not a duration such as \"30m\" or 90"))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let units = [
            (86_400_000, "d"),
            (3_600_000, "h"),
            (60_000, "m"),
            (1000, "s"),
        ];
        match units.iter().find(|(ms, _)| self.0 != 0 && self.0 % ms == 0) {
            Some((ms, unit)) => write!(f, "{}{unit}", self.0 / ms),
            None => write!(f, "{}ms", self.0),
        }
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Seconds(u64),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Seconds(seconds) => i64::try_from(seconds)
                .ok()
                .and_then(|s| s.checked_mul(1000))
                .map(Duration)
                .ok_or_else(|| serde::de::Error::custom("the duration is too long")),
            Raw::Text(text) => Duration::parse(&text).map_err(serde::de::Error::custom),
        }
    }
}

/// Where a value is read from an event: the item, the user, a field of the item (through the
/// item store) or a context field. Written `item`, `user`, `field:<name>`, `context:<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Selector {
    /// The event's item id.
    Item,
    /// The event's user id.
    User,
    /// A field of the event's item, e.g. `field:category`; tags give one value per tag.
    ItemField(String),
    /// A context field: `scene`, `device`, `experiment_id`, `request_id`, `position` or a key of `extra`.
    Context(String),
}

impl Selector {
    fn parse(text: &str, kinds: &[&str]) -> Result<Self, String> {
        let (kind, name) = text.split_once(':').unwrap_or((text, ""));
        let selector = match (kind, name) {
            ("item", "") => Selector::Item,
            ("user", "") => Selector::User,
            ("field" | "user_x_field", name) if !name.is_empty() => {
                Selector::ItemField(name.to_string())
            }
            ("context", name) if !name.is_empty() => Selector::Context(name.to_string()),
            _ => return Err(format!("`{text}` is not one of {}", kinds.join(", "))),
        };
        if kinds.iter().any(|k| k.split(':').next() == Some(kind)) {
            Ok(selector)
        } else {
            Err(format!("`{text}` is not one of {}", kinds.join(", ")))
        }
    }
}

const KEY_KINDS: &[&str] = &["user", "item", "user_x_field:<field>", "context:<field>"];
const OF_KINDS: &[&str] = &["item", "user", "field:<field>", "context:<field>"];

/// What a window feature is keyed by. Written `user`, `item`, `user_x_field:<field>` (the user
/// crossed with a field of the item, e.g. `user_x_field:category`) or `context:<field>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WindowKey(pub Vec<Selector>);

impl TryFrom<String> for WindowKey {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        Ok(WindowKey(match Selector::parse(&text, KEY_KINDS)? {
            field @ Selector::ItemField(_) => vec![Selector::User, field],
            other => vec![other],
        }))
    }
}

impl From<WindowKey> for String {
    fn from(key: WindowKey) -> String {
        match key.0.as_slice() {
            [Selector::User, Selector::ItemField(field)] => format!("user_x_field:{field}"),
            [single] => String::from(ValueOf(single.clone())),
            _ => String::new(),
        }
    }
}

impl Serialize for WindowKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        String::from(self.clone()).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for WindowKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        WindowKey::try_from(String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

/// The value an aggregation reads from each event, written as a [`Selector`] (`"Of": "item"`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ValueOf(pub Selector);

impl Default for ValueOf {
    fn default() -> Self {
        ValueOf(Selector::Item)
    }
}

impl From<ValueOf> for String {
    fn from(of: ValueOf) -> String {
        match of.0 {
            Selector::Item => "item".into(),
            Selector::User => "user".into(),
            Selector::ItemField(name) => format!("field:{name}"),
            Selector::Context(name) => format!("context:{name}"),
        }
    }
}

impl Serialize for ValueOf {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        String::from(self.clone()).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ValueOf {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Selector::parse(&text, OF_KINDS)
            .map(ValueOf)
            .map_err(serde::de::Error::custom)
    }
}

/// How events are grouped in event time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "Type",
    rename_all = "snake_case",
    rename_all_fields = "PascalCase",
    deny_unknown_fields
)]
pub enum WindowConf {
    /// Back-to-back windows `[k·Size, (k+1)·Size)`.
    Tumbling {
        /// The window length.
        size: Duration,
    },
    /// Windows of length `Size` starting every `Slide`; `Size` is a multiple of `Slide`.
    Sliding {
        /// The window length.
        size: Duration,
        /// The distance between window starts.
        slide: Duration,
    },
    /// Activity separated by less than `Gap`; a session ends `Gap` after its last event.
    Session {
        /// The inactivity that ends a session.
        gap: Duration,
    },
    /// One window over all time (e.g. for a user's last N items); nothing is ever late.
    Global,
}

/// What is computed over the events of a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "Type",
    rename_all = "snake_case",
    rename_all_fields = "PascalCase",
    deny_unknown_fields
)]
pub enum AggregationConf {
    /// The number of events.
    Count,
    /// The sum of the events' values.
    Sum,
    /// The mean of the events' values.
    Mean,
    /// Seconds from the window's first event to its last (a session's length).
    Duration,
    /// The number of distinct values of `Of` (default: items).
    DistinctCount {
        /// The value counted.
        #[serde(default)]
        of: ValueOf,
    },
    /// Events of the `Numerator` types over events of the `Denominator` types (e.g. CTR).
    Ratio {
        /// Event types counted above the line.
        numerator: BTreeSet<String>,
        /// Event types counted below the line.
        denominator: BTreeSet<String>,
    },
    /// The `N` most recent values of `Of` (default: items), newest first.
    LastN {
        /// How many values are kept.
        n: usize,
        /// The value kept.
        #[serde(default)]
        of: ValueOf,
    },
}

/// One windowed feature (`WindowFeatureConfs` entry).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct WindowFeatureConf {
    /// The feature's name in the feature store; letters, digits, `_`, `-` and `.`.
    pub name: String,
    /// What the feature is kept per.
    pub key: WindowKey,
    /// The event types aggregated; empty means every interaction type (for `ratio`: leave
    /// empty, the numerator and denominator types are used).
    #[serde(default)]
    pub event_types: BTreeSet<String>,
    /// The windows.
    pub window: WindowConf,
    /// The aggregation.
    pub aggregation: AggregationConf,
    /// How far behind the newest event time an event may arrive and still count.
    #[serde(default)]
    pub allowed_lateness: Duration,
}

impl WindowFeatureConf {
    /// Whether an event of `event_type` is aggregated, given the configured types.
    pub fn accepts(&self, types: &EventTypes, event_type: &str) -> bool {
        match &self.aggregation {
            AggregationConf::Ratio {
                numerator,
                denominator,
            } => numerator.contains(event_type) || denominator.contains(event_type),
            _ if self.event_types.is_empty() => types.is_interaction(event_type),
            _ => self.event_types.contains(event_type),
        }
    }
}

/// Which feature store backend holds feature values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeatureBackend {
    /// A redb file in the data directory.
    #[default]
    Embedded,
    /// A Redis server, shared by replicas.
    Redis,
}

/// The feature store (`FeatureStoreConf`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct FeatureStoreConf {
    /// `embedded` (default) or `redis`.
    #[serde(default)]
    pub backend: FeatureBackend,
    /// The Redis server, e.g. `redis://127.0.0.1:6379/0`; required for the redis backend.
    #[serde(default)]
    pub redis_url: String,
    /// Prefix of every Redis key this store writes.
    #[serde(default = "default_key_prefix")]
    pub key_prefix: String,
    /// How long a written value lives without being rewritten; 0 keeps it until replaced.
    #[serde(default = "default_ttl_seconds")]
    pub ttl_seconds: u64,
    /// How often window state is checkpointed with the log position, at most.
    #[serde(default = "default_checkpoint_interval")]
    pub checkpoint_interval: Duration,
    /// How long connecting to Redis may take, in milliseconds.
    #[serde(default = "default_redis_connect_timeout_ms")]
    pub redis_connect_timeout_ms: u64,
    /// How long sending one Redis command, and then waiting for its reply, may each take, in
    /// milliseconds; a connection that timed out is closed.
    #[serde(default = "default_redis_command_timeout_ms")]
    pub redis_command_timeout_ms: u64,
}

impl Default for FeatureStoreConf {
    fn default() -> Self {
        Self {
            backend: FeatureBackend::Embedded,
            redis_url: String::new(),
            key_prefix: default_key_prefix(),
            ttl_seconds: default_ttl_seconds(),
            checkpoint_interval: default_checkpoint_interval(),
            redis_connect_timeout_ms: default_redis_connect_timeout_ms(),
            redis_command_timeout_ms: default_redis_command_timeout_ms(),
        }
    }
}

fn default_key_prefix() -> String {
    "cascade:".into()
}

fn default_ttl_seconds() -> u64 {
    7 * 86_400
}

fn default_checkpoint_interval() -> Duration {
    Duration(10_000)
}

fn default_redis_connect_timeout_ms() -> u64 {
    200
}

fn default_redis_command_timeout_ms() -> u64 {
    500
}

/// Every problem of the window feature and feature store sections, each at its key path.
pub fn check(
    features: &[WindowFeatureConf],
    store: &FeatureStoreConf,
    types: &EventTypes,
) -> Vec<ConfigIssue> {
    let mut issues = Vec::new();
    let mut issue = |path: String, reason: String| issues.push(ConfigIssue { path, reason });
    let mut names = BTreeSet::new();
    for (i, conf) in features.iter().enumerate() {
        let at = format!("WindowFeatureConfs[{i}]");
        let valid_name = |c: char| c.is_ascii_alphanumeric() || "_-.".contains(c);
        if conf.name.is_empty() || !conf.name.chars().all(valid_name) {
            issue(
                format!("{at}.Name"),
                "letters, digits, `_`, `-` and `.` only, not empty".into(),
            );
        } else if !names.insert(conf.name.as_str()) {
            issue(
                format!("{at}.Name"),
                format!("`{}` is defined twice", conf.name),
            );
        }
        for t in &conf.event_types {
            if !types.accepts(t) {
                issue(
                    format!("{at}.EventTypes"),
                    format!("`{t}` is not in EventConf.Types"),
                );
            }
        }
        for (path, reason) in check_window(&conf.window) {
            issue(format!("{at}.Window.{path}"), reason);
        }
        for (path, reason) in check_aggregation(conf, types) {
            issue(format!("{at}.Aggregation.{path}"), reason);
        }
    }
    if store.backend == FeatureBackend::Redis && !store.redis_url.starts_with("redis://") {
        issue(
            "FeatureStoreConf.RedisUrl".into(),
            "the redis backend needs a URL such as redis://127.0.0.1:6379".into(),
        );
    }
    if store.checkpoint_interval.millis() <= 0 {
        issue(
            "FeatureStoreConf.CheckpointInterval".into(),
            "must be positive".into(),
        );
    }
    for (key, millis) in [
        ("RedisConnectTimeoutMs", store.redis_connect_timeout_ms),
        ("RedisCommandTimeoutMs", store.redis_command_timeout_ms),
    ] {
        if millis == 0 {
            issue(
                format!("FeatureStoreConf.{key}"),
                "must be positive (a Redis call without a timeout can hang forever)".into(),
            );
        }
    }
    issues
}

fn check_window(window: &WindowConf) -> Vec<(&'static str, String)> {
    let positive =
        |name, d: &Duration| (d.millis() <= 0).then(|| (name, "must be positive".into()));
    match window {
        WindowConf::Tumbling { size } => positive("Size", size).into_iter().collect(),
        WindowConf::Session { gap } => positive("Gap", gap).into_iter().collect(),
        WindowConf::Global => Vec::new(),
        WindowConf::Sliding { size, slide } => {
            let mut found: Vec<_> = [positive("Size", size), positive("Slide", slide)]
                .into_iter()
                .flatten()
                .collect();
            if found.is_empty() && size.millis() % slide.millis() != 0 {
                found.push(("Size", format!("{size} is not a multiple of Slide {slide}")));
            }
            found
        }
    }
}

fn check_aggregation(conf: &WindowFeatureConf, types: &EventTypes) -> Vec<(&'static str, String)> {
    let mut found = Vec::new();
    match &conf.aggregation {
        AggregationConf::LastN { n: 0, .. } => found.push(("N", "must be at least 1".into())),
        AggregationConf::Ratio {
            numerator,
            denominator,
        } => {
            if !conf.event_types.is_empty() {
                found.push((
                    "Type",
                    "ratio takes its types from Numerator and Denominator; leave EventTypes empty"
                        .into(),
                ));
            }
            for (name, list) in [("Numerator", numerator), ("Denominator", denominator)] {
                if list.is_empty() {
                    found.push((name, "needs at least one event type".into()));
                }
                for t in list.iter().filter(|t| !types.accepts(t)) {
                    found.push((name, format!("`{t}` is not in EventConf.Types")));
                }
            }
        }
        _ => {}
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_seconds_and_units() {
        assert_eq!(Duration::parse("30m"), Ok(Duration(1_800_000)));
        assert_eq!(Duration::parse("24h"), Ok(Duration(86_400_000)));
        assert_eq!(Duration::parse("90"), Ok(Duration(90_000)));
        assert_eq!(Duration::parse("250ms"), Ok(Duration(250)));
        assert!(Duration::parse("5 weeks").is_err());
        assert_eq!(Duration(1_800_000).to_string(), "30m");
        assert_eq!(Duration(1500).to_string(), "1500ms");
        let d: Duration = serde_json::from_str("120").unwrap();
        assert_eq!(d, Duration(120_000));
    }

    #[test]
    fn keys_and_selectors_round_trip() {
        for text in ["user", "item", "user_x_field:category", "context:device"] {
            let key = WindowKey::try_from(text.to_string()).unwrap();
            assert_eq!(String::from(key), text);
        }
        assert!(WindowKey::try_from("field:category".to_string()).is_err());
        assert!(WindowKey::try_from("user_x_field:".to_string()).is_err());
        let of: ValueOf = serde_json::from_str(r#""field:category""#).unwrap();
        assert_eq!(of.0, Selector::ItemField("category".into()));
        assert!(serde_json::from_str::<ValueOf>(r#""user_x_field:a""#).is_err());
    }

    #[test]
    fn problems_are_named_by_key_path() {
        let text = r#"{"WindowFeatureConfs": [
            {"Name": "a", "Key": "user", "Window": {"Type": "sliding", "Size": "7m", "Slide": "5m"},
             "Aggregation": {"Type": "count"}},
            {"Name": "a", "Key": "item", "Window": {"Type": "global"},
             "Aggregation": {"Type": "ratio", "Numerator": ["click"], "Denominator": ["view"]}}
        ], "FeatureStoreConf": {"Backend": "redis"}}"#;
        let error = crate::config::CascadeConfig::parse(text)
            .unwrap_err()
            .to_string();
        for expected in [
            "WindowFeatureConfs[0].Window.Size",
            "WindowFeatureConfs[1].Name",
            "WindowFeatureConfs[1].Aggregation.Denominator",
            "FeatureStoreConf.RedisUrl",
        ] {
            assert!(error.contains(expected), "{expected} missing from {error}");
        }
        let error = crate::config::CascadeConfig::parse(
            r#"{"WindowFeatureConfs": [{"Name": "a", "Key": "shop", "Window": {"Type": "global"},
                "Aggregation": {"Type": "count"}}]}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("WindowFeatureConfs[0].Key"), "{error}");
    }
}
