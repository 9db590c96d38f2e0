//! The serving side: sample a request, compute the shown items' features, hand them to a
//! writer thread without ever holding up the request.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cascade_core::RequestContext;
use cascade_core::config::{ConfigIssue, FeatureLogConf, feature_log};
use cascade_core::time::{TimestampMs, now_ms};

use super::FeatureLogError;
use super::record::{FeatureLogRecord, logged_value};
use super::segment::{RecordSink, SegmentWriter};
use crate::features::{FeatureError, FeatureSet, FeatureSource};
use crate::scorer::ScoringInput;

/// The feature set `FeatureLogConf.Features` declares; a bad name is named with its key path
/// (`FeatureLogConf.Features[2]`).
pub fn feature_set(conf: &FeatureLogConf) -> Result<FeatureSet, ConfigIssue> {
    FeatureSet::parse(&conf.features).map_err(|error| {
        let index = match &error {
            FeatureError::Unknown(name) => conf.features.iter().position(|n| n == name),
            FeatureError::Duplicate(name) => conf.features.iter().rposition(|n| n == name),
            FeatureError::Empty => None,
        };
        ConfigIssue {
            path: match index {
                Some(i) => format!("FeatureLogConf.Features[{i}]"),
                None => "FeatureLogConf.Features".into(),
            },
            reason: error.to_string(),
        }
    })
}

/// Whether the request `request_id` is logged at `rate`: a stable hash of the id below the
/// rate, so a request is logged whole or not at all, and every replica decides alike.
pub fn sampled(request_id: &str, rate: f64) -> bool {
    if rate >= 1.0 {
        return true;
    }
    if rate.is_nan() || rate <= 0.0 {
        return false;
    }
    // FNV-1a, then the splitmix64 finaliser: FNV alone mixes the high bits of short,
    // similar ids (`req-1`, `req-2` …) poorly.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in request_id.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash ^= hash >> 30;
    hash = hash.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash ^= hash >> 27;
    hash = hash.wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^= hash >> 31;
    let unit = (hash >> 11) as f64 / (1u64 << 53) as f64;
    unit < rate
}

/// What became of one request's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogOutcome {
    /// The request is not in the sample.
    NotSampled,
    /// This many records wait for the writer.
    Queued(usize),
    /// The writer's queue was full (or the logger closed): this many records were dropped.
    Dropped(usize),
}

/// Record counts since the logger started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeatureLogStats {
    /// Records handed to the writer.
    pub queued: u64,
    /// Records written to a file.
    pub written: u64,
    /// Records dropped because the writer's queue was full.
    pub dropped: u64,
    /// Records the writer failed to write.
    pub failed: u64,
}

#[derive(Default)]
struct Counters {
    queued: AtomicU64,
    written: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
}

enum Message {
    Records(Vec<FeatureLogRecord>),
    Close,
}

/// Logs the feature vectors of shown items: sampling and extraction on the caller's thread,
/// files written by its own thread behind a bounded queue. Closing (or dropping) it writes
/// what is queued and syncs the file.
pub struct FeatureLogger {
    set: FeatureSet,
    sample_rate: f64,
    sender: SyncSender<Message>,
    writer: Mutex<Option<JoinHandle<()>>>,
    counters: Arc<Counters>,
}

impl FeatureLogger {
    /// A logger of the features of `set` into segment files under `dir` (created if missing),
    /// with the sample rate, queue, flush interval and file size of `conf` (its `Features`
    /// and `Dir` are not read: `set` and `dir` say them).
    pub fn new(
        conf: &FeatureLogConf,
        set: FeatureSet,
        dir: &Path,
    ) -> Result<Self, FeatureLogError> {
        let features_key = "FeatureLogConf.Features";
        if let Some(issue) = feature_log::check(conf)
            .into_iter()
            .find(|issue| issue.path != features_key)
        {
            return Err(FeatureLogError::Config(issue));
        }
        let sink = SegmentWriter::new(dir, set.names(), conf.max_file_bytes)?;
        Self::start(
            set,
            conf.sample_rate,
            conf.queue_capacity,
            Duration::from_millis(conf.flush_millis),
            Box::new(sink),
        )
    }

    /// The logger `conf` describes: its `Features` checked ([`feature_set`]), its files in
    /// `Dir`, else `<data_dir>/feature-log`.
    pub fn from_config(conf: &FeatureLogConf, data_dir: &Path) -> Result<Self, FeatureLogError> {
        let set = feature_set(conf).map_err(FeatureLogError::Config)?;
        Self::new(conf, set, &conf.dir_under(data_dir))
    }

    /// Starts the writer thread over `sink`.
    pub(crate) fn start(
        set: FeatureSet,
        sample_rate: f64,
        queue_capacity: usize,
        flush_every: Duration,
        sink: Box<dyn RecordSink>,
    ) -> Result<Self, FeatureLogError> {
        let (sender, receiver) = mpsc::sync_channel(queue_capacity.max(1));
        let counters = Arc::new(Counters::default());
        let thread_counters = counters.clone();
        let writer = cascade_core::background::spawn("cascade-feature-log", move || {
            write_records(receiver, sink, flush_every, &thread_counters)
        })
        .map_err(|e| FeatureLogError::Io {
            path: "the feature log writer thread".into(),
            source: e,
        })?;
        Ok(Self {
            set,
            sample_rate,
            sender,
            writer: Mutex::new(Some(writer)),
            counters,
        })
    }

    /// The features logged, in column order.
    pub fn features(&self) -> &FeatureSet {
        &self.set
    }

    /// Logs the items a response showed (`shown`, in response order: the index is the
    /// position), now. See [`FeatureLogger::log_at`].
    pub fn log(
        &self,
        source: &dyn FeatureSource,
        request: &RequestContext,
        scene: &str,
        shown: &[ScoringInput<'_>],
    ) -> LogOutcome {
        self.log_at(source, request, scene, shown, now_ms())
    }

    /// Logs the items a response showed as of `logged_at`: unless the request is sampled out,
    /// computes their features with [`FeatureSet::extract`] (as scoring does) and queues one
    /// record per item for the writer. Never waits: when the queue is full the records are
    /// dropped and counted (`cascade_feature_log_dropped_total`).
    pub fn log_at(
        &self,
        source: &dyn FeatureSource,
        request: &RequestContext,
        scene: &str,
        shown: &[ScoringInput<'_>],
        logged_at: TimestampMs,
    ) -> LogOutcome {
        if !sampled(&request.request_id, self.sample_rate) {
            return LogOutcome::NotSampled;
        }
        if shown.is_empty() {
            return LogOutcome::Queued(0);
        }
        let matrix = self.set.extract(source, request, shown);
        let records: Vec<FeatureLogRecord> = shown
            .iter()
            .enumerate()
            .map(|(position, input)| FeatureLogRecord {
                request_id: request.request_id.clone(),
                uid: request.uid.clone(),
                scene: scene.to_string(),
                item_id: input.candidate.item_id.clone(),
                position: u32::try_from(position).unwrap_or(u32::MAX),
                logged_at,
                features: matrix
                    .row(position)
                    .iter()
                    .map(|&v| logged_value(v))
                    .collect(),
            })
            .collect();
        let count = records.len();
        match self.sender.try_send(Message::Records(records)) {
            Ok(()) => {
                self.counters
                    .queued
                    .fetch_add(count as u64, Ordering::Relaxed);
                LogOutcome::Queued(count)
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.counters
                    .dropped
                    .fetch_add(count as u64, Ordering::Relaxed);
                metrics::counter!("cascade_feature_log_dropped_total").increment(count as u64);
                LogOutcome::Dropped(count)
            }
        }
    }

    /// Record counts so far.
    pub fn stats(&self) -> FeatureLogStats {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        FeatureLogStats {
            queued: read(&self.counters.queued),
            written: read(&self.counters.written),
            dropped: read(&self.counters.dropped),
            failed: read(&self.counters.failed),
        }
    }

    /// Writes what is queued, syncs the file and stops the writer; waits for it. Records
    /// logged afterwards are dropped. Calling it again does nothing.
    pub fn close(&self) {
        let writer = self
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(writer) = writer else {
            return;
        };
        // Waits for room in the queue: the writer drains it.
        let _ = self.sender.send(Message::Close);
        if writer.join().is_err() {
            tracing::error!("the feature log writer panicked; queued records are lost");
        }
    }
}

impl Drop for FeatureLogger {
    fn drop(&mut self) {
        self.close();
    }
}

/// The writer thread: writes each batch, flushes at most every `flush_every` while records
/// are buffered, and finishes the file on close.
fn write_records(
    receiver: Receiver<Message>,
    mut sink: Box<dyn RecordSink>,
    flush_every: Duration,
    counters: &Counters,
) {
    let mut last_flush = Instant::now();
    let mut dirty = false;
    loop {
        let message = if dirty {
            receiver.recv_timeout(flush_every.saturating_sub(last_flush.elapsed()))
        } else {
            receiver.recv().map_err(|_| RecvTimeoutError::Disconnected)
        };
        match message {
            Ok(Message::Records(records)) => {
                let count = records.len() as u64;
                match sink.write(&records) {
                    Ok(()) => {
                        counters.written.fetch_add(count, Ordering::Relaxed);
                        metrics::counter!("cascade_feature_log_records_total").increment(count);
                    }
                    Err(error) => {
                        counters.failed.fetch_add(count, Ordering::Relaxed);
                        metrics::counter!("cascade_feature_log_write_failures_total")
                            .increment(count);
                        tracing::warn!(%error, records = count, "feature log records not written");
                    }
                }
                dirty = true;
            }
            Ok(Message::Close) | Err(RecvTimeoutError::Disconnected) => {
                if let Err(error) = sink.finish() {
                    tracing::warn!(%error, "the feature log file was not closed cleanly");
                }
                return;
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
        if dirty && last_flush.elapsed() >= flush_every {
            if let Err(error) = sink.flush() {
                tracing::warn!(%error, "feature log flush failed");
            }
            dirty = false;
            last_flush = Instant::now();
        }
    }
}
