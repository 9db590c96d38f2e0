//! `KafkaSink`: publishes acknowledged events to the event topic.

use cascade_core::Event;
use cascade_core::config::KafkaConf;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

use super::KafkaError;
use super::client::producer_config;

/// Publishes events to `KafkaConf.Topic`, keyed by `uid` (one user's events stay in one
/// partition, in order). A publish resolves once the broker acknowledged every record
/// (`acks=all`); only then may the events be acknowledged to their sender.
pub struct KafkaSink {
    producer: FutureProducer,
    topic: String,
}

impl KafkaSink {
    /// A producer for the topic of `conf`.
    pub fn new(conf: &KafkaConf) -> Result<Self, KafkaError> {
        Ok(Self {
            producer: producer_config(conf).create()?,
            topic: conf.topic.clone(),
        })
    }

    /// The topic events are published to.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Publishes `events` as JSON, one record each, and waits for the broker's
    /// acknowledgement of all of them. On an error some of them may have been published;
    /// publishing them again is safe, consumers deduplicate by `event_id`.
    pub async fn publish(&self, events: &[Event]) -> Result<(), KafkaError> {
        let mut pending = Vec::with_capacity(events.len());
        for event in events {
            let payload = serde_json::to_vec(event)?;
            let record = FutureRecord::to(&self.topic)
                .key(event.uid.as_str())
                .payload(&payload);
            pending.push(self.producer.send_result(record).map_err(|(e, _)| e)?);
        }
        for delivery in pending {
            delivery
                .await
                .map_err(|_| KafkaError::Cancelled)?
                .map_err(|(e, _)| e)?;
        }
        Ok(())
    }

    /// Waits up to `timeout` for records still in flight.
    pub fn flush(&self, timeout: std::time::Duration) -> Result<(), KafkaError> {
        self.producer.flush(timeout)?;
        Ok(())
    }
}
