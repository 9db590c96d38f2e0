//! Window features on the stream: an [`EventObserver`] that feeds every configured feature on
//! the stream thread, while a writer thread of its own writes the changed values to the
//! feature store and checkpoints the features' state together with the log position.
//!
//! Writes: the features keep one change mark per key, so while a write is in progress the
//! changes that arrive meanwhile coalesce (a key updated 100 times is written once, with its
//! latest value). Once events wait to be written, the writer gives the stream up to
//! [`MAX_BATCH_DELAY`] to catch up with the log, then drains what changed (under the state's
//! lock, briefly) and writes it in one batch: as small as one commit's events when the stream
//! keeps up, as large as the set of changed keys when the store is slower than the stream.
//! The stream thread never waits on the store. [`WindowObserver::flushed`] moves only after a write has completed, so
//! it measures acknowledgement → readable.
//!
//! Checkpoints: every `checkpoint_every` the writer takes a copy of the state with the
//! position it covers (after draining the changes up to that position, so the copy and the
//! values written agree), writes those values, and a checkpoint thread serialises the copy and
//! saves it durably (in the embedded store that commit also makes every earlier value write
//! durable). The stream thread pays only for the copy.
//!
//! Restart: [`WindowObserver::restore`] loads the checkpoint and returns the position to resume
//! from (`StreamRuntime::start_from`). Events before that position are ignored even if they are
//! replayed, so nothing is counted twice; values written after the checkpoint by a process that
//! crashed are absolute aggregates, re-derived from the log after the position and rewritten.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cascade_core::config::WindowFeatureConf;
use cascade_core::{Event, EventObserver, EventTypes};
use cascade_store::{FeatureKey, FeatureStore, FeatureValue, FeatureWrite, StoreError};
use parking_lot::{Condvar, Mutex};
use serde::Deserialize;
use tokio::sync::watch;

use super::build::build;
use super::feature::{StateSnapshot, WindowFeature};
use super::select::ItemFields;

/// The name the checkpoint is saved under in the feature store.
pub const CHECKPOINT_NAME: &str = "window-features";
/// The most values written in one store round trip.
const WRITE_CHUNK: usize = 10_000;
/// How long the writer waits, once events are waiting to be written, for the stream to catch
/// up with the log before it writes what it has (so one write covers a whole commit).
const MAX_BATCH_DELAY: Duration = Duration::from_millis(5);

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

/// A saved checkpoint, as read back (see [`encode_checkpoint`] for the writing side).
#[derive(Deserialize)]
struct Checkpoint {
    /// The next log position to apply.
    position: u64,
    /// The feature configurations the states belong to.
    confs: serde_json::Value,
    /// One state per feature, in configuration order.
    states: Vec<serde_json::Value>,
}

/// The JSON of a [`Checkpoint`], written from the features' snapshots without an intermediate
/// `serde_json::Value` of the whole state.
fn encode_checkpoint(
    position: u64,
    confs: &serde_json::Value,
    states: Vec<StateSnapshot>,
) -> Result<Vec<u8>, serde_json::Error> {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"{\"position\":");
    serde_json::to_writer(&mut bytes, &position)?;
    bytes.extend_from_slice(b",\"confs\":");
    serde_json::to_writer(&mut bytes, confs)?;
    bytes.extend_from_slice(b",\"states\":[");
    for (i, state) in states.into_iter().enumerate() {
        if i > 0 {
            bytes.push(b',');
        }
        state(&mut bytes)?;
    }
    bytes.extend_from_slice(b"]}");
    Ok(bytes)
}

/// The features' state, shared by the stream thread (which applies events) and whoever drains
/// changes (the writer thread, or a caller of `flush`/`checkpoint`).
struct Inner {
    features: Vec<Box<dyn WindowFeature>>,
    /// The next log position to apply.
    position: u64,
    /// The position up to which changes have been drained for writing.
    drained: u64,
    last_checkpoint: Instant,
    /// Set when the observer is dropped: the writer ends.
    stop: bool,
}

/// Whether a write also takes a checkpoint copy of the state.
#[derive(Clone, Copy, PartialEq)]
enum Snapshotting {
    /// No copy (an explicit flush).
    Never,
    /// When `checkpoint_every` has passed and no background checkpoint is being saved.
    IfDue,
    /// Always (an explicit checkpoint).
    Always,
}

/// The state's copy at `position`, to be saved.
struct Snapshot {
    position: u64,
    states: Vec<StateSnapshot>,
}

/// What the stream thread, the writer thread and the checkpoint threads share.
struct Shared {
    inner: Mutex<Inner>,
    /// Wakes the writer: events were applied, or the observer is stopping.
    wake: Condvar,
    /// Held from draining changes to the end of their write, so writes land in drain order.
    writing: Mutex<()>,
    /// The position of the newest checkpoint saved (an older copy is never saved over it).
    saved: Mutex<u64>,
    /// The checkpoint being saved in the background, if any.
    background: Mutex<Option<JoinHandle<()>>>,
    store: Arc<dyn FeatureStore>,
    /// The log's length: the stream has caught up once the position reaches it.
    durable: watch::Receiver<u64>,
    /// The log position every event before which has its effect in the store.
    flushed: watch::Sender<u64>,
    checkpoint_every: Duration,
    confs: serde_json::Value,
    /// The features' names, in configuration order (the features' order).
    names: Vec<String>,
}

/// Keeps the configured window features fresh from the event log.
pub struct WindowObserver {
    shared: Arc<Shared>,
    writer: Option<JoinHandle<()>>,
}

impl WindowObserver {
    /// Builds the features of `confs`; values go to `store` from a writer thread, a checkpoint
    /// at most every `checkpoint_every`; `durable` is the log's length
    /// (`EventLog::durable_len`): a write waits (briefly) for the stream to catch up with it.
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
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                features,
                position: 0,
                drained: 0,
                last_checkpoint: Instant::now(),
                stop: false,
            }),
            wake: Condvar::new(),
            writing: Mutex::new(()),
            saved: Mutex::new(0),
            background: Mutex::new(None),
            store,
            durable,
            flushed: watch::Sender::new(0),
            checkpoint_every,
            confs: serde_json::to_value(confs).unwrap_or_default(),
            names: confs.iter().map(|conf| conf.name.clone()).collect(),
        });
        let writer = {
            let shared = shared.clone();
            cascade_core::background::spawn("cascade-window-writer", move || {
                shared.write_while_running()
            })
        };
        let writer = writer
            .inspect_err(|error| {
                tracing::error!(%error, "cannot start the window feature writer; values are written by flush and checkpoint only");
            })
            .ok();
        Self { shared, writer }
    }

    /// Loads the saved checkpoint, if it belongs to the same feature configuration, and
    /// returns the log position to resume from (0 without a usable checkpoint).
    pub fn restore(&self) -> Result<u64, WindowError> {
        let shared = &self.shared;
        let Some(bytes) = shared.store.load_checkpoint(CHECKPOINT_NAME)? else {
            return Ok(0);
        };
        let checkpoint: Checkpoint = serde_json::from_slice(&bytes)?;
        if checkpoint.confs != shared.confs {
            tracing::warn!("window features changed since the checkpoint; replaying the log");
            return Ok(0);
        }
        let _writing = shared.writing.lock();
        let mut inner = shared.inner.lock();
        for (feature, state) in inner.features.iter_mut().zip(checkpoint.states) {
            feature.load(state)?;
        }
        inner.position = checkpoint.position;
        inner.drained = checkpoint.position;
        *shared.saved.lock() = checkpoint.position;
        shared.flushed.send_replace(checkpoint.position);
        Ok(checkpoint.position)
    }

    /// The next log position to apply.
    pub fn position(&self) -> u64 {
        self.shared.inner.lock().position
    }

    /// The current value of `feature` for `key`, straight from memory.
    pub fn current(&self, feature: &str, key: &str) -> Option<FeatureValue> {
        let inner = self.shared.inner.lock();
        let found = inner.features.iter().find(|f| f.name() == feature)?;
        found.current(key)
    }

    /// The log position up to which every event's effect has been written to the store
    /// (events before it are readable there); it moves after each completed write.
    pub fn flushed(&self) -> watch::Receiver<u64> {
        self.shared.flushed.subscribe()
    }

    /// Writes every changed value to the feature store now, on this thread.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.shared.write_changes(Snapshotting::Never).map(drop)
    }

    /// Writes changed values, then saves the state with the position it covers, on this
    /// thread; returns that position.
    pub fn checkpoint(&self) -> Result<u64, WindowError> {
        let shared = &self.shared;
        let (position, snapshot) = shared.write_changes(Snapshotting::Always)?;
        if let Some(snapshot) = snapshot {
            shared.save(snapshot)?;
        }
        Ok(position)
    }
}

impl Shared {
    /// The writer thread: writes whatever changed whenever events were applied since the last
    /// drain, until the observer is dropped.
    fn write_while_running(self: Arc<Self>) {
        loop {
            {
                let mut inner = self.inner.lock();
                while inner.position == inner.drained && !inner.stop {
                    self.wake.wait(&mut inner);
                }
                let deadline = Instant::now() + MAX_BATCH_DELAY;
                while !self.caught_up(&inner) && !inner.stop {
                    if self.wake.wait_until(&mut inner, deadline).timed_out() {
                        break;
                    }
                }
                if inner.stop {
                    break;
                }
            }
            match self.write_changes(Snapshotting::IfDue) {
                Ok((_, Some(snapshot))) => self.save_in_background(snapshot),
                Ok((_, None)) => {}
                Err(error) => {
                    metrics::counter!("cascade_window_store_errors_total").increment(1);
                    tracing::error!(%error, "writing window features failed");
                }
            }
        }
        if let Some(saving) = self.background.lock().take() {
            let _ = saving.join();
        }
    }

    /// Whether the stream has applied every event in the log.
    fn caught_up(&self, inner: &Inner) -> bool {
        inner.position >= *self.durable.borrow()
    }

    /// Drains the changed values (and, per `snapshotting`, copies the state) up to the position
    /// applied, writes them, and moves `flushed` there; returns the position and the copy.
    fn write_changes(
        &self,
        snapshotting: Snapshotting,
    ) -> Result<(u64, Option<Snapshot>), StoreError> {
        let _writing = self.writing.lock();
        let mut changes: Vec<(usize, String, Option<FeatureValue>)> = Vec::new();
        let (position, snapshot) = {
            let mut inner = self.inner.lock();
            for (i, feature) in inner.features.iter_mut().enumerate() {
                feature.drain_changes(&mut |key, value| changes.push((i, key, value)));
            }
            inner.drained = inner.position;
            let snapshot = self.copy_if(snapshotting, &mut inner);
            (inner.position, snapshot)
        };
        // In key order: neighbouring keys share pages in the store.
        changes.sort_unstable_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        let writes: Vec<FeatureWrite<'_>> = changes
            .iter_mut()
            .map(|(i, entity, value)| FeatureWrite {
                key: FeatureKey {
                    feature: &self.names[*i],
                    entity,
                },
                value: value.take(),
            })
            .collect();
        writes
            .chunks(WRITE_CHUNK)
            .try_for_each(|chunk| self.store.write(chunk))?;
        self.flushed.send_replace(position);
        Ok((position, snapshot))
    }

    /// A copy of the state at the position applied, when `snapshotting` asks for one now.
    fn copy_if(&self, snapshotting: Snapshotting, inner: &mut Inner) -> Option<Snapshot> {
        let due = match snapshotting {
            Snapshotting::Never => false,
            Snapshotting::Always => true,
            Snapshotting::IfDue => {
                inner.last_checkpoint.elapsed() >= self.checkpoint_every
                    && self
                        .background
                        .lock()
                        .as_ref()
                        .is_none_or(JoinHandle::is_finished)
            }
        };
        if !due {
            return None;
        }
        inner.last_checkpoint = Instant::now();
        Some(Snapshot {
            position: inner.position,
            states: inner.features.iter().map(|f| f.snapshot()).collect(),
        })
    }

    /// Saves `snapshot` on a checkpoint thread of its own (this one if none can start).
    fn save_in_background(self: &Arc<Self>, snapshot: Snapshot) {
        let shared = self.clone();
        let mut background = self.background.lock();
        if let Some(done) = background.take() {
            let _ = done.join();
        }
        let started = cascade_core::background::spawn("cascade-window-checkpoint", move || {
            shared.save_reporting(snapshot)
        });
        match started {
            Ok(saving) => *background = Some(saving),
            Err(error) => tracing::error!(%error, "cannot start a window checkpoint thread"),
        }
    }

    fn save_reporting(&self, snapshot: Snapshot) {
        if let Err(error) = self.save(snapshot) {
            metrics::counter!("cascade_window_store_errors_total").increment(1);
            tracing::error!(%error, "saving the window checkpoint failed");
        }
    }

    /// Serialises `snapshot` and saves it durably, unless a newer checkpoint was saved already.
    fn save(&self, snapshot: Snapshot) -> Result<(), WindowError> {
        let bytes = encode_checkpoint(snapshot.position, &self.confs, snapshot.states)?;
        let mut saved = self.saved.lock();
        if snapshot.position >= *saved {
            self.store.save_checkpoint(CHECKPOINT_NAME, &bytes)?;
            *saved = snapshot.position;
        }
        Ok(())
    }
}

impl Drop for WindowObserver {
    fn drop(&mut self) {
        self.shared.inner.lock().stop = true;
        self.shared.wake.notify_all();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

impl EventObserver for WindowObserver {
    /// Applies `event`; wakes the writer at the first event since its last drain (it starts
    /// waiting for the stream to catch up) and once the stream has caught up with the log.
    fn observe(&self, seq: u64, event: &Event) {
        let shared = &self.shared;
        let wake = {
            let mut inner = shared.inner.lock();
            if seq < inner.position {
                return;
            }
            for feature in &mut inner.features {
                feature.observe(seq, event);
            }
            let first = inner.position == inner.drained;
            inner.position = seq + 1;
            first || shared.caught_up(&inner)
        };
        if wake {
            shared.wake.notify_one();
        }
    }
}
