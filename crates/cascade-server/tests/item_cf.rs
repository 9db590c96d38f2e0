//! Item-CF in the server: recalls read neighbour lists that a background thread refreshes
//! from the counts the event stream keeps (`ItemCfConf.NeighbourRefreshSeconds`), and that
//! are computed once from the replayed events before a restarted server is ready.

mod common;

use std::time::{Duration, Instant};

use common::JSON;

use axum::Router;
use axum::http::{Method, StatusCode};
use cascade_core::config::CascadeConfig;
use cascade_server::App;
use cascade_server::serve::router;
use serde_json::{Value, json};

/// A scene `home` recalling only with item-CF, whose lists are refreshed every second.
const CF_SCENE: &str = r#"{
  "ItemSchema": {"Fields": {"title": "text"}},
  "RecallConfs": [{"Name": "cf", "RecallType": "ItemCollaborativeFilterRecall",
                   "RecallCount": 10, "TimeoutMs": 5000}],
  "SceneConfs": {"home": {"default": {"RecallNames": ["cf"]}}},
  "EngineConf": {"TimeoutMs": 5000},
  "ItemCfConf": {"NeighbourRefreshSeconds": 1}}"#;

async fn send(router: &Router, method: Method, uri: &str, body: Value) -> (StatusCode, Value) {
    common::send(router, method, uri, JSON, body.to_string().into_bytes()).await
}

/// The `(item id, retrieve id)` pairs recommended to `uid`, sorted.
async fn recommended(router: &Router, uid: &str) -> Vec<(String, String)> {
    let ask = json!({"uid": uid, "scene_id": "home", "size": 10});
    let (status, response) = send(router, Method::POST, "/api/recommend", ask).await;
    assert_eq!(status, StatusCode::OK, "{response}");
    let mut served: Vec<(String, String)> = response["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            let id = item["item_id"].as_str().unwrap().to_string();
            (id, item["retrieve_id"].as_str().unwrap().to_string())
        })
        .collect();
    served.sort_unstable();
    served
}

/// The scene of [`CF_SCENE`] with lists refreshed every `refresh_seconds`, over `dir`.
fn config(dir: &std::path::Path, refresh_seconds: u64) -> CascadeConfig {
    let mut config = CascadeConfig::parse(CF_SCENE).unwrap();
    config.storage_conf.data_dir = dir.to_owned();
    config.item_cf_conf.neighbour_refresh_seconds = refresh_seconds;
    config
}

/// Items x, y, z; `a` read x and y, `b` x and z: y and z are x's neighbours; `me` read only
/// x. Returns once the events are applied.
async fn read_together(app: &App, router: &Router) {
    for id in ["x", "y", "z"] {
        let item = json!({"fields": {"title": format!("item {id}")}});
        let (status, body) = send(router, Method::PUT, &format!("/api/items/{id}"), item).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let reads = [("a", "x"), ("a", "y"), ("b", "x"), ("b", "z"), ("me", "x")];
    let events: Vec<Value> = reads
        .iter()
        .enumerate()
        .map(|(n, (uid, item))| {
            json!({"event_id": format!("e{n}"), "type": "click", "uid": uid, "item_id": item,
                   "timestamp": 1_000 + n as i64})
        })
        .collect();
    let (status, body) = send(router, Method::POST, "/api/events", json!(events)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.stream.wait_applied(reads.len() as u64).await;
}

/// What `me` is recommended once x's neighbour list is known.
fn neighbours_of_x() -> Vec<(String, String)> {
    vec![("y".into(), "cf".into()), ("z".into(), "cf".into())]
}

#[tokio::test]
async fn item_cf_recall_serves_the_lists_the_background_refresh_computes() {
    let dir = tempfile::tempdir().unwrap();
    let app = App::open(config(dir.path(), 1)).unwrap();
    let router = router(app.clone());
    read_together(&app, &router).await;

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let served = recommended(&router, "me").await;
        if served == neighbours_of_x() {
            break;
        }
        assert!(
            served.is_empty() && Instant::now() < deadline,
            "no refreshed neighbour list within 30 s, or a wrong one: {served:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn after_a_restart_the_lists_are_computed_before_the_server_is_ready() {
    let dir = tempfile::tempdir().unwrap();
    // No periodic refresh within the test: only the start-up priming computes lists.
    let hour = 3600;
    let app = App::open(config(dir.path(), hour)).unwrap();
    read_together(&app, &router(app.clone())).await;
    app.persist_indexes().unwrap();
    drop(app);

    let app = App::open(config(dir.path(), hour)).unwrap();
    tokio::time::timeout(Duration::from_secs(30), app.wait_ready())
        .await
        .expect("ready within 30 s of the restart");
    assert_eq!(
        recommended(&router(app.clone()), "me").await,
        neighbours_of_x()
    );
}
