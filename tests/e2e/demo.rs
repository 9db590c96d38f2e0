//! The README's demo: bundled goodbooks data imported into a fresh data directory and
//! served, with recommendations for a goodbooks user within a minute.

use std::time::{Duration, Instant};

use crate::support::{Running, cascade};

#[test]
fn the_demo_serves_recommendations_for_a_goodbooks_user_within_a_minute() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut command = cascade();
    command
        .arg("demo")
        .arg("--data-dir")
        .arg(dir.path().join("demo"))
        .args(["--listen", "127.0.0.1:0"]);
    let mut demo = Running::start(command, Duration::from_secs(60));
    demo.wait_for_line("ready");
    let client = reqwest::blocking::Client::new();
    let answer: serde_json::Value = client
        .post(format!("{}/api/recommend", demo.base))
        // The trace names each stage's candidates and any source that timed out.
        .body(r#"{"uid": "1225", "size": 5, "debug": true}"#)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
    let items = answer["items"].as_array().unwrap();
    assert_eq!(
        items.len(),
        5,
        "{}\nstages: {:#}",
        answer["items"],
        answer["trace"]["stages"]
    );
    let book: serde_json::Value = client
        .get(format!(
            "{}/api/items/{}",
            demo.base,
            items[0]["item_id"].as_str().unwrap()
        ))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(book["fields"]["title"].is_string(), "{book}");
}
