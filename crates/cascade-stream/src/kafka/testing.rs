//! Helpers for tests that run against a real Kafka-protocol broker (the project's tansu,
//! started by `scripts/start-kafka.sh`): where the broker is, and topics no other test uses.
//! Shared by this crate's and the server's integration tests; they fail, never skip, when
//! no broker answers.

use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cascade_core::config::KafkaConf;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};

use super::ensure_topics;

/// The broker the tests use unless [`BROKERS_ENV`] names another.
pub const DEFAULT_BROKERS: &str = "127.0.0.1:9192";
/// The environment variable that overrides [`DEFAULT_BROKERS`].
pub const BROKERS_ENV: &str = "CASCADE_TEST_KAFKA_BROKERS";

/// The brokers of the tests: [`BROKERS_ENV`], else [`DEFAULT_BROKERS`].
pub fn brokers() -> String {
    std::env::var(BROKERS_ENV).unwrap_or_else(|_| DEFAULT_BROKERS.into())
}

/// Fails the calling test when no broker of `brokers` accepts a connection.
///
/// # Panics
/// When no broker answers, with a message saying how to start one.
pub fn require_broker(brokers: &str) {
    let reachable = brokers.split(',').any(|broker| {
        broker.to_socket_addrs().is_ok_and(|mut addrs| {
            addrs.any(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok())
        })
    });
    assert!(
        reachable,
        "no Kafka broker answers at {brokers}: start the project's broker with \
         `bash scripts/start-kafka.sh` (or point {BROKERS_ENV} at one)"
    );
}

/// A topic (or group) name no other test, and no earlier run, uses.
pub fn unique_name(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    format!("cascade-test-{name}-{}-{nanos}", std::process::id())
}

/// A configuration for a new topic of `partitions` partitions (and its dead-letter topic),
/// both created on `brokers`, consumed in a group named after the topic.
///
/// # Panics
/// When no broker answers or the topics cannot be created.
pub async fn fresh_topic(brokers: &str, name: &str, partitions: i32) -> KafkaConf {
    require_broker(brokers);
    let topic = unique_name(name);
    let mut conf = KafkaConf::new(brokers, &topic);
    conf.group_id = format!("{topic}-group");
    if let Err(error) = ensure_topics(&conf, partitions).await {
        panic!("cannot create the test topic {topic} on {brokers}: {error}");
    }
    conf
}

/// One record read back by [`read_records`]: its key, payload and headers (as text).
#[derive(Debug, Clone, PartialEq)]
pub struct ReadRecord {
    /// The key, when the record has one.
    pub key: Option<String>,
    /// The payload, when the record has one.
    pub payload: Option<Vec<u8>>,
    /// The headers in order, as (name, value).
    pub headers: Vec<(String, String)>,
}

impl ReadRecord {
    /// The value of the first header called `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// The first `count` records of `topic` (a dead-letter topic, say), read from its start in a
/// consumer group of their own.
///
/// # Panics
/// When fewer than `count` records arrive within `wait`, or the consumer fails.
pub fn read_records(brokers: &str, topic: &str, count: usize, wait: Duration) -> Vec<ReadRecord> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", unique_name("reader"))
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("a test consumer");
    consumer
        .subscribe(&[topic])
        .expect("subscribed to the topic");
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    let started = Instant::now();
    let mut records = Vec::new();
    while records.len() < count {
        assert!(
            started.elapsed() < wait,
            "{} of {count} records read from {topic}",
            records.len()
        );
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = message.expect("a record from the broker");
        let headers = message.headers().map_or_else(Vec::new, |headers| {
            headers
                .iter()
                .map(|header| {
                    (
                        header.key.to_string(),
                        header.value.map(text).unwrap_or_default(),
                    )
                })
                .collect()
        });
        records.push(ReadRecord {
            key: message.key().map(text),
            payload: message.payload().map(<[u8]>::to_vec),
            headers,
        });
    }
    records
}
