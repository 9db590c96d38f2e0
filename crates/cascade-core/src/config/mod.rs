//! The configuration document: one JSON file (comments allowed) with PascalCase keys,
//! in the style of PAI-Rec's `RecommendConfig`.

pub mod ann;
pub mod auth;
pub mod enrich;
pub mod experiment;
pub mod feature_log;
pub mod features;
pub mod kafka;
pub mod models;
pub mod rec;
pub mod references;
mod restart;
mod secrets;
mod service;

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::event::EventTypes;
use crate::item::ItemSchema;
pub use ann::{AnnConf, AnnPrecision};
pub use auth::{ApiKeyConf, AuthConf, Role};
pub use enrich::EnricherConf;
pub use experiment::ExperimentConfs;
pub use feature_log::FeatureLogConf;
pub use features::{FeatureStoreConf, WindowFeatureConf};
pub use kafka::KafkaConf;
pub use rec::RecommendSections;
pub use references::ConfigIssue;
pub use restart::AT_NEXT_START;
pub use secrets::REDACTED;
pub use service::{
    EngineConf, HistoryConf, ItemCfConf, ListenConf, PopularConf, SearchConf, SearchField,
    ServerConf, StorageConf, TextEncoderConf, TrendingConf,
};

/// Top-level keys of PAI-Rec configurations that name Alibaba Cloud services. Cascade keeps
/// that data in its own store (embedded or Redis) and refuses the key rather than ignore it.
const CLOUD_ONLY_KEYS: &[&str] = &[
    "HologresConfs",
    "TableStoreConfs",
    "BEConfs",
    "BeFilterConfs",
    "FeatureStoreConfs",
    "DatahubConfs",
    "SlsConfs",
    "EASConfs",
    "GraphConfs",
    "MysqlConfs",
    "ClickHouseConfs",
];

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Names that do not resolve, duplicates, exclusive settings set together.
    #[error("invalid config: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Rejected(Vec<ConfigIssue>),
    /// The document is not valid, at the given key path.
    #[error("invalid config at `{path}`: {reason}")]
    Invalid {
        /// Dotted key path of the offending value.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// Cascade's whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CascadeConfig {
    /// The PAI-Rec recommendation sections (RecallConfs, SceneConfs, PipelineConfs …).
    #[serde(flatten)]
    pub recommend: RecommendSections,
    /// A/B experiment layers.
    #[serde(default)]
    pub experiment_confs: ExperimentConfs,
    /// Where the HTTP server listens (PAI-Rec's `ListenConf`).
    #[serde(default)]
    pub listen_conf: ListenConf,
    /// Where data lives.
    #[serde(default)]
    pub storage_conf: StorageConf,
    /// HTTP server limits.
    #[serde(default)]
    pub server_conf: ServerConf,
    /// API keys and roles, CORS origins, allowed Host names.
    #[serde(default)]
    pub auth_conf: AuthConf,
    /// Accepted event types.
    #[serde(default)]
    pub event_conf: EventTypes,
    /// Declared item fields and embeddings.
    #[serde(default)]
    pub item_schema: ItemSchema,
    /// How the ANN index of each embedding is built, by embedding name; an embedding without
    /// an entry gets [`AnnConf::default`].
    #[serde(default)]
    pub ann_confs: std::collections::BTreeMap<String, AnnConf>,
    /// The popularity recall.
    #[serde(default)]
    pub popular_conf: PopularConf,
    /// Full-text search fields.
    #[serde(default)]
    pub search_conf: SearchConf,
    /// The item-CF index.
    #[serde(default)]
    pub item_cf_conf: ItemCfConf,
    /// The trending index.
    #[serde(default)]
    pub trending_conf: TrendingConf,
    /// Deadline, merge policy, caches.
    #[serde(default)]
    pub engine_conf: EngineConf,
    /// Per-user interaction history.
    #[serde(default)]
    pub history_conf: HistoryConf,
    /// The built-in text encoder; off when absent.
    #[serde(default)]
    pub text_encoder_conf: Option<TextEncoderConf>,
    /// Windowed feature aggregations kept by the stream runtime.
    #[serde(default)]
    pub window_feature_confs: Vec<WindowFeatureConf>,
    /// Where feature values are kept.
    #[serde(default)]
    pub feature_store_conf: FeatureStoreConf,
    /// The shared Kafka event stream (distributed mode); off when absent.
    #[serde(default)]
    pub kafka_conf: Option<KafkaConf>,
    /// Models run on the stream's events, their outputs written as features.
    #[serde(default)]
    pub enricher_confs: Vec<EnricherConf>,
    /// Feature logging at serving time; off by default.
    #[serde(default)]
    pub feature_log_conf: FeatureLogConf,
}

impl CascadeConfig {
    /// Parses and checks a config document; `//` and `/* */` comments are allowed.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        Self::parse_inner(text, None)
    }

    /// Parses and checks a document sent to replace `running`, which may be one shown by
    /// [`CascadeConfig::redacted`]: where it has [`REDACTED`] for a secret, the running
    /// secret stays. The settings that apply at the next start ([`AT_NEXT_START`]) keep their
    /// running values where the document leaves them out; a document that changes one is
    /// refused.
    pub fn parse_replacing(text: &str, running: &CascadeConfig) -> Result<Self, ConfigError> {
        Self::parse_inner(text, Some(running))
    }

    fn parse_inner(text: &str, running: Option<&CascadeConfig>) -> Result<Self, ConfigError> {
        let mut stripped = String::new();
        json_comments::StripComments::new(text.as_bytes())
            .read_to_string(&mut stripped)
            .map_err(|e| ConfigError::Invalid {
                path: String::new(),
                reason: e.to_string(),
            })?;
        let document: serde_json::Value =
            serde_json::from_str(&stripped).map_err(|e| ConfigError::Invalid {
                path: String::new(),
                reason: e.to_string(),
            })?;
        check_top_level_keys(&document)?;
        // The recommendation sections are read on their own: serde's `flatten` would hide
        // the key path of an error inside them.
        let (recommend, rest) = split_recommend_sections(document);
        let sent_at_next_start: Vec<&str> = AT_NEXT_START
            .iter()
            .copied()
            .filter(|key| {
                key.split('.')
                    .try_fold(&rest, |value, part| value.get(part))
                    .is_some()
            })
            .collect();
        let mut config: CascadeConfig = deserialize_with_path(rest)?;
        config.recommend = deserialize_with_path(recommend)?;
        // Without a running config a placeholder has no secret to stand for.
        let mut kept = config.restore_secrets(running.unwrap_or(&CascadeConfig::default()));
        if let Some(running) = running {
            let changed = config.keep_at_next_start(running);
            kept.extend(
                changed
                    .into_iter()
                    .filter(|key| sent_at_next_start.contains(key))
                    .map(|key| ConfigIssue {
                        path: key.to_string(),
                        reason: "applies at the next start only, so a reload cannot change it; \
                                 change it in the config file and restart"
                            .into(),
                    }),
            );
        }
        let issues = references::check(&config);
        let issues = [
            kept,
            issues,
            features::check(
                &config.window_feature_confs,
                &config.feature_store_conf,
                &config.event_conf,
            ),
            kafka::check(config.kafka_conf.as_ref()),
            enrich::check(&config),
            feature_log::check(&config.feature_log_conf),
            auth::check(&config.auth_conf),
            service::check_server(&config.server_conf),
        ]
        .concat();
        if issues.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Rejected(issues))
        }
    }

    /// Reads and parses a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text)
    }
}

fn deserialize_with_path<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(value).map_err(|e| ConfigError::Invalid {
        path: e.path().to_string(),
        reason: e.into_inner().to_string(),
    })
}

/// Splits the document into the recommendation sections and everything else.
fn split_recommend_sections(document: serde_json::Value) -> (serde_json::Value, serde_json::Value) {
    let sections = keys_of(&RecommendSections::default());
    let mut recommend = serde_json::Map::new();
    let mut rest = serde_json::Map::new();
    if let serde_json::Value::Object(object) = document {
        for (key, value) in object {
            if sections.contains(&key) {
                recommend.insert(key, value);
            } else {
                rest.insert(key, value);
            }
        }
    }
    (recommend.into(), rest.into())
}

/// Refuses top-level keys Cascade does not know, naming cloud-only ones as such.
fn check_top_level_keys(document: &serde_json::Value) -> Result<(), ConfigError> {
    let Some(object) = document.as_object() else {
        return Err(ConfigError::Invalid {
            path: String::new(),
            reason: "the config must be a JSON object".into(),
        });
    };
    let known = keys_of(&CascadeConfig::default());
    for key in object.keys() {
        if CLOUD_ONLY_KEYS.contains(&key.as_str()) {
            return Err(ConfigError::Invalid {
                path: key.clone(),
                reason: "names an Alibaba Cloud service; Cascade keeps this data in its own \
                         store (StorageConf, embedded or Redis) instead"
                    .into(),
            });
        }
        if !known.contains(key) {
            return Err(ConfigError::Invalid {
                path: key.clone(),
                reason: format!("unknown key; known keys: {}", known.join(", ")),
            });
        }
    }
    Ok(())
}

/// The keys of a section, as its default serializes.
fn keys_of(section: &impl Serialize) -> Vec<String> {
    match serde_json::to_value(section) {
        Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_defaults() {
        let config = CascadeConfig::parse(
            r#"{
                // where to listen
                "ListenConf": {"HttpPort": 9000},
                /* block */ "EventConf": {"Types": ["click", "impression"]}
            }"#,
        )
        .unwrap();
        assert_eq!(config.listen_conf.socket_addr(), "127.0.0.1:9000");
        assert!(config.event_conf.accepts("click"));
        assert!(!config.event_conf.accepts("rating"));
        assert_eq!(config.popular_conf, PopularConf::default());
    }

    #[test]
    fn kafka_conf_is_a_known_section() {
        let config = CascadeConfig::parse(
            r#"{"KafkaConf": {"Brokers": "127.0.0.1:9092", "Topic": "events"}}"#,
        )
        .unwrap();
        let kafka = config.kafka_conf.unwrap();
        assert_eq!(kafka.group_id, "cascade");
        assert_eq!(kafka.dead_letter_topic(), "events.dlq");
        let error = CascadeConfig::parse(r#"{"KafkaConf": {"Brokers": "", "Topic": "events"}}"#)
            .unwrap_err();
        assert!(error.to_string().contains("KafkaConf.Brokers"), "{error}");
    }

    #[test]
    fn a_redacted_placeholder_is_never_installed_as_a_secret() {
        let text =
            r#"{"FeatureStoreConf": {"Backend": "redis", "RedisUrl": "redis://u:<redacted>@h:1"}}"#;
        let error = CascadeConfig::parse(text).unwrap_err().to_string();
        assert!(error.contains("FeatureStoreConf.RedisUrl"), "{error}");
        let mut running = CascadeConfig::default();
        running.feature_store_conf.backend = features::FeatureBackend::Redis;
        running.feature_store_conf.redis_url = "redis://u:pw@h:1".into();
        let config = CascadeConfig::parse_replacing(text, &running).unwrap();
        assert_eq!(config.feature_store_conf.redis_url, "redis://u:pw@h:1");
    }

    #[test]
    fn an_unknown_key_is_named_with_its_path() {
        let error = CascadeConfig::parse(r#"{"ListenConf": {"HttpPrt": 1}}"#).unwrap_err();
        let text = error.to_string();
        assert!(text.contains("ListenConf"), "{text}");
        assert!(text.contains("HttpPrt"), "{text}");
    }
}
