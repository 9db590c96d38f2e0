//! `KafkaConf`: the shared event stream of distributed mode (DESIGN.md §5).
//!
//! ```json
//! "KafkaConf": {
//!   "Brokers": "127.0.0.1:9092",
//!   "Topic": "cascade-events",
//!   "GroupId": "cascade",
//!   "DeadLetterTopic": "cascade-events.dlq"
//! }
//! ```
//! `Brokers` may also be written `BootstrapServers` (PAI-Rec's name); `GroupId` defaults to
//! `cascade` and `DeadLetterTopic` to `<Topic>.dlq`.

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
    /// The consumer group; replicas of one deployment share it.
    #[serde(default = "default_group_id")]
    pub group_id: String,
    /// Where records that cannot be processed go; `<Topic>.dlq` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_topic: Option<String>,
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
            dead_letter_topic: None,
        }
    }

    /// The dead-letter topic: the configured one, else `<topic>.dlq`.
    pub fn dead_letter_topic(&self) -> String {
        self.dead_letter_topic
            .clone()
            .unwrap_or_else(|| format!("{}.dlq", self.topic))
    }
}

/// Checks a `KafkaConf`: brokers, topic and group set, the dead-letter topic distinct.
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
        assert!(check(Some(&conf)).is_empty());
    }

    #[test]
    fn bad_values_are_named() {
        let conf = KafkaConf {
            brokers: "a:1,".into(),
            topic: "t".into(),
            group_id: " ".into(),
            dead_letter_topic: Some("t".into()),
        };
        let paths: Vec<String> = check(Some(&conf)).into_iter().map(|i| i.path).collect();
        assert_eq!(
            paths,
            [
                "KafkaConf.Brokers",
                "KafkaConf.GroupId",
                "KafkaConf.DeadLetterTopic"
            ]
        );
    }
}
