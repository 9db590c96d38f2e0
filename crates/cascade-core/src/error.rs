//! Validation errors that name the record, the field and the reason.

use serde::Serialize;

/// One problem with one field of one input record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldError {
    /// Position of the record in its batch (0-based), or `None` for a single record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// Dotted path of the offending field, e.g. `context.position`; empty for the whole record.
    pub field: String,
    /// What is wrong, in words a caller can act on.
    pub reason: String,
}

impl FieldError {
    /// A field error for a record outside any batch.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            index: None,
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The same error, attributed to the record at `index` of a batch.
    pub fn at(mut self, index: usize) -> Self {
        self.index = Some(index);
        self
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(index) = self.index {
            write!(f, "record {index}: ")?;
        }
        if self.field.is_empty() {
            write!(f, "{}", self.reason)
        } else {
            write!(f, "field `{}`: {}", self.field, self.reason)
        }
    }
}

/// A record (or a batch of records) that failed validation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", summarize(.0))]
pub struct ValidationError(pub Vec<FieldError>);

impl From<FieldError> for ValidationError {
    fn from(error: FieldError) -> Self {
        Self(vec![error])
    }
}

fn summarize(errors: &[FieldError]) -> String {
    match errors {
        [] => "invalid input".to_string(),
        [only] => only.to_string(),
        [first, rest @ ..] => format!("{first} (and {} more)", rest.len()),
    }
}
