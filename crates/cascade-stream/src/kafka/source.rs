//! `KafkaSource`: consumes the event topic into the embedded event log.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cascade_core::config::KafkaConf;
use cascade_core::time::now_ms;
use cascade_core::{Event, EventTypes};
use cascade_store::EventLog;
use parking_lot::Mutex;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};

use super::KafkaError;
use super::client::base_config;
use super::dead_letter::DeadLetters;
use super::lag::{LagMeter, STATISTICS_INTERVAL_MS, SourceContext};
use super::record::{DeadLetter, decode_event};

/// How the consumer batches and retries.
#[derive(Debug, Clone)]
pub struct SourceOptions {
    /// The most records applied (and committed) together.
    pub max_batch: usize,
    /// How long a batch keeps gathering records after its first one.
    pub batch_wait: Duration,
    /// How long to wait before retrying an append, a dead letter or a commit that failed.
    pub retry_backoff: Duration,
    /// Extra librdkafka consumer properties (e.g. `session.timeout.ms`), applied last.
    pub consumer_properties: Vec<(String, String)>,
}

impl Default for SourceOptions {
    fn default() -> Self {
        Self {
            max_batch: 1_000,
            batch_wait: Duration::from_millis(20),
            retry_backoff: Duration::from_millis(200),
            consumer_properties: Vec::new(),
        }
    }
}

/// What a [`KafkaSource`] has done since it started.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KafkaSourceStats {
    /// Records received from the broker and applied (appended, found duplicate or
    /// dead-lettered).
    pub consumed: u64,
    /// Events that were new to the log and are now durable in it.
    pub appended: u64,
    /// Events the log already held (redelivered, or published twice): not stored again.
    pub duplicates: u64,
    /// Records sent to the dead-letter topic.
    pub dead_lettered: u64,
    /// Commits the broker refused or did not answer (retried with the next batch).
    pub commit_failures: u64,
    /// Per partition, the next offset to process as committed to the group.
    pub committed: BTreeMap<i32, i64>,
    /// Per partition, the last measured consumer lag (records after the committed offset).
    pub lag: BTreeMap<i32, i64>,
}

/// Consumes `KafkaConf.Topic` in the group `KafkaConf.GroupId` and appends the events to the
/// event log; see the [module](super) for the delivery guarantees. Stops when dropped, after
/// the batch in hand is applied and committed.
pub struct KafkaSource {
    stats: Arc<Mutex<KafkaSourceStats>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl KafkaSource {
    /// Starts consuming with the default [`SourceOptions`].
    pub fn start(
        conf: &KafkaConf,
        types: EventTypes,
        log: Arc<dyn EventLog>,
    ) -> Result<Self, KafkaError> {
        Self::start_with(conf, types, log, SourceOptions::default())
    }

    /// Starts consuming: subscribes to the topic (from the group's committed offsets, or the
    /// earliest record for a new group) on a thread of its own.
    pub fn start_with(
        conf: &KafkaConf,
        types: EventTypes,
        log: Arc<dyn EventLog>,
        options: SourceOptions,
    ) -> Result<Self, KafkaError> {
        let mut config = base_config(conf);
        config
            .set("group.id", &conf.group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            .set("statistics.interval.ms", STATISTICS_INTERVAL_MS.to_string());
        for (key, value) in &options.consumer_properties {
            config.set(key, value);
        }
        register_counters();
        let context = SourceContext::new(&conf.topic);
        let consumer: BaseConsumer<SourceContext> = config.create_with_context(context.clone())?;
        consumer.subscribe(&[conf.topic.as_str()])?;
        let dead_letters = DeadLetters::new(conf)?;
        let stats = Arc::new(Mutex::new(KafkaSourceStats::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let mut worker = Worker {
            consumer,
            dead_letters,
            log,
            types,
            topic: conf.topic.clone(),
            lag: LagMeter::new(context),
            options,
            pending: BTreeMap::new(),
            committed: BTreeMap::new(),
            stats: stats.clone(),
            stop: stop.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("cascade-kafka".into())
            .spawn(move || worker.run())?;
        Ok(Self {
            stats,
            stop,
            thread: Some(thread),
        })
    }

    /// A snapshot of what the source has done.
    pub fn stats(&self) -> KafkaSourceStats {
        self.stats.lock().clone()
    }
}

impl Drop for KafkaSource {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Registers the source's counters at zero, so that an exporter installed before the start
/// lists them before the first record arrives.
fn register_counters() {
    for name in [
        "cascade_kafka_records_consumed_total",
        "cascade_kafka_duplicates_total",
        "cascade_kafka_dead_letters_total",
        "cascade_kafka_commit_failures_total",
        "cascade_kafka_consumer_errors_total",
    ] {
        metrics::counter!(name).increment(0);
    }
}

/// One batch: the valid events in consumption order, the dead letters, and per partition
/// the offset after the batch's last record.
#[derive(Default)]
struct Batch {
    events: Vec<Event>,
    dead: Vec<DeadLetter>,
    next_offsets: BTreeMap<i32, i64>,
    records: u64,
}

struct Worker {
    consumer: BaseConsumer<SourceContext>,
    dead_letters: DeadLetters,
    log: Arc<dyn EventLog>,
    types: EventTypes,
    topic: String,
    lag: LagMeter,
    options: SourceOptions,
    /// Offsets applied but not committed yet.
    pending: BTreeMap<i32, i64>,
    /// Offsets this consumer committed, per partition.
    committed: BTreeMap<i32, i64>,
    stats: Arc<Mutex<KafkaSourceStats>>,
    stop: Arc<AtomicBool>,
}

impl Worker {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn run(&mut self) {
        tracing::info!(
            topic = %self.topic,
            dead_letters = %self.dead_letters.topic(),
            "consuming events from Kafka"
        );
        while !self.stopped() {
            let batch = self.next_batch();
            if batch.records > 0 && !self.apply(batch) {
                // Stopped before the batch was durable: it is not committed and will be
                // delivered again to whoever consumes the partition next.
                return;
            }
            self.commit();
            if let Some(lags) = self.lag.measure(&self.consumer, &self.committed) {
                self.stats.lock().lag = lags;
            }
        }
    }

    /// Polls records until `max_batch` are in hand or `batch_wait` has passed since the first.
    fn next_batch(&mut self) -> Batch {
        let mut batch = Batch::default();
        let first = self.consumer.poll(Duration::from_millis(100));
        let Some(first) = first else { return batch };
        self.take(first, &mut batch);
        let deadline = Instant::now() + self.options.batch_wait;
        while batch.records < self.options.max_batch as u64 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match self.consumer.poll(left) {
                Some(result) => self.take(result, &mut batch),
                None => break,
            }
        }
        batch
    }

    fn take(
        &self,
        result: Result<BorrowedMessage<'_>, rdkafka::error::KafkaError>,
        batch: &mut Batch,
    ) {
        let message = match result {
            Ok(message) => message,
            Err(error) => {
                metrics::counter!("cascade_kafka_consumer_errors_total").increment(1);
                tracing::warn!(%error, "kafka consumer error");
                return;
            }
        };
        batch.records += 1;
        batch
            .next_offsets
            .insert(message.partition(), message.offset() + 1);
        match decode_event(message.payload(), &self.types, now_ms()) {
            Ok(event) => batch.events.push(event),
            Err(reason) => {
                tracing::warn!(
                    partition = message.partition(),
                    offset = message.offset(),
                    %reason,
                    "kafka record goes to the dead letters"
                );
                batch.dead.push(DeadLetter {
                    key: message.key().map(<[u8]>::to_vec),
                    payload: message.payload().map(<[u8]>::to_vec),
                    reason,
                    partition: message.partition(),
                    offset: message.offset(),
                });
            }
        }
    }

    /// Makes the batch durable: events appended to the log, dead letters acknowledged by the
    /// broker; retries until done. `false` when stopped first.
    fn apply(&mut self, batch: Batch) -> bool {
        let Batch {
            events,
            dead,
            next_offsets,
            records,
        } = batch;
        if !events.is_empty() {
            let outcome = loop {
                match self.log.append(events.clone()).wait_blocking() {
                    Ok(outcome) => break outcome,
                    Err(error) => {
                        tracing::error!(%error, "appending Kafka events to the log failed; retrying");
                        if !self.pause() {
                            return false;
                        }
                    }
                }
            };
            metrics::counter!("cascade_kafka_duplicates_total")
                .increment(outcome.duplicates.len() as u64);
            let mut stats = self.stats.lock();
            stats.appended += outcome.accepted as u64;
            stats.duplicates += outcome.duplicates.len() as u64;
        }
        if !dead.is_empty() {
            loop {
                match self.dead_letters.send(&dead) {
                    Ok(()) => break,
                    Err(error) => {
                        tracing::error!(%error, "writing dead letters failed; retrying");
                        if !self.pause() {
                            return false;
                        }
                    }
                }
            }
            metrics::counter!("cascade_kafka_dead_letters_total").increment(dead.len() as u64);
            self.stats.lock().dead_lettered += dead.len() as u64;
        }
        for (partition, next) in next_offsets {
            let entry = self.pending.entry(partition).or_insert(next);
            *entry = (*entry).max(next);
        }
        // Counted once applied, so that a reader who sees the records consumed also sees
        // what became of them.
        metrics::counter!("cascade_kafka_records_consumed_total").increment(records);
        self.stats.lock().consumed += records;
        true
    }

    /// Sleeps for the retry backoff; `false` when stopped.
    fn pause(&self) -> bool {
        if self.stopped() {
            return false;
        }
        std::thread::sleep(self.options.retry_backoff);
        !self.stopped()
    }

    /// Commits the applied offsets of the partitions still assigned; keeps them for the next
    /// try when the commit fails.
    fn commit(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        if let Ok(assignment) = self.consumer.assignment() {
            let assigned: Vec<i32> = assignment
                .elements_for_topic(&self.topic)
                .iter()
                .map(|e| e.partition())
                .collect();
            // A partition taken away in a rebalance is its new owner's to commit; it
            // redelivers what this consumer did not commit, and the log drops it again.
            self.pending.retain(|p, _| assigned.contains(p));
        }
        if self.pending.is_empty() {
            return;
        }
        let mut offsets = TopicPartitionList::new();
        for (&partition, &next) in &self.pending {
            if let Err(error) =
                offsets.add_partition_offset(&self.topic, partition, Offset::Offset(next))
            {
                tracing::error!(%error, "building the offsets to commit");
                return;
            }
        }
        match self.consumer.commit(&offsets, CommitMode::Sync) {
            Ok(()) => {
                let mut stats = self.stats.lock();
                for (partition, next) in std::mem::take(&mut self.pending) {
                    self.committed.insert(partition, next);
                    stats.committed.insert(partition, next);
                }
            }
            Err(error) => {
                metrics::counter!("cascade_kafka_commit_failures_total").increment(1);
                self.stats.lock().commit_failures += 1;
                tracing::warn!(%error, "committing Kafka offsets failed; retrying with the next batch");
                std::thread::sleep(self.options.retry_backoff);
            }
        }
    }
}
