//! The HTTP API in process: ingestion (including every kind of bad input), records,
//! recommendations and metrics.

mod common;

use common::JSON;

use std::collections::HashSet;
use std::sync::Arc;

use axum::Router;
use axum::http::{Method, StatusCode};
use cascade_core::config::CascadeConfig;
use cascade_retrieval::IndexOrigin;
use cascade_server::App;
use cascade_server::serve::router;
use cascade_store::{EmbeddedStore, ItemStore};
use serde_json::{Value, json};

struct TestServer {
    app: Arc<App>,
    router: Router,
    _dir: tempfile::TempDir,
}

impl TestServer {
    fn new() -> Self {
        Self::with_config(|_| {})
    }

    fn with_config(adjust: impl FnOnce(&mut CascadeConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = CascadeConfig::default();
        config.storage_conf.data_dir = dir.path().to_owned();
        config.popular_conf.refresh_millis = 0;
        config
            .item_schema
            .fields
            .insert("year".into(), cascade_core::FieldType::Numeric);
        config.item_schema.embeddings.insert("v".into(), 3);
        adjust(&mut config);
        // Commit the text index with every write: the tests search for what they just wrote.
        config.search_conf.refresh_ms = 0;
        let app = App::open(config).unwrap();
        Self {
            router: router(app.clone()),
            app,
            _dir: dir,
        }
    }

    /// Stops as `cascade serve` does (saving the indexes), runs `offline` on the data
    /// directory while no server holds it, and starts again on the same data.
    fn restart(self, offline: impl FnOnce(&std::path::Path)) -> Self {
        let config = (*self.app.config()).clone();
        self.restart_offline(config, offline)
    }

    /// Like [`restart`](Self::restart) with another configuration.
    fn restart_with(self, config: CascadeConfig) -> Self {
        self.restart_offline(config, |_| {})
    }

    fn restart_offline(
        self,
        config: CascadeConfig,
        offline: impl FnOnce(&std::path::Path),
    ) -> Self {
        self.app.persist_indexes().unwrap();
        let Self { app, router, _dir } = self;
        drop(router);
        drop(app);
        offline(_dir.path());
        let app = App::open(config).unwrap();
        Self {
            router: cascade_server::serve::router(app.clone()),
            app,
            _dir,
        }
    }

    fn index_origins(&self) -> Vec<IndexOrigin> {
        self.app.index_origins.iter().map(|(_, o)| *o).collect()
    }

    async fn send(
        &self,
        method: Method,
        uri: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        common::send(&self.router, method, uri, content_type, body).await
    }

    async fn post(&self, uri: &str, body: &str) -> (StatusCode, Value) {
        self.send(Method::POST, uri, JSON, body.as_bytes().to_vec())
            .await
    }

    async fn events(&self, events: Value) -> (StatusCode, Value) {
        self.post("/api/events", &events.to_string()).await
    }

    fn stored_events(&self) -> u64 {
        *self.app.stores.events.durable_len().borrow()
    }

    async fn put_item(&self, id: &str) {
        let (status, body) = self
            .send(
                Method::PUT,
                &format!("/api/items/{id}"),
                JSON,
                b"{}".to_vec(),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

fn click(id: &str, uid: &str, item: &str, timestamp: i64) -> Value {
    json!({"event_id": id, "type": "click", "uid": uid, "item_id": item, "timestamp": timestamp})
}

fn reason(body: &Value, index: usize) -> &str {
    body["details"][index]["reason"].as_str().unwrap()
}

fn details(body: &Value) -> Vec<(Option<u64>, String)> {
    body["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["index"].as_u64(),
                d["field"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_valid_batch_is_acknowledged_and_duplicates_are_counted() {
    let server = TestServer::new();
    let (status, body) = server
        .events(json!([
            click("a", "u", "i", 1),
            click("b", "u", "i", 2),
            click("a", "u", "i", 1)
        ]))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["accepted"], 2);
    assert_eq!(body["duplicates"], 1);
    assert_eq!(body["duplicate_ids"], json!(["a"]));
    assert_eq!(server.stored_events(), 2);
}

#[tokio::test]
async fn ndjson_is_accepted_and_a_malformed_line_is_named() {
    let server = TestServer::new();
    let good = format!("{}\n{}\n", click("a", "u", "i", 1), click("b", "u", "i", 2));
    let (status, body) = server
        .send(
            Method::POST,
            "/api/events",
            "application/x-ndjson",
            good.into_bytes(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["accepted"], 2);

    let bad = format!("{}\n{{\"event_id\": \n", click("c", "u", "i", 1));
    let (status, body) = server
        .send(
            Method::POST,
            "/api/events",
            "application/x-ndjson",
            bad.into_bytes(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(details(&body), [(Some(1), String::new())]);
    assert!(reason(&body, 0).contains("line 2"));
}

#[tokio::test]
async fn malformed_json_is_a_400_that_says_so() {
    let server = TestServer::new();
    let (status, body) = server.post("/api/events", "[{\"event_id\": \"a\",").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["msg"].as_str().unwrap().contains("malformed JSON"),
        "{body}"
    );
    assert_eq!(body["code"], 400);
}

#[tokio::test]
async fn each_bad_record_is_named_by_index_field_and_reason_and_nothing_is_stored() {
    let server = TestServer::new();
    let (status, body) = server
        .events(json!([
            click("ok", "u", "i", 1),
            {"event_id": "x", "type": "click", "item_id": "i"},
            {"event_id": "y", "type": "teleport", "uid": "u", "item_id": "i"},
            {"event_id": "z", "type": "click", "uid": "u", "item_id": "i", "context": {"position": "top"}},
            {"event_id": "w", "type": "click", "uid": ["u"], "item_id": "i"},
            42,
        ]))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        details(&body),
        [
            (Some(1), "uid".to_string()),
            (Some(2), "type".to_string()),
            (Some(3), "context.position".to_string()),
            (Some(4), "uid".to_string()),
            (Some(5), String::new()),
        ]
    );
    let reasons: Vec<&str> = body["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["reason"].as_str().unwrap())
        .collect();
    assert!(reasons[0].contains("required"));
    assert!(reasons[1].contains("teleport"));
    assert!(body["msg"].as_str().unwrap().contains("5 of 6"));
    assert_eq!(server.stored_events(), 0, "an invalid batch stores nothing");
}

#[tokio::test]
async fn partial_mode_stores_the_valid_records_and_lists_the_rest() {
    let server = TestServer::new();
    let body = json!([click("ok", "u", "i", 1), {"event_id": "bad", "type": "click"}]).to_string();
    let (status, answer) = server.post("/api/events?partial=true", &body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["accepted"], 1);
    assert_eq!(answer["rejected"], 1);
    assert_eq!(
        details(&answer),
        [(Some(1), "uid".into()), (Some(1), "item_id".into())]
    );
    assert_eq!(server.stored_events(), 1);

    let (status, answer) = server.post("/api/events?partial=maybe", &body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(details(&answer), [(None, "partial".into())]);
}

#[tokio::test]
async fn oversize_bodies_and_batches_are_refused_with_json() {
    let server = TestServer::with_config(|c| {
        c.server_conf.max_body_bytes = 1024;
        c.server_conf.max_batch_records = 3;
    });
    let big: Vec<Value> = (0..50)
        .map(|i| click(&i.to_string(), "u", "i", 1))
        .collect();
    let (status, body) = server.events(Value::Array(big)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        body["msg"].as_str().unwrap().contains("MaxBodyBytes"),
        "{body}"
    );

    let four: Vec<Value> = (0..4).map(|i| click(&i.to_string(), "u", "i", 1)).collect();
    let (status, body) = server.events(Value::Array(four)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        body["msg"].as_str().unwrap().contains("MaxBatchRecords"),
        "{body}"
    );
    assert_eq!(server.stored_events(), 0);
}

#[tokio::test]
async fn a_garbage_body_over_the_record_limit_is_refused_by_its_count() {
    let server = TestServer::with_config(|c| c.server_conf.max_batch_records = 1000);
    let garbage = "x\n".repeat(200_000).into_bytes();
    for content_type in ["application/x-ndjson", JSON] {
        let (status, body) = server
            .send(Method::POST, "/api/events", content_type, garbage.clone())
            .await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
        let msg = body["msg"].as_str().unwrap();
        assert!(
            msg.contains("200000 records") && msg.contains("MaxBatchRecords"),
            "{msg}"
        );
        assert!(body["details"].as_array().unwrap().is_empty());
    }
    let array = format!("[{}0]", "0,".repeat(200_000));
    let (status, body) = server.post("/api/events", &array).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");

    let (status, body) = server
        .send(
            Method::POST,
            "/api/events",
            "application/x-ndjson",
            "x\n".repeat(1000).into_bytes(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["details"].as_array().unwrap().len(), 1000);
    assert_eq!(server.stored_events(), 0);
}

#[tokio::test]
async fn oversized_and_careless_values_are_refused_with_the_record_and_field_named() {
    let server = TestServer::new();
    let now = cascade_core::time::now_ms();
    let mut in_seconds = click("s", "u", "i", now / 1000);
    in_seconds["value"] = json!(1e308);
    let mut long_text = click("t", "u", "i", now);
    long_text["text"] = json!("x".repeat(10 << 20));
    let (status, body) = server
        .events(json!([click("ok", "u", "i", now), in_seconds, long_text]))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        details(&body),
        [
            (Some(1), "value".into()),
            (Some(1), "timestamp".into()),
            (Some(2), "text".into())
        ]
    );
    assert!(
        body["details"][1]["reason"]
            .as_str()
            .unwrap()
            .contains("looks like seconds"),
        "{body}"
    );

    let fields: serde_json::Map<String, Value> =
        (0..2000).map(|i| (format!("f{i}"), json!(i))).collect();
    let (status, body) = server
        .send(
            Method::PUT,
            "/api/items/wide",
            JSON,
            json!({"fields": fields}).to_string().into_bytes(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(details(&body), [(None, "fields".into())]);
    let (status, body) = server
        .send(
            Method::PUT,
            "/api/items/priced",
            JSON,
            json!({"fields": {"year": 1e308}}).to_string().into_bytes(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(details(&body), [(None, "fields.year".into())]);
    assert_eq!(server.stored_events(), 0);
}

#[tokio::test]
async fn popular_fills_the_requested_size_when_one_new_event_moves_the_window() {
    let server = TestServer::new();
    let spring_2017 = 1_491_004_800_000_i64;
    let mut events = Vec::new();
    for i in 0..12 {
        server.put_item(&format!("old{i:02}")).await;
        for n in 0..(12 - i) {
            let id = format!("h{i}-{n}");
            let uid = format!("reader{n}");
            events.push(click(
                &id,
                &uid,
                &format!("old{i:02}"),
                spring_2017 + n * 60_000,
            ));
        }
    }
    server.put_item("today").await;
    let history = events.len() as u64;
    assert_eq!(server.events(Value::Array(events)).await.0, StatusCode::OK);
    // As the demo's own example does: no timestamp, so it is stamped now.
    let live = json!({"event_id": "live", "type": "click", "uid": "someone", "item_id": "today"});
    assert_eq!(server.events(json!([live])).await.0, StatusCode::OK);
    server.app.stream.wait_applied(history + 1).await;

    let (status, body) = server
        .post("/api/recommend", r#"{"uid": "stranger", "size": 10}"#)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ids: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["item_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "today", "old00", "old01", "old02", "old03", "old04", "old05", "old06", "old07",
            "old08"
        ],
        "the window's one item, then what was popular before it"
    );
}

#[tokio::test]
async fn items_and_users_round_trip_and_bad_fields_are_named() {
    let server = TestServer::new();
    let item = json!({"fields": {"title": "Dune", "year": 1965, "tags": ["sf"]}, "embeddings": {"v": [1.0, 0.0, 0.5]}});
    let (status, body) = server
        .send(
            Method::PUT,
            "/api/items/42",
            JSON,
            item.to_string().into_bytes(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = server.send(Method::GET, "/api/items/42", "", vec![]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["fields"]["year"], 1965);
    assert_eq!(body["fields"]["tags"], json!(["sf"]));

    let bad =
        json!({"id": "43", "fields": {"year": "old"}, "embeddings": {"v": [1.0]}, "colour": 1});
    let (status, body) = server
        .send(
            Method::PUT,
            "/api/items/42",
            JSON,
            bad.to_string().into_bytes(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let fields: Vec<String> = details(&body).into_iter().map(|(_, f)| f).collect();
    assert_eq!(fields, ["id", "colour", "fields.year", "embeddings.v"]);

    let (status, _) = server
        .send(Method::DELETE, "/api/items/42", "", vec![])
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = server.send(Method::GET, "/api/items/42", "", vec![]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["msg"].as_str().unwrap().contains("42"));

    let user = json!({"attributes": {"age": 30}});
    let (status, _) = server
        .send(
            Method::PUT,
            "/api/users/u1",
            JSON,
            user.to_string().into_bytes(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, body) = server.send(Method::GET, "/api/users/u1", "", vec![]).await;
    assert_eq!(body["attributes"]["age"], 30);
}

#[tokio::test]
async fn recommend_returns_popular_items_the_user_has_not_seen() {
    let server = TestServer::new();
    for item in ["a", "b", "c", "gone"] {
        server.put_item(item).await;
    }
    let mut events = Vec::new();
    for (i, (uid, item)) in [
        ("x", "a"),
        ("y", "a"),
        ("z", "a"),
        ("x", "b"),
        ("y", "b"),
        ("x", "c"),
        ("x", "gone"),
        ("y", "gone"),
        ("z", "gone"),
        ("w", "gone"),
        ("x", "unknown"),
    ]
    .iter()
    .enumerate()
    {
        events.push(click(&i.to_string(), uid, item, 1_000 + i as i64));
    }
    let (status, _) = server.events(Value::Array(events)).await;
    assert_eq!(status, StatusCode::OK);
    server.app.stream.wait_applied(11).await;
    server
        .send(Method::DELETE, "/api/items/gone", "", vec![])
        .await;

    let (status, body) = server
        .post("/api/recommend", r#"{"uid": "new", "size": 10}"#)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ids: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["item_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["a", "b", "c"],
        "by popularity; deleted and unknown items never appear"
    );
    assert_eq!(body["items"][0]["retrieve_id"], "popular");
    assert_eq!(body["items"][0]["score"], 3.0);
    assert_eq!(body["size"], 3);
    assert!(body["request_id"].as_str().unwrap().len() > 10);

    let (_, body) = server
        .post("/api/rec/feed", r#"{"uid": "y", "size": 10}"#)
        .await;
    let ids: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["item_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["c"], "items y interacted with are excluded");
}

#[tokio::test]
async fn bad_recommend_requests_are_named() {
    let server = TestServer::new();
    for (body, field) in [
        (r#"{"size": 5}"#, ""),
        (r#"{"uid": "u", "size": 0}"#, "size"),
        (r#"{"uid": "u", "size": "ten"}"#, "size"),
        (r#"{"uid": "u", "colour": 1}"#, "colour"),
        (r#"{"uid": ""}"#, "uid"),
    ] {
        let (status, answer) = server.post("/api/recommend", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer["details"][0]["field"], field, "{body}: {answer}");
    }
    let (status, answer) = server.post("/api/recommend", r#"{"size": 5}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(reason(&answer, 0).contains("uid"));
}

#[tokio::test]
async fn metrics_count_requests_and_events() {
    let server = TestServer::new();
    server
        .events(json!([click("m1", "u", "i", 1), click("m1", "u", "i", 1)]))
        .await;
    server.events(json!([{"event_id": "bad"}])).await;
    let (status, text) = server.send(Method::GET, "/metrics", "", vec![]).await;
    assert_eq!(status, StatusCode::OK);
    let text = text.as_str().unwrap();
    for needle in [
        "cascade_events_total{outcome=\"accepted\"}",
        "cascade_events_total{outcome=\"duplicate\"}",
        "cascade_events_total{outcome=\"rejected\"}",
        "cascade_http_requests_total{route=\"/api/events\",method=\"POST\",status=\"200\"}",
        "cascade_http_request_duration_seconds_bucket{route=\"/api/events\",method=\"POST\",le=",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
}

#[tokio::test]
async fn health_ready_and_unknown_routes() {
    let server = TestServer::new();
    assert_eq!(
        server.send(Method::GET, "/health", "", vec![]).await.0,
        StatusCode::OK
    );
    assert_eq!(
        server.send(Method::GET, "/ready", "", vec![]).await.0,
        StatusCode::OK
    );
    let (status, body) = server.send(Method::GET, "/api/nothing", "", vec![]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], 404);
}

/// Random mutations of valid bodies, sent to every endpoint: the server answers each with
/// a status below 500 and keeps serving.
#[tokio::test]
async fn mangled_input_never_breaks_the_server() {
    use rand::{Rng, SeedableRng};
    let server = TestServer::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let seeds = [
        json!([click("a", "u", "i", 1), {"event_id": "b", "type": "like", "uid": 1, "item_id": 2, "value": 2.5, "context": {"position": 1, "extra": {"k": [1]}}}]).to_string(),
        json!({"uid": "u", "size": 3, "features": {"x": 1}, "debug": true}).to_string(),
        json!({"fields": {"title": "t", "year": 1, "tags": ["a"]}, "embeddings": {"v": [1, 2, 3]}}).to_string(),
    ];
    let targets = [
        (Method::POST, "/api/events"),
        (Method::POST, "/api/recommend"),
        (Method::PUT, "/api/items/fuzz"),
        (Method::PUT, "/api/users/fuzz"),
        (Method::POST, "/api/search"),
    ];
    let noise = [
        "{",
        "}",
        "[",
        "]",
        "\"",
        ",",
        ":",
        "null",
        "-1e999",
        "\u{0}",
        "\u{feff}",
        "\\",
        "99999999999999999999",
        "true",
    ];
    for round in 0..600 {
        let mut body: Vec<u8> = seeds[round % seeds.len()].clone().into_bytes();
        for _ in 0..rng.random_range(1..4) {
            let at = rng.random_range(0..=body.len());
            match rng.random_range(0..3) {
                0 if at < body.len() => {
                    body.remove(at);
                }
                1 => {
                    let piece = noise[rng.random_range(0..noise.len())];
                    body.splice(at..at, piece.bytes());
                }
                _ => {
                    body.insert(at, rng.random());
                }
            }
        }
        let (method, uri) = targets[round % targets.len()].clone();
        let content_type = if round % 5 == 0 {
            "application/x-ndjson"
        } else {
            JSON
        };
        let (status, answer) = server.send(method, uri, content_type, body).await;
        assert!(status.as_u16() < 500, "{uri} answered {status}: {answer}");
    }
    assert_eq!(
        server.send(Method::GET, "/health", "", vec![]).await.0,
        StatusCode::OK
    );
}

const RELOADED: &str = r#"{
    // a scene named "books", recalling the popular items
    "RecallConfs": [{"Name": "hot", "RecallType": "UserGlobalHotRecall", "RecallCount": 10}],
    "SceneConfs": {"books": {"default": {"RecallNames": ["hot"]}}}
}"#;

#[tokio::test]
async fn a_config_reload_takes_effect_and_a_broken_one_is_refused() {
    let server = TestServer::new();
    server.put_item("a").await;
    server.events(json!([click("e1", "x", "a", 1)])).await;
    server.app.stream.wait_applied(1).await;
    let (status, _) = server
        .post("/api/recommend", r#"{"uid": "u", "scene_id": "books"}"#)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "no such scene yet");

    let (status, body) = server
        .send(Method::PUT, "/api/admin/config", JSON, RELOADED.into())
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = server
        .post("/api/recommend", r#"{"uid": "u", "scene_id": "books"}"#)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["items"][0]["item_id"], "a");

    let broken = RELOADED.replace(r#""RecallNames": ["hot"]"#, r#""RecallNames": ["cold"]"#);
    let (status, body) = server
        .send(Method::PUT, "/api/admin/config", JSON, broken.into_bytes())
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["details"][0]["field"],
        "SceneConfs.books.default.RecallNames[0]"
    );
    let (status, _) = server
        .post("/api/recommend", r#"{"uid": "u", "scene_id": "books"}"#)
        .await;
    assert_eq!(status, StatusCode::OK, "the running config keeps serving");
    let (_, config) = server
        .send(Method::GET, "/api/admin/config", "", vec![])
        .await;
    assert_eq!(
        config["SceneConfs"]["books"]["default"]["RecallNames"],
        json!(["hot"])
    );

    let unknown_type = RELOADED.replace("UserGlobalHotRecall", "MagicRecall");
    let (status, body) = server
        .send(
            Method::PUT,
            "/api/admin/config",
            JSON,
            unknown_type.into_bytes(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["details"][0]["field"], "RecallConfs[0].RecallType");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_do_not_drop_requests_in_flight() {
    let server = Arc::new(TestServer::new());
    server.put_item("a").await;
    let requests = {
        let server = server.clone();
        tokio::spawn(async move {
            let mut statuses = Vec::new();
            for _ in 0..200 {
                statuses.push(server.post("/api/recommend", r#"{"uid": "u"}"#).await.0);
            }
            statuses
        })
    };
    for round in 0..20 {
        let config = if round % 2 == 0 {
            "{}"
        } else {
            "{\"EngineConf\": {\"TimeoutMs\": 60}}"
        };
        let (status, _) = server
            .send(Method::PUT, "/api/admin/config", JSON, config.into())
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let statuses = requests.await.unwrap();
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn debug_requests_carry_a_trace() {
    let server = TestServer::new();
    server.put_item("a").await;
    server.events(json!([click("e1", "x", "a", 1)])).await;
    server.app.stream.wait_applied(1).await;
    let (status, body) = server
        .post("/api/recommend", r#"{"uid": "u", "debug": true}"#)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let stages: Vec<&str> = body["trace"]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert!(stages.contains(&"recall:popular"), "{stages:?}");
    assert!(stages.contains(&"filter:interacted"), "{stages:?}");
    assert_eq!(
        body["trace"]["candidates"][0]["sources"],
        json!(["popular"])
    );
    let (_, plain) = server.post("/api/recommend", r#"{"uid": "u"}"#).await;
    assert!(plain.get("trace").is_none());
}

#[tokio::test]
async fn responses_are_logged_as_impressions_with_their_experiment() {
    let server = TestServer::with_config(|c| {
        *c = CascadeConfig::parse(&format!(
            r#"{{"EngineConf": {{"LogImpressions": true}}, "StorageConf": {{"DataDir": {:?}}},
                "RecallConfs": [{{"Name": "hot", "RecallType": "UserGlobalHotRecall"}}],
                "SceneConfs": {{"home": {{"default": {{"RecallNames": ["hot"]}}}}}},
                "ExperimentConfs": {{"Layers": [{{"Name": "l", "Experiments": [
                    {{"ExperimentId": "everyone", "Buckets": "0-99"}}]}}]}} }}"#,
            c.storage_conf.data_dir
        ))
        .unwrap();
    });
    server.put_item("a").await;
    server.events(json!([click("e1", "x", "a", 1)])).await;
    server.app.stream.wait_applied(1).await;
    let (status, body) = server
        .post("/api/recommend", r#"{"uid": "u", "scene_id": "home"}"#)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["experiment_id"], "everyone");
    let request_id = body["request_id"].as_str().unwrap().to_string();
    server.app.stream.wait_applied(2).await;
    let logged = server.app.stores.events.read_from(1, 10).unwrap();
    assert_eq!(logged.len(), 1);
    let impression = &logged[0].event;
    assert_eq!(impression.event_type, "impression");
    assert_eq!(impression.event_id, format!("{request_id}:0"));
    assert_eq!(
        impression.context.experiment_id.as_deref(),
        Some("everyone")
    );
    assert_eq!(impression.context.position, Some(0));
    assert_eq!(impression.context.scene.as_deref(), Some("home"));
}

#[tokio::test]
async fn similar_items_come_from_the_embedding_index_and_follow_writes() {
    let server = TestServer::new();
    for (id, v) in [
        ("a", [1.0, 0.0, 0.0]),
        ("b", [0.9, 0.1, 0.0]),
        ("c", [0.0, 1.0, 0.0]),
        ("d", [0.0, 0.0, 1.0]),
    ] {
        let body = json!({"embeddings": {"v": v}}).to_string();
        let (status, answer) = server
            .send(
                Method::PUT,
                &format!("/api/items/{id}"),
                JSON,
                body.into_bytes(),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    let (status, body) = server
        .send(Method::GET, "/api/items/a/similar?size=2", "", vec![])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["items"][0]["item_id"], "b");
    assert_eq!(body["size"], 2);

    server
        .send(Method::DELETE, "/api/items/b", "", vec![])
        .await;
    let (_, body) = server
        .send(Method::GET, "/api/items/a/similar?size=3", "", vec![])
        .await;
    let ids: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["item_id"].as_str().unwrap())
        .collect();
    assert!(!ids.contains(&"b") && !ids.contains(&"a"), "{ids:?}");

    let (status, body) = server
        .send(Method::GET, "/api/items/a/similar?size=0", "", vec![])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["details"][0]["field"], "size");
    let (status, _) = server
        .send(Method::GET, "/api/items/nope/similar", "", vec![])
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = server
        .send(Method::GET, "/api/items/a/similar?embedding=w", "", vec![])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["details"][0]["field"], "embedding");
}

#[tokio::test]
async fn vector_recall_serves_the_neighbours_of_the_users_recent_items() {
    let server = TestServer::with_config(|c| {
        let data_dir = c.storage_conf.data_dir.clone();
        *c = CascadeConfig::parse(
            r#"{"ItemSchema": {"Embeddings": {"v": 2}},
                "RecallConfs": [{"Name": "near", "RecallType": "VectorRecall", "Embedding": "v"}],
                "SceneConfs": {"home": {"default": {"RecallNames": ["near"]}}}}"#,
        )
        .unwrap();
        c.storage_conf.data_dir = data_dir;
    });
    for (id, v) in [
        ("east", [1.0, 0.0]),
        ("east2", [0.9, 0.2]),
        ("north", [0.0, 1.0]),
    ] {
        let body = json!({"embeddings": {"v": v}}).to_string();
        server
            .send(
                Method::PUT,
                &format!("/api/items/{id}"),
                JSON,
                body.into_bytes(),
            )
            .await;
    }
    server.events(json!([click("e1", "u", "east", 1)])).await;
    server.app.stream.wait_applied(1).await;
    let (status, body) = server
        .post(
            "/api/recommend",
            r#"{"uid": "u", "scene_id": "home", "size": 1}"#,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["items"][0]["item_id"], "east2");
    assert_eq!(body["items"][0]["retrieve_id"], "near");
}

fn search_server() -> TestServer {
    TestServer::with_config(|c| {
        c.search_conf = serde_json::from_value(json!({
            "Fields": {"title": {"Boost": 2.0}, "title_zh": {"Tokenizer": "chinese"}}
        }))
        .unwrap();
    })
}

async fn search(server: &TestServer, body: Value) -> (StatusCode, Vec<String>, Value) {
    let (status, answer) = server.post("/api/search", &body.to_string()).await;
    let ids = answer["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| i["item_id"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default();
    (status, ids, answer)
}

#[tokio::test]
async fn search_finds_titles_chinese_text_and_fuses_vectors() {
    let server = search_server();
    let books = [
        (
            "hp",
            "Harry Potter and the Philosopher's Stone",
            "",
            [1.0, 0.0, 0.0],
            1997,
        ),
        ("hobbit", "The Hobbit", "", [0.0, 1.0, 0.0], 1937),
        ("lotr", "The Lord of the Rings", "", [0.1, 0.9, 0.0], 1954),
        (
            "santi",
            "The Three-Body Problem",
            "三体",
            [0.0, 0.0, 1.0],
            2008,
        ),
        (
            "huozhe",
            "To Live",
            "活着是为了活着本身",
            [0.0, 0.1, 0.9],
            1993,
        ),
    ];
    for (id, title, zh, v, year) in books {
        let body = json!({"fields": {"title": title, "title_zh": zh, "year": year}, "embeddings": {"v": v}});
        let (status, answer) = server
            .send(
                Method::PUT,
                &format!("/api/items/{id}"),
                JSON,
                body.to_string().into_bytes(),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }

    let (status, ids, answer) = search(&server, json!({"query": "the hobbit"})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(ids[0], "hobbit");
    assert!(answer["items"][0]["text_score"].as_f64().unwrap() > 0.0);

    let (_, ids, _) = search(&server, json!({"query": "三体"})).await;
    assert_eq!(ids, ["santi"]);
    let (_, ids, _) = search(&server, json!({"query": "活着"})).await;
    assert_eq!(ids, ["huozhe"]);

    let (_, ids, _) = search(
        &server,
        json!({"query": "the", "filter": "year >= 1950", "size": 10}),
    )
    .await;
    assert!(
        !ids.contains(&"hobbit".to_string()) && ids.contains(&"lotr".to_string()),
        "{ids:?}"
    );
    let (_, ids, _) = search(
        &server,
        json!({"query": "the hobbit", "exclude_ids": ["hobbit"]}),
    )
    .await;
    assert!(!ids.contains(&"hobbit".to_string()), "{ids:?}");

    let (_, ids, _) = search(&server, json!({"vector": [0.0, 1.0, 0.0], "size": 2})).await;
    assert_eq!(ids, ["hobbit", "lotr"]);
    let (_, ids, answer) = search(
        &server,
        json!({"query": "lord rings", "vector": [0.0, 1.0, 0.0], "size": 2}),
    )
    .await;
    assert_eq!(ids[0], "lotr", "both signals agree on it: {answer}");
    assert!(answer["items"][0]["vector_score"].is_number());
    let (_, weighted, _) = search(&server, json!({"query": "lord rings", "vector": [0.0, 1.0, 0.0], "fusion": "weighted", "text_weight": 0.9})).await;
    assert_eq!(weighted[0], "lotr");

    server
        .send(Method::DELETE, "/api/items/hobbit", "", vec![])
        .await;
    let (_, ids, _) = search(&server, json!({"query": "hobbit"})).await;
    assert!(ids.is_empty(), "a deleted item is never returned: {ids:?}");
}

#[tokio::test]
async fn bad_search_requests_are_named() {
    let server = search_server();
    for (body, field) in [
        (json!({}), "query"),
        (json!({"query": "x", "size": 0}), "size"),
        (json!({"query": "x", "fusion": "magic"}), "fusion"),
        (json!({"query": "x", "filter": "year >"}), "filter"),
        (json!({"vector": [1.0]}), "vector"),
        (
            json!({"vector": [1.0, 0.0, 0.0], "embedding": "w"}),
            "embedding",
        ),
        (json!({"query": "x", "colour": 1}), "colour"),
        (json!({"query": "x", "text_weight": 2}), "text_weight"),
    ] {
        let (status, answer) = server.post("/api/search", &body.to_string()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(answer["details"][0]["field"], field, "{body}: {answer}");
    }
    for weird in ["AND OR ((", "title:", "😀", "\"unclosed"] {
        let (status, answer) = server
            .post("/api/search", &json!({"query": weird}).to_string())
            .await;
        assert_eq!(status, StatusCode::OK, "{weird}: {answer}");
    }
}

/// Sends one request from a thread with a tokio worker's stack (2 MiB), as the server runs
/// its handlers: a request that made a parser recurse without bound would abort the process.
fn send_on_a_worker_stack(
    server: &TestServer,
    method: Method,
    uri: &str,
    body: String,
) -> (StatusCode, Value) {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn_scoped(scope, || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(server.send(method, uri, JSON, body.into_bytes()))
            })
            .unwrap()
            .join()
            .unwrap()
    })
}

#[test]
fn deeply_nested_or_huge_expressions_are_refused_not_a_crash() {
    let server = search_server();
    let nested = format!("{}year > 1{}", "(".repeat(2_000), ")".repeat(2_000));
    let nots = format!("{}true", "!".repeat(20_000));
    let flat = vec!["1"; 50_000].join("+");
    for filter in [&nested, &nots, &flat] {
        let body = json!({"query": "x", "filter": filter}).to_string();
        let (status, answer) = send_on_a_worker_stack(&server, Method::POST, "/api/search", body);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert_eq!(answer["details"][0]["field"], "filter", "{answer}");
    }
    let config = |condition: &str, rank_score: &str| {
        json!({
            "RecallConfs": [{"Name": "hot", "RecallType": "UserGlobalHotRecall"}],
            "FilterConfs": [{"Name": "state", "FilterType": "ItemStateFilter", "Condition": condition}],
            "AlgoConfs": [{"Name": "m", "Type": "lookup", "Field": "year"}],
            "SceneConfs": {"books": {"default": {"RecallNames": ["hot"]}}},
            "FilterNames": {"books": ["state"]},
            "RankConf": {"books": {"RankAlgoList": ["m"], "RankScore": rank_score}}
        })
        .to_string()
    };
    for (body, field) in [
        (config(&nested, "m"), "FilterConfs[0].Condition"),
        (config("year > 1", &nested), "RankConf.books.RankScore"),
        (config(&flat, "m"), "FilterConfs[0].Condition"),
    ] {
        let (status, answer) =
            send_on_a_worker_stack(&server, Method::PUT, "/api/admin/config", body);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert_eq!(answer["details"][0]["field"], field, "{answer}");
    }
    let (status, _) = send_on_a_worker_stack(&server, Method::GET, "/health", String::new());
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_restart_serves_the_same_results_without_rebuilding_the_indexes() {
    let server = search_server();
    assert_eq!(
        server.index_origins(),
        [IndexOrigin::Built, IndexOrigin::Built]
    );
    for (id, title, v) in [
        (
            "hp",
            "Harry Potter and the Philosopher's Stone",
            [1.0, 0.0, 0.0],
        ),
        ("hobbit", "The Hobbit", [0.0, 1.0, 0.0]),
        ("lotr", "The Lord of the Rings", [0.1, 0.9, 0.0]),
        ("dune", "Dune", [0.0, 0.2, 0.8]),
    ] {
        put_json(
            &server,
            id,
            json!({"fields": {"title": title}, "embeddings": {"v": v}}),
        )
        .await;
    }
    server
        .send(Method::DELETE, "/api/items/hp", "", vec![])
        .await;
    let queries = [
        json!({"query": "the lord of the rings", "size": 3}),
        json!({"vector": [0.0, 1.0, 0.1], "size": 3}),
        json!({"query": "harry potter"}),
    ];
    let mut before = Vec::new();
    for query in &queries {
        before.push(search(&server, query.clone()).await.1);
    }
    let (_, similar_before) = server
        .send(Method::GET, "/api/items/hobbit/similar", "", vec![])
        .await;
    assert_eq!(before[0][0], "lotr");
    assert!(
        before[2].is_empty(),
        "the deleted item stays deleted: {:?}",
        before[2]
    );

    let server = server.restart(|_| {});
    assert_eq!(
        server.index_origins(),
        [IndexOrigin::Loaded, IndexOrigin::Loaded],
        "nothing changed the catalogue, so both indexes are loaded as saved"
    );
    for (query, expected) in queries.iter().zip(&before) {
        assert_eq!(&search(&server, query.clone()).await.1, expected, "{query}");
    }
    let (_, similar_after) = server
        .send(Method::GET, "/api/items/hobbit/similar", "", vec![])
        .await;
    assert_eq!(similar_after, similar_before);

    // An import while no server runs changes the catalogue: the saved indexes are outdated.
    let server = server.restart(|dir| {
        let store = EmbeddedStore::open(dir).unwrap();
        let item = cascade_core::Item {
            id: "silmarillion".into(),
            fields: [(
                "title".to_string(),
                cascade_core::FieldValue::Text("The Silmarillion".into()),
            )]
            .into(),
            embeddings: [("v".to_string(), vec![0.0, 1.0, 0.05])].into(),
        };
        store.upsert_items(&[item]).unwrap();
    });
    assert_eq!(
        server.index_origins(),
        [IndexOrigin::Built, IndexOrigin::Built]
    );
    let (_, ids, _) = search(&server, json!({"query": "silmarillion"})).await;
    assert_eq!(ids, ["silmarillion"]);
    let (_, ids, _) = search(&server, json!({"vector": [0.0, 1.0, 0.05], "size": 1})).await;
    assert_eq!(ids, ["silmarillion"]);
}

#[tokio::test]
async fn a_vector_without_direction_is_refused_and_a_stored_one_does_not_stop_a_start() {
    let server = TestServer::new();
    let body = json!({"embeddings": {"v": [0.0, 0.0, 0.0]}}).to_string();
    let (status, answer) = server
        .send(Method::PUT, "/api/items/z", JSON, body.into_bytes())
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(details(&answer), [(None, "embeddings.v".into())]);
    put_json(
        &server,
        "east",
        json!({"embeddings": {"v": [1.0, 0.0, 0.0]}}),
    )
    .await;
    put_json(
        &server,
        "north",
        json!({"embeddings": {"v": [0.0, 1.0, 0.0]}}),
    )
    .await;

    // A store written by an older version may already hold such a vector; the next start
    // rebuilds the index, as after a crash or an import.
    let server = server.restart(|dir| {
        let store = EmbeddedStore::open(dir).unwrap();
        let zero = cascade_core::Item {
            id: "z".into(),
            fields: Default::default(),
            embeddings: [("v".to_string(), vec![0.0; 3])].into(),
        };
        store.upsert_items(&[zero]).unwrap();
    });
    assert_eq!(server.index_origins(), [IndexOrigin::Built]);
    let (status, ids, answer) = search(&server, json!({"vector": [1.0, 0.5, 0.0]})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        ids,
        ["east", "north"],
        "the zero vector is left out of the index"
    );
    let (status, _) = server.send(Method::GET, "/api/items/z", "", vec![]).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the item itself stays in the catalogue"
    );
}

#[tokio::test]
async fn a_uid_personalises_search_towards_the_users_recent_items() {
    let server = search_server();
    for (id, title, v) in [
        ("dragon", "Dragon", [1.0, 0.0, 0.0]),
        ("tales", "Dragon Tales", [0.0, 1.0, 0.0]),
        ("north", "The Dragon of the North Hills", [0.7, 0.7, 0.0]),
        (
            "river",
            "The Dragon Who Lived by the River",
            [0.6, 0.6, 0.2],
        ),
        (
            "sea",
            "A Dragon at Sea and Other Strange Stories",
            [0.5, 0.5, 0.5],
        ),
        ("garden", "Gardening for Beginners", [0.0, 0.95, 0.05]),
    ] {
        put_json(
            &server,
            id,
            json!({"fields": {"title": title}, "embeddings": {"v": v}}),
        )
        .await;
    }
    let (status, _) = server
        .events(json!([click("e1", "reader", "garden", 1)]))
        .await;
    assert_eq!(status, StatusCode::OK);
    server.app.stream.wait_applied(1).await;

    let query = json!({"query": "dragon", "size": 5});
    let (_, plain, _) = search(&server, query.clone()).await;
    assert_eq!(
        plain[0], "dragon",
        "the shortest matching title wins on text alone"
    );
    let (_, stranger, _) = search(
        &server,
        json!({"query": "dragon", "size": 5, "uid": "stranger"}),
    )
    .await;
    assert_eq!(
        stranger, plain,
        "a user without history gets the plain ranking"
    );

    let (status, personal, answer) = search(
        &server,
        json!({"query": "dragon", "size": 5, "uid": "reader"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        personal[0], "tales",
        "closest to what the reader read: {answer}"
    );
    assert!(answer["items"][0]["personal_score"].as_f64().unwrap() > 0.9);
    assert_eq!(
        personal.iter().collect::<HashSet<_>>(),
        plain.iter().collect::<HashSet<_>>(),
        "personalisation reorders the hits, it adds none"
    );

    let (status, answer) = server
        .post(
            "/api/search",
            &json!({"query": "dragon", "uid": "reader", "personal_weight": 2}).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["details"][0]["field"], "personal_weight");
}

/// Books with text but no vectors, and the text encoder over their titles into `text`.
fn semantic_server(model_dir: Option<&str>) -> TestServer {
    TestServer::with_config(|c| {
        c.item_schema
            .fields
            .insert("title".into(), cascade_core::FieldType::Text);
        c.item_schema.embeddings.insert("text".into(), 384);
        c.text_encoder_conf = Some(
            serde_json::from_value(json!({
                "Embedding": "text", "Fields": ["title"], "ModelDir": model_dir
            }))
            .unwrap(),
        );
    })
}

async fn put_title(server: &TestServer, id: &str, title: &str) -> Value {
    put_json(server, id, json!({"fields": {"title": title}})).await
}

/// Stores the item `id` from its JSON body; answers the stored item.
async fn put_json(server: &TestServer, id: &str, body: Value) -> Value {
    let uri = format!("/api/items/{id}");
    let (status, answer) = server
        .send(Method::PUT, &uri, JSON, body.to_string().into_bytes())
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}

#[tokio::test]
async fn the_text_encoder_embeds_items_and_queries_for_semantic_search() {
    let model = cascade_infer::default_model_dir();
    assert!(
        model.join("model.safetensors").exists(),
        "the text encoder model is missing from {}: run scripts/install-model.sh",
        model.display()
    );
    let server = semantic_server(None);
    assert!(server.app.embedder.is_some());
    let stored = put_title(&server, "hp", "Harry Potter and the Philosopher's Stone").await;
    assert_eq!(stored["embeddings"]["text"].as_array().unwrap().len(), 384);
    put_title(&server, "cook", "Mastering the Art of French Cooking").await;
    put_title(&server, "war", "A History of the Second World War").await;

    // No word of the query is in any title: only the embedding can find the book.
    let query = json!({"query": "young wizard learning magic", "size": 3});
    let (status, ids, answer) = search(&server, query).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(ids[0], "hp", "{answer}");
    let (_, ids, _) = search(
        &server,
        json!({"query": "young wizard learning magic", "semantic": false}),
    )
    .await;
    assert!(!ids.contains(&"hp".to_string()), "text alone: {ids:?}");
    let (_, ids, _) = search(
        &server,
        json!({"query": "recipes for the kitchen", "size": 1}),
    )
    .await;
    assert_eq!(ids, ["cook"]);
}

#[tokio::test]
async fn without_the_model_the_encoder_is_off_and_everything_else_works() {
    let server = semantic_server(Some("/nonexistent/model"));
    assert!(server.app.embedder.is_none());
    let stored = put_title(&server, "hp", "Harry Potter and the Philosopher's Stone").await;
    assert!(stored["embeddings"].get("text").is_none(), "{stored}");
    let (status, ids, _) = search(&server, json!({"query": "harry potter"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids, ["hp"]);
    let (status, answer) = server
        .post(
            "/api/search",
            &json!({"query": "wizard", "semantic": true}).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["details"][0]["field"], "semantic");
    assert!(
        answer["details"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("install-model.sh"),
        "{answer}"
    );
}

#[tokio::test]
async fn items_stored_without_vectors_are_embedded_in_the_background() {
    let server = semantic_server(Some("/nonexistent/model"));
    put_title(&server, "hp", "Harry Potter and the Philosopher's Stone").await;
    put_title(&server, "cook", "Mastering the Art of French Cooking").await;
    // Restarted with the model: the server fills the missing vectors without being asked.
    let mut config = (*server.app.config()).clone();
    config.text_encoder_conf.as_mut().unwrap().model_dir = None;
    let server = server.restart_with(config);
    let query = server
        .app
        .embedder
        .as_ref()
        .expect("the encoder is on")
        .query("wizard school")
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let ids = loop {
        let (_, ids, _) = search(
            &server,
            json!({"vector": query, "embedding": "text", "size": 2}),
        )
        .await;
        if ids.len() == 2 {
            break ids;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not indexed after 60 s: {ids:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let stored = server.app.stores.items.get_item("hp").unwrap().unwrap();
    assert_eq!(
        stored.embeddings["text"].len(),
        384,
        "the vector is stored too"
    );
    assert_eq!(ids[0], "hp");
}

#[tokio::test]
async fn similar_answers_for_an_item_the_background_pass_has_not_embedded_yet() {
    let server = semantic_server(None);
    assert!(
        server.app.embedder.is_some(),
        "run scripts/install-model.sh"
    );
    put_title(&server, "hp", "Harry Potter and the Philosopher's Stone").await;
    put_title(&server, "cook", "Mastering the Art of French Cooking").await;
    put_title(&server, "war", "A History of the Second World War").await;
    // The background pass scans the catalogue once, when the server is ready.
    server.app.wait_ready().await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // Stored behind the server's back, as an import without the model stores it: text only.
    let unembedded = cascade_core::Item {
        id: "wizards".into(),
        fields: [(
            "title".to_string(),
            cascade_core::FieldValue::Text("A School for Young Wizards".into()),
        )]
        .into(),
        embeddings: Default::default(),
    };
    server.app.stores.items.upsert_items(&[unembedded]).unwrap();

    let (status, answer) = server
        .send(
            Method::GET,
            "/api/items/wizards/similar?size=2&embedding=text",
            "",
            vec![],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["items"][0]["item_id"], "hp", "{answer}");
    assert_eq!(answer["size"], 2, "{answer}");
}
