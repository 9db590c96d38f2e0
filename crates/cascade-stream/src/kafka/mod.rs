//! Kafka: the shared event stream of distributed mode (DESIGN.md §5).
//!
//! [`KafkaSource`] consumes a topic in a consumer group and appends the events to the embedded
//! [`EventLog`](cascade_store::EventLog); the [`StreamRuntime`](crate::StreamRuntime) follows the
//! log as it follows HTTP ingestion, so observers see every event once, in log order. Delivery
//! is at least once and the log deduplicates by `event_id`:
//!
//! 1. a batch of records is polled (auto commit is off);
//! 2. each record is parsed with [`parse_event`](cascade_core::validate::parse_event); one that
//!    fails goes to the dead-letter topic with the reason in the [`REASON_HEADER`] header;
//! 3. the valid events are appended to the log and the append waits for durability, the
//!    dead letters wait for the broker's acknowledgement;
//! 4. only then are the offsets committed.
//!
//! A crash or a broker restart between 3 and 4 redelivers the batch, and the log drops the
//! events it already holds: nothing is lost and nothing is counted twice.
//!
//! [`KafkaSink`] publishes events to the topic and resolves once the broker acknowledged them
//! (`acks=all`). The consumer lag per partition is the gauge
//! `cascade_kafka_consumer_lag{topic, partition}`.

mod admin;
mod client;
mod dead_letter;
mod lag;
mod record;
mod sink;
mod source;
pub mod testing;

pub use admin::ensure_topics;
pub use record::{OFFSET_HEADER, PARTITION_HEADER, REASON_HEADER, TOPIC_HEADER, decode_event};
pub use sink::KafkaSink;
pub use source::{KafkaSource, KafkaSourceStats, SourceOptions};

/// Why a Kafka operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    /// The Kafka client (librdkafka) failed.
    #[error("kafka: {0}")]
    Client(#[from] rdkafka::error::KafkaError),
    /// An event could not be encoded as JSON.
    #[error("kafka: cannot encode event: {0}")]
    Encode(#[from] serde_json::Error),
    /// A thread or runtime could not be started.
    #[error("kafka: {0}")]
    Io(#[from] std::io::Error),
    /// The broker did not acknowledge a record before the client gave up.
    #[error("kafka: delivery was cancelled")]
    Cancelled,
    /// Creating a topic failed.
    #[error("kafka: cannot create topic `{topic}`: {reason}")]
    CreateTopic {
        /// The topic.
        topic: String,
        /// The broker's answer.
        reason: String,
    },
}
