//! `FeatureLogConf`: logging the feature vectors of shown items at serving time, the training
//! data of the ranking models (joined to later clicks by request id).
//!
//! ```json
//! "FeatureLogConf": {
//!   "Enabled": true,
//!   "SampleRate": 0.1,
//!   "Features": ["recall_score.als", "item_users_log", "keyword_share.authors"],
//!   "Dir": "/var/lib/cascade/feature-log",
//!   "FlushMillis": 1000,
//!   "MaxFileBytes": 67108864,
//!   "QueueCapacity": 1024
//! }
//! ```
//! Every key has a default; `Dir` defaults to `<data dir>/feature-log`. The feature names are
//! checked where the feature grammar lives (`cascade-rank`), when the server starts.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::references::ConfigIssue;

/// Feature logging at serving time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct FeatureLogConf {
    /// Whether the feature vectors of shown items are logged.
    #[serde(default)]
    pub enabled: bool,
    /// The share of requests logged, in `0..=1`; a request is logged whole or not at all.
    #[serde(default = "default_sample_rate")]
    pub sample_rate: f64,
    /// The feature names logged, in column order (a ranking feature set).
    #[serde(default)]
    pub features: Vec<String>,
    /// The directory of the log files; `<data dir>/feature-log` when absent.
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// How often buffered records are flushed to the file, in milliseconds.
    #[serde(default = "default_flush_millis")]
    pub flush_millis: u64,
    /// A file is closed and a new one started once it holds this many bytes.
    #[serde(default = "default_max_file_bytes")]
    pub max_file_bytes: u64,
    /// How many requests' records may wait for the writer; beyond that they are dropped
    /// (and counted) rather than holding up a request.
    #[serde(default = "default_queue_capacity")]
    pub queue_capacity: usize,
}

impl Default for FeatureLogConf {
    fn default() -> Self {
        Self {
            enabled: false,
            sample_rate: default_sample_rate(),
            features: Vec::new(),
            dir: None,
            flush_millis: default_flush_millis(),
            max_file_bytes: default_max_file_bytes(),
            queue_capacity: default_queue_capacity(),
        }
    }
}

impl FeatureLogConf {
    /// The log directory: `Dir`, else `feature-log` under `data_dir`.
    pub fn dir_under(&self, data_dir: &Path) -> PathBuf {
        self.dir
            .clone()
            .unwrap_or_else(|| data_dir.join("feature-log"))
    }
}

fn default_sample_rate() -> f64 {
    1.0
}

fn default_flush_millis() -> u64 {
    1000
}

fn default_max_file_bytes() -> u64 {
    64 * 1024 * 1024
}

fn default_queue_capacity() -> usize {
    1024
}

/// Checks a `FeatureLogConf`: the sample rate in `0..=1`, positive flush interval, file size
/// and queue, and (when enabled) at least one feature. Feature names are checked by
/// `cascade-rank`, which knows them.
pub fn check(conf: &FeatureLogConf) -> Vec<ConfigIssue> {
    let mut issues = Vec::new();
    let mut issue = |key: &str, reason: String| {
        issues.push(ConfigIssue {
            path: format!("FeatureLogConf.{key}"),
            reason,
        })
    };
    if !(0.0..=1.0).contains(&conf.sample_rate) {
        issue(
            "SampleRate",
            format!("must be between 0 and 1, got {}", conf.sample_rate),
        );
    }
    if conf.flush_millis == 0 {
        issue("FlushMillis", "must be at least 1".into());
    }
    if conf.max_file_bytes == 0 {
        issue("MaxFileBytes", "must be at least 1".into());
    }
    if conf.queue_capacity == 0 {
        issue("QueueCapacity", "must be at least 1".into());
    }
    if conf.enabled && conf.features.is_empty() {
        issue(
            "Features",
            "logging is enabled but no feature is named".into(),
        );
    }
    issues
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CascadeConfig;

    #[test]
    fn defaults_and_the_data_dir() {
        let config = CascadeConfig::parse("{}").unwrap();
        let conf = &config.feature_log_conf;
        assert!(!conf.enabled);
        assert_eq!(conf.sample_rate, 1.0);
        assert_eq!(
            conf.dir_under(Path::new("/data")),
            Path::new("/data/feature-log")
        );
        let config = CascadeConfig::parse(
            r#"{"FeatureLogConf": {"Enabled": true, "Features": ["item_users_log"],
                "Dir": "/logs", "SampleRate": 0.25}}"#,
        )
        .unwrap();
        let conf = &config.feature_log_conf;
        assert_eq!((conf.enabled, conf.sample_rate), (true, 0.25));
        assert_eq!(conf.dir_under(Path::new("/data")), Path::new("/logs"));
    }

    #[test]
    fn bad_values_are_named_by_key() {
        let error = CascadeConfig::parse(r#"{"FeatureLogConf": {"SampleRate": 1.5}}"#)
            .unwrap_err()
            .to_string();
        assert!(error.contains("FeatureLogConf.SampleRate"), "{error}");
        assert!(error.contains("1.5"), "{error}");
        let error = CascadeConfig::parse(r#"{"FeatureLogConf": {"Enabled": true}}"#)
            .unwrap_err()
            .to_string();
        assert!(error.contains("FeatureLogConf.Features"), "{error}");
        let error = CascadeConfig::parse(r#"{"FeatureLogConf": {"FlushMillis": 0}}"#)
            .unwrap_err()
            .to_string();
        assert!(error.contains("FeatureLogConf.FlushMillis"), "{error}");
    }
}
