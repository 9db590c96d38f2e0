//! Stream enrichers (`EnricherConfs`): a model run on the events of the stream, whose output
//! is written to the feature store as a feature of the event's item or user.
//!
//! ```json
//! "EnricherConfs": [
//!   {"Name": "item_text_vec", "Type": "text_embedding", "Key": "item",
//!    "Fields": ["title", "authors"], "BatchSize": 16, "MaxWaitMs": 5},
//!   {"Name": "user_score", "Type": "onnx", "Key": "user", "ModelPath": "models/score.onnx",
//!    "Features": ["user_clicks_1h", "item_ctr_24h", "item.price"], "Default": 0.0}
//! ]
//! ```
//!
//! Events are collected into batches of up to `BatchSize`, or fewer once `MaxWaitMs` has passed
//! since the first; a batch that fails or runs past `TimeoutMs` writes `Default` (when set) for
//! each of its events.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::CascadeConfig;
use super::features::Selector;
use super::references::ConfigIssue;
use crate::event::EventTypes;
use crate::item::FieldType;

/// The prefix of an ONNX input that is a numeric field of the event's item (`item.price`).
pub const ITEM_FIELD_PREFIX: &str = "item.";

/// Which model an enricher runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnricherType {
    /// The built-in text encoder over item text or the event's text: a vector.
    TextEmbedding,
    /// An ONNX model (run with tract) over feature values: a number.
    Onnx,
}

/// Whose feature the output is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EnrichKey {
    /// The event's item.
    Item,
    /// The event's user.
    User,
}

impl EnrichKey {
    /// The same key as a window feature [`Selector`].
    pub fn selector(self) -> Selector {
        match self {
            EnrichKey::Item => Selector::Item,
            EnrichKey::User => Selector::User,
        }
    }
}

/// What a text embedding enricher embeds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextInput {
    /// The text of the event's item (its `Fields`).
    #[default]
    ItemText,
    /// The event's own `text` (a comment, a query).
    EventText,
}

/// One input of an ONNX enricher, in the model's input order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnnxInput<'a> {
    /// A window feature, read for the event's user or item (as the feature is keyed).
    Window(&'a str),
    /// A numeric field of the event's item (`item.<field>`).
    ItemField(&'a str),
}

impl<'a> OnnxInput<'a> {
    /// Reads one entry of `Features`: `item.<field>` is an item field, anything else a window
    /// feature's name.
    pub fn parse(text: &'a str) -> Self {
        match text.strip_prefix(ITEM_FIELD_PREFIX) {
            Some(field) => OnnxInput::ItemField(field),
            None => OnnxInput::Window(text),
        }
    }
}

/// One enricher (`EnricherConfs` entry).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct EnricherConf {
    /// The output's feature name in the feature store; letters, digits, `_`, `-` and `.`.
    pub name: String,
    /// `text_embedding` or `onnx`.
    #[serde(rename = "Type")]
    pub kind: EnricherType,
    /// Whose feature the output is: `item` or `user`.
    pub key: EnrichKey,
    /// The event types enriched; empty means every interaction type.
    #[serde(default)]
    pub event_types: BTreeSet<String>,
    /// The most events per model call.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// How long a partial batch waits for more events after its first, in milliseconds.
    #[serde(default = "default_max_wait_ms")]
    pub max_wait_ms: u64,
    /// How long one batch may take before its events get `Default`, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Worker threads, each with a model of its own.
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// The value written for an event whose batch failed or timed out (onnx only); without
    /// it nothing is written and the entity keeps its previous value.
    #[serde(default)]
    pub default: Option<f64>,
    /// text_embedding: the item fields embedded (default: `TextEncoderConf.Fields`).
    #[serde(default)]
    pub fields: Vec<String>,
    /// text_embedding: `item_text` (default) or `event_text` (the event's `text`).
    #[serde(default)]
    pub input: Option<TextInput>,
    /// text_embedding: the model directory (default: `TextEncoderConf.ModelDir`, else the
    /// text encoder's default directory).
    #[serde(default)]
    pub model_dir: Option<PathBuf>,
    /// onnx: the model file.
    #[serde(default)]
    pub model_path: Option<PathBuf>,
    /// onnx: the model's inputs in order: window feature names and `item.<field>` numeric fields.
    #[serde(default)]
    pub features: Vec<String>,
}

fn default_batch_size() -> usize {
    16
}

fn default_max_wait_ms() -> u64 {
    5
}

fn default_timeout_ms() -> u64 {
    1000
}

fn default_workers() -> usize {
    1
}

impl EnricherConf {
    /// Whether an event of `event_type` is enriched.
    pub fn accepts(&self, types: &EventTypes, event_type: &str) -> bool {
        if self.event_types.is_empty() {
            types.is_interaction(event_type)
        } else {
            self.event_types.contains(event_type)
        }
    }

    /// What a text embedding enricher embeds.
    pub fn text_input(&self) -> TextInput {
        self.input.unwrap_or_default()
    }

    /// The item fields a text embedding enricher embeds: its own, else the text encoder's.
    pub fn text_fields<'a>(&'a self, config: &'a CascadeConfig) -> &'a [String] {
        match &config.text_encoder_conf {
            Some(encoder) if self.fields.is_empty() => &encoder.fields,
            _ => &self.fields,
        }
    }

    /// The model directory of a text embedding enricher, when one is configured (its own,
    /// else the text encoder's); `None` means the encoder's default directory.
    pub fn text_model_dir(&self, config: &CascadeConfig) -> Option<PathBuf> {
        self.model_dir.clone().or_else(|| {
            config
                .text_encoder_conf
                .as_ref()
                .and_then(|c| c.model_dir.clone())
        })
    }
}

/// Every problem of `EnricherConfs`, each at its key path.
pub fn check(config: &CascadeConfig) -> Vec<ConfigIssue> {
    let mut issues = Vec::new();
    let mut names = BTreeSet::new();
    let window_names: BTreeSet<&str> = config
        .window_feature_confs
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    for (i, conf) in config.enricher_confs.iter().enumerate() {
        let at = format!("EnricherConfs[{i}]");
        let mut issue = |key: &str, reason: String| {
            issues.push(ConfigIssue {
                path: format!("{at}.{key}"),
                reason,
            })
        };
        let valid_name = |c: char| c.is_ascii_alphanumeric() || "_-.".contains(c);
        if conf.name.is_empty() || !conf.name.chars().all(valid_name) {
            issue(
                "Name",
                "letters, digits, `_`, `-` and `.` only, not empty".into(),
            );
        } else if !names.insert(conf.name.as_str()) {
            issue("Name", format!("`{}` is defined twice", conf.name));
        } else if window_names.contains(conf.name.as_str()) {
            issue(
                "Name",
                format!(
                    "`{}` is also a window feature's name (WindowFeatureConfs); both would write the same feature",
                    conf.name
                ),
            );
        }
        for t in &conf.event_types {
            if !config.event_conf.accepts(t) {
                issue("EventTypes", format!("`{t}` is not in EventConf.Types"));
            }
        }
        for (key, value) in [
            ("BatchSize", conf.batch_size as u64),
            ("Workers", conf.workers as u64),
            ("TimeoutMs", conf.timeout_ms),
        ] {
            if value == 0 {
                issue(key, "must be at least 1".into());
            }
        }
        let found = match conf.kind {
            EnricherType::TextEmbedding => check_text(conf, config),
            EnricherType::Onnx => check_onnx(conf, config),
        };
        for (key, reason) in found {
            issue(&key, reason);
        }
    }
    issues
}

/// The keys of a text embedding enricher.
fn check_text(conf: &EnricherConf, config: &CascadeConfig) -> Vec<(String, String)> {
    let mut found = not_for(
        "text_embedding",
        &[
            ("ModelPath", conf.model_path.is_some()),
            ("Features", !conf.features.is_empty()),
            ("Default", conf.default.is_some()),
        ],
    );
    match conf.text_input() {
        TextInput::EventText if !conf.fields.is_empty() => found.push((
            "Fields".into(),
            "Input `event_text` embeds the event's text; leave Fields out".into(),
        )),
        TextInput::EventText => {}
        TextInput::ItemText => {
            let fields = conf.text_fields(config);
            if fields.is_empty() {
                found.push((
                    "Fields".into(),
                    "names no item field to embed (and TextEncoderConf names none)".into(),
                ));
            }
            let schema = &config.item_schema;
            for (i, field) in fields.iter().enumerate() {
                if !schema.fields.contains_key(field) && !schema.allow_undeclared_fields {
                    found.push((
                        format!("Fields[{i}]"),
                        format!("`{field}` is not declared in ItemSchema.Fields"),
                    ));
                }
            }
        }
    }
    found
}

/// The keys of an ONNX enricher.
fn check_onnx(conf: &EnricherConf, config: &CascadeConfig) -> Vec<(String, String)> {
    let mut found = not_for(
        "onnx",
        &[
            ("Fields", !conf.fields.is_empty()),
            ("Input", conf.input.is_some()),
            ("ModelDir", conf.model_dir.is_some()),
        ],
    );
    if conf.model_path.is_none() {
        found.push((
            "ModelPath".into(),
            "an onnx enricher needs its model file".into(),
        ));
    }
    if conf.features.is_empty() {
        found.push(("Features".into(), "names no model input".into()));
    }
    let schema = &config.item_schema;
    for (i, name) in conf.features.iter().enumerate() {
        let reason = match OnnxInput::parse(name) {
            OnnxInput::ItemField(field) => match schema.fields.get(field) {
                Some(FieldType::Numeric) => None,
                Some(other) => Some(format!(
                    "`{field}` is a {other:?} field; only numeric item fields are model inputs"
                )),
                None if schema.allow_undeclared_fields && !field.is_empty() => None,
                None => Some(format!("`{field}` is not declared in ItemSchema.Fields")),
            },
            OnnxInput::Window(feature) => {
                let window = config
                    .window_feature_confs
                    .iter()
                    .find(|w| w.name == feature);
                match window {
                    None => Some(format!(
                        "`{feature}` is neither a window feature (WindowFeatureConfs) nor `item.<field>`"
                    )),
                    Some(w) if matches!(w.key.0.as_slice(), [Selector::User | Selector::Item]) => {
                        None
                    }
                    Some(_) => Some(format!(
                        "`{feature}` is not kept per user or per item, so an event cannot name its value"
                    )),
                }
            }
        };
        if let Some(reason) = reason {
            found.push((format!("Features[{i}]"), reason));
        }
    }
    found
}

/// An issue for each key in `keys` that is set though a `kind` enricher does not read it.
fn not_for(kind: &str, keys: &[(&str, bool)]) -> Vec<(String, String)> {
    keys.iter()
        .filter(|(_, set)| *set)
        .map(|(key, _)| {
            (
                (*key).to_string(),
                format!("the {kind} type does not read it"),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(enrichers: &str) -> Result<CascadeConfig, String> {
        CascadeConfig::parse(&format!(
            r#"{{
                "ItemSchema": {{"Fields": {{"title": "text", "price": "numeric", "tag": "keyword"}},
                               "Embeddings": {{"text_vec": 384}}, "AllowUndeclaredFields": false}},
                "TextEncoderConf": {{"Embedding": "text_vec", "Fields": ["title"]}},
                "WindowFeatureConfs": [
                    {{"Name": "user_clicks", "Key": "user", "Window": {{"Type": "global"}},
                      "Aggregation": {{"Type": "count"}}}},
                    {{"Name": "by_device", "Key": "context:device", "Window": {{"Type": "global"}},
                      "Aggregation": {{"Type": "count"}}}}
                ],
                "EnricherConfs": {enrichers}
            }}"#
        ))
        .map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_the_text_encoder_fields() {
        let config = parse(
            r#"[{"Name": "item_vec", "Type": "text_embedding", "Key": "item"},
                {"Name": "score", "Type": "onnx", "Key": "user", "ModelPath": "m.onnx",
                 "Features": ["user_clicks", "item.price"], "Default": 0.5}]"#,
        );
        let config = config.unwrap();
        let text = &config.enricher_confs[0];
        assert_eq!(
            (
                text.batch_size,
                text.max_wait_ms,
                text.timeout_ms,
                text.workers
            ),
            (16, 5, 1000, 1)
        );
        assert_eq!(text.text_fields(&config), ["title".to_string()]);
        assert_eq!(text.text_input(), TextInput::ItemText);
        let onnx = &config.enricher_confs[1];
        assert_eq!(onnx.default, Some(0.5));
        let inputs: Vec<OnnxInput<'_>> =
            onnx.features.iter().map(|f| OnnxInput::parse(f)).collect();
        assert_eq!(
            inputs,
            [
                OnnxInput::Window("user_clicks"),
                OnnxInput::ItemField("price")
            ]
        );
    }

    #[test]
    fn problems_are_named_with_their_key_path() {
        let error = parse(
            r#"[{"Name": "user_clicks", "Type": "text_embedding", "Key": "item",
                 "Fields": ["nope"], "BatchSize": 0, "Default": 1},
                {"Name": "s", "Type": "onnx", "Key": "user", "Input": "event_text",
                 "Features": ["missing", "by_device", "item.tag", "item.nope"]}]"#,
        )
        .unwrap_err();
        for expected in [
            "EnricherConfs[0].Name`: `user_clicks` is also a window feature",
            "EnricherConfs[0].Fields[0]`: `nope` is not declared",
            "EnricherConfs[0].BatchSize`: must be at least 1",
            "EnricherConfs[0].Default`: the text_embedding type does not read it",
            "EnricherConfs[1].Input`: the onnx type does not read it",
            "EnricherConfs[1].ModelPath`: an onnx enricher needs its model file",
            "EnricherConfs[1].Features[0]`: `missing` is neither a window feature",
            "EnricherConfs[1].Features[1]`: `by_device` is not kept per user or per item",
            "EnricherConfs[1].Features[2]`: `tag` is a Keyword field",
            "EnricherConfs[1].Features[3]`: `nope` is not declared",
        ] {
            assert!(error.contains(expected), "{expected} in {error}");
        }
        let error =
            parse(r#"[{"Name": "x", "Type": "text_embedding", "Key": "shop"}]"#).unwrap_err();
        assert!(error.contains("EnricherConfs[0].Key"), "{error}");
    }
}
