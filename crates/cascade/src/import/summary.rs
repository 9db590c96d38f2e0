//! What an import did: counts, and the reasons rows were rejected.

use std::collections::BTreeMap;

use cascade_core::FieldError;

/// How many rejections are quoted in full.
const QUOTED_REJECTIONS: usize = 10;

/// Counts of an import, and why rows were rejected.
#[derive(Debug, Default)]
pub struct Summary {
    /// Rows read.
    pub read: u64,
    /// Rows stored.
    pub accepted: u64,
    /// Event rows already in the log (by event id).
    pub duplicates: u64,
    /// Rows refused.
    pub rejected: u64,
    /// Items whose text embedding the import computed.
    pub embedded: u64,
    /// Rejections per field.
    pub rejected_by_field: BTreeMap<String, u64>,
    /// The first rejections, as `line N: reason`.
    pub first_rejections: Vec<String>,
}

impl Summary {
    /// Records that the row on `line` was refused for `errors`.
    pub fn reject(&mut self, line: u64, errors: &[FieldError]) {
        self.rejected += 1;
        for error in errors {
            let field = if error.field.is_empty() {
                "(record)"
            } else {
                &error.field
            };
            *self.rejected_by_field.entry(field.to_string()).or_default() += 1;
            if self.first_rejections.len() < QUOTED_REJECTIONS {
                self.first_rejections.push(format!("line {line}: {error}"));
            }
        }
    }

    /// A human-readable report.
    pub fn report(&self, what: &str) -> String {
        let mut out = format!(
            "{what}: {} rows read, {} accepted, {} duplicates, {} rejected",
            self.read, self.accepted, self.duplicates, self.rejected
        );
        if self.embedded > 0 {
            out.push_str(&format!(", {} text embeddings computed", self.embedded));
        }
        if self.rejected > 0 {
            out.push_str("\n  rejections by field:");
            for (field, count) in &self.rejected_by_field {
                out.push_str(&format!(" {field}: {count};"));
            }
            out.push_str("\n  first rejections:");
            for rejection in &self.first_rejections {
                out.push_str(&format!("\n    {rejection}"));
            }
        }
        out
    }
}
