//! `cascade train` end to end: a goodbooks slice imported into a data directory, both model
//! kinds trained from it, their files loaded with their schema, metrics and data span.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cascade_rank::backfill::DEFAULT_FEATURES;
use cascade_rank::features::FeatureSet;
use cascade_rank::gbdt::GbdtModel;
use cascade_rank::lr::LogisticModel;
use cascade_rank::model_file::DataSpan;
use cascade_store::{EmbeddedStore, EventLog};

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

/// A data directory with every book and the first 1,500 ratings and to-read marks.
fn imported(dir: &Path) -> (PathBuf, PathBuf) {
    let config = dir.join("config.json");
    std::fs::write(&config, CONFIG).unwrap();
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
    let (config, data) = imported(dir.path());
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
