//! Validated records into the store, in batches.

use cascade_core::config::CascadeConfig;
use cascade_core::time::now_ms;
use cascade_core::validate::{parse_event, parse_item, parse_user};
use cascade_core::{Event, FieldError, Item, User};
use cascade_retrieval::ItemEmbedder;
use cascade_store::Stores;

use super::{Destination, Kind, Summary};

const EVENT_BATCH: usize = 10_000;
const RECORD_BATCH: usize = 2_000;

/// Validates records and writes them in batches.
pub struct Sink<'a> {
    kind: Kind,
    config: &'a CascadeConfig,
    stores: &'a Stores,
    embedder: Option<&'a ItemEmbedder>,
    now: i64,
    events: Vec<Event>,
    items: Vec<Item>,
    users: Vec<User>,
    summary: Summary,
}

impl<'a> Sink<'a> {
    /// A sink for records of `kind`.
    pub fn new(kind: Kind, destination: &Destination<'a>) -> Self {
        Self {
            kind,
            config: destination.config,
            stores: destination.stores,
            embedder: destination.embedder,
            now: now_ms(),
            events: Vec::new(),
            items: Vec::new(),
            users: Vec::new(),
            summary: Summary::default(),
        }
    }

    /// Takes the record read from `line` (or the reason it could not be read).
    pub fn push(
        &mut self,
        line: u64,
        record: Result<serde_json::Value, FieldError>,
    ) -> anyhow::Result<()> {
        self.summary.read += 1;
        let value = match record {
            Ok(value) => value,
            Err(error) => {
                self.summary.reject(line, &[error]);
                return Ok(());
            }
        };
        let parsed = match self.kind {
            Kind::Events => {
                parse_event(value, &self.config.event_conf, self.now).map(|e| self.events.push(e))
            }
            Kind::Items => {
                parse_item(value, &self.config.item_schema, None).map(|i| self.items.push(i))
            }
            Kind::Users => parse_user(value, None).map(|u| self.users.push(u)),
        };
        if let Err(errors) = parsed {
            self.summary.reject(line, &errors);
        }
        self.flush_full()
    }

    fn flush_full(&mut self) -> anyhow::Result<()> {
        if self.events.len() >= EVENT_BATCH
            || self.items.len() >= RECORD_BATCH
            || self.users.len() >= RECORD_BATCH
        {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        if !self.events.is_empty() {
            let outcome = self
                .stores
                .events
                .append(std::mem::take(&mut self.events))
                .wait_blocking()?;
            self.summary.accepted += outcome.accepted as u64;
            self.summary.duplicates += outcome.duplicates.len() as u64;
        }
        if !self.items.is_empty() {
            if let Some(embedder) = self.embedder {
                self.summary.embedded += embedder.fill(&mut self.items)? as u64;
            }
            self.stores.items.upsert_items(&self.items)?;
            self.summary.accepted += self.items.len() as u64;
            self.items.clear();
        }
        if !self.users.is_empty() {
            self.stores.users.upsert_users(&self.users)?;
            self.summary.accepted += self.users.len() as u64;
            self.users.clear();
        }
        Ok(())
    }

    /// Writes what is left and returns the summary.
    pub fn finish(mut self) -> anyhow::Result<Summary> {
        self.flush()?;
        Ok(self.summary)
    }
}
