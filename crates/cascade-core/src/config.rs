//! The configuration document: one JSON file (comments allowed) with PascalCase keys,
//! in the style of PAI-Rec's `RecommendConfig`.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::event::EventTypes;
use crate::item::ItemSchema;

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
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CascadeConfig {
    /// Where the HTTP server listens (PAI-Rec's `ListenConf`).
    #[serde(default)]
    pub listen_conf: ListenConf,
    /// Where data lives.
    #[serde(default)]
    pub storage_conf: StorageConf,
    /// HTTP server limits.
    #[serde(default)]
    pub server_conf: ServerConf,
    /// Accepted event types.
    #[serde(default)]
    pub event_conf: EventTypes,
    /// Declared item fields and embeddings.
    #[serde(default)]
    pub item_schema: ItemSchema,
    /// The popularity recall.
    #[serde(default)]
    pub popular_conf: PopularConf,
    /// Per-user interaction history.
    #[serde(default)]
    pub history_conf: HistoryConf,
}

/// Where the HTTP server listens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ListenConf {
    /// The address to bind; empty means 127.0.0.1.
    #[serde(default)]
    pub http_addr: String,
    /// The port to bind; 0 picks a free one.
    #[serde(default = "default_port")]
    pub http_port: u16,
}

impl Default for ListenConf {
    fn default() -> Self {
        Self {
            http_addr: String::new(),
            http_port: default_port(),
        }
    }
}

impl ListenConf {
    /// `addr:port`, with an empty address read as 127.0.0.1.
    pub fn socket_addr(&self) -> String {
        let addr = if self.http_addr.is_empty() {
            "127.0.0.1"
        } else {
            &self.http_addr
        };
        format!("{addr}:{}", self.http_port)
    }
}

fn default_port() -> u16 {
    8000
}

/// Where data lives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct StorageConf {
    /// The data directory of the embedded store.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
}

impl Default for StorageConf {
    fn default() -> Self {
        Self {
            data_dir: default_data_dir(),
        }
    }
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("cascade-data")
}

/// HTTP server limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ServerConf {
    /// The largest request body accepted, in bytes.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// The most records accepted in one batch.
    #[serde(default = "default_max_batch_records")]
    pub max_batch_records: usize,
}

impl Default for ServerConf {
    fn default() -> Self {
        Self {
            max_body_bytes: default_max_body_bytes(),
            max_batch_records: default_max_batch_records(),
        }
    }
}

fn default_max_body_bytes() -> usize {
    16 * 1024 * 1024
}

fn default_max_batch_records() -> usize {
    50_000
}

/// The popularity recall: most interacted items over a trailing window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct PopularConf {
    /// Length of the trailing window, in hours. The window ends at the newest event time seen.
    #[serde(default = "default_window_hours")]
    pub window_hours: u64,
    /// How often the ranked list is recomputed at most, in milliseconds.
    #[serde(default = "default_refresh_millis")]
    pub refresh_millis: u64,
}

impl Default for PopularConf {
    fn default() -> Self {
        Self {
            window_hours: default_window_hours(),
            refresh_millis: default_refresh_millis(),
        }
    }
}

fn default_window_hours() -> u64 {
    24 * 30
}

fn default_refresh_millis() -> u64 {
    1000
}

/// Per-user interaction history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct HistoryConf {
    /// How many of a user's most recent distinct items are kept (and excluded from recommendations).
    #[serde(default = "default_max_items_per_user")]
    pub max_items_per_user: usize,
}

impl Default for HistoryConf {
    fn default() -> Self {
        Self {
            max_items_per_user: default_max_items_per_user(),
        }
    }
}

fn default_max_items_per_user() -> usize {
    1000
}

impl CascadeConfig {
    /// Parses a config document; `//` and `/* */` comments are allowed.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let mut stripped = String::new();
        json_comments::StripComments::new(text.as_bytes())
            .read_to_string(&mut stripped)
            .map_err(|e| ConfigError::Invalid {
                path: String::new(),
                reason: e.to_string(),
            })?;
        let mut deserializer = serde_json::Deserializer::from_str(&stripped);
        serde_path_to_error::deserialize(&mut deserializer).map_err(|e| ConfigError::Invalid {
            path: e.path().to_string(),
            reason: e.into_inner().to_string(),
        })
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
    fn an_unknown_key_is_named_with_its_path() {
        let error = CascadeConfig::parse(r#"{"ListenConf": {"HttpPrt": 1}}"#).unwrap_err();
        let text = error.to_string();
        assert!(text.contains("ListenConf"), "{text}");
        assert!(text.contains("HttpPrt"), "{text}");
    }
}
