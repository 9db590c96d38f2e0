//! Restarting from a checkpoint: the stream runtime resumes at the checkpoint's position,
//! values written after the checkpoint by the process that "crashed" are not counted twice,
//! and the result equals one uninterrupted run. Run against both feature store backends.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cascade_core::config::{CascadeConfig, WindowFeatureConf};
use cascade_core::{Event, EventObserver, EventTypes, FieldValue};
use cascade_store::features::{EmbeddedFeatureStore, RedisFeatureStore, RedisTimeouts};
use cascade_store::{EmbeddedStore, EventLog, FeatureKey, FeatureStore, FeatureValue};
use cascade_stream::StreamRuntime;
use cascade_stream::windows::{ItemFields, WindowFeature, WindowObserver, build};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const FEATURES: &str = r#"{"WindowFeatureConfs": [
  {"Name": "clicks_30m", "Key": "user", "EventTypes": ["click"],
   "Window": {"Type": "sliding", "Size": "30m", "Slide": "5m"},
   "Aggregation": {"Type": "count"}, "AllowedLateness": "2m"},
  {"Name": "ctr_1h", "Key": "item", "Window": {"Type": "tumbling", "Size": "1h"},
   "Aggregation": {"Type": "ratio", "Numerator": ["click"], "Denominator": ["impression"]}},
  {"Name": "session_categories", "Key": "user", "Window": {"Type": "session", "Gap": "10m"},
   "Aggregation": {"Type": "distinct_count", "Of": "field:category"}, "AllowedLateness": "1m"},
  {"Name": "last_items", "Key": "user", "Window": {"Type": "global"},
   "Aggregation": {"Type": "last_n", "N": 10}}
]}"#;

fn users() -> Vec<String> {
    (0..20).map(|u| format!("u{u}")).collect()
}

fn fields() -> Arc<dyn ItemFields> {
    Arc::new(|item: &str, _: &str| {
        let n: usize = item.get(1..)?.parse().ok()?;
        Some(FieldValue::Keyword(format!("c{}", n % 7)))
    })
}

fn events(count: usize) -> Vec<Event> {
    let mut rng = StdRng::seed_from_u64(7);
    let mut clock = 1_704_067_200_000i64;
    (0..count)
        .map(|i| {
            // About ten minutes in all, so a replay of old events would land in open windows.
            clock += rng.random_range(0..400);
            let ts = clock - rng.random_range(0..180_000) * i64::from(rng.random_bool(0.2));
            let kind = ["impression", "impression", "click", "like"][rng.random_range(0..4)];
            let uid = format!("u{}", rng.random_range(0..20));
            let item = format!("i{}", rng.random_range(0..40));
            Event::new(&format!("e{i}"), kind, &uid, &item, ts)
        })
        .collect()
}

fn observer(
    confs: &[WindowFeatureConf],
    store: Arc<dyn FeatureStore>,
    log: &EmbeddedStore,
) -> Arc<WindowObserver> {
    observer_checkpointing(confs, store, log, Duration::from_secs(3600))
}

/// An observer whose writer checkpoints in the background at most every `every`.
fn observer_checkpointing(
    confs: &[WindowFeatureConf],
    store: Arc<dyn FeatureStore>,
    log: &EmbeddedStore,
    every: Duration,
) -> Arc<WindowObserver> {
    Arc::new(WindowObserver::new(
        confs,
        &EventTypes::default(),
        fields(),
        store,
        every,
        log.durable_len(),
    ))
}

/// One uninterrupted run over `all`.
fn uninterrupted(confs: &[WindowFeatureConf], all: &[Event]) -> Vec<Box<dyn WindowFeature>> {
    let mut features: Vec<_> = confs
        .iter()
        .map(|conf| build(conf, &EventTypes::default(), fields()))
        .collect();
    for (seq, event) in all.iter().enumerate() {
        features
            .iter_mut()
            .for_each(|f| f.observe(seq as u64, event));
    }
    features
}

/// Every feature of `resumed` equals the uninterrupted run's, for every user and item.
fn assert_same_as(expected: &[Box<dyn WindowFeature>], resumed: &WindowObserver, what: &str) {
    let items: Vec<String> = (0..40).map(|i| format!("i{i}")).collect();
    for feature in expected {
        for key in users().iter().chain(&items) {
            assert_eq!(
                resumed.current(feature.name(), key),
                feature.current(key),
                "{what}: {} {key}",
                feature.name()
            );
        }
    }
}

/// After a flush, the store holds `observer`'s values (the global and sliding features are
/// exact after a flush).
fn assert_stored(store: &dyn FeatureStore, observer: &WindowObserver) {
    observer.flush().unwrap();
    for name in ["last_items", "clicks_30m"] {
        for uid in users() {
            let stored = store
                .read_one(FeatureKey {
                    feature: name,
                    entity: &uid,
                })
                .unwrap();
            assert_eq!(stored, observer.current(name, &uid), "stored {name} {uid}");
        }
    }
}

async fn append(log: &EmbeddedStore, events: &[Event]) {
    log.append(events.to_vec()).wait().await.unwrap();
}

async fn restart_resumes_without_double_counting(
    feature_store: fn(&Path) -> Arc<dyn FeatureStore>,
) {
    let config = CascadeConfig::parse(FEATURES).unwrap();
    let confs = &config.window_feature_confs;
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(EmbeddedStore::open(&dir.path().join("log")).unwrap());
    let store = feature_store(&dir.path().join("features"));
    let all = events(3000);

    // The first process: applies 1500 events, checkpoints, applies 500 more (writing their
    // values to the store) and stops without another checkpoint, as if it crashed.
    append(&log, &all[..1500]).await;
    let first = observer(confs, store.clone(), &log);
    assert_eq!(first.restore().unwrap(), 0);
    let runtime = StreamRuntime::start_from(log.clone(), vec![first.clone()], 0);
    runtime.wait_applied(1500).await;
    assert_eq!(first.checkpoint().unwrap(), 1500);
    append(&log, &all[1500..2000]).await;
    runtime.wait_applied(2000).await;
    drop(runtime);
    drop(first);
    append(&log, &all[2000..]).await;

    // The second process resumes from the checkpoint.
    let second = observer(confs, store.clone(), &log);
    assert_eq!(second.restore().unwrap(), 1500);
    let runtime = StreamRuntime::start_from(log.clone(), vec![second.clone()], 1500);
    runtime.wait_applied(3000).await;
    drop(runtime);

    // A third replays the whole log after restoring: the events the checkpoint covers are skipped.
    let third = observer(confs, store.clone(), &log);
    assert_eq!(third.restore().unwrap(), 1500);
    let runtime = StreamRuntime::start(log.clone(), vec![third.clone()]);
    runtime.wait_applied(3000).await;
    drop(runtime);

    let expected = uninterrupted(confs, &all);
    assert_same_as(&expected, &second, "resumed");
    assert_same_as(&expected, &third, "replayed");
    assert_stored(&*store, &second);
    assert!(matches!(
        second.current("last_items", "u1"),
        Some(FeatureValue::List(items)) if items.len() == 10
    ));
}

/// Checkpoints the writer thread takes on its own, a copy of the state saved off the stream
/// thread while events keep streaming in: the process "crashes" after more values were
/// written, and the next resumes from the last saved copy's position without counting twice.
async fn background_checkpoints_resume_without_double_counting(
    feature_store: fn(&Path) -> Arc<dyn FeatureStore>,
) {
    let config = CascadeConfig::parse(FEATURES).unwrap();
    let confs = &config.window_feature_confs;
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(EmbeddedStore::open(&dir.path().join("log")).unwrap());
    let store = feature_store(&dir.path().join("features"));
    let all = events(3000);

    let first = observer_checkpointing(confs, store.clone(), &log, Duration::from_millis(20));
    assert_eq!(first.restore().unwrap(), 0);
    let runtime = StreamRuntime::start_from(log.clone(), vec![first.clone()], 0);
    for chunk in all[..2000].chunks(50) {
        append(&log, chunk).await;
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    let _ = first.flushed().wait_for(|&p| p >= 2000).await;
    drop(runtime);
    drop(first);
    append(&log, &all[2000..]).await;

    let second = observer(confs, store.clone(), &log);
    let resumed_from = second.restore().unwrap();
    assert!(
        (1..=2000).contains(&resumed_from),
        "a background checkpoint was saved: {resumed_from}"
    );
    let runtime = StreamRuntime::start_from(log.clone(), vec![second.clone()], resumed_from);
    runtime.wait_applied(3000).await;
    drop(runtime);
    assert_same_as(&uninterrupted(confs, &all), &second, "resumed");
    assert_stored(&*store, &second);
}

fn embedded(path: &Path) -> Arc<dyn FeatureStore> {
    Arc::new(EmbeddedFeatureStore::open(path, 0).unwrap())
}

fn redis(_: &Path) -> Arc<dyn FeatureStore> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let url =
        std::env::var("CASCADE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6390".into());
    let prefix = format!(
        "cascade-test:restart:{}:{}:{}:",
        std::process::id(),
        cascade_core::time::now_ms(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    Arc::new(
        RedisFeatureStore::open(&url, &prefix, 600, RedisTimeouts::default()).unwrap_or_else(|e| {
            panic!("Redis at {url} is unreachable ({e}); run scripts/start-redis.sh first")
        }),
    )
}

#[tokio::test]
async fn restart_with_the_embedded_store() {
    restart_resumes_without_double_counting(embedded).await;
}

#[tokio::test]
async fn restart_with_the_redis_store() {
    restart_resumes_without_double_counting(redis).await;
}

#[tokio::test]
async fn background_checkpoints_with_the_embedded_store() {
    background_checkpoints_resume_without_double_counting(embedded).await;
}

#[tokio::test]
async fn background_checkpoints_with_the_redis_store() {
    background_checkpoints_resume_without_double_counting(redis).await;
}

#[test]
fn a_checkpoint_of_other_features_is_not_used() {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedStore::open(&dir.path().join("log")).unwrap();
    let store = embedded(&dir.path().join("features"));
    let confs = CascadeConfig::parse(FEATURES).unwrap().window_feature_confs;
    let first = observer(&confs, store.clone(), &log);
    first.observe(0, &Event::new("e", "click", "u1", "i1", 1));
    assert_eq!(first.checkpoint().unwrap(), 1);
    let second = observer(&confs[1..], store, &log);
    assert_eq!(second.restore().unwrap(), 0);
}
