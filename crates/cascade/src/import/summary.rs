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

    /// Refuses an import of `what` that stored nothing (no row read, or every row rejected),
    /// and one that rejected any row unless `allow_rejections`. Rows already stored (duplicate
    /// events) count as imported, so importing a file again succeeds.
    pub fn check(&self, what: &str, allow_rejections: bool) -> anyhow::Result<()> {
        let imported = self.accepted + self.duplicates;
        anyhow::ensure!(self.read > 0, "{what} holds no rows: nothing was imported");
        anyhow::ensure!(
            imported > 0,
            "every row of {what} was rejected ({} rows): nothing was imported",
            self.rejected
        );
        anyhow::ensure!(
            self.rejected == 0 || allow_rejections,
            "{} of the {} rows of {what} were rejected (the other {imported} are stored); fix \
             them and import the file again, or pass --allow-rejections to accept a partial \
             import",
            self.rejected,
            self.read
        );
        Ok(())
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
