//! The Kafka source and sink against a real Kafka-protocol broker (tansu, started by
//! `scripts/start-kafka.sh`; `CASCADE_TEST_KAFKA_BROKERS` overrides the address). The
//! broker-restart test runs a second broker of its own through the same script.

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use cascade_core::config::KafkaConf;
use cascade_core::{Event, EventObserver, EventTypes};
use cascade_store::{EmbeddedStore, EventLog};
use cascade_stream::StreamRuntime;
use cascade_stream::kafka::testing::{brokers, fresh_topic, read_records};
use cascade_stream::kafka::{
    KafkaSink, KafkaSource, KafkaSourceStats, OFFSET_HEADER, REASON_HEADER, SourceOptions,
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use parking_lot::Mutex;
use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};

/// The port of the broker the restart test starts, stops and starts again.
const RESTART_PORT: &str = "9193";
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/start-kafka.sh");
const WAIT: Duration = Duration::from_secs(90);

#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl EventObserver for Recorder {
    fn observe(&self, _seq: u64, event: &Event) {
        self.0.lock().push(event.event_id.clone());
    }
}

impl Recorder {
    fn ids(&self) -> Vec<String> {
        self.0.lock().clone()
    }
}

fn event(i: usize) -> Event {
    Event::new(
        &format!("e{i}"),
        "click",
        &format!("u{}", i % 7),
        &format!("i{}", i % 13),
        1_700_000_000_000 + i as i64,
    )
}

fn ids(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("e{i}")).collect()
}

/// The embedded log with a stream runtime feeding a recorder.
struct Pipeline {
    _dir: tempfile::TempDir,
    store: Arc<EmbeddedStore>,
    recorder: Arc<Recorder>,
    _runtime: StreamRuntime,
}

impl Pipeline {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        let recorder = Arc::new(Recorder::default());
        let runtime = StreamRuntime::start(store.clone(), vec![recorder.clone()]);
        Self {
            _dir: dir,
            store,
            recorder,
            _runtime: runtime,
        }
    }

    fn source(&self, conf: &KafkaConf) -> KafkaSource {
        KafkaSource::start(conf, EventTypes::default(), self.store.clone()).unwrap()
    }

    fn log_len(&self) -> u64 {
        *self.store.durable_len().borrow()
    }
}

/// Waits until `done` holds for the source's stats, failing with `what` and the stats.
async fn wait_stats(
    source: &KafkaSource,
    what: &str,
    done: impl Fn(&KafkaSourceStats) -> bool,
) -> KafkaSourceStats {
    let started = Instant::now();
    loop {
        let stats = source.stats();
        if done(&stats) {
            return stats;
        }
        assert!(
            started.elapsed() < WAIT,
            "timed out waiting for {what}; stats: {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_recorded(pipeline: &Pipeline, count: usize) {
    let started = Instant::now();
    while pipeline.recorder.ids().len() < count {
        assert!(
            started.elapsed() < WAIT,
            "timed out waiting for {count} observed events; have {}",
            pipeline.recorder.ids().len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn committed_total(stats: &KafkaSourceStats) -> i64 {
    stats.committed.values().sum()
}

async fn publish(sink: &KafkaSink, events: impl IntoIterator<Item = Event>) {
    let events: Vec<Event> = events.into_iter().collect();
    sink.publish(&events).await.unwrap();
}

#[tokio::test]
async fn events_reach_the_observers_in_order_exactly_once() {
    let conf = fresh_topic(&brokers(), "order", 1).await;
    let sink = KafkaSink::new(&conf).unwrap();
    publish(&sink, (0..200).map(event)).await;
    // Published twice (a producer retry, say): the log keeps the first.
    publish(&sink, (0..10).map(event)).await;

    let pipeline = Pipeline::new();
    let source = pipeline.source(&conf);
    let stats = wait_stats(&source, "210 records committed", |s| {
        committed_total(s) == 210
    })
    .await;
    assert_eq!(
        (stats.consumed, stats.appended, stats.duplicates),
        (210, 200, 10)
    );
    wait_recorded(&pipeline, 200).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(pipeline.recorder.ids(), ids(0..200));
    assert_eq!(pipeline.log_len(), 200);
}

#[tokio::test]
async fn malformed_records_go_to_the_dead_letter_topic_and_the_stream_goes_on() {
    let brokers = brokers();
    let conf = fresh_topic(&brokers, "dlq", 1).await;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("acks", "all")
        .create()
        .unwrap();
    let valid = |i: usize| serde_json::to_vec(&event(i)).unwrap();
    let bogus_type =
        br#"{"event_id":"x1","type":"teleport","uid":"u","item_id":"i","timestamp":1}"#.to_vec();
    let records: Vec<(&str, Option<Vec<u8>>)> = vec![
        ("a", Some(valid(0))),
        ("b", Some(b"{not json".to_vec())),
        ("c", Some(valid(1))),
        ("d", Some(bogus_type.clone())),
        ("e", None),
        ("f", Some(valid(2))),
    ];
    for (key, payload) in &records {
        let mut record = FutureRecord::<str, [u8]>::to(&conf.topic).key(*key);
        if let Some(payload) = payload {
            record = record.payload(payload.as_slice());
        }
        producer
            .send(record, Duration::from_secs(10))
            .await
            .unwrap();
    }

    let pipeline = Pipeline::new();
    let source = pipeline.source(&conf);
    let stats = wait_stats(&source, "6 records committed", |s| committed_total(s) == 6).await;
    assert_eq!((stats.appended, stats.dead_lettered), (3, 3));
    wait_recorded(&pipeline, 3).await;
    assert_eq!(pipeline.recorder.ids(), ids(0..3));

    // The dead letters: the original key and payload, the reason and the source offset.
    let mut letters: Vec<_> = read_records(&brokers, &conf.dead_letter_topic(), 3, WAIT)
        .into_iter()
        .map(|record| {
            let header = |name| record.header(name).unwrap_or_default().to_string();
            (
                record.key.clone(),
                record.payload.clone(),
                header(REASON_HEADER),
                header(OFFSET_HEADER),
            )
        })
        .collect();
    letters.sort_by(|a, b| a.3.cmp(&b.3));
    assert_eq!(letters[0].0.as_deref(), Some("b"));
    assert_eq!(letters[0].1.as_deref(), Some(&b"{not json"[..]));
    assert!(
        letters[0].2.starts_with("the payload is not JSON"),
        "{}",
        letters[0].2
    );
    assert_eq!(letters[0].3, "1");
    assert_eq!(letters[1].1.as_deref(), Some(bogus_type.as_slice()));
    assert!(letters[1].2.contains("field `type`"), "{}", letters[1].2);
    assert!(letters[1].2.contains("teleport"), "{}", letters[1].2);
    assert_eq!(letters[1].3, "3");
    assert_eq!(letters[2].1, None);
    assert_eq!(letters[2].2, "the record has no payload");
    assert_eq!(letters[2].3, "4");
}

#[tokio::test]
async fn a_restarted_consumer_resumes_from_the_committed_offsets() {
    let conf = fresh_topic(&brokers(), "resume", 3).await;
    let sink = KafkaSink::new(&conf).unwrap();
    publish(&sink, (0..100).map(event)).await;

    let pipeline = Pipeline::new();
    let first = pipeline.source(&conf);
    wait_stats(&first, "100 records committed", |s| {
        committed_total(s) == 100
    })
    .await;
    drop(first);

    publish(&sink, (100..250).map(event)).await;
    let second = pipeline.source(&conf);
    let stats = wait_stats(&second, "150 more records committed", |s| {
        s.consumed >= 150 && s.lag.len() == 3 && s.lag.values().all(|&lag| lag == 0)
    })
    .await;
    // Only the new records were delivered: the first 100 were committed.
    assert_eq!(
        (stats.consumed, stats.appended, stats.duplicates),
        (150, 150, 0)
    );
    wait_recorded(&pipeline, 250).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let seen = pipeline.recorder.ids();
    assert_eq!(seen.len(), 250);
    let distinct: BTreeSet<String> = seen.into_iter().collect();
    assert_eq!(distinct, ids(0..250).into_iter().collect());
}

fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| PrometheusBuilder::new().install_recorder().unwrap())
}

#[tokio::test]
async fn consumer_lag_is_a_metric_per_partition() {
    let metrics = prometheus();
    let conf = fresh_topic(&brokers(), "lag", 2).await;
    let sink = KafkaSink::new(&conf).unwrap();
    publish(&sink, (0..60).map(event)).await;

    let pipeline = Pipeline::new();
    let source = pipeline.source(&conf);
    wait_stats(&source, "caught up, lag 0 on both partitions", |s| {
        committed_total(s) == 60 && s.lag.len() == 2 && s.lag.values().all(|&lag| lag == 0)
    })
    .await;
    let text = metrics.render();
    for partition in 0..2 {
        let line = text
            .lines()
            .find(|line| {
                line.starts_with("cascade_kafka_consumer_lag{")
                    && line.contains(&format!("topic=\"{}\"", conf.topic))
                    && line.contains(&format!("partition=\"{partition}\""))
            })
            .unwrap_or_else(|| panic!("no lag gauge for partition {partition} in:\n{text}"));
        assert!(line.ends_with(" 0"), "{line}");
    }
}

/// Runs `scripts/start-kafka.sh <command>` for the restart test's own broker.
fn broker_script(command: &str) {
    let status = Command::new("bash")
        .arg(SCRIPT)
        .arg(command)
        .env("CASCADE_KAFKA_PORT", RESTART_PORT)
        .status()
        .unwrap_or_else(|e| panic!("cannot run {SCRIPT}: {e}"));
    assert!(
        status.success(),
        "`scripts/start-kafka.sh {command}` failed"
    );
}

/// Stops the restart test's broker however the test ends.
struct BrokerGuard;

impl Drop for BrokerGuard {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(SCRIPT)
            .arg("stop")
            .env("CASCADE_KAFKA_PORT", RESTART_PORT)
            .status();
    }
}

#[tokio::test]
async fn a_broker_restart_mid_stream_loses_nothing_and_counts_nothing_twice() {
    let brokers = format!("127.0.0.1:{RESTART_PORT}");
    broker_script("start");
    let _guard = BrokerGuard;
    let conf = fresh_topic(&brokers, "restart", 2).await;
    let sink = KafkaSink::new(&conf).unwrap();
    publish(&sink, (0..5_000).map(event)).await;

    let pipeline = Pipeline::new();
    let options = SourceOptions {
        max_batch: 20,
        ..SourceOptions::default()
    };
    let source = KafkaSource::start_with(
        &conf,
        EventTypes::default(),
        pipeline.store.clone(),
        options,
    )
    .unwrap();
    wait_stats(&source, "the first events", |s| s.appended > 0).await;

    // Mid-stream: the broker goes away and comes back.
    broker_script("stop");
    let at_stop = source.stats();
    tokio::time::sleep(Duration::from_secs(1)).await;
    broker_script("start");
    publish(&sink, (5_000..6_000).map(event)).await;

    let stats = wait_stats(&source, "all 6000 records committed", |s| {
        committed_total(s) == 6_000
    })
    .await;
    assert!(
        at_stop.appended < 5_000,
        "the broker was to stop mid-stream, but all was consumed first: {at_stop:?}"
    );
    // Whatever was redelivered after the restart was dropped by the log.
    assert_eq!(stats.appended, 6_000, "{stats:?}");
    wait_recorded(&pipeline, 6_000).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let seen = pipeline.recorder.ids();
    assert_eq!(seen.len(), 6_000, "an event was observed twice");
    let distinct: BTreeSet<String> = seen.into_iter().collect();
    assert_eq!(distinct, ids(0..6_000).into_iter().collect());
    assert_eq!(pipeline.log_len(), 6_000);
    drop(source);

    // The committed offsets survived the restart: a new consumer of the group gets nothing.
    let again = pipeline.source(&conf);
    let stats = wait_stats(&again, "the group's lag measured", |s| {
        s.lag.len() == 2 && s.lag.values().all(|&lag| lag == 0)
    })
    .await;
    assert_eq!(stats.consumed, 0, "{stats:?}");
}
