//! Items: the things Cascade recommends, with typed fields and named embeddings.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::FieldError;
use crate::time::{TimestampMs, seconds_mistake};
use crate::validate::{BOUNDED_NUMBER, bounded};

/// The declared type of an item field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    /// Free text, tokenised for search.
    Text,
    /// An exact-match string such as a category or an author.
    Keyword,
    /// A number (stored as f64).
    Numeric,
    /// A list of exact-match strings.
    Tags,
    /// Milliseconds since the Unix epoch.
    Timestamp,
}

impl FieldType {
    /// The lower-case name used in configs and error messages.
    pub fn name(self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Keyword => "keyword",
            FieldType::Numeric => "numeric",
            FieldType::Tags => "tags",
            FieldType::Timestamp => "timestamp",
        }
    }
}

/// A typed field value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldValue {
    /// Free text.
    Text(String),
    /// An exact-match string.
    Keyword(String),
    /// A number.
    Numeric(f64),
    /// A list of exact-match strings.
    Tags(Vec<String>),
    /// Milliseconds since the Unix epoch.
    Timestamp(TimestampMs),
}

impl FieldValue {
    /// The type of this value.
    pub fn field_type(&self) -> FieldType {
        match self {
            FieldValue::Text(_) => FieldType::Text,
            FieldValue::Keyword(_) => FieldType::Keyword,
            FieldValue::Numeric(_) => FieldType::Numeric,
            FieldValue::Tags(_) => FieldType::Tags,
            FieldValue::Timestamp(_) => FieldType::Timestamp,
        }
    }

    /// The bytes the value holds, as the size limits count them: a string's length, a tag
    /// list's lengths plus one per tag (so that empty tags are not free), 8 for a number.
    pub fn size_bytes(&self) -> usize {
        match self {
            FieldValue::Text(s) | FieldValue::Keyword(s) => s.len(),
            FieldValue::Tags(tags) => tags.iter().map(|tag| tag.len() + 1).sum(),
            FieldValue::Numeric(_) | FieldValue::Timestamp(_) => 8,
        }
    }

    /// The value as plain JSON, the shape the API reads and writes.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            FieldValue::Text(s) | FieldValue::Keyword(s) => serde_json::Value::from(s.as_str()),
            FieldValue::Numeric(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => {
                serde_json::Value::from(*n as i64)
            }
            FieldValue::Numeric(n) => serde_json::Value::from(*n),
            FieldValue::Tags(tags) => serde_json::Value::from(tags.clone()),
            FieldValue::Timestamp(t) => serde_json::Value::from(*t),
        }
    }

    /// Reads a plain JSON value as `expected`, or infers a type when none is declared
    /// (string → text, number → numeric, list of strings → tags). Numbers are bounded by
    /// [`MAX_NUMBER_MAGNITUDE`](crate::validate::MAX_NUMBER_MAGNITUDE); a timestamp that looks
    /// like seconds is refused.
    pub fn from_json(
        field: &str,
        value: &serde_json::Value,
        expected: Option<FieldType>,
    ) -> Result<Self, FieldError> {
        use serde_json::Value;
        let wrong = |what: &str| {
            FieldError::new(field, format!("expected {what}, got {}", json_kind(value)))
        };
        match (expected, value) {
            (Some(FieldType::Text) | None, Value::String(s)) => Ok(FieldValue::Text(s.clone())),
            (Some(FieldType::Keyword), Value::String(s)) => Ok(FieldValue::Keyword(s.clone())),
            (Some(FieldType::Numeric) | None, Value::Number(n)) => n
                .as_f64()
                .and_then(bounded)
                .map(FieldValue::Numeric)
                .ok_or_else(|| wrong(BOUNDED_NUMBER)),
            (Some(FieldType::Timestamp), Value::Number(n)) => {
                let timestamp = n
                    .as_i64()
                    .ok_or_else(|| wrong("an integer timestamp in milliseconds"))?;
                match seconds_mistake(timestamp) {
                    Some(reason) => Err(FieldError::new(field, reason)),
                    None => Ok(FieldValue::Timestamp(timestamp)),
                }
            }
            (Some(FieldType::Tags) | None, Value::Array(values)) => values
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .map(FieldValue::Tags)
                .ok_or_else(|| wrong("a list of strings")),
            (Some(FieldType::Text), _) => Err(wrong("a string")),
            (Some(FieldType::Keyword), _) => Err(wrong("a string")),
            (Some(FieldType::Numeric), _) => Err(wrong("a number")),
            (Some(FieldType::Timestamp), _) => Err(wrong("an integer timestamp in milliseconds")),
            (Some(FieldType::Tags), _) => Err(wrong("a list of strings")),
            (None, _) => Err(wrong("a string, a number or a list of strings")),
        }
    }

    /// Reads a text cell (from CSV) as `kind`; tags are split on `tag_separator`.
    pub fn from_text(
        field: &str,
        text: &str,
        kind: FieldType,
        tag_separator: char,
    ) -> Result<Self, FieldError> {
        let parse_number = || {
            let number = text
                .trim()
                .parse::<f64>()
                .map_err(|_| FieldError::new(field, format!("`{text}` is not a number")))?;
            bounded(number)
                .ok_or_else(|| FieldError::new(field, format!("`{text}` is not {BOUNDED_NUMBER}")))
        };
        Ok(match kind {
            FieldType::Text => FieldValue::Text(text.to_owned()),
            FieldType::Keyword => FieldValue::Keyword(text.to_owned()),
            FieldType::Numeric => FieldValue::Numeric(parse_number()?),
            FieldType::Timestamp => FieldValue::Timestamp(parse_number()? as TimestampMs),
            FieldType::Tags => FieldValue::Tags(
                text.split(tag_separator)
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned)
                    .collect(),
            ),
        })
    }
}

/// The Euclidean length of `vector` (in `f32`, as the ANN index computes it), when it gives the
/// vector a direction: finite and neither zero nor so small that dividing by it overflows.
/// Cosine similarity needs one.
pub fn direction_norm(vector: &[f32]) -> Option<f32> {
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    norm.is_normal().then_some(norm)
}

/// The JSON kind of a value, for error messages.
pub fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Something Cascade can recommend or find.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// The caller's id for the item.
    pub id: String,
    /// Typed fields by name.
    #[serde(default)]
    pub fields: BTreeMap<String, FieldValue>,
    /// Named embedding vectors; every vector of one name has the dimension the schema declares.
    #[serde(default)]
    pub embeddings: BTreeMap<String, Vec<f32>>,
}

impl Item {
    /// The item as plain JSON, the shape the API reads and writes.
    pub fn to_json(&self) -> serde_json::Value {
        let fields: serde_json::Map<String, serde_json::Value> = self
            .fields
            .iter()
            .map(|(name, value)| (name.clone(), value.to_json()))
            .collect();
        serde_json::json!({"id": self.id, "fields": fields, "embeddings": self.embeddings})
    }
}

/// The declared shape of items: field types and embedding dimensions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ItemSchema {
    /// Declared field types by field name.
    #[serde(default)]
    pub fields: BTreeMap<String, FieldType>,
    /// Declared embedding dimensions by embedding name. Only declared embeddings are accepted.
    #[serde(default)]
    pub embeddings: BTreeMap<String, usize>,
    /// Whether fields that are not declared are accepted (with an inferred type).
    #[serde(default = "yes")]
    pub allow_undeclared_fields: bool,
}

fn yes() -> bool {
    true
}

impl Default for ItemSchema {
    fn default() -> Self {
        Self {
            fields: BTreeMap::new(),
            embeddings: BTreeMap::new(),
            allow_undeclared_fields: true,
        }
    }
}

impl ItemSchema {
    /// The declared type of `field`, if any.
    pub fn field_type(&self, field: &str) -> Option<FieldType> {
        self.fields.get(field).copied()
    }
}
