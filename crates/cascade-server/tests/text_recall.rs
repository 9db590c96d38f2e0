//! BM25 as a ranking feature: a scene that recalls with a `TextRecall` serves the items
//! matching the request's query, and the feature log records for each of them the BM25 score
//! and rank `POST /api/search` gives the same query.

mod common;

use common::JSON;

use axum::Router;
use axum::http::{Method, StatusCode};
use cascade_core::config::CascadeConfig;
use cascade_rank::logging::{LabelRule, training_data_from_logs};
use cascade_server::App;
use cascade_server::serve::router;
use serde_json::{Value, json};

/// A scene `search` recalling with `TextRecall` `bm25`; its BM25 score and rank are logged.
const SEARCH_SCENE: &str = r#"
  "RecallConfs": [{"Name": "bm25", "RecallType": "TextRecall", "RecallCount": 10,
                   "TimeoutMs": 5000}],
  "SceneConfs": {"search": {"default": {"RecallNames": ["bm25"]}}},
  "EngineConf": {"TimeoutMs": 5000},
  "FeatureLogConf": {"Enabled": true, "Features": ["recall_score.bm25", "recall_rank.bm25"],
                     "FlushMillis": 10}"#;

const QUERY: &str = "hunger fire";

fn config(dir: &std::path::Path, schema: &str) -> CascadeConfig {
    let mut config = CascadeConfig::parse(&format!(
        r#"{{"ItemSchema": {{"Fields": {schema}}}, {SEARCH_SCENE}}}"#
    ))
    .unwrap();
    config.storage_conf.data_dir = dir.to_owned();
    // Commit the text index with every write: the tests search for what they just wrote.
    config.search_conf.refresh_ms = 0;
    config
}

async fn send(router: &Router, method: Method, uri: &str, body: Value) -> (StatusCode, Value) {
    common::send(router, method, uri, JSON, body.to_string().into_bytes()).await
}

/// `(item id, text_score)` of `POST /api/search` for `query`, best first.
async fn bm25_scores(router: &Router, query: &str) -> Vec<(String, f64)> {
    let (status, body) = send(
        router,
        Method::POST,
        "/api/search",
        json!({"query": query, "size": 10}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut scores: Vec<(String, f64)> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            let id = item["item_id"].as_str().unwrap().to_string();
            (id, item["text_score"].as_f64().unwrap())
        })
        .collect();
    scores.sort_by(|a, b| b.1.total_cmp(&a.1));
    scores
}

#[tokio::test]
async fn a_text_recall_logs_the_bm25_score_and_rank_search_gives() {
    let dir = tempfile::tempdir().unwrap();
    let app = App::open(config(dir.path(), r#"{"title": "text"}"#)).unwrap();
    let router = router(app.clone());
    for (id, title) in [
        ("1", "The Hunger Games"),
        ("2", "Catching Fire: The Hunger Games"),
        ("3", "Mockingjay"),
        ("4", "The Girl Who Played with Fire"),
        ("5", "The Great Gatsby"),
    ] {
        let item = json!({"fields": {"title": title}});
        let (status, body) = send(&router, Method::PUT, &format!("/api/items/{id}"), item).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let bm25 = bm25_scores(&router, QUERY).await;
    let mut matching: Vec<&str> = bm25.iter().map(|(id, _)| id.as_str()).collect();
    matching.sort_unstable();
    assert_eq!(matching, ["1", "2", "4"], "{bm25:?}");
    assert!(
        bm25.windows(2).all(|w| w[0].1 > w[1].1),
        "distinct scores, so that ranks are unambiguous: {bm25:?}"
    );

    let ask = json!({"uid": "reader", "scene_id": "search", "size": 10,
                     "features": {"query": QUERY}});
    let (status, response) = send(&router, Method::POST, "/api/recommend", ask).await;
    assert_eq!(status, StatusCode::OK, "{response}");
    assert!(response.get("degraded").is_none(), "{response}");
    let mut served: Vec<(&str, &str)> = response["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            let id = item["item_id"].as_str().unwrap();
            (id, item["retrieve_id"].as_str().unwrap())
        })
        .collect();
    served.sort_unstable();
    assert_eq!(
        served,
        [("1", "bm25"), ("2", "bm25"), ("4", "bm25")],
        "only the items matching the query are recalled"
    );
    let request_id = response["request_id"].as_str().unwrap().to_string();

    // Shut down as `cascade serve` does: the logger is closed and its file synced.
    app.persist_indexes().unwrap();
    let log_dir = dir.path().join("feature-log");
    let logged = training_data_from_logs(&log_dir, Vec::new(), &LabelRule::default()).unwrap();
    assert_eq!(
        logged.features.names(),
        ["recall_score.bm25", "recall_rank.bm25"]
    );
    assert_eq!(logged.rows.len(), 3);
    let features = logged.data.features();
    for (row, origin) in logged.rows.iter().enumerate() {
        assert_eq!(origin.request_id, request_id);
        let rank = bm25
            .iter()
            .position(|(id, _)| *id == origin.item_id)
            .unwrap_or_else(|| panic!("{} does not match {QUERY:?}", origin.item_id));
        let expected = [bm25[rank].1, (rank + 1) as f64];
        assert_eq!(features.row(row), expected, "item {}", origin.item_id);
    }
}

#[tokio::test]
async fn a_text_recall_without_a_searchable_field_or_with_a_cache_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let error = App::open(config(dir.path(), r#"{"year": "numeric"}"#))
        .err()
        .expect("a TextRecall needs a text index")
        .to_string();
    assert!(error.contains("RecallConfs[0].RecallType"), "{error}");
    assert!(
        error.contains(
            "TextRecall needs a searchable field (SearchConf.Fields or a text field in ItemSchema)"
        ),
        "{error}"
    );

    let dir = tempfile::tempdir().unwrap();
    let mut cached = config(dir.path(), r#"{"title": "text"}"#);
    cached.recommend.recall_confs[0]
        .settings
        .insert("CacheSeconds".into(), json!(60));
    let error = App::open(cached)
        .err()
        .expect("a per-user cache of per-query results is refused")
        .to_string();
    assert!(error.contains("RecallConfs[0].CacheSeconds"), "{error}");
}
