//! The feature store contract, run against both backends: the same test bodies, one module
//! per backend. The Redis tests need a real server (`scripts/start-redis.sh`); they fail,
//! rather than skip, when it cannot be reached.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cascade_store::features::{
    EmbeddedFeatureStore, RedisFeatureStore, RedisTimeouts, read_user_and_items,
};
use cascade_store::{FeatureKey, FeatureStore, FeatureValue, FeatureWrite};

/// A store under test and what must live as long as it does.
struct Backend {
    store: Box<dyn FeatureStore>,
    _dir: Option<tempfile::TempDir>,
}

fn embedded(ttl_seconds: u64) -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedFeatureStore::open(dir.path(), ttl_seconds).unwrap();
    Backend {
        store: Box::new(store),
        _dir: Some(dir),
    }
}

fn redis_url() -> String {
    std::env::var("CASCADE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6390".into())
}

/// A Redis store with a key prefix no other test (or earlier run) uses.
fn redis_store(ttl_seconds: u64) -> RedisFeatureStore {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let prefix = format!(
        "cascade-test:{}:{}:{}:",
        std::process::id(),
        cascade_core::time::now_ms(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let url = redis_url();
    RedisFeatureStore::open(&url, &prefix, ttl_seconds, RedisTimeouts::default()).unwrap_or_else(
        |e| panic!("Redis at {url} is unreachable ({e}); run scripts/start-redis.sh first"),
    )
}

fn redis(ttl_seconds: u64) -> Backend {
    Backend {
        store: Box::new(redis_store(ttl_seconds)),
        _dir: None,
    }
}

fn key<'a>(feature: &'a str, entity: &'a str) -> FeatureKey<'a> {
    FeatureKey { feature, entity }
}

fn put(store: &dyn FeatureStore, feature: &str, entity: &str, value: Option<FeatureValue>) {
    store
        .write(&[FeatureWrite {
            key: key(feature, entity),
            value,
        }])
        .unwrap();
}

fn point_reads_see_writes_and_deletes(backend: fn(u64) -> Backend) {
    let b = backend(3600);
    let store = &*b.store;
    assert_eq!(store.read_one(key("clicks", "u1")).unwrap(), None);
    put(store, "clicks", "u1", Some(FeatureValue::Number(3.0)));
    let items = FeatureValue::List(vec!["i2".into(), "i1".into()]);
    put(store, "last_items", "u1", Some(items.clone()));
    assert_eq!(
        store.read_one(key("clicks", "u1")).unwrap(),
        Some(FeatureValue::Number(3.0))
    );
    assert_eq!(
        store.read_one(key("last_items", "u1")).unwrap(),
        Some(items)
    );
    assert_eq!(store.read_one(key("clicks", "u2")).unwrap(), None);
    put(store, "clicks", "u1", Some(FeatureValue::Number(0.25)));
    assert_eq!(
        store.read_one(key("clicks", "u1")).unwrap(),
        Some(FeatureValue::Number(0.25))
    );
    put(store, "clicks", "u1", None);
    assert_eq!(store.read_one(key("clicks", "u1")).unwrap(), None);
}

fn values_expire_after_the_ttl(backend: fn(u64) -> Backend) {
    let b = backend(1);
    let store = &*b.store;
    put(store, "ctr", "i1", Some(FeatureValue::Number(0.5)));
    assert!(store.read_one(key("ctr", "i1")).unwrap().is_some());
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(store.read_one(key("ctr", "i1")).unwrap(), None);
    // A write after expiry (which also evicts expired values) stores a fresh value.
    put(store, "ctr", "i2", Some(FeatureValue::Number(1.0)));
    assert_eq!(store.read_one(key("ctr", "i1")).unwrap(), None);
    assert!(store.read_one(key("ctr", "i2")).unwrap().is_some());
}

fn one_user_and_500_items_in_one_read(backend: fn(u64) -> Backend) {
    let b = backend(3600);
    let store = &*b.store;
    let items: Vec<String> = (0..500).map(|i| format!("item{i}")).collect();
    let mut writes = vec![FeatureWrite {
        key: key("user_clicks", "u1"),
        value: Some(FeatureValue::Number(7.0)),
    }];
    for (i, item) in items.iter().enumerate().filter(|(i, _)| i % 2 == 0) {
        writes.push(FeatureWrite {
            key: key("item_ctr", item),
            value: Some(FeatureValue::Number(i as f64)),
        });
    }
    store.write(&writes).unwrap();
    let ids: Vec<&str> = items.iter().map(String::as_str).collect();
    let found = read_user_and_items(
        store,
        "u1",
        &["user_clicks", "user_last"],
        &ids,
        &["item_ctr"],
    )
    .unwrap();
    assert_eq!(found.user, [Some(FeatureValue::Number(7.0)), None]);
    assert_eq!(found.items.len(), 500);
    for (i, values) in found.items.iter().enumerate() {
        let expected = (i % 2 == 0).then_some(FeatureValue::Number(i as f64));
        assert_eq!(values, &[expected], "item {i}");
    }
}

fn checkpoints_are_kept_by_name(backend: fn(u64) -> Backend) {
    let b = backend(1);
    let store = &*b.store;
    assert_eq!(store.load_checkpoint("windows").unwrap(), None);
    store
        .save_checkpoint("windows", b"{\"position\":1}")
        .unwrap();
    store
        .save_checkpoint("windows", b"{\"position\":2}")
        .unwrap();
    store.save_checkpoint("other", b"x").unwrap();
    assert_eq!(
        store.load_checkpoint("windows").unwrap().as_deref(),
        Some(&b"{\"position\":2}"[..])
    );
    assert_eq!(
        store.load_checkpoint("other").unwrap().as_deref(),
        Some(&b"x"[..])
    );
}

macro_rules! contract {
    ($($backend:ident),*) => {$(
        mod $backend {
            #[test]
            fn point_reads_see_writes_and_deletes() {
                super::point_reads_see_writes_and_deletes(super::$backend);
            }
            #[test]
            fn values_expire_after_the_ttl() {
                super::values_expire_after_the_ttl(super::$backend);
            }
            #[test]
            fn one_user_and_500_items_in_one_read() {
                super::one_user_and_500_items_in_one_read(super::$backend);
            }
            #[test]
            fn checkpoints_are_kept_by_name() {
                super::checkpoints_are_kept_by_name(super::$backend);
            }
        }
    )*};
}

contract!(embedded, redis);

#[test]
fn redis_batched_read_is_one_round_trip() {
    let store = redis_store(3600);
    let items: Vec<String> = (0..500).map(|i| format!("item{i}")).collect();
    let ids: Vec<&str> = items.iter().map(String::as_str).collect();
    let before = store.round_trips();
    read_user_and_items(&store, "u1", &["a", "b"], &ids, &["c", "d", "e"]).unwrap();
    assert_eq!(store.round_trips() - before, 1);
}

#[test]
fn embedded_values_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = EmbeddedFeatureStore::open(dir.path(), 0).unwrap();
        put(&store, "f", "e", Some(FeatureValue::Number(1.0)));
        store.save_checkpoint("c", b"1").unwrap();
    }
    let store = EmbeddedFeatureStore::open(dir.path(), 0).unwrap();
    assert_eq!(
        store.read_one(key("f", "e")).unwrap(),
        Some(FeatureValue::Number(1.0))
    );
}
