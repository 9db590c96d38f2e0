//! Users: the people Cascade recommends to.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::item::FieldValue;

/// A user and their attributes (age band, country, declared interests …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// The caller's id for the user.
    pub id: String,
    /// Attributes by name, typed as item fields are (types inferred).
    #[serde(default)]
    pub attributes: BTreeMap<String, FieldValue>,
}

impl User {
    /// The user as plain JSON, the shape the API reads and writes.
    pub fn to_json(&self) -> serde_json::Value {
        let attributes: serde_json::Map<String, serde_json::Value> = self
            .attributes
            .iter()
            .map(|(name, value)| (name.clone(), value.to_json()))
            .collect();
        serde_json::json!({"id": self.id, "attributes": attributes})
    }
}
