//! Window features on the stream: an [`EventObserver`] that feeds every configured feature,
//! writes changed values to the feature store, and checkpoints the features' state together
//! with the log position it covers.
//!
//! Restart: [`WindowObserver::restore`] loads the checkpoint and returns the position to resume
//! from (`StreamRuntime::start_from`). Events before that position are ignored even if they are
//! replayed, so nothing is counted twice.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cascade_core::config::WindowFeatureConf;
use cascade_core::{Event, EventObserver, EventTypes};
use cascade_store::{FeatureKey, FeatureStore, FeatureValue, FeatureWrite, StoreError};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::build::build;
use super::feature::WindowFeature;
use super::select::ItemFields;

/// The name the checkpoint is saved under in the feature store.
pub const CHECKPOINT_NAME: &str = "window-features";
/// Changed values are written at least every this many events (and whenever the observer
/// has caught up with the log).
const FLUSH_EVERY: u64 = 10_000;
/// The most values written in one store round trip.
const WRITE_CHUNK: usize = 10_000;

/// Why window state could not be saved or restored.
#[derive(Debug, thiserror::Error)]
pub enum WindowError {
    /// The feature store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The checkpoint could not be encoded or decoded.
    #[error("window checkpoint: {0}")]
    Checkpoint(#[from] serde_json::Error),
}

#[derive(Serialize, Deserialize)]
struct Checkpoint {
    /// The next log position to apply.
    position: u64,
    /// The feature configurations the states belong to.
    confs: serde_json::Value,
    /// One state per feature, in configuration order.
    states: Vec<serde_json::Value>,
}

struct Inner {
    features: Vec<Box<dyn WindowFeature>>,
    position: u64,
    unflushed: u64,
    last_checkpoint: Instant,
}

/// Keeps the configured window features fresh from the event log.
pub struct WindowObserver {
    inner: Mutex<Inner>,
    store: Arc<dyn FeatureStore>,
    durable: watch::Receiver<u64>,
    /// The log position every event before which has its effect in the store.
    flushed: watch::Sender<u64>,
    checkpoint_every: Duration,
    confs: serde_json::Value,
}

impl WindowObserver {
    /// Builds the features of `confs`; values go to `store`, a checkpoint at most every
    /// `checkpoint_every`; `durable` is the log's length (`EventLog::durable_len`), so
    /// values are written as soon as the observer catches up.
    pub fn new(
        confs: &[WindowFeatureConf],
        types: &EventTypes,
        fields: Arc<dyn ItemFields>,
        store: Arc<dyn FeatureStore>,
        checkpoint_every: Duration,
        durable: watch::Receiver<u64>,
    ) -> Self {
        let features = confs
            .iter()
            .map(|conf| build(conf, types, fields.clone()))
            .collect();
        Self {
            inner: Mutex::new(Inner {
                features,
                position: 0,
                unflushed: 0,
                last_checkpoint: Instant::now(),
            }),
            store,
            durable,
            flushed: watch::Sender::new(0),
            checkpoint_every,
            confs: serde_json::to_value(confs).unwrap_or_default(),
        }
    }

    /// Loads the saved checkpoint, if it belongs to the same feature configuration, and
    /// returns the log position to resume from (0 without a usable checkpoint).
    pub fn restore(&self) -> Result<u64, WindowError> {
        let Some(bytes) = self.store.load_checkpoint(CHECKPOINT_NAME)? else {
            return Ok(0);
        };
        let checkpoint: Checkpoint = serde_json::from_slice(&bytes)?;
        if checkpoint.confs != self.confs {
            tracing::warn!("window features changed since the checkpoint; replaying the log");
            return Ok(0);
        }
        let mut inner = self.inner.lock();
        for (feature, state) in inner.features.iter_mut().zip(checkpoint.states) {
            feature.load(state)?;
        }
        inner.position = checkpoint.position;
        self.flushed.send_replace(checkpoint.position);
        Ok(checkpoint.position)
    }

    /// The next log position to apply.
    pub fn position(&self) -> u64 {
        self.inner.lock().position
    }

    /// The current value of `feature` for `key`, straight from memory.
    pub fn current(&self, feature: &str, key: &str) -> Option<FeatureValue> {
        let inner = self.inner.lock();
        let found = inner.features.iter().find(|f| f.name() == feature)?;
        found.current(key)
    }

    /// The log position up to which every event's effect has been written to the store
    /// (events before it are readable there); it moves after each completed write.
    pub fn flushed(&self) -> watch::Receiver<u64> {
        self.flushed.subscribe()
    }

    /// Writes every changed value to the feature store.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.flush_locked(&mut self.inner.lock())
    }

    /// Writes changed values, then saves the state with the position it covers; returns that position.
    pub fn checkpoint(&self) -> Result<u64, WindowError> {
        self.checkpoint_locked(&mut self.inner.lock())
    }

    fn flush_locked(&self, inner: &mut Inner) -> Result<(), StoreError> {
        inner.unflushed = 0;
        let mut changes: Vec<(usize, String, Option<FeatureValue>)> = Vec::new();
        for (i, feature) in inner.features.iter_mut().enumerate() {
            feature.drain_changes(&mut |key, value| changes.push((i, key.to_owned(), value)));
        }
        let features = &inner.features;
        let writes: Vec<FeatureWrite<'_>> = changes
            .iter_mut()
            .map(|(i, entity, value)| FeatureWrite {
                key: FeatureKey {
                    feature: features[*i].name(),
                    entity,
                },
                value: value.take(),
            })
            .collect();
        writes
            .chunks(WRITE_CHUNK)
            .try_for_each(|chunk| self.store.write(chunk))?;
        self.flushed.send_replace(inner.position);
        Ok(())
    }

    fn checkpoint_locked(&self, inner: &mut Inner) -> Result<u64, WindowError> {
        self.flush_locked(inner)?;
        let checkpoint = Checkpoint {
            position: inner.position,
            confs: self.confs.clone(),
            states: inner
                .features
                .iter()
                .map(|f| f.save())
                .collect::<Result<_, _>>()?,
        };
        self.store
            .save_checkpoint(CHECKPOINT_NAME, &serde_json::to_vec(&checkpoint)?)?;
        inner.last_checkpoint = Instant::now();
        Ok(inner.position)
    }
}

impl EventObserver for WindowObserver {
    fn observe(&self, seq: u64, event: &Event) {
        let mut inner = self.inner.lock();
        if seq < inner.position {
            return;
        }
        for feature in &mut inner.features {
            feature.observe(seq, event);
        }
        inner.position = seq + 1;
        inner.unflushed += 1;
        if inner.unflushed < FLUSH_EVERY && inner.position < *self.durable.borrow() {
            return;
        }
        let result = if inner.last_checkpoint.elapsed() >= self.checkpoint_every {
            self.checkpoint_locked(&mut inner).map(drop)
        } else {
            self.flush_locked(&mut inner).map_err(WindowError::from)
        };
        if let Err(error) = result {
            metrics::counter!("cascade_window_store_errors_total").increment(1);
            tracing::error!(%error, "writing window features failed");
        }
    }
}
