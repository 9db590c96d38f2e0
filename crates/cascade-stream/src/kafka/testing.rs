//! Helpers for tests that run against a real Kafka-protocol broker (the project's tansu,
//! started by `scripts/start-kafka.sh`): where the broker is, and topics no other test uses.
//! Shared by this crate's and the server's integration tests; they fail, never skip, when
//! no broker answers.

use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cascade_core::config::KafkaConf;

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
