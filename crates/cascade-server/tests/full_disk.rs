//! A full disk under the server's data directory (a small tmpfs, filled by a file beside the
//! store): writes answer 503 naming the storage error, `/ready` answers 503 naming the storage
//! while `/health` stays 200 at once, and once space is free again writes succeed without a
//! restart, `/ready` is 200 again, and every acknowledged event is in the log.

mod common;
#[path = "../../cascade-store/tests/support/tmpfs.rs"]
mod tmpfs;

use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{Method, StatusCode};
use cascade_core::config::CascadeConfig;
use cascade_server::App;
use cascade_server::serve::router;
use serde_json::{Value, json};
use tmpfs::Tmpfs;

async fn send(router: &Router, method: Method, uri: &str, body: Value) -> (StatusCode, Value) {
    common::send(
        router,
        method,
        uri,
        common::JSON,
        body.to_string().into_bytes(),
    )
    .await
}

/// `n` events named after `batch`, each with a 2 KB text, so that a few batches need new pages.
fn events(batch: &str, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({"event_id": format!("{batch}-{i}"), "type": "click", "uid": "u",
                   "item_id": "a", "timestamp": 1_704_067_200_000i64, "text": "x".repeat(2048)})
        })
        .collect()
}

/// Posts a batch; its ids are acknowledged on 200.
async fn post(
    router: &Router,
    batch: &str,
    n: usize,
    acknowledged: &mut Vec<String>,
) -> (StatusCode, Value) {
    let batch = events(batch, n);
    let (status, body) = send(router, Method::POST, "/api/events", json!(batch)).await;
    if status == StatusCode::OK {
        acknowledged.extend(
            batch
                .iter()
                .map(|e| e["event_id"].as_str().unwrap().to_string()),
        );
    }
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_503_and_not_ready_until_space_is_free_again() {
    let Some(disk) = Tmpfs::mount("3m") else {
        eprintln!("skipped: mounting a tmpfs is not permitted here (run as root)");
        return;
    };
    let mut config = CascadeConfig::default();
    config.storage_conf.data_dir = disk.path().join("data");
    let app = App::open(config).unwrap();
    let router = router(app.clone());
    tokio::time::timeout(Duration::from_secs(10), app.wait_ready())
        .await
        .expect("ready");
    let mut acknowledged = Vec::new();
    let (status, body) = post(&router, "before", 10, &mut acknowledged).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let filler = disk.fill();
    let mut refused = None;
    for round in 0..200 {
        let (status, body) = post(&router, &format!("full-{round}"), 20, &mut acknowledged).await;
        if status != StatusCode::OK {
            refused = Some((status, body));
            break;
        }
    }
    let (status, body) = refused.expect("a write fails once the disk is full");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let msg = body["msg"].as_str().unwrap();
    assert!(
        msg.starts_with("storage unavailable: ") && msg.contains("No space left"),
        "{msg}"
    );

    let (status, body) = send(&router, Method::GET, "/ready", Value::Null).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body["msg"]
            .as_str()
            .unwrap()
            .starts_with("storage cannot write: "),
        "{body}"
    );
    let started = Instant::now();
    let (status, _) = send(&router, Method::GET, "/health", Value::Null).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "{:?}",
        started.elapsed()
    );
    let (status, body) = send(&router, Method::PUT, "/api/items/b", json!({})).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body["msg"]
            .as_str()
            .unwrap()
            .contains("re-opening the database"),
        "{body}"
    );

    std::fs::remove_file(filler).unwrap();
    let started = Instant::now();
    for round in 0.. {
        let (status, body) = post(&router, &format!("after-{round}"), 1, &mut acknowledged).await;
        if status == StatusCode::OK {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no write succeeded within 10 s of freeing space: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, body) = send(&router, Method::GET, "/ready", Value::Null).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = send(&router, Method::PUT, "/api/items/b", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let logged: Vec<String> = app
        .stores
        .events
        .read_from(0, 100_000)
        .unwrap()
        .into_iter()
        .map(|logged| logged.event.event_id)
        .collect();
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !logged.contains(id))
        .collect();
    assert!(lost.is_empty(), "acknowledged events lost: {lost:?}");
}
