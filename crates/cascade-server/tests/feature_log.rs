//! Feature logging end to end: recommend responses are logged with their request ids and
//! positions, a click names one of them, and the training join over the log and the event log
//! labels exactly that row.

mod common;

use common::JSON;

use std::sync::Arc;

use axum::Router;
use axum::http::{Method, StatusCode};
use cascade_core::Event;
use cascade_core::config::CascadeConfig;
use cascade_core::time::now_ms;
use cascade_rank::logging::{LabelRule, training_data_from_logs};
use cascade_server::App;
use cascade_server::serve::router;
use serde_json::{Value, json};

const FEATURES: &str = r#"["item.year", "recall_score.popular", "user_activity"]"#;

fn config(dir: &std::path::Path, features: &str) -> CascadeConfig {
    let mut config = CascadeConfig::parse(&format!(
        r#"{{
            "ItemSchema": {{"Fields": {{"year": "numeric"}}}},
            "PopularConf": {{"RefreshMillis": 0}},
            "FeatureLogConf": {{"Enabled": true, "SampleRate": 1, "Features": {features},
                                "FlushMillis": 10}}
        }}"#
    ))
    .unwrap();
    config.storage_conf.data_dir = dir.to_owned();
    config
}

async fn send(router: &Router, method: Method, uri: &str, body: Value) -> (StatusCode, Value) {
    common::send(router, method, uri, JSON, body.to_string().into_bytes()).await
}

/// Posts events and waits until the stream runtime has applied them.
async fn post_events(app: &Arc<App>, router: &Router, events: Value) {
    let (status, body) = send(router, Method::POST, "/api/events", events).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let logged = *app.stores.events.durable_len().borrow();
    app.stream.wait_applied(logged).await;
}

fn item_ids(response: &Value) -> Vec<String> {
    response["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["item_id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_click_labels_the_logged_row_of_its_request_and_item() {
    let dir = tempfile::tempdir().unwrap();
    let app = App::open(config(dir.path(), FEATURES)).unwrap();
    let router = router(app.clone());
    for (id, year) in [("a", 1990), ("b", 2000), ("c", 2010)] {
        let item = json!({"fields": {"year": year}});
        let (status, body) = send(&router, Method::PUT, &format!("/api/items/{id}"), item).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // Popularity: a 3 users, b 2, c 1 (clicks without a request id: they label nothing).
    let history: Vec<Value> = [
        ("x", "a"),
        ("y", "a"),
        ("z", "a"),
        ("x", "b"),
        ("y", "b"),
        ("x", "c"),
    ]
    .iter()
    .enumerate()
    .map(|(i, (uid, item))| {
        json!({"event_id": format!("h{i}"), "type": "click", "uid": uid, "item_id": item,
                   "timestamp": 1_000 + i as i64})
    })
    .collect();
    post_events(&app, &router, Value::Array(history)).await;

    let ask = json!({"uid": "new", "size": 10});
    let (status, first) = send(&router, Method::POST, "/api/recommend", ask.clone()).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (_, second) = send(&router, Method::POST, "/api/recommend", ask).await;
    assert_eq!(item_ids(&first), ["a", "b", "c"]);
    assert_eq!(item_ids(&second), ["a", "b", "c"]);
    let first_id = first["request_id"].as_str().unwrap().to_string();
    let second_id = second["request_id"].as_str().unwrap().to_string();

    // The user clicks b, shown at position 1 by the first response.
    let click = json!({"event_id": "c1", "type": "click", "uid": "new", "item_id": "b",
                       "timestamp": now_ms(),
                       "context": {"request_id": first_id, "position": 1}});
    post_events(&app, &router, json!([click])).await;

    // Shut down as `cascade serve` does: the logger is closed and its file synced.
    app.persist_indexes().unwrap();
    let logged = *app.stores.events.durable_len().borrow();
    let events: Vec<Event> = app
        .stores
        .events
        .read_from(0, logged as usize)
        .unwrap()
        .into_iter()
        .map(|logged| logged.event)
        .collect();
    let log_dir = dir.path().join("feature-log");
    let joined = training_data_from_logs(&log_dir, events, &LabelRule::default()).unwrap();

    let rows: Vec<(&str, &str, u32)> = joined
        .rows
        .iter()
        .map(|r| (r.request_id.as_str(), r.item_id.as_str(), r.position))
        .collect();
    let (first_id, second_id) = (first_id.as_str(), second_id.as_str());
    assert_eq!(
        rows,
        [
            (first_id, "a", 0),
            (first_id, "b", 1),
            (first_id, "c", 2),
            (second_id, "a", 0),
            (second_id, "b", 1),
            (second_id, "c", 2),
        ],
        "one query per request, in the order served, rows by position"
    );
    assert_eq!(joined.data.labels(), [0.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
    assert_eq!(joined.data.groups(), [3, 3]);
    assert_eq!(
        (joined.counts.positives, joined.counts.matched_events),
        (1, 1)
    );
    assert_eq!(joined.counts.events_without_request, 6);
    assert_eq!(
        joined.features.names(),
        ["item.year", "recall_score.popular", "user_activity"]
    );
    // The features as served: the item's year and the popularity score it was recalled with.
    let features = joined.data.features();
    assert_eq!(features.row(0)[..2], [1990.0, 3.0]);
    assert_eq!(features.row(1)[..2], [2000.0, 2.0]);
    assert_eq!(features.row(5)[..2], [2010.0, 1.0]);
    let stats = app.feature_log.as_ref().unwrap().stats();
    assert_eq!((stats.written, stats.dropped), (6, 0));
}

#[tokio::test]
async fn a_bad_feature_name_is_refused_at_start_naming_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let error = App::open(config(dir.path(), r#"["item.year", "popularity"]"#))
        .err()
        .expect("an unknown feature is refused")
        .to_string();
    assert!(error.contains("FeatureLogConf.Features[1]"), "{error}");
    assert!(error.contains("`popularity`"), "{error}");
}
