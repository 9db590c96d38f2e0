//! Distributed mode against the real Kafka-protocol broker (tansu, started by
//! `scripts/start-kafka.sh`; `CASCADE_TEST_KAFKA_BROKERS` overrides the address): replicas,
//! each an `App` with a data directory of its own, share one topic; events posted to one
//! reach the others, each event is stored once per replica, bad records go to the dead
//! letters, and a restarted replica resumes in its own consumer group.

mod common;

use common::JSON;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{Method, StatusCode};
use cascade_core::config::{CascadeConfig, KafkaConf};
use cascade_server::App;
use cascade_server::distributed::replica;
use cascade_server::serve::router;
use cascade_stream::kafka::testing::{brokers, fresh_topic, read_records, unique_name};
use cascade_stream::kafka::{KafkaSourceStats, REASON_HEADER};
use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{Value, json};

/// The longest any replica may take to see what another published.
const WAIT: Duration = Duration::from_secs(60);

/// One replica: an `App` on a data directory of its own, in distributed mode on `conf`.
struct Replica {
    app: Arc<App>,
    router: Router,
    dir: tempfile::TempDir,
}

impl Replica {
    fn start(conf: &KafkaConf) -> Self {
        Self::open(conf, tempfile::tempdir().unwrap())
    }

    fn open(conf: &KafkaConf, dir: tempfile::TempDir) -> Self {
        let mut config = CascadeConfig::default();
        config.storage_conf.data_dir = dir.path().to_owned();
        config.popular_conf.refresh_millis = 0;
        config.kafka_conf = Some(conf.clone());
        let app = App::open(config).unwrap();
        Self {
            router: router(app.clone()),
            app,
            dir,
        }
    }

    /// Stops as `cascade serve` does (which stops consuming), then starts again on the same
    /// data directory, after `while_down` ran.
    async fn restart(self, conf: &KafkaConf, while_down: impl AsyncFnOnce()) -> Self {
        self.app.persist_indexes().unwrap();
        assert_eq!(self.app.distributed.as_ref().unwrap().source_stats(), None);
        let Self { app, router, dir } = self;
        drop(router);
        drop(app);
        while_down().await;
        Self::open(conf, dir)
    }

    fn group(&self) -> String {
        self.app.distributed.as_ref().unwrap().group().to_string()
    }

    fn stats(&self) -> KafkaSourceStats {
        self.app
            .distributed
            .as_ref()
            .unwrap()
            .source_stats()
            .expect("the source runs")
    }

    fn stored(&self) -> u64 {
        *self.app.stores.events.durable_len().borrow()
    }

    /// How many times each event id is in the log.
    fn stored_ids(&self) -> BTreeMap<String, usize> {
        let mut ids = BTreeMap::new();
        for logged in self.app.stores.events.read_from(0, 10_000).unwrap() {
            *ids.entry(logged.event.event_id).or_default() += 1;
        }
        ids
    }

    async fn send(&self, method: Method, uri: &str, body: String) -> (StatusCode, Value) {
        common::send(&self.router, method, uri, JSON, body.into_bytes()).await
    }

    async fn post_events(&self, events: Value) -> Value {
        let (status, body) = self
            .send(Method::POST, "/api/events", events.to_string())
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    async fn metrics(&self) -> String {
        let (status, text) = self.send(Method::GET, "/metrics", String::new()).await;
        assert_eq!(status, StatusCode::OK);
        text.as_str().unwrap().to_string()
    }

    /// Waits until `done` holds for this replica, failing with `what` and its stats.
    async fn wait_until(&self, what: &str, done: impl Fn(&Self) -> bool) {
        let started = Instant::now();
        while !done(self) {
            assert!(
                started.elapsed() < WAIT,
                "timed out waiting for {what}; stored {}, stats {:?}",
                self.stored(),
                self.app.distributed.as_ref().unwrap().source_stats()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn click(id: &str, uid: &str, item: &str, timestamp: i64) -> Value {
    json!({"event_id": id, "type": "click", "uid": uid, "item_id": item, "timestamp": timestamp})
}

fn clicks(range: std::ops::Range<usize>) -> Value {
    range
        .map(|i| {
            click(
                &format!("e{i}"),
                &format!("u{}", i % 4),
                &format!("i{}", i % 5),
                1_700_000_000_000 + i as i64,
            )
        })
        .collect()
}

#[tokio::test]
async fn events_posted_to_one_replica_reach_the_other_and_are_stored_once() {
    let conf = fresh_topic(&brokers(), "replicas", 2).await;
    let a = Replica::start(&conf);
    let b = Replica::start(&conf);
    // Each replica consumes the whole stream, in a group of its own.
    assert_ne!(a.group(), b.group());
    for replica in [&a, &b] {
        let group = replica.group();
        assert!(group.starts_with(&format!("{}.", conf.group_id)), "{group}");
    }

    let body = a.post_events(clicks(0..20)).await;
    assert_eq!(body["accepted"], 20, "{body}");
    b.wait_until("A's 20 events in B's log", |b| b.stored() == 20)
        .await;
    b.app.stream.wait_applied(20).await;
    a.app.stream.wait_applied(20).await;
    for uid in ["u0", "u1", "u2", "u3"] {
        let seen_by_b = b.app.interactions.recent(uid, 10);
        assert!(!seen_by_b.is_empty(), "B has no history for {uid}");
        assert_eq!(seen_by_b, a.app.interactions.recent(uid, 10), "{uid}");
    }
    // A's own events came back to it and were dropped.
    a.wait_until("A's own 20 records consumed", |a| a.stats().consumed == 20)
        .await;
    assert_eq!((a.stats().appended, a.stats().duplicates), (0, 20));
    assert_eq!(a.stored(), 20);

    // The same event posted to both replicas: two records, one event in each log.
    let both = json!([click("both", "u9", "i9", 1_700_000_001_000)]);
    a.post_events(both.clone()).await;
    b.post_events(both).await;
    for replica in [&a, &b] {
        replica
            .wait_until("all 22 records consumed", |r| r.stats().consumed == 22)
            .await;
        let stats = replica.stats();
        assert_eq!(stats.appended + stats.duplicates, 22, "{stats:?}");
        assert_eq!(replica.stored(), 21);
        let ids = replica.stored_ids();
        assert_eq!(ids.len(), 21);
        assert!(ids.values().all(|&n| n == 1), "{ids:?}");
        assert_eq!(ids.get("both"), Some(&1));
    }
    b.app.stream.wait_applied(21).await;
    assert_eq!(b.app.interactions.recent("u9", 10), ["i9"]);
}

#[tokio::test]
async fn a_malformed_record_goes_to_the_dead_letter_topic_and_the_replica_goes_on() {
    let brokers = brokers();
    let conf = fresh_topic(&brokers, "replica-dlq", 1).await;
    let b = Replica::start(&conf);
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("acks", "all")
        .create()
        .unwrap();
    producer
        .send(
            FutureRecord::<str, [u8]>::to(&conf.topic)
                .key("bad")
                .payload(b"{not json"),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    let a = Replica::start(&conf);
    a.post_events(clicks(0..3)).await;

    b.wait_until(
        "the bad record dead-lettered and the 3 events after it stored",
        |b| b.stats().dead_lettered == 1 && b.stored() == 3,
    )
    .await;
    assert_eq!(b.stats().consumed, 4);

    // The record is in the dead-letter topic with the reason.
    let letter = read_records(&brokers, &conf.dead_letter_topic(), 1, WAIT).remove(0);
    let (payload, reason) = (letter.payload.clone(), letter.header(REASON_HEADER));
    assert_eq!(payload.as_deref(), Some(&b"{not json"[..]));
    let reason = reason.expect("the reason header");
    assert!(reason.starts_with("the payload is not JSON"), "{reason}");

    // The source's stats are on /metrics: consumed, dead-lettered, lag.
    b.wait_until("B's lag measured", |b| !b.stats().lag.is_empty())
        .await;
    let text = b.metrics().await;
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
    };
    assert!(value("cascade_kafka_records_consumed_total") >= 4.0);
    assert!(value("cascade_kafka_dead_letters_total") >= 1.0);
    assert!(value("cascade_kafka_events_published_total") >= 3.0);
    assert!(
        text.lines()
            .any(|line| line.starts_with("cascade_kafka_consumer_lag{")
                && line.contains(&format!("topic=\"{}\"", conf.topic))),
        "no lag gauge for {} in:\n{text}",
        conf.topic
    );
}

#[tokio::test]
async fn a_restarted_replica_resumes_in_its_own_group() {
    let conf = fresh_topic(&brokers(), "replica-restart", 2).await;
    let a = Replica::start(&conf);
    let b = Replica::start(&conf);
    let group = b.group();
    let id = std::fs::read_to_string(b.dir.path().join(replica::FILE)).unwrap();
    assert_eq!(group, conf.consumer_group(id.trim()));

    a.post_events(clicks(0..5)).await;
    b.wait_until("5 events stored and committed", |b| {
        b.stored() == 5 && b.stats().committed.values().sum::<i64>() == 5
    })
    .await;

    let b = b
        .restart(&conf, async || {
            a.post_events(clicks(5..12)).await;
        })
        .await;
    assert_eq!(
        b.group(),
        group,
        "the replica id is kept in its data directory"
    );
    b.wait_until("the 7 events published while B was down", |b| {
        b.stored() == 12
    })
    .await;
    let stats = b.stats();
    // Only what B had not committed was delivered again.
    assert_eq!((stats.consumed, stats.appended), (7, 7), "{stats:?}");
}

#[tokio::test]
async fn a_configured_replica_id_names_the_group() {
    let mut conf = fresh_topic(&brokers(), "replica-named", 1).await;
    conf.replica_id = Some("eu-1".into());
    let a = Replica::start(&conf);
    assert_eq!(a.group(), format!("{}.eu-1", conf.group_id));
    assert!(!a.dir.path().join(replica::FILE).exists());
}

#[tokio::test]
async fn a_failed_publish_is_a_503_and_the_events_stay_in_the_local_log() {
    // A port nothing listens on: the producer gives up after `PublishTimeoutMs`.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut conf = KafkaConf::new(format!("127.0.0.1:{port}"), unique_name("nowhere"));
    conf.publish_timeout_ms = 1_000;
    let replica = Replica::start(&conf);
    let started = Instant::now();
    let (status, body) = replica
        .send(
            Method::POST,
            "/api/events",
            json!([click("lonely", "u", "i", 1)]).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    // Bounded by the publish timeout, not by librdkafka's default of five minutes.
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(20),
        "the publish waited {waited:?}"
    );
    let msg = body["msg"].as_str().unwrap();
    assert!(msg.contains("stored in this replica's event log"), "{msg}");
    assert!(msg.contains(&conf.topic), "{msg}");
    assert!(msg.contains("send the batch again"), "{msg}");
    assert_eq!(replica.stored(), 1);
    let text = replica.metrics().await;
    assert!(
        text.lines().any(
            |line| line.starts_with("cascade_kafka_publish_failures_total ")
                && !line.ends_with(" 0")
        ),
        "no publish failure counted in:\n{text}"
    );
}
