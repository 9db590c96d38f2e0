//! `cascade train` end to end: a goodbooks slice imported into a data directory, both model
//! kinds trained from it, their files loaded with their schema, metrics and data span; and a
//! model trained on the feature log a running `cascade serve` wrote, labelled by the clicks
//! on its responses.

#[allow(dead_code)]
#[path = "../../../tests/e2e/support.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use cascade_core::time::now_ms;
use cascade_rank::backfill::DEFAULT_FEATURES;
use cascade_rank::features::FeatureSet;
use cascade_rank::gbdt::GbdtModel;
use cascade_rank::lr::LogisticModel;
use cascade_rank::model_file::DataSpan;
use cascade_store::{EmbeddedStore, EventLog};
use serde_json::{Value, json};
use support::Running;

const CONFIG: &str = r#"{
  "EventConf": { "Types": ["impression", "rating", "to_read"], "ExposureTypes": ["impression"] },
  "ItemSchema": {
    "Fields": { "title": "text", "authors": "keyword", "original_publication_year": "numeric",
                "average_rating": "numeric", "ratings_count": "numeric" },
    "AllowUndeclaredFields": true
  }
}"#;

fn cascade(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cascade"))
        .env("RUST_LOG", "warn")
        .args(args)
        .output()
        .expect("running cascade")
}

fn ok(args: &[&str]) -> String {
    let output = cascade(args);
    assert!(
        output.status.success(),
        "cascade {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn goodbooks(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/goodbooks")
        .join(file)
}

/// The header and first `rows` rows of a goodbooks file, written to `dir`.
fn head(dir: &Path, file: &str, rows: usize) -> PathBuf {
    let text = std::fs::read_to_string(goodbooks(file)).unwrap();
    let slice: Vec<&str> = text.lines().take(rows + 1).collect();
    let path = dir.join(file);
    std::fs::write(&path, slice.join("\n") + "\n").unwrap();
    path
}

/// A data directory with every book and the first 1,500 ratings and to-read marks, under the
/// configuration `config_text` (written to `config.json` in `dir`).
fn imported(dir: &Path, config_text: &str) -> (PathBuf, PathBuf) {
    let config = dir.join("config.json");
    std::fs::write(&config, config_text).unwrap();
    let data = dir.join("data");
    let (config_arg, data_arg) = (config.to_str().unwrap(), data.to_str().unwrap());
    let books = goodbooks("books.csv");
    ok(&[
        "import",
        "items",
        books.to_str().unwrap(),
        "--config",
        config_arg,
        "--data-dir",
        data_arg,
        "--map",
        "id=book_id",
    ]);
    for (file, kind, value) in [
        ("ratings.csv", "rating", true),
        ("to_read.csv", "to_read", false),
    ] {
        let path = head(dir, file, 1500);
        let mut args = vec![
            "import",
            "events",
            path.to_str().unwrap(),
            "--config",
            config_arg,
            "--data-dir",
            data_arg,
            "--map",
            "uid=user_id",
            "--map",
            "item_id=book_id",
            "--type",
            kind,
            "--timestamps",
            "2017-01-01..2017-03-01",
        ];
        if value {
            args.extend(["--map", "value=rating"]);
        }
        ok(&args);
    }
    (config, data)
}

/// The span of the events in the data directory.
fn event_span(data: &Path) -> DataSpan {
    let store = EmbeddedStore::open(data).unwrap();
    let events = store.read_from(0, 10_000).unwrap();
    assert_eq!(events.len(), 3000);
    DataSpan::of(events.iter().map(|e| e.event.timestamp)).unwrap()
}

#[test]
fn trains_both_model_kinds_from_an_imported_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let (config, data) = imported(dir.path(), CONFIG);
    let span = event_span(&data);
    let expected = FeatureSet::parse(DEFAULT_FEATURES).unwrap();
    let common = |model: &str, out: &Path| -> Vec<String> {
        [
            "train",
            "--config",
            config.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
            "--model",
            model,
            "--out",
            out.to_str().unwrap(),
            "--negatives",
            "4",
            "--seed",
            "7",
        ]
        .map(String::from)
        .to_vec()
    };

    let out = dir.path().join("ranker.json");
    let mut args = common("lambdamart", &out);
    args.extend(["--trees", "20", "--min-leaf", "20", "--check-leakage"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let printed = ok(&args);
    assert!(printed.contains("leakage check passed"), "{printed}");
    assert!(printed.contains("valid_ndcg@10"), "{printed}");
    let ranker = GbdtModel::load_expecting(&out, &expected).unwrap();
    let info = ranker.training();
    assert_eq!(info.data_span, Some(span));
    assert!(info.queries > 1000 && info.trees > 0, "{info:?}");
    for metric in ["train_ndcg@10", "valid_ndcg@10"] {
        let value = info.metrics[metric];
        assert!(value > 0.0 && value <= 1.0, "{metric} {value}");
    }

    let out = dir.path().join("ctr.json");
    let args = common("logistic", &out);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let printed = ok(&args);
    assert!(printed.contains("valid_auc"), "{printed}");
    let ctr = LogisticModel::load_expecting(&out, &expected).unwrap();
    let info = ctr.training();
    assert_eq!(info.data_span, Some(span));
    assert_eq!(
        info.rows,
        5 * info.queries,
        "a positive and 4 negatives each"
    );
    for metric in ["train_logloss", "valid_logloss", "train_auc", "valid_auc"] {
        assert!(info.metrics[metric].is_finite(), "{metric}: {info:?}");
    }
    assert!(
        info.metrics["valid_auc"] > 0.6,
        "popularity and history say something: {:?}",
        info.metrics
    );

    // a data directory held by another process is refused, and nothing is written
    let held = EmbeddedStore::open(&data).unwrap();
    let out = dir.path().join("never.json");
    let args = common("logistic", &out);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = cascade(&args);
    drop(held);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("in use by another Cascade process"),
        "{stderr}"
    );
    assert!(!out.exists());
}

/// What the served scene adds to [`CONFIG`]: clicks, a `home` scene of popular books, and the
/// feature log of every response.
const SERVING: &str = r#"{
  "RecallConfs": [{ "Name": "popular", "RecallType": "UserGlobalHotRecall", "RecallCount": 50,
                    "TimeoutMs": 5000 }],
  "SceneConfs": { "home": { "default": { "RecallNames": ["popular"] } } },
  "PopularConf": { "WindowHours": 2000 },
  "EngineConf": { "TimeoutMs": 5000 },
  "FeatureLogConf": { "Enabled": true, "FlushMillis": 10,
                      "Features": ["recall_score.popular", "recall_rank.popular",
                                   "item.average_rating", "item_users_log", "user_activity"] }
}"#;

/// Books per response.
const SHOWN: usize = 5;

/// [`CONFIG`] with `click` events and the [`SERVING`] sections.
fn serving_config() -> String {
    let mut config: Value = serde_json::from_str(CONFIG).unwrap();
    config["EventConf"]["Types"]
        .as_array_mut()
        .unwrap()
        .push(json!("click"));
    let serving: serde_json::Map<String, Value> = serde_json::from_str(SERVING).unwrap();
    config.as_object_mut().unwrap().extend(serving);
    config.to_string()
}

/// `cascade serve` over `data`, ready (its event log replayed).
fn serve(config: &Path, data: &Path) -> Running {
    let mut command = support::cascade();
    command
        .arg("serve")
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(data)
        .args(["--listen", "127.0.0.1:0"]);
    let mut server = Running::start(command, Duration::from_secs(60));
    server.wait_for_line("ready");
    server
}

/// Stops the server as an operator does (SIGTERM), so that it closes its feature log, and
/// waits for it to exit.
fn stop(mut server: Running) {
    let terminated = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .expect("running kill");
    assert!(terminated.success());
    let status = server.child.wait().expect("waiting for cascade serve");
    assert!(status.success(), "cascade serve stopped with {status}");
}

fn post(client: &reqwest::blocking::Client, url: String, body: &Value) -> Value {
    let response = client.post(url).json(body).send().unwrap();
    let status = response.status();
    let body: Value = response.json().unwrap();
    assert!(status.is_success(), "{status}: {body}");
    body
}

#[test]
fn trains_lambdamart_on_the_feature_log_of_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let (config, data) = imported(dir.path(), &serving_config());
    let server = serve(&config, &data);
    let client = reqwest::blocking::Client::new();
    let users = ["1", "2", "3", "4", "5", "6"];
    let started = now_ms();
    let mut responses = Vec::new();
    for uid in users {
        let ask = json!({"uid": uid, "scene_id": "home", "size": SHOWN});
        let response = post(&client, format!("{}/api/recommend", server.base), &ask);
        assert_eq!(response["size"], json!(SHOWN), "{response}");
        responses.push(response);
        // spaced out, so that only the last request is in the latest 1% of the time
        std::thread::sleep(Duration::from_millis(150));
    }
    // (request, position) clicked: four rows of three of the first five requests, and the
    // last request (the validation query)
    let clicked = [(0, 0), (0, 2), (2, 1), (3, 4), (5, 0)];
    let clicks: Vec<Value> = clicked
        .iter()
        .map(|&(request, position)| {
            let response = &responses[request];
            json!({"event_id": format!("click-{request}-{position}"), "type": "click",
                   "uid": users[request],
                   "item_id": response["items"][position]["item_id"],
                   "context": {"request_id": response["request_id"], "position": position}})
        })
        .collect();
    post(
        &client,
        format!("{}/api/events", server.base),
        &json!(clicks),
    );
    stop(server);
    let finished = now_ms();

    let out = dir.path().join("logged-ranker.json");
    let printed = ok(&[
        "train",
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--source",
        "logs",
        "--model",
        "lambdamart",
        "--out",
        out.to_str().unwrap(),
        "--trees",
        "5",
        "--min-leaf",
        "1",
        "--valid-fraction",
        "0.01",
    ]);
    let (queries, rows) = (users.len(), users.len() * SHOWN);
    assert!(
        printed.contains(&format!(
            "feature log: {queries} queries, {rows} rows ({} positive)",
            clicked.len()
        )),
        "{printed}"
    );
    let serving: Value = serde_json::from_str(SERVING).unwrap();
    let configured: Vec<String> =
        serde_json::from_value(serving["FeatureLogConf"]["Features"].clone()).unwrap();
    let expected = FeatureSet::parse(&configured).unwrap();
    assert_eq!(expected.len(), 5);
    let ranker = GbdtModel::load_expecting(&out, &expected).unwrap();
    let info = ranker.training();
    assert_eq!(
        (info.queries, info.rows, info.positives),
        (queries - 1, rows - SHOWN, clicked.len() - 1),
        "every request but the last trains, clicked or not; each click is a positive"
    );
    assert!(info.trees > 0, "{info:?}");
    let span = info.data_span.expect("the log's span");
    assert!(
        started <= span.from_ms && span.to_ms <= finished,
        "{span:?} within {started}..{finished}"
    );
    let valid = info.metrics["valid_ndcg@10"];
    assert!(valid > 0.0 && valid <= 1.0, "{:?}", info.metrics);
}
