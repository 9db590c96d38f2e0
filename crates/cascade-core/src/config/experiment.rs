//! A/B experiments: layers of experiments that own bucket ranges and override pipeline
//! settings with PAI-Rec's parameter names.

use std::collections::BTreeMap;
use std::ops::Range;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The number of buckets a layer divides users into.
pub const BUCKETS: u32 = 100;

/// All experiment layers (`ExperimentConfs`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ExperimentConfs {
    /// Independent layers; a user is in at most one experiment of each layer.
    #[serde(default)]
    pub layers: Vec<LayerConf>,
}

/// One layer: experiments with disjoint bucket ranges of `hash(uid, layer) mod 100`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct LayerConf {
    /// The layer's name, part of the hash.
    pub name: String,
    /// The scenes the layer applies to; empty for all.
    #[serde(default)]
    pub scenes: Vec<String>,
    /// The experiments.
    #[serde(default)]
    pub experiments: Vec<ExperimentConf>,
}

/// One experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ExperimentConf {
    /// The id reported as `experiment_id` and logged with impressions.
    pub experiment_id: String,
    /// Bucket ranges, e.g. `"0-49"` or `"0-9,50-59"` (inclusive).
    #[serde(default)]
    pub buckets: String,
    /// Users always assigned to this experiment, whatever their bucket.
    #[serde(default)]
    pub whitelist: Vec<String>,
    /// Overrides: `pipelines.<name>.<Key>` or a scene-level `<Key>` (main pipeline), where
    /// `<Key>` is one of [`PARAM_KEYS`].
    #[serde(default)]
    pub params: BTreeMap<String, Value>,
}

/// The pipeline settings an experiment may override.
pub const PARAM_KEYS: &[&str] = &[
    "RecallNames",
    "FilterNames",
    "GeneralRankConf",
    "FeatureLoadConfs",
    "RankConf",
    "ColdStartRankConf",
    "SortNames",
];

/// Parses `"0-49,60-69"` into half-open ranges `[0, 50)`, `[60, 70)`.
pub fn parse_buckets(text: &str) -> Result<Vec<Range<u32>>, String> {
    let mut ranges = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (start, end) = part.split_once('-').unwrap_or((part, part));
        let parse = |s: &str| {
            s.trim()
                .parse::<u32>()
                .map_err(|_| format!("`{part}` is not a bucket range such as 0-49"))
        };
        let (start, end) = (parse(start)?, parse(end)?);
        if start > end || end >= BUCKETS {
            return Err(format!(
                "`{part}` must lie within 0-{} with start <= end",
                BUCKETS - 1
            ));
        }
        ranges.push(start..end + 1);
    }
    Ok(ranges)
}

/// Which pipeline a parameter targets, and which setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamTarget<'a> {
    /// The named pipeline, or `None` for the scene's main pipeline.
    pub pipeline: Option<&'a str>,
    /// One of [`PARAM_KEYS`].
    pub key: &'a str,
}

/// Reads a parameter name; `None` when it is not one Cascade knows.
pub fn param_target(name: &str) -> Option<ParamTarget<'_>> {
    let (pipeline, key) = match name.strip_prefix("pipelines.") {
        Some(rest) => {
            let (pipeline, key) = rest.rsplit_once('.')?;
            (Some(pipeline), key)
        }
        None => (None, name),
    };
    PARAM_KEYS
        .contains(&key)
        .then_some(ParamTarget { pipeline, key })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_ranges_are_inclusive_and_checked() {
        assert_eq!(parse_buckets("0-49, 60-69").unwrap(), vec![0..50, 60..70]);
        assert_eq!(parse_buckets("7").unwrap(), vec![7..8]);
        assert!(parse_buckets("50-100").is_err());
        assert!(parse_buckets("9-3").is_err());
        assert!(parse_buckets("a-b").is_err());
    }

    #[test]
    fn parameter_names_follow_pai_rec() {
        assert_eq!(
            param_target("pipelines.coldstart.RecallNames"),
            Some(ParamTarget {
                pipeline: Some("coldstart"),
                key: "RecallNames"
            })
        );
        assert_eq!(
            param_target("SortNames"),
            Some(ParamTarget {
                pipeline: None,
                key: "SortNames"
            })
        );
        assert_eq!(param_target("pipelines.x.Colour"), None);
    }
}
