//! Enrichers in the server, without window features: an event posted over the API is run
//! through the text embedding enricher and its vector read back with `POST /api/features`;
//! an enricher whose model cannot be loaded is left out and the server still starts.

mod common;

use common::JSON;

use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use cascade_core::config::CascadeConfig;
use cascade_infer::{TextEncoder, default_model_dir};
use cascade_server::App;
use cascade_server::serve::router;
use serde_json::{Value, json};

async fn send(app: &Arc<App>, method: Method, uri: &str, body: Value) -> (StatusCode, Value) {
    let body = body.to_string().into_bytes();
    common::send(&router(app.clone()), method, uri, JSON, body).await
}

fn config(dir: &std::path::Path) -> CascadeConfig {
    let missing = dir.join("missing.onnx");
    let mut config = CascadeConfig::parse(&format!(
        r#"{{
            "ItemSchema": {{"Fields": {{"title": "text", "price": "numeric"}}}},
            "EnricherConfs": [
                {{"Name": "item_title_vec", "Type": "text_embedding", "Key": "item",
                  "Fields": ["title"], "BatchSize": 4, "MaxWaitMs": 5}},
                {{"Name": "broken_score", "Type": "onnx", "Key": "item",
                  "ModelPath": "{}", "Features": ["item.price"], "Default": 0}}
            ]
        }}"#,
        missing.display()
    ))
    .unwrap();
    config.storage_conf.data_dir = dir.to_owned();
    config
}

#[tokio::test(flavor = "multi_thread")]
async fn a_posted_event_is_enriched_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let app = App::open(config(dir.path())).unwrap();
    let features = app.features.as_ref().expect("enrichers are declared");
    let started: Vec<&str> = features.enrichers().iter().map(|e| e.name()).collect();
    assert_eq!(
        started,
        ["item_title_vec"],
        "the broken enricher is left out"
    );
    assert!(app.is_ready());

    let item = json!({"fields": {"title": "The Hobbit", "price": 9.5}});
    let (status, body) = send(&app, Method::PUT, "/api/items/hobbit", item).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let event = json!([{"event_id": "e1", "type": "click", "uid": "u1", "item_id": "hobbit",
                        "timestamp": 1_704_067_200_000_i64}]);
    let (status, body) = send(&app, Method::POST, "/api/events", event).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let enricher = features.enrichers()[0].clone();
    let done =
        tokio::task::spawn_blocking(move || enricher.wait_completed(1, Duration::from_secs(120)));
    assert!(done.await.unwrap(), "the event was not enriched in time");

    let request = json!({"items": ["hobbit", "unseen"], "item_features": ["item_title_vec"]});
    let (status, body) = send(&app, Method::POST, "/api/features", request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let found: Vec<f32> =
        serde_json::from_value(body["items"][0]["features"]["item_title_vec"].clone())
            .unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(body["items"][1]["features"]["item_title_vec"], Value::Null);
    let dir = default_model_dir();
    let encoder = TextEncoder::load(&dir).unwrap_or_else(|err| {
        panic!(
            "this test needs the all-MiniLM-L6-v2 model in {}: run scripts/install-model.sh: {err}",
            dir.display()
        )
    });
    let expected = encoder.encode(&["The Hobbit"]).unwrap().remove(0);
    assert_eq!(found.len(), expected.len());
    let diff = found
        .iter()
        .zip(&expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(diff < 1e-5, "max abs diff {diff}");

    let request = json!({"uid": "u1", "user_features": ["item_title_vec"]});
    let (status, body) = send(&app, Method::POST, "/api/features", request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body.to_string().contains("kept per item, not per user"),
        "{body}"
    );
}
