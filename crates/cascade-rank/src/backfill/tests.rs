//! The backfill on hand-made events, and the leakage check on a goodbooks subset: the real
//! backfill passes it, a leaky replay and a tampered row are caught.

use std::path::PathBuf;

use cascade_core::{Event, EventTypes, FieldValue, Item};
use indicatif::ProgressBar;

use super::replay::{Order, replay};
use super::*;
use crate::features::FeatureSet;

fn book(id: &str, title: &str, authors: &str, rating: f64) -> Item {
    Item {
        id: id.into(),
        fields: [
            ("title".to_string(), FieldValue::Text(title.into())),
            ("authors".to_string(), FieldValue::Keyword(authors.into())),
            ("average_rating".to_string(), FieldValue::Numeric(rating)),
        ]
        .into(),
        embeddings: Default::default(),
    }
}

fn event(id: &str, kind: &str, uid: &str, item: &str, t: i64, value: f64) -> Event {
    let mut event = Event::new(id, kind, uid, item, t);
    event.value = value;
    event
}

fn hidden() -> ProgressBar {
    ProgressBar::hidden()
}

fn small() -> (Catalogue, Vec<Event>) {
    let catalogue = Catalogue::new([
        book("a", "Dune (Dune Chronicles, #1)", "Frank Herbert", 4.2),
        book(
            "b",
            "Dune Messiah (Dune Chronicles, #2)",
            "Frank Herbert",
            3.9,
        ),
        book("c", "Emma", "Jane Austen", 4.0),
        book("d", "Persuasion", "Jane Austen", 4.1),
        book("e", "Ulysses", "James Joyce", 3.7),
    ]);
    let events = vec![
        event("1", "rating", "u", "a", 100, 5.0),
        event("2", "rating", "v", "a", 100, 3.0), // same time as 1
        event("3", "impression", "u", "c", 150, 1.0),
        event("4", "to_read", "u", "b", 200, 1.0),
        event("5", "rating", "u", "a", 250, 1.0), // a repeat: no query
        event("6", "rating", "w", "zz", 260, 4.0), // not in the catalogue
        event("7", "rating", "v", "b", 300, 4.0),
        event("8", "rating", "u", "d", 400, 4.0),
    ];
    (catalogue, events)
}

#[test]
fn queries_see_only_earlier_events() {
    let (catalogue, events) = small();
    let features =
        FeatureSet::parse(&["item_users_log", "item_rating_mean", "user_activity"]).unwrap();
    let config = BackfillConfig {
        negatives: 2,
        ..BackfillConfig::default()
    };
    let types = EventTypes::default();
    let rows = backfill(&events, &catalogue, &types, &features, &config, &hidden());
    let ids: Vec<&str> = rows.queries.iter().map(|q| q.event_id.as_str()).collect();
    assert_eq!(ids, ["1", "2", "4", "7", "8"]);
    assert_eq!(
        (
            rows.counts.repeats,
            rows.counts.unknown_items,
            rows.counts.exposures
        ),
        (1, 1, 1)
    );
    assert_eq!(
        rows.events_span,
        Some(crate::model_file::DataSpan {
            from_ms: 100,
            to_ms: 400
        })
    );
    for query in &rows.queries {
        assert_eq!(rows.labels[query.rows.start], 1.0, "the positive first");
        let items: Vec<&str> = rows.rows[query.rows.clone()]
            .iter()
            .map(|r| r.item_id.as_str())
            .collect();
        assert_eq!(items.len(), 3, "{items:?}");
        for row in query.rows.clone() {
            assert!(rows.rows[row].as_of.is_none_or(|t| t < query.label_time));
        }
    }
    // event 2 (v on a at 100): u's rating of a at the same time is not seen yet
    let q2 = &rows.queries[1];
    let positive = rows.matrix.row(q2.rows.start);
    assert_eq!(positive[0], 0.0, "nobody had interacted with a before 100");
    assert!(positive[1].is_nan(), "no rating of a before 100");
    assert_eq!(positive[2], 0.0, "v had no history");
    // event 8 (u on d at 400): u has a and b; d has no users; u's repeat of a is not new
    let q8 = &rows.queries[4];
    let positive = rows.matrix.row(q8.rows.start);
    assert_eq!((positive[0], positive[2]), (0.0, 2.0));
    let negatives: Vec<&str> = rows.rows[q8.rows.start + 1..q8.rows.end]
        .iter()
        .map(|r| r.item_id.as_str())
        .collect();
    for negative in &negatives {
        assert!(
            !["a", "b", "d"].contains(negative),
            "u had read {negative}: {negatives:?}"
        );
    }
    // event 7 (v on b at 300): b has u as its user (to_read, no rating), a two ratings
    let q7 = &rows.queries[3];
    assert_eq!(rows.matrix.row(q7.rows.start)[0], 2f64.ln());
    assert_eq!(rows.rows[q7.rows.start].as_of, Some(200));
    check_point_in_time(&rows, &events, &catalogue, &types, None, &hidden()).unwrap();

    let again = backfill(&events, &catalogue, &types, &features, &config, &hidden());
    assert_eq!(
        again.rows, rows.rows,
        "the same seed draws the same negatives"
    );

    let window = BackfillConfig {
        since: Some(200),
        until: Some(400),
        ..config
    };
    let rows = backfill(&events, &catalogue, &types, &features, &window, &hidden());
    let ids: Vec<&str> = rows.queries.iter().map(|q| q.event_id.as_str()).collect();
    assert_eq!(ids, ["4", "7"]);
    assert_eq!(rows.counts.before_since, 2);
    assert_eq!(rows.events_span.unwrap().to_ms, 300);
    assert_eq!(rows.holdout_start(0.5), Some(250));
    let train = rows.ranking_data(|q| q.label_time < 250).unwrap();
    assert_eq!(
        (train.queries(), train.rows(), train.positives()),
        (1, 3, 1)
    );
}

/// The first `take` rows of a goodbooks file as events of `kind`, stamped as `cascade import
/// --timestamps 2017-01-01..2017-09-01` stamps a file of `take` rows.
fn goodbooks_events(file: &str, kind: &str, take: usize) -> Vec<Event> {
    let path = goodbooks().join(file);
    let mut reader = csv::Reader::from_path(&path).unwrap();
    let (start, end) = (1_483_228_800_000i64, 1_504_224_000_000i64);
    reader
        .records()
        .take(take)
        .enumerate()
        .map(|(i, record)| {
            let record = record.unwrap();
            let t = start + (i as i64) * (end - start) / take as i64;
            let value = record.get(2).map_or(1.0, |v| v.parse().unwrap());
            event(
                &format!("{kind}:{i}"),
                kind,
                &record[0],
                &record[1],
                t,
                value,
            )
        })
        .collect()
}

fn goodbooks() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/goodbooks")
}

fn goodbooks_catalogue() -> Catalogue {
    let mut reader = csv::Reader::from_path(goodbooks().join("books.csv")).unwrap();
    let items = reader.records().map(|record| {
        let record = record.unwrap();
        let numeric = |i: usize| {
            record[i]
                .parse::<f64>()
                .map(FieldValue::Numeric)
                .unwrap_or(FieldValue::Keyword(String::new()))
        };
        Item {
            id: record[0].to_string(),
            fields: [
                ("title".to_string(), FieldValue::Text(record[1].into())),
                ("authors".to_string(), FieldValue::Keyword(record[3].into())),
                ("original_publication_year".to_string(), numeric(4)),
                ("average_rating".to_string(), numeric(6)),
                ("ratings_count".to_string(), numeric(7)),
            ]
            .into(),
            embeddings: Default::default(),
        }
    });
    Catalogue::new(items)
}

/// A goodbooks subset: 3,000 ratings and 3,000 to-read marks, interleaved in time.
fn goodbooks_subset() -> (Catalogue, Vec<Event>) {
    let mut events = goodbooks_events("ratings.csv", "rating", 3000);
    events.extend(goodbooks_events("to_read.csv", "to_read", 3000));
    (goodbooks_catalogue(), events)
}

#[test]
fn backfilled_goodbooks_rows_match_a_brute_force_recomputation() {
    let (catalogue, events) = goodbooks_subset();
    let features = FeatureSet::parse(DEFAULT_FEATURES).unwrap();
    let types = EventTypes {
        types: ["rating", "to_read", "impression"].map(String::from).into(),
        ..EventTypes::default()
    };
    let config = BackfillConfig {
        negatives: 4,
        ..BackfillConfig::default()
    };
    let rows = backfill(&events, &catalogue, &types, &features, &config, &hidden());
    assert!(rows.counts.queries > 4000, "{:?}", rows.counts);
    let sizes: usize = rows.queries.iter().map(|q| q.rows.len()).sum();
    assert_eq!(sizes, rows.rows.len());
    assert!(rows.queries.iter().all(|q| (2..=5).contains(&q.rows.len())));
    let checked = check_point_in_time(&rows, &events, &catalogue, &types, None, &hidden()).unwrap();
    assert_eq!(checked, rows.rows.len());
    let activity = features
        .names()
        .iter()
        .position(|n| n == "user_activity")
        .unwrap();
    assert!(
        (0..rows.matrix.rows()).any(|r| rows.matrix.row(r)[activity] > 10.0),
        "some users have a history"
    );

    // a replay that applies each event before emitting its query leaks the label event
    let leaky = replay(
        &events,
        &catalogue,
        &types,
        &features,
        &config,
        &hidden(),
        Order::ApplyThenEmit,
    );
    assert_eq!(leaky.queries.len(), rows.queries.len());
    let error =
        check_point_in_time(&leaky, &events, &catalogue, &types, None, &hidden()).unwrap_err();
    let LeakageError::Value {
        feature,
        label_time,
        event_id,
        ..
    } = &error
    else {
        panic!("expected a feature value leak: {error}");
    };
    let query = leaky
        .queries
        .iter()
        .find(|q| &q.event_id == event_id)
        .unwrap();
    assert_eq!(*label_time, query.label_time);
    assert!(
        ["item_users_log", "item_rating_mean", "user_activity"].contains(&feature.as_str()),
        "{error}"
    );
    let message = error.to_string();
    assert!(message.contains(feature.as_str()) && message.contains(&label_time.to_string()));

    // a row whose features claim a later event than its label
    let mut late = rows.clone();
    let row = late.queries[10].rows.start;
    late.rows[row].as_of = Some(late.queries[10].label_time);
    let error =
        check_point_in_time(&late, &events, &catalogue, &types, None, &hidden()).unwrap_err();
    assert!(matches!(error, LeakageError::AsOf { .. }), "{error}");

    // a feature value computed from the whole history (every event, later ones included)
    let mut whole = rows.clone();
    let query = whole.queries[100].clone();
    let positive = &whole.rows[query.rows.start].item_id;
    let users_ever = events
        .iter()
        .filter(|e| &e.item_id == positive)
        .map(|e| e.uid.as_str())
        .collect::<std::collections::HashSet<_>>()
        .len();
    let column = features
        .names()
        .iter()
        .position(|n| n == "item_users_log")
        .unwrap();
    let mut values = whole.matrix.values().to_vec();
    values[query.rows.start * features.len() + column] = (users_ever as f64).ln_1p();
    whole.matrix = crate::features::FeatureMatrix::from_values(features.len(), values).unwrap();
    let error =
        check_point_in_time(&whole, &events, &catalogue, &types, None, &hidden()).unwrap_err();
    assert!(
        matches!(&error, LeakageError::Value { feature, label_time, .. }
            if feature == "item_users_log" && *label_time == query.label_time),
        "{error}"
    );
}
