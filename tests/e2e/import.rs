//! `cascade import`: CSV with a column mapping, a summary that names rejected rows, and
//! idempotent re-import.

use std::process::Output;

use cascade_store::{EmbeddedStore, EventLog, ItemStore, UserStore};

use crate::support::cascade;

fn run(args: &[&str]) -> Output {
    let output = cascade()
        .args(args)
        .output()
        .expect("running cascade import");
    assert!(
        output.status.success(),
        "cascade {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[test]
fn csv_events_are_mapped_summarised_and_deduplicated_on_reimport() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("ratings.csv");
    std::fs::write(
        &csv,
        "user_id,book_id,rating\n1,10,5\n2,10,oops\n3,,4\n4,11,3\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let args = [
        "import",
        "events",
        csv.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--map",
        "uid=user_id",
        "--map",
        "item_id=book_id",
        "--map",
        "value=rating",
        "--type",
        "rating",
        "--timestamps",
        "2017-01-01..2017-01-02",
        "--allow-rejections",
    ];
    let first = String::from_utf8(run(&args).stdout).unwrap();
    assert!(
        first.contains("4 rows read, 2 accepted, 0 duplicates, 2 rejected"),
        "{first}"
    );
    assert!(first.contains("line 3: field `value`"), "{first}");
    assert!(
        first.contains("line 4: field `item_id`: is required"),
        "{first}"
    );

    let second = String::from_utf8(run(&args).stdout).unwrap();
    assert!(second.contains("0 accepted, 2 duplicates"), "{second}");

    let store = EmbeddedStore::open(&data).unwrap();
    let events = store.read_from(0, 10).unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].event.event_id, "ratings:1");
    assert_eq!(
        events[0].event.timestamp, 1_483_228_800_000,
        "row 0 starts the span"
    );
    assert_eq!(events[1].event.event_id, "ratings:4");
    assert_eq!(
        events[1].event.timestamp,
        1_483_228_800_000 + 3 * 86_400_000 / 4
    );
    assert_eq!(events[1].event.value, 3.0);
}

#[test]
fn csv_items_take_their_types_from_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.jsonc");
    std::fs::write(
        &config,
        r#"{"ItemSchema": {"Fields": {"year": "numeric", "tags": "tags"}}}"#,
    )
    .unwrap();
    let csv = dir.path().join("books.csv");
    std::fs::write(
        &csv,
        "book_id,title,year,tags\n1,Dune,1965,sf|classic\n2,Bad,nineteen,\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let output = run(&[
        "import",
        "items",
        csv.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--map",
        "id=book_id",
        "--allow-rejections",
    ]);
    let report = String::from_utf8(output.stdout).unwrap();
    assert!(report.contains("2 rows read, 1 accepted"), "{report}");
    assert!(
        report.contains("line 3: field `fields.year`: `nineteen` is not a number"),
        "{report}"
    );
    let store = EmbeddedStore::open(&data).unwrap();
    let item = store.get_item("1").unwrap().unwrap();
    assert_eq!(
        item.fields["year"],
        cascade_core::FieldValue::Numeric(1965.0)
    );
    assert_eq!(
        item.fields["tags"],
        cascade_core::FieldValue::Tags(vec!["sf".into(), "classic".into()])
    );
}

#[test]
fn ndjson_records_use_the_api_shape_and_bad_lines_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.ndjson");
    std::fs::write(
        &file,
        concat!(
            "{\"id\": \"u1\", \"attributes\": {\"age\": 31, \"country\": \"NZ\"}}\n",
            "\n",
            "{\"id\": \"u2\", \"attributes\": {\"age\": {\"years\": 3}}}\n",
            "{\"id\": \"u3\"\n",
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let output = run(&[
        "import",
        "users",
        file.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--allow-rejections",
    ]);
    let report = String::from_utf8(output.stdout).unwrap();
    assert!(
        report.contains("3 rows read, 1 accepted, 0 duplicates, 2 rejected"),
        "{report}"
    );
    assert!(
        report.contains("line 3: field `attributes.age`"),
        "{report}"
    );
    assert!(report.contains("line 4: malformed JSON"), "{report}");
    let store = EmbeddedStore::open(&data).unwrap();
    assert!(store.get_user("u1").unwrap().is_some());
}
