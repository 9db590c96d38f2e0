//! Window features in the server: events posted over the API update the declared features,
//! `POST /api/features` reads them, a restart resumes from the checkpoint without counting
//! twice, and every event's freshness is measured.

mod common;

use common::JSON;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::{Method, StatusCode};
use cascade_core::config::CascadeConfig;
use cascade_server::App;
use cascade_server::serve::router;
use serde_json::{Value, json};

/// 2024-01-01T00:00:00Z.
const T0: i64 = 1_704_067_200_000;

const FEATURES: &str = r#"
  "ItemSchema": {"Fields": {"category": "keyword"}},
  "WindowFeatureConfs": [
    {"Name": "user_clicks_1h", "Key": "user", "EventTypes": ["click"],
     "Window": {"Type": "tumbling", "Size": "1h"}, "Aggregation": {"Type": "count"}},
    {"Name": "user_categories_1h", "Key": "user", "EventTypes": ["click"],
     "Window": {"Type": "tumbling", "Size": "1h"},
     "Aggregation": {"Type": "distinct_count", "Of": "field:category"}},
    {"Name": "item_ctr_24h", "Key": "item", "Window": {"Type": "tumbling", "Size": "24h"},
     "Aggregation": {"Type": "ratio", "Numerator": ["click"], "Denominator": ["impression"]}}
  ]"#;

struct TestServer {
    app: Arc<App>,
    router: Router,
    dir: tempfile::TempDir,
}

impl TestServer {
    fn start(store: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let app = App::open(config(dir.path(), store)).unwrap();
        Self {
            router: router(app.clone()),
            app,
            dir,
        }
    }

    /// Stops as `cascade serve` does (checkpointing the features) and starts on the same data.
    fn restart(self) -> Self {
        let config = (*self.app.config()).clone();
        self.app.persist_indexes().unwrap();
        let Self {
            app,
            router: old,
            dir,
        } = self;
        drop(old);
        drop(app);
        let app = App::open(config).unwrap();
        Self {
            router: router(app.clone()),
            app,
            dir,
        }
    }

    async fn send(&self, method: Method, uri: &str, body: Value) -> (StatusCode, Value) {
        common::send(
            &self.router,
            method,
            uri,
            JSON,
            body.to_string().into_bytes(),
        )
        .await
    }

    async fn put_item(&self, id: &str, category: &str) {
        let item = json!({"fields": {"category": category}});
        let (status, body) = self
            .send(Method::PUT, &format!("/api/items/{id}"), item)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// Posts the events and waits until their effects are readable in the feature store.
    async fn post_events(&self, events: Vec<Value>) {
        let (status, body) = self.send(Method::POST, "/api/events", json!(events)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let logged = *self.app.stores.events.durable_len().borrow();
        self.features().wait_visible(logged).await;
    }

    async fn read(&self, request: Value) -> (StatusCode, Value) {
        self.send(Method::POST, "/api/features", request).await
    }

    fn features(&self) -> &cascade_server::features::LiveFeatures {
        self.app
            .features
            .as_ref()
            .expect("window features are declared")
    }
}

fn config(dir: &std::path::Path, store: &str) -> CascadeConfig {
    let mut config = CascadeConfig::parse(&format!("{{{FEATURES}, {store}}}")).unwrap();
    config.storage_conf.data_dir = dir.to_owned();
    config
}

const EMBEDDED: &str = r#""FeatureStoreConf": {"Backend": "embedded"}"#;

/// A Redis feature store under a prefix of its own (scripts/start-redis.sh starts the server).
fn redis() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let url =
        std::env::var("CASCADE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6390".into());
    let prefix = format!(
        "cascade-test:server-features:{}:{}:{}:",
        std::process::id(),
        cascade_core::time::now_ms(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    format!(
        r#""FeatureStoreConf": {{"Backend": "redis", "RedisUrl": "{url}", "KeyPrefix": "{prefix}"}}"#
    )
}

fn event(id: &str, kind: &str, uid: &str, item: &str, minute: i64) -> Value {
    json!({"event_id": id, "type": kind, "uid": uid, "item_id": item,
           "timestamp": T0 + minute * 60_000})
}

/// Impressions of i1 by four users and of i2 by two; u1 clicks i1 and i2, u2 clicks i2.
fn first_events() -> Vec<Value> {
    let mut events: Vec<Value> = ["u1", "u2", "u3", "u4"]
        .iter()
        .enumerate()
        .map(|(i, uid)| event(&format!("imp-a{i}"), "impression", uid, "i1", 1))
        .collect();
    events.push(event("imp-b1", "impression", "u1", "i2", 2));
    events.push(event("imp-b2", "impression", "u2", "i2", 2));
    events.push(event("click-1", "click", "u1", "i1", 3));
    events.push(event("click-2", "click", "u2", "i2", 4));
    events.push(event("click-3", "click", "u1", "i2", 5));
    events
}

fn u1_and_items() -> Value {
    json!({"uid": "u1", "user_features": ["user_clicks_1h", "user_categories_1h"],
           "items": ["i1", "i2", "i3"], "item_features": ["item_ctr_24h"]})
}

fn expected(u1_clicks: f64, u1_categories: f64, i1_ctr: f64, i2_ctr: f64) -> Value {
    json!({
        "code": 200, "msg": "ok", "uid": "u1",
        "user": {"user_clicks_1h": u1_clicks, "user_categories_1h": u1_categories},
        "items": [
            {"item_id": "i1", "features": {"item_ctr_24h": i1_ctr}},
            {"item_id": "i2", "features": {"item_ctr_24h": i2_ctr}},
            {"item_id": "i3", "features": {"item_ctr_24h": null}},
        ],
    })
}

async fn prepare(server: &TestServer) {
    server.put_item("i1", "books").await;
    server.put_item("i2", "music").await;
    server.post_events(first_events()).await;
}

#[tokio::test]
async fn posted_events_are_readable_as_features_in_one_request() {
    let server = TestServer::start(EMBEDDED);
    prepare(&server).await;
    let (status, body) = server.read(u1_and_items()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, expected(2.0, 2.0, 0.25, 1.0));
    let (status, body) = server
        .read(json!({"uid": "u2", "user_features": ["user_clicks_1h"]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"], json!({"user_clicks_1h": 1.0}));
    assert_eq!(body["items"], json!([]));
}

#[tokio::test]
async fn window_features_read_an_item_field_as_written_last() {
    let server = TestServer::start(EMBEDDED);
    server.put_item("i9", "books").await;
    server
        .post_events(vec![event("c-1", "click", "u9", "i9", 1)])
        .await;
    // The item's category changes: the next click counts the new category (the engine's item
    // cache, which the features read through, forgot the old one).
    server.put_item("i9", "music").await;
    server
        .post_events(vec![event("c-2", "click", "u9", "i9", 2)])
        .await;
    let (status, body) = server
        .read(json!({"uid": "u9", "user_features": ["user_categories_1h"]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"], json!({"user_categories_1h": 2.0}));
}

#[tokio::test]
async fn a_restart_resumes_from_the_checkpoint_without_counting_twice() {
    for store in [EMBEDDED.to_string(), redis()] {
        let server = TestServer::start(&store);
        prepare(&server).await;
        let logged = *server.app.stores.events.durable_len().borrow();
        let server = server.restart();
        // The features' runtime starts at the checkpoint, not at the beginning of the log.
        assert_eq!(server.features().applied(), logged, "{store}");
        server
            .post_events(vec![
                event("click-4", "click", "u1", "i1", 6),
                event("imp-a9", "impression", "u9", "i1", 6),
            ])
            .await;
        let (status, body) = server.read(u1_and_items()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body, expected(3.0, 2.0, 0.4, 1.0), "{store}");
        let ready = tokio::time::timeout(Duration::from_secs(30), server.app.wait_ready());
        assert!(ready.await.is_ok(), "{store}: not ready within 30 s");
    }
}

#[tokio::test]
async fn bad_requests_name_the_field() {
    let server = TestServer::start(EMBEDDED);
    let cases = [
        (
            json!({"uid": "u1", "user_features": ["nope", "item_ctr_24h"]}),
            vec!["user_features[0]", "user_features[1]"],
        ),
        (json!({"user_features": ["user_clicks_1h"]}), vec!["uid"]),
        (json!({"items": ["i1"]}), vec!["user_features"]),
        (
            json!({"items": ["i1"], "item_features": ["user_clicks_1h"]}),
            vec!["item_features[0]"],
        ),
        (
            json!({"items": [1], "item_features": ["item_ctr_24h"]}),
            vec!["items[0]"],
        ),
        (
            json!({"items": vec!["i"; 1001], "item_features": ["item_ctr_24h"]}),
            vec!["items"],
        ),
        (json!({"size": 3}), vec!["size"]),
    ];
    for (request, fields) in cases {
        let (status, body) = server.read(request.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{request}: {body}");
        let named: Vec<&str> = body["details"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["field"].as_str().unwrap())
            .collect();
        assert_eq!(named, fields, "{request}: {body}");
    }
    let (_, body) = server
        .read(json!({"items": ["i1"], "item_features": ["user_clicks_1h"]}))
        .await;
    assert_eq!(
        body["details"][0]["reason"],
        "`user_clicks_1h` is kept per user, not per item"
    );
}

#[tokio::test]
async fn without_window_features_the_route_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = CascadeConfig::default();
    config.storage_conf.data_dir = dir.path().to_owned();
    let app = App::open(config).unwrap();
    assert!(app.features.is_none());
    let server = TestServer {
        router: router(app.clone()),
        app,
        dir,
    };
    let (status, body) = server
        .read(json!({"uid": "u1", "user_features": ["user_clicks_1h"]}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["details"][0]["reason"],
        "no window feature is declared (WindowFeatureConfs)"
    );
}

/// The `_count` of the freshness histogram in the Prometheus text.
async fn freshness_samples(server: &TestServer) -> u64 {
    let (status, body) = server.send(Method::GET, "/metrics", json!(null)).await;
    assert_eq!(status, StatusCode::OK);
    let text = body.as_str().unwrap_or_default().to_string();
    text.lines()
        .find_map(|line| line.strip_prefix("cascade_feature_freshness_seconds_count "))
        .map_or(0, |count| count.trim().parse().unwrap())
}

#[tokio::test]
async fn every_posted_event_gets_a_freshness_sample() {
    let server = TestServer::start(EMBEDDED);
    let before = freshness_samples(&server).await;
    prepare(&server).await;
    // Samples are recorded by a thread of their own, just after the write they wait for.
    let posted = first_events().len() as u64;
    let mut after = freshness_samples(&server).await;
    for _ in 0..100 {
        if after >= before + posted {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        after = freshness_samples(&server).await;
    }
    assert!(after >= before + posted, "{before} → {after}");
}
