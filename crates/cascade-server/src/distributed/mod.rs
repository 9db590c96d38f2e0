//! Distributed mode (`KafkaConf`): the replicas of a deployment share one Kafka event stream.
//!
//! Every event `POST /api/events` accepts is appended to this replica's event log and
//! published to the topic ([`Distributed::publish`]). A [`KafkaSource`] appends every event of
//! the topic to the same log, so the stream runtime and all its observers see the events of
//! every replica. Each replica keeps its derived state in memory and so consumes the whole
//! stream, in a consumer group of its own, `<GroupId>.<replica id>` (the replica id: see
//! [`replica`]). A replica's own events come back to it and the log drops them by `event_id`.

pub mod replica;

use std::sync::Arc;

use cascade_core::Event;
use cascade_core::config::{CascadeConfig, KafkaConf};
use cascade_store::EventLog;
use cascade_stream::kafka::{KafkaError, KafkaSink, KafkaSource, KafkaSourceStats};
use parking_lot::Mutex;

use crate::app::AppError;

/// Counts the events published to the topic.
const PUBLISHED: &str = "cascade_kafka_events_published_total";
/// Counts the publishes that failed (each answered 503).
const PUBLISH_FAILURES: &str = "cascade_kafka_publish_failures_total";

/// This replica's link to the shared event stream: the sink `POST /api/events` publishes
/// with, and the source that consumes the topic into the event log until [`stop`](Self::stop).
pub struct Distributed {
    sink: KafkaSink,
    source: Mutex<Option<KafkaSource>>,
    group: String,
}

impl Distributed {
    /// Starts distributed mode when `config` has a `KafkaConf` (`None` otherwise): the sink,
    /// and the source appending to `events` in this replica's consumer group. The topics must
    /// exist (or the broker create them on first use).
    pub(crate) fn start(
        config: &CascadeConfig,
        events: Arc<dyn EventLog>,
    ) -> Result<Option<Self>, AppError> {
        let Some(conf) = &config.kafka_conf else {
            return Ok(None);
        };
        let replica = match &conf.replica_id {
            Some(id) => id.clone(),
            None => {
                replica::load_or_create(&config.storage_conf.data_dir).map_err(AppError::Kafka)?
            }
        };
        let group = conf.consumer_group(&replica);
        // The source counts from its first record on: the recorder must be there before it.
        crate::metrics::prometheus();
        metrics::counter!(PUBLISHED).increment(0);
        metrics::counter!(PUBLISH_FAILURES).increment(0);
        let sink = KafkaSink::new(conf).map_err(|e| kafka_failed("the producer", &e))?;
        let consumer = KafkaConf {
            group_id: group.clone(),
            ..conf.clone()
        };
        let source = KafkaSource::start(&consumer, config.event_conf.clone(), events)
            .map_err(|e| kafka_failed("the consumer", &e))?;
        tracing::info!(topic = %conf.topic, %group, "distributed mode: publishing to and consuming from Kafka");
        Ok(Some(Self {
            sink,
            source: Mutex::new(Some(source)),
            group,
        }))
    }

    /// The topic events are published to and consumed from.
    pub fn topic(&self) -> &str {
        self.sink.topic()
    }

    /// This replica's consumer group, `<GroupId>.<replica id>`.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// Publishes `events` and waits until the broker acknowledged all of them; a failure is
    /// logged and counted in `cascade_kafka_publish_failures_total`. Publishing again is safe:
    /// every consumer drops the events its log already holds.
    pub async fn publish(&self, events: &[Event]) -> Result<(), KafkaError> {
        match self.sink.publish(events).await {
            Ok(()) => {
                metrics::counter!(PUBLISHED).increment(events.len() as u64);
                Ok(())
            }
            Err(error) => {
                metrics::counter!(PUBLISH_FAILURES).increment(1);
                tracing::error!(topic = %self.topic(), events = events.len(), %error, "publishing events to Kafka failed");
                Err(error)
            }
        }
    }

    /// What the source has done since it started; `None` once stopped.
    pub fn source_stats(&self) -> Option<KafkaSourceStats> {
        self.source.lock().as_ref().map(KafkaSource::stats)
    }

    /// Stops consuming, after the batch in hand is appended and committed; what other
    /// replicas publish from now on waits in the topic for this replica's next start.
    /// Does nothing once stopped.
    pub fn stop(&self) {
        let source = self.source.lock().take();
        if let Some(source) = source {
            let stats = source.stats();
            drop(source);
            tracing::info!(group = %self.group, ?stats, "stopped consuming from Kafka");
        }
    }
}

fn kafka_failed(what: &str, error: &KafkaError) -> AppError {
    AppError::Kafka(format!("cannot create {what}: {error}"))
}
