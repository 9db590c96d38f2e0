use std::collections::BTreeMap;
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cascade_core::config::FeatureLogConf;
use cascade_core::{Candidate, Event, EventContext, FieldValue, Item, RequestContext};

use super::segment::RecordSink;
use super::*;
use crate::features::{FeatureSet, MemoryFeatureSource, RankItem};
use crate::scorer::ScoringInput;

const NAMES: [&str; 2] = ["item.year", "recall_score.als"];
const WINDOW: i64 = 10_000;

fn book(id: &str, year: f64) -> RankItem {
    RankItem::new(Item {
        id: id.into(),
        fields: [("year".to_string(), FieldValue::Numeric(year))].into(),
        embeddings: Default::default(),
    })
}

fn request(request_id: &str, uid: &str) -> RequestContext {
    RequestContext {
        request_id: request_id.into(),
        uid: uid.into(),
        scene_id: "home".into(),
        size: 10,
        ..RequestContext::default()
    }
}

fn conf() -> FeatureLogConf {
    FeatureLogConf {
        enabled: true,
        features: NAMES.iter().map(ToString::to_string).collect(),
        ..FeatureLogConf::default()
    }
}

/// Logs `items` (id, year; an `als` score except for ids starting with `x`) as shown by one
/// request at `at`.
fn show(logger: &FeatureLogger, request_id: &str, at: i64, items: &[(&str, f64)]) -> LogOutcome {
    let books: Vec<RankItem> = items.iter().map(|(id, year)| book(id, *year)).collect();
    let candidates: Vec<Candidate> = items
        .iter()
        .enumerate()
        .map(|(i, (id, _))| {
            let source = if id.starts_with('x') { "other" } else { "als" };
            Candidate::new(id.to_string(), 10.0 - i as f64, source.into())
        })
        .collect();
    let inputs: Vec<ScoringInput<'_>> = candidates
        .iter()
        .zip(&books)
        .map(|(candidate, item)| ScoringInput {
            candidate,
            item: Some(item),
        })
        .collect();
    logger.log_at(
        &MemoryFeatureSource::default(),
        &request(request_id, "u1"),
        "home",
        &inputs,
        at,
    )
}

fn event(event_type: &str, request_id: Option<&str>, item: &str, at: i64) -> Event {
    let mut event = Event::new(
        &format!("{event_type}-{item}-{at}"),
        event_type,
        "u1",
        item,
        at,
    );
    event.context = EventContext {
        request_id: request_id.map(String::from),
        ..EventContext::default()
    };
    event
}

fn rule() -> LabelRule {
    LabelRule {
        window_ms: WINDOW,
        ..LabelRule::default()
    }
}

/// r1 at 1000 shows a, b, x; r2 at 2000 shows a, d.
fn two_requests(dir: &Path) {
    let logger = FeatureLogger::new(&conf(), FeatureSet::parse(&NAMES).unwrap(), dir).unwrap();
    let r1 = [("a", 2001.0), ("b", 2002.0), ("x", 2003.0)];
    assert_eq!(show(&logger, "r1", 1000, &r1), LogOutcome::Queued(3));
    assert_eq!(
        show(&logger, "r2", 2000, &[("a", 2001.0), ("d", 2004.0)]),
        LogOutcome::Queued(2)
    );
    logger.close();
    assert_eq!(logger.stats().written, 5);
}

#[test]
fn the_join_labels_by_request_and_item_within_the_window() {
    let dir = tempfile::tempdir().unwrap();
    two_requests(dir.path());
    let events = vec![
        event("impression", Some("r1"), "b", 1000), // not graded: labels nothing
        event("click", Some("r1"), "b", 1500),
        event("like", Some("r1"), "b", 1600), // the max grade wins
        event("click", Some("r1"), "x", 999), // before the impression
        event("click", Some("r1"), "a", 1000 + WINDOW + 1), // after the window
        event("click", Some("r2"), "a", 2100), // labels r2's a, not r1's
        event("click", Some("r2"), "d", 2000 + WINDOW), // the window's last millisecond
        event("click", None, "x", 1200),      // no request id
        event("click", Some("r9"), "a", 1200), // a request never logged
    ];
    let joined = training_data_from_logs(dir.path(), events, &rule()).unwrap();
    let origins: Vec<(&str, &str, u32)> = joined
        .rows
        .iter()
        .map(|r| (r.request_id.as_str(), r.item_id.as_str(), r.position))
        .collect();
    assert_eq!(
        origins,
        [
            ("r1", "a", 0),
            ("r1", "b", 1),
            ("r1", "x", 2),
            ("r2", "a", 0),
            ("r2", "d", 1)
        ]
    );
    assert_eq!(joined.data.labels(), [0.0, 2.0, 0.0, 1.0, 1.0]);
    assert_eq!(joined.data.groups(), [3, 2]);
    assert_eq!(joined.features.names(), NAMES);
    let counts = joined.counts;
    assert_eq!((counts.rows, counts.queries, counts.positives), (5, 2, 3));
    assert_eq!((counts.matched_events, counts.out_of_window_events), (4, 2));
    assert_eq!(
        (counts.unmatched_events, counts.events_without_request),
        (1, 1)
    );
    assert_eq!(
        joined.span,
        Some(crate::gbdt::DataSpan {
            from_ms: 1000,
            to_ms: 2000 + WINDOW
        })
    );
    // The logged values: the year, and the ALS score; `x` came from another source (null).
    let features = joined.data.features();
    assert_eq!(features.row(1), [2002.0, 9.0]);
    assert_eq!(features.row(2)[0], 2003.0);
    assert!(
        features.row(2)[1].is_nan(),
        "a null in the log reads as NaN"
    );
}

#[test]
fn rows_whose_window_is_still_open_are_left_out() {
    let dir = tempfile::tempdir().unwrap();
    two_requests(dir.path());
    let label = LabelRule {
        as_of_ms: Some(2000 + WINDOW - 1),
        ..rule()
    };
    let joined = training_data_from_logs(dir.path(), Vec::new(), &label).unwrap();
    assert_eq!((joined.counts.rows, joined.counts.open_rows), (3, 2));
    assert!(joined.rows.iter().all(|r| r.request_id == "r1"));
    let bad = LabelRule {
        grades: BTreeMap::from([("click".to_string(), 31)]),
        ..rule()
    };
    let error = training_data_from_logs(dir.path(), Vec::new(), &bad).unwrap_err();
    assert!(
        error.to_string().contains("`click` has grade 31"),
        "{error}"
    );
}

#[test]
fn sampling_keeps_or_drops_whole_requests_at_the_rate() {
    #[derive(Clone, Default)]
    struct Collect(Arc<Mutex<Vec<FeatureLogRecord>>>);
    impl RecordSink for Collect {
        fn write(&mut self, records: &[FeatureLogRecord]) -> Result<(), FeatureLogError> {
            self.0.lock().unwrap().extend_from_slice(records);
            Ok(())
        }
        fn flush(&mut self) -> Result<(), FeatureLogError> {
            Ok(())
        }
        fn finish(&mut self) -> Result<(), FeatureLogError> {
            Ok(())
        }
    }
    let (requests, rate) = (10_000usize, 0.3);
    let sink = Collect::default();
    let set = FeatureSet::parse(&NAMES).unwrap();
    let logger = FeatureLogger::start(
        set,
        rate,
        requests,
        Duration::from_millis(10),
        Box::new(sink.clone()),
    )
    .unwrap();
    let items = [("a", 1.0), ("b", 2.0), ("c", 3.0)];
    let mut kept = 0usize;
    for i in 0..requests {
        let id = format!("req-{i}");
        match show(&logger, &id, 1, &items) {
            LogOutcome::Queued(3) => kept += 1,
            LogOutcome::NotSampled => {}
            other => panic!("{id}: {other:?}"),
        }
        assert_eq!(sampled(&id, rate), sampled(&id, rate), "stable");
    }
    logger.close();
    let sigma = (requests as f64 * rate * (1.0 - rate)).sqrt();
    let expected = requests as f64 * rate;
    assert!(
        (kept as f64 - expected).abs() <= 3.0 * sigma,
        "{kept} of {requests} kept at rate {rate} (expected {expected} ± {:.0})",
        3.0 * sigma
    );
    let mut per_request: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for record in sink.0.lock().unwrap().iter() {
        per_request
            .entry(record.request_id.clone())
            .or_default()
            .push(record.position);
    }
    assert_eq!(per_request.len(), kept);
    assert!(
        per_request
            .values()
            .all(|positions| positions == &[0, 1, 2])
    );
    assert_eq!(logger.stats().written, 3 * kept as u64);
    assert!(sampled("any", 1.0) && !sampled("any", 0.0));
}

#[test]
fn a_full_queue_drops_and_counts_instead_of_waiting() {
    /// Blocks in its first write until the test lets it go.
    struct Gated {
        entered: mpsc::Sender<()>,
        gate: mpsc::Receiver<()>,
    }
    impl RecordSink for Gated {
        fn write(&mut self, _: &[FeatureLogRecord]) -> Result<(), FeatureLogError> {
            let _ = self.entered.send(());
            let _ = self.gate.recv();
            Ok(())
        }
        fn flush(&mut self) -> Result<(), FeatureLogError> {
            Ok(())
        }
        fn finish(&mut self) -> Result<(), FeatureLogError> {
            Ok(())
        }
    }
    let (entered, writer_busy) = mpsc::channel();
    let (release, gate) = mpsc::channel();
    let set = FeatureSet::parse(&NAMES).unwrap();
    let sink = Box::new(Gated { entered, gate });
    let logger = Arc::new(FeatureLogger::start(set, 1.0, 2, Duration::from_secs(1), sink).unwrap());
    let items = [("a", 1.0), ("b", 2.0)];
    assert_eq!(show(&logger, "r0", 1, &items), LogOutcome::Queued(2));
    writer_busy.recv().unwrap();
    // The writer holds r0; r1 and r2 fill the queue of 2; r3 finds it full.
    assert_eq!(show(&logger, "r1", 1, &items), LogOutcome::Queued(2));
    assert_eq!(show(&logger, "r2", 1, &items), LogOutcome::Queued(2));
    let (done, outcome) = mpsc::channel();
    let background = logger.clone();
    std::thread::spawn(move || done.send(show(&background, "r3", 1, &items)));
    let outcome = outcome
        .recv_timeout(Duration::from_secs(10))
        .expect("logging waited for the writer instead of dropping");
    assert_eq!(outcome, LogOutcome::Dropped(2));
    assert_eq!(logger.stats().dropped, 2);
    for _ in 0..3 {
        release.send(()).unwrap();
    }
    logger.close();
    let stats = logger.stats();
    assert_eq!((stats.queued, stats.written, stats.dropped), (6, 6, 2));
    assert_eq!(
        show(&logger, "r4", 1, &items),
        LogOutcome::Dropped(2),
        "closed"
    );
}

#[test]
fn files_rotate_by_size_and_read_back_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let conf = FeatureLogConf {
        max_file_bytes: 300,
        ..conf()
    };
    let logger = FeatureLogger::from_config(
        &FeatureLogConf {
            dir: Some(dir.path().join("log")),
            ..conf
        },
        Path::new("/unused"),
    )
    .unwrap();
    for i in 0..20 {
        show(&logger, &format!("r{i:02}"), i, &[("a", 1.0), ("b", 2.0)]);
    }
    logger.close();
    let log = read_feature_log(&dir.path().join("log")).unwrap();
    assert!(log.files.len() > 5, "{} files", log.files.len());
    assert_eq!(log.schema, NAMES);
    assert_eq!(log.records.len(), 40);
    let ids: Vec<&str> = log.records.iter().map(|r| r.request_id.as_str()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "file order is log order");
}

#[test]
fn a_corrupted_file_is_named_with_its_line_and_a_torn_tail_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    two_requests(dir.path());
    let log = read_feature_log(dir.path()).unwrap();
    let path = &log.files[0];
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6, "a header and 5 records");
    // A crash cut the last record short: it is left out.
    let torn = format!("{}\n{}", lines[..5].join("\n"), &lines[5][..20]);
    std::fs::write(path, &torn).unwrap();
    let log = read_feature_log(dir.path()).unwrap();
    assert_eq!((log.records.len(), log.torn_records), (4, 1));
    // A bad record in the middle is an error naming the file and the line.
    let mut broken: Vec<String> = lines.iter().map(ToString::to_string).collect();
    broken[2] = broken[2].replace("\"features\":[2002.0,9.0]", "\"features\":[2002.0]");
    std::fs::write(path, broken.join("\n") + "\n").unwrap();
    let error = read_feature_log(dir.path()).unwrap_err().to_string();
    assert!(error.contains(&format!("{}:3:", path.display())), "{error}");
    assert!(
        error.contains("has 1 values; the header names 2"),
        "{error}"
    );
    broken[2] = "{\"request_id\": \"r1\"".into();
    std::fs::write(path, broken.join("\n") + "\n").unwrap();
    let error = training_data_from_logs(dir.path(), Vec::new(), &rule())
        .unwrap_err()
        .to_string();
    assert!(error.contains(&format!("{}:3:", path.display())), "{error}");
    std::fs::write(path, "{\"format\": \"other\"}\n").unwrap();
    let error = read_feature_log(dir.path()).unwrap_err().to_string();
    assert!(error.contains(":1: not a feature log header"), "{error}");
}

#[test]
fn a_schema_change_across_files_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    two_requests(dir.path());
    let other = FeatureSet::parse(&["item.year"]).unwrap();
    let logger = FeatureLogger::new(&conf(), other, dir.path()).unwrap();
    show(&logger, "r3", 3000, &[("a", 1.0)]);
    logger.close();
    let error = training_data_from_logs(dir.path(), Vec::new(), &rule()).unwrap_err();
    let FeatureLogError::SchemaChanged {
        first_schema,
        other_schema,
        ..
    } = &error
    else {
        panic!("{error}");
    };
    assert_eq!(
        (first_schema.len(), other_schema.as_slice()),
        (2, &["item.year".to_string()][..])
    );
    assert!(
        error
            .to_string()
            .contains("one training set takes one schema")
    );
    let empty = tempfile::tempdir().unwrap();
    let error = read_feature_log(empty.path()).unwrap_err().to_string();
    assert!(error.contains("no feature log files"), "{error}");
}

#[test]
fn bad_feature_names_and_rates_are_named_by_key() {
    let mut conf = conf();
    conf.features = vec!["item.year".into(), "popularity".into()];
    let issue = feature_set(&conf).unwrap_err();
    assert_eq!(issue.path, "FeatureLogConf.Features[1]");
    assert!(issue.reason.contains("`popularity`"), "{}", issue.reason);
    conf.features = vec!["item.year".into(), "item.x".into(), "item.year".into()];
    assert_eq!(
        feature_set(&conf).unwrap_err().path,
        "FeatureLogConf.Features[2]"
    );
    let dir = tempfile::tempdir().unwrap();
    conf.features = NAMES.iter().map(ToString::to_string).collect();
    conf.sample_rate = -0.5;
    let error = FeatureLogger::from_config(&conf, dir.path())
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("FeatureLogConf.SampleRate"), "{error}");
}
