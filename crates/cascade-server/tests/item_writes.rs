//! Item writes and the text index: concurrent writes of the same ids leave search agreeing with
//! the store (also after a restart), a write is searchable within `SearchConf.RefreshMs`, and
//! writes the text index had not committed when the process died are searchable after the
//! next start.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{Method, StatusCode};
use cascade_core::config::CascadeConfig;
use cascade_retrieval::IndexOrigin;
use cascade_server::App;
use cascade_server::serve;
use serde_json::json;

use common::JSON;

/// Ids that every writer of the race writes.
const IDS: usize = 4;
const WRITERS: usize = 16;
const WRITES_PER_WRITER: usize = 20;

fn config(dir: &Path, refresh_ms: u64) -> CascadeConfig {
    let mut config = CascadeConfig::parse(r#"{"ItemSchema": {"Fields": {"title": "text"}}}"#)
        .expect("a valid config");
    config.storage_conf.data_dir = dir.to_owned();
    config.search_conf.refresh_ms = refresh_ms;
    config
}

fn text_origin(app: &App) -> IndexOrigin {
    app.index_origins
        .iter()
        .find(|(name, _)| name == "text")
        .map(|(_, origin)| *origin)
        .expect("a text index")
}

async fn put_title(router: &Router, id: &str, title: &str) {
    let body = json!({"fields": {"title": title}}).to_string().into_bytes();
    let (status, answer) =
        common::send(router, Method::PUT, &format!("/api/items/{id}"), JSON, body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

/// The ids `POST /api/search` finds for `query`.
async fn search(router: &Router, query: &str) -> Vec<String> {
    let body = json!({"query": query, "size": 50}).to_string().into_bytes();
    let (status, answer) = common::send(router, Method::POST, "/api/search", JSON, body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["item_id"].as_str().unwrap().to_string())
        .collect()
}

/// The title the store holds for `id`.
fn stored_title(app: &App, id: &str) -> Option<String> {
    let item = app.stores.items.get_item(id).unwrap()?;
    match item.fields.get("title") {
        Some(cascade_core::FieldValue::Text(title)) => Some(title.clone()),
        other => panic!("{id}: title {other:?}"),
    }
}

/// Where search disagrees with the store, for every title ever written to each id: search for
/// a title must find the id exactly when the store holds that title for it.
async fn disagreements(
    app: &App,
    router: &Router,
    written: &HashMap<String, Vec<String>>,
) -> Vec<String> {
    let mut found = Vec::new();
    for (id, titles) in written {
        let stored = stored_title(app, id);
        for title in titles {
            let hit = search(router, title).await.contains(id);
            let current = stored.as_deref() == Some(title.as_str());
            if hit != current {
                found.push(format!("{id}: `{title}` found {hit}, stored {current}"));
            }
        }
    }
    found.sort();
    found
}

/// Polls until search agrees with the store (or `within` passed); the disagreements left.
async fn agreement_within(
    app: &App,
    router: &Router,
    written: &HashMap<String, Vec<String>>,
    within: Duration,
) -> Vec<String> {
    let deadline = Instant::now() + within;
    loop {
        let found = disagreements(app, router, written).await;
        if found.is_empty() || Instant::now() >= deadline {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_of_the_same_ids_leave_search_agreeing_with_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let refresh = Duration::from_millis(100);
    let app = App::open(config(dir.path(), refresh.as_millis() as u64)).unwrap();
    let router = serve::router(app.clone());
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let router = router.clone();
            tokio::spawn(async move {
                let mut written = Vec::new();
                for n in 0..WRITES_PER_WRITER {
                    let id = format!("book{}", (w + n) % IDS);
                    // One word no other write uses, so that a search tells the versions apart.
                    let title = format!("w{w}n{n}");
                    put_title(&router, &id, &title).await;
                    written.push((id, title));
                }
                written
            })
        })
        .collect();
    let mut written: HashMap<String, Vec<String>> = HashMap::new();
    for writer in writers {
        for (id, title) in writer.await.unwrap() {
            written.entry(id).or_default().push(title);
        }
    }
    assert_eq!(written.len(), IDS);

    let settle = refresh + Duration::from_secs(5);
    let found = agreement_within(&app, &router, &written, settle).await;
    assert!(
        found.is_empty(),
        "search disagrees with the store: {found:?}"
    );

    // A clean restart reuses the saved index: it must hold the same versions.
    app.persist_indexes().unwrap();
    drop(router);
    drop(app);
    let app = App::open(config(dir.path(), refresh.as_millis() as u64)).unwrap();
    assert_eq!(text_origin(&app), IndexOrigin::Loaded);
    let router = serve::router(app.clone());
    let found = disagreements(&app, &router, &written).await;
    assert!(found.is_empty(), "after a restart: {found:?}");
}

#[tokio::test]
async fn a_write_is_searchable_within_the_default_refresh() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), 0);
    config.search_conf.refresh_ms = CascadeConfig::default().search_conf.refresh_ms;
    let refresh = Duration::from_millis(config.search_conf.refresh_ms);
    assert!(refresh <= Duration::from_secs(1), "{refresh:?}");
    let app = App::open(config).unwrap();
    let router = serve::router(app.clone());
    for round in 0..3 {
        let title = format!("fresh{round}");
        let written = Instant::now();
        put_title(&router, "book", &title).await;
        while !search(&router, &title).await.contains(&"book".to_string()) {
            // The committer's period, plus slack for a busy test machine.
            assert!(
                written.elapsed() < refresh + Duration::from_secs(2),
                "`{title}` not searchable {:?} after its write",
                written.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test]
async fn writes_not_yet_committed_to_the_text_index_are_searchable_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let app = App::open(config(dir.path(), 0)).unwrap();
    let router = serve::router(app.clone());
    put_title(&router, "kept", "first edition").await;
    put_title(&router, "doomed", "doomed book").await;
    app.persist_indexes().unwrap();
    drop(router);
    drop(app);

    // A refresh far longer than the test: nothing is committed to the text index from now on.
    let never = cascade_core::config::references::MAX_SEARCH_REFRESH_MS;
    let app = App::open(config(dir.path(), never)).unwrap();
    assert_eq!(text_origin(&app), IndexOrigin::Loaded);
    let router = serve::router(app.clone());
    put_title(&router, "kept", "second printing").await;
    put_title(&router, "fresh", "brand new arrival").await;
    let (status, answer) =
        common::send(&router, Method::DELETE, "/api/items/doomed", "", vec![]).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(
        search(&router, "arrival").await.is_empty(),
        "the writes are not committed to the text index yet"
    );
    // Gone without saving anything, as a killed process is.
    drop(router);
    drop(app);

    let app = App::open(config(dir.path(), never)).unwrap();
    assert_eq!(
        text_origin(&app),
        IndexOrigin::Built,
        "an index that may miss writes is rebuilt from the store"
    );
    let router = serve::router(app.clone());
    assert_eq!(search(&router, "arrival").await, ["fresh"]);
    assert_eq!(search(&router, "printing").await, ["kept"]);
    assert!(
        search(&router, "edition").await.is_empty(),
        "the old version is gone"
    );
    assert!(
        search(&router, "doomed").await.is_empty(),
        "the delete is kept"
    );
}
