//! Item-CF in the server: recalls read neighbour lists that a background thread refreshes
//! from the counts the event stream keeps (`ItemCfConf.NeighbourRefreshSeconds`).

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

#[tokio::test]
async fn item_cf_recall_serves_the_lists_the_background_refresh_computes() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = CascadeConfig::parse(CF_SCENE).unwrap();
    config.storage_conf.data_dir = dir.path().to_owned();
    let app = App::open(config).unwrap();
    let router = router(app.clone());
    for id in ["x", "y", "z"] {
        let item = json!({"fields": {"title": format!("item {id}")}});
        let (status, body) = send(&router, Method::PUT, &format!("/api/items/{id}"), item).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // `a` read x and y, `b` x and z: y and z are x's neighbours; `me` read only x.
    let reads = [("a", "x"), ("a", "y"), ("b", "x"), ("b", "z"), ("me", "x")];
    let events: Vec<Value> = reads
        .iter()
        .enumerate()
        .map(|(n, (uid, item))| {
            json!({"event_id": format!("e{n}"), "type": "click", "uid": uid, "item_id": item,
                   "timestamp": 1_000 + n as i64})
        })
        .collect();
    let (status, body) = send(&router, Method::POST, "/api/events", json!(events)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.stream.wait_applied(reads.len() as u64).await;

    let expected = [
        ("y".to_string(), "cf".to_string()),
        ("z".into(), "cf".into()),
    ];
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let served = recommended(&router, "me").await;
        if served == expected {
            break;
        }
        assert!(
            served.is_empty() && Instant::now() < deadline,
            "no refreshed neighbour list within 30 s, or a wrong one: {served:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
