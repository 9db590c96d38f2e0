//! `KafkaConf`: the shared event stream of distributed mode (DESIGN.md §5).
//!
//! ```json
//! "KafkaConf": {
//!   "Brokers": "127.0.0.1:9092",
//!   "Topic": "cascade-events",
//!   "GroupId": "cascade",
//!   "ReplicaId": "replica-1",
//!   "DeadLetterTopic": "cascade-events.dlq"
//! }
//! ```
//! `Brokers` may also be written `BootstrapServers` (PAI-Rec's name); `GroupId` defaults to
//! `cascade` and `DeadLetterTopic` to `<Topic>.dlq`.
//!
//! With this section the server runs in distributed mode: it publishes every event accepted by
//! `POST /api/events` to `Topic` and appends every event of `Topic` to its own event log.
//! Each replica keeps its derived state (popularity, histories, item-CF, windows) in memory,
//! so each must see the whole stream: it consumes in a consumer group of its own,
//! `<GroupId>.<ReplicaId>` ([`KafkaConf::consumer_group`]). `ReplicaId` names the replica and
//! must differ between replicas; when it is absent the server uses a random id generated at
//! its first start and kept in `<data dir>/replica-id`, so a replica keeps its group (and its
//! committed offsets) across restarts, and a new, empty data directory (even at the same path,
//! on another host) starts a new group that reads the topic from its first record. A replica
//! whose data directory is emptied but that keeps a configured `ReplicaId` resumes from the
//! old group's offsets and misses the earlier events: give it a new `ReplicaId`. The section is
//! read at start-up; a configuration reload does not change it.

use serde::{Deserialize, Serialize};

use super::references::ConfigIssue;

/// Where the shared event stream lives and how this replica consumes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct KafkaConf {
    /// Bootstrap brokers, comma separated `host:port`.
    #[serde(alias = "BootstrapServers")]
    pub brokers: String,
    /// The topic events are published to and consumed from.
    pub topic: String,
    /// The consumer group's prefix, shared by the replicas of one deployment: each replica
    /// consumes in the group `<GroupId>.<ReplicaId>` of its own.
    #[serde(default = "default_group_id")]
    pub group_id: String,
    /// This replica's name, the suffix of its consumer group; distinct per replica. When
    /// absent: a random id generated at the replica's first start and kept in
    /// `<data dir>/replica-id` (see the [module](self) documentation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica_id: Option<String>,
    /// Where records that cannot be processed go; `<Topic>.dlq` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_topic: Option<String>,
    /// How long a publish waits for the broker's acknowledgement before `POST /api/events`
    /// answers 503 (the events stay in the local log): bounds a request while the broker is
    /// down or unreachable.
    #[serde(default = "default_publish_timeout_ms")]
    pub publish_timeout_ms: u64,
}

fn default_publish_timeout_ms() -> u64 {
    5_000
}

fn default_group_id() -> String {
    "cascade".into()
}

impl KafkaConf {
    /// A configuration with the default group and dead-letter topic.
    pub fn new(brokers: impl Into<String>, topic: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            topic: topic.into(),
            group_id: default_group_id(),
            replica_id: None,
            dead_letter_topic: None,
            publish_timeout_ms: default_publish_timeout_ms(),
        }
    }

    /// The consumer group of the replica named `replica`: `<GroupId>.<replica>`.
    pub fn consumer_group(&self, replica: &str) -> String {
        format!("{}.{replica}", self.group_id)
    }

    /// The dead-letter topic: the configured one, else `<topic>.dlq`.
    pub fn dead_letter_topic(&self) -> String {
        self.dead_letter_topic
            .clone()
            .unwrap_or_else(|| format!("{}.dlq", self.topic))
    }
}

/// Whether `id` can name a replica: letters, digits, `.`, `_` and `-`, 1 to 100 characters.
pub fn valid_replica_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 100
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// Checks a `KafkaConf`: brokers, topic and group set, the replica id well formed, the
/// dead-letter topic distinct.
pub fn check(conf: Option<&KafkaConf>) -> Vec<ConfigIssue> {
    let Some(conf) = conf else {
        return Vec::new();
    };
    let mut issues = Vec::new();
    let mut issue = |key: &str, reason: &str| {
        issues.push(ConfigIssue {
            path: format!("KafkaConf.{key}"),
            reason: reason.into(),
        })
    };
    if conf.brokers.split(',').any(|b| b.trim().is_empty()) {
        issue("Brokers", "must list `host:port` brokers, comma separated");
    }
    let valid_topic = |t: &str| {
        !t.is_empty()
            && t.len() <= 249
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    };
    if !valid_topic(&conf.topic) {
        issue(
            "Topic",
            "letters, digits, `.`, `_` and `-` only, 1 to 249 characters",
        );
    }
    if conf.group_id.trim().is_empty() {
        issue("GroupId", "must not be empty");
    }
    if conf
        .replica_id
        .as_deref()
        .is_some_and(|id| !valid_replica_id(id))
    {
        issue(
            "ReplicaId",
            "letters, digits, `.`, `_` and `-` only, 1 to 100 characters",
        );
    }
    if let Some(dlq) = &conf.dead_letter_topic {
        if !valid_topic(dlq) {
            issue(
                "DeadLetterTopic",
                "letters, digits, `.`, `_` and `-` only, 1 to 249 characters",
            );
        } else if *dlq == conf.topic {
            issue("DeadLetterTopic", "must differ from Topic");
        }
    }
    if !(1..=300_000).contains(&conf.publish_timeout_ms) {
        issue("PublishTimeoutMs", "from 1 to 300000 milliseconds");
    }
    issues
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_aliases() {
        let conf: KafkaConf =
            serde_json::from_str(r#"{"BootstrapServers": "h:9092", "Topic": "events"}"#).unwrap();
        assert_eq!(conf, KafkaConf::new("h:9092", "events"));
        assert_eq!(conf.dead_letter_topic(), "events.dlq");
        assert_eq!(conf.replica_id, None);
        assert_eq!(conf.consumer_group("r1"), "cascade.r1");
        assert!(check(Some(&conf)).is_empty());
    }

    #[test]
    fn a_replica_id_names_the_group_and_is_checked() {
        let conf: KafkaConf = serde_json::from_str(
            r#"{"Brokers": "h:9092", "Topic": "events", "GroupId": "shop", "ReplicaId": "eu-1"}"#,
        )
        .unwrap();
        assert_eq!(conf.replica_id.as_deref(), Some("eu-1"));
        assert_eq!(conf.consumer_group("eu-1"), "shop.eu-1");
        assert!(check(Some(&conf)).is_empty());
        for bad in ["", "a b", "x/y", &"r".repeat(101)] {
            let conf = KafkaConf {
                replica_id: Some(bad.into()),
                ..conf.clone()
            };
            let paths: Vec<String> = check(Some(&conf)).into_iter().map(|i| i.path).collect();
            assert_eq!(paths, ["KafkaConf.ReplicaId"], "{bad:?}");
        }
        assert!(valid_replica_id(&"r".repeat(100)));
    }

    #[test]
    fn bad_values_are_named() {
        let conf = KafkaConf {
            brokers: "a:1,".into(),
            topic: "t".into(),
            group_id: " ".into(),
            replica_id: Some("a b".into()),
            dead_letter_topic: Some("t".into()),
            publish_timeout_ms: 0,
        };
        let paths: Vec<String> = check(Some(&conf)).into_iter().map(|i| i.path).collect();
        assert_eq!(
            paths,
            [
                "KafkaConf.Brokers",
                "KafkaConf.GroupId",
                "KafkaConf.ReplicaId",
                "KafkaConf.DeadLetterTopic",
                "KafkaConf.PublishTimeoutMs"
            ]
        );
    }
}
