//! Enrichers on the stream: micro-batching, defaults and counters on failure and timeout (the
//! stream never waits for a hung model), the built-in text encoder and ONNX enrichers against
//! their models, over real stores.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use cascade_core::config::{CascadeConfig, EnricherConf};
use cascade_core::{Event, EventObserver, FieldValue, Item};
use cascade_infer::{TextEncoder, default_model_dir};
use cascade_store::features::EmbeddedFeatureStore;
use cascade_store::{
    EmbeddedStore, EventLog, FeatureKey, FeatureStore, FeatureValue, FeatureWrite, ItemStore,
};
use cascade_stream::StreamRuntime;
use cascade_stream::enrich::{
    EnrichContext, EnrichError, EnrichInput, Enricher, EnricherFactory, MicroBatcher,
    start_enricher,
};
use cascade_stream::windows::ItemFields;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use parking_lot::{Condvar, Mutex};

/// Long enough never to pass in a test that does not mean it to.
const FOREVER: Duration = Duration::from_secs(120);

fn metrics() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| PrometheusBuilder::new().install_recorder().unwrap())
}

fn feature_store() -> (tempfile::TempDir, Arc<dyn FeatureStore>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedFeatureStore::open(dir.path(), 0).unwrap());
    (dir, store)
}

fn conf(json: &str) -> EnricherConf {
    serde_json::from_str(json).unwrap()
}

fn click(n: usize, uid: &str, item: &str) -> Event {
    Event::new(&format!("e{n}"), "click", uid, item, 1_700_000_000_000)
}

fn value(store: &dyn FeatureStore, feature: &str, entity: &str) -> Option<FeatureValue> {
    store.read_one(FeatureKey { feature, entity }).unwrap()
}

/// The failure counter's value in the Prometheus text.
fn failures(enricher: &str, reason: &str) -> Option<String> {
    let prefix =
        format!("cascade_enricher_failures_total{{enricher=\"{enricher}\",reason=\"{reason}\"}} ");
    metrics()
        .render()
        .lines()
        .find_map(|line| line.strip_prefix(&prefix).map(str::to_string))
}

/// A model that records its batch sizes and answers each event with its item id's length.
struct Recorder {
    calls: Arc<Mutex<Vec<usize>>>,
}

impl Enricher for Recorder {
    fn infer(&mut self, batch: &[EnrichInput]) -> Result<Vec<Option<FeatureValue>>, EnrichError> {
        self.calls.lock().push(batch.len());
        Ok(batch
            .iter()
            .map(|input| Some(FeatureValue::Number(input.item_id.len() as f64)))
            .collect())
    }
}

fn recorder() -> (Arc<Mutex<Vec<usize>>>, EnricherFactory) {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let shared = calls.clone();
    let factory: EnricherFactory = Box::new(move || {
        Ok(Box::new(Recorder {
            calls: shared.clone(),
        }))
    });
    (calls, factory)
}

#[test]
fn a_full_batch_is_one_model_call() {
    let (_dir, store) = feature_store();
    let (calls, factory) = recorder();
    let conf = conf(
        r#"{"Name": "len", "Type": "onnx", "Key": "item", "BatchSize": 4, "MaxWaitMs": 600000}"#,
    );
    let batcher = MicroBatcher::start(&conf, &Default::default(), &factory, store.clone()).unwrap();
    for n in 0..8 {
        batcher.observe(n as u64, &click(n, "u", &"x".repeat(n + 1)));
    }
    assert!(batcher.wait_completed(8, FOREVER), "{:?}", batcher.counts());
    assert_eq!(*calls.lock(), [4, 4]);
    for n in 0..8 {
        let item = "x".repeat(n + 1);
        let expected = FeatureValue::Number((n + 1) as f64);
        assert_eq!(value(&*store, "len", &item), Some(expected));
    }
    let counts = batcher.counts();
    assert_eq!((counts.events, counts.batches, counts.errors), (8, 2, 0));
}

#[test]
fn the_maximum_wait_flushes_a_partial_batch() {
    let (_dir, store) = feature_store();
    let (calls, factory) = recorder();
    let conf =
        conf(r#"{"Name": "len", "Type": "onnx", "Key": "user", "BatchSize": 16, "MaxWaitMs": 50}"#);
    let batcher = MicroBatcher::start(&conf, &Default::default(), &factory, store.clone()).unwrap();
    let started = Instant::now();
    for n in 0..3 {
        batcher.observe(n as u64, &click(n, &format!("u{n}"), "item"));
    }
    assert!(batcher.wait_completed(3, FOREVER));
    assert!(started.elapsed() >= Duration::from_millis(50));
    assert_eq!(*calls.lock(), [3]);
    assert_eq!(value(&*store, "len", "u2"), Some(FeatureValue::Number(4.0)));
}

#[test]
fn events_of_other_types_are_not_enriched() {
    let (_dir, store) = feature_store();
    let (calls, factory) = recorder();
    let conf = conf(
        r#"{"Name": "len", "Type": "onnx", "Key": "item", "BatchSize": 1, "EventTypes": ["click"]}"#,
    );
    let batcher = MicroBatcher::start(&conf, &Default::default(), &factory, store.clone()).unwrap();
    let mut view = click(0, "u", "viewed");
    view.event_type = "view".into();
    batcher.observe(0, &view);
    batcher.observe(1, &click(1, "u", "clicked"));
    assert!(batcher.wait_completed(1, FOREVER));
    drop(batcher);
    assert_eq!(*calls.lock(), [1]);
    assert_eq!(value(&*store, "len", "viewed"), None);
}

/// A model that always fails.
struct Failing;

impl Enricher for Failing {
    fn infer(&mut self, _: &[EnrichInput]) -> Result<Vec<Option<FeatureValue>>, EnrichError> {
        Err(EnrichError::Model("out of cheese".into()))
    }
}

#[test]
fn a_failing_model_writes_the_default_and_is_counted() {
    metrics();
    let (_dir, store) = feature_store();
    let factory: EnricherFactory = Box::new(|| Ok(Box::new(Failing)));
    let conf = conf(
        r#"{"Name": "failing", "Type": "onnx", "Key": "item", "BatchSize": 2,
            "MaxWaitMs": 600000, "Default": 0.5}"#,
    );
    let batcher = MicroBatcher::start(&conf, &Default::default(), &factory, store.clone()).unwrap();
    batcher.observe(0, &click(0, "u", "a"));
    batcher.observe(1, &click(1, "u", "b"));
    assert!(batcher.wait_completed(2, FOREVER));
    for item in ["a", "b"] {
        assert_eq!(
            value(&*store, "failing", item),
            Some(FeatureValue::Number(0.5))
        );
    }
    assert_eq!(batcher.counts().errors, 1);
    assert_eq!(failures("failing", "error").as_deref(), Some("1"));
}

/// A model whose first call blocks until the gate opens; later calls answer 7.
struct Hanging {
    gate: Arc<(Mutex<bool>, Condvar)>,
    calls: usize,
}

impl Enricher for Hanging {
    fn infer(&mut self, batch: &[EnrichInput]) -> Result<Vec<Option<FeatureValue>>, EnrichError> {
        self.calls += 1;
        if self.calls == 1 {
            let (open, opened) = &*self.gate;
            let mut open = open.lock();
            while !*open {
                opened.wait(&mut open);
            }
        }
        Ok(vec![Some(FeatureValue::Number(7.0)); batch.len()])
    }
}

#[test]
fn a_hanging_model_times_out_to_the_default_and_the_stream_goes_on() {
    metrics();
    let (_dir, store) = feature_store();
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    let model_gate = gate.clone();
    let factory: EnricherFactory = Box::new(move || {
        Ok(Box::new(Hanging {
            gate: model_gate.clone(),
            calls: 0,
        }))
    });
    let conf = conf(
        r#"{"Name": "hanging", "Type": "onnx", "Key": "item", "BatchSize": 1,
            "TimeoutMs": 100, "Default": -1}"#,
    );
    let batcher = MicroBatcher::start(&conf, &Default::default(), &factory, store.clone()).unwrap();
    let default = Some(FeatureValue::Number(-1.0));
    batcher.observe(0, &click(0, "u", "a"));
    assert!(batcher.wait_completed(1, FOREVER));
    assert_eq!(value(&*store, "hanging", "a"), default);
    // The model still hangs: the next event gets the default too, after at most the timeout.
    batcher.observe(1, &click(1, "u", "b"));
    assert!(batcher.wait_completed(2, FOREVER));
    assert_eq!(value(&*store, "hanging", "b"), default);
    assert_eq!(batcher.counts().timeouts, 2);
    assert_eq!(failures("hanging", "timeout").as_deref(), Some("2"));
    // Once the model answers again, later events are enriched; the late answer is dropped.
    let (open, opened) = &*gate;
    *open.lock() = true;
    opened.notify_all();
    batcher.observe(2, &click(2, "u", "c"));
    assert!(batcher.wait_completed(3, FOREVER));
    assert_eq!(
        value(&*store, "hanging", "c"),
        Some(FeatureValue::Number(7.0))
    );
    assert_eq!(value(&*store, "hanging", "a"), default);
    assert_eq!(batcher.counts().timeouts, 2);
}

/// A model slower than the events: one call at a time, each 50 ms.
struct Slow;

impl Enricher for Slow {
    fn infer(&mut self, batch: &[EnrichInput]) -> Result<Vec<Option<FeatureValue>>, EnrichError> {
        std::thread::sleep(Duration::from_millis(50));
        Ok(vec![Some(FeatureValue::Number(1.0)); batch.len()])
    }
}

#[test]
fn a_full_queue_sheds_events_instead_of_holding_the_stream() {
    metrics();
    let (_dir, store) = feature_store();
    let factory: EnricherFactory = Box::new(|| Ok(Box::new(Slow)));
    let conf =
        conf(r#"{"Name": "slow", "Type": "onnx", "Key": "item", "BatchSize": 1, "MaxWaitMs": 1}"#);
    let batcher = MicroBatcher::start(&conf, &Default::default(), &factory, store.clone()).unwrap();
    let events = 200;
    for n in 0..events {
        batcher.observe(n as u64, &click(n, "u", &format!("i{n}")));
    }
    let counts = batcher.counts();
    assert!(counts.shed > 0, "{counts:?}");
    assert!(batcher.wait_completed(events as u64, FOREVER));
    let counts = batcher.counts();
    assert_eq!(counts.shed + counts.events, events as u64, "{counts:?}");
    assert_eq!(
        failures("slow", "shed"),
        Some(counts.shed.to_string()),
        "{counts:?}"
    );
}

/// The installed text encoder, loaded once for the comparisons.
fn encoder() -> &'static TextEncoder {
    static ENCODER: OnceLock<TextEncoder> = OnceLock::new();
    ENCODER.get_or_init(|| {
        let dir = default_model_dir();
        TextEncoder::load(&dir).unwrap_or_else(|err| {
            panic!(
                "these tests need the all-MiniLM-L6-v2 model in {}: run scripts/install-model.sh \
                 (or point CASCADE_MODEL_DIR at an installed copy). Loading failed with: {err}",
                dir.display()
            )
        })
    })
}

fn assert_close(found: Option<FeatureValue>, expected: &[f32]) {
    let Some(FeatureValue::Vector(found)) = found else {
        panic!("expected a vector, found {found:?}");
    };
    assert_eq!(found.len(), expected.len());
    let diff = found
        .iter()
        .zip(expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(diff < 1e-5, "max abs diff {diff}");
}

fn item(id: &str, fields: &[(&str, FieldValue)]) -> Item {
    Item {
        id: id.into(),
        fields: fields
            .iter()
            .map(|(name, value)| (name.to_string(), value.clone()))
            .collect(),
        embeddings: Default::default(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_text_enricher_writes_the_encoders_vector_of_the_item_and_event_text() {
    let dir = tempfile::tempdir().unwrap();
    let stores = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    let features: Arc<dyn FeatureStore> =
        Arc::new(EmbeddedFeatureStore::open(dir.path(), 0).unwrap());
    stores
        .upsert_items(&[item(
            "dune",
            &[
                ("title", FieldValue::Text("Dune".into())),
                ("authors", FieldValue::Keyword("Frank Herbert".into())),
                ("pages", FieldValue::Numeric(412.0)),
            ],
        )])
        .unwrap();
    let config = CascadeConfig::parse(
        r#"{"EnricherConfs": [
            {"Name": "item_vec", "Type": "text_embedding", "Key": "item",
             "Fields": ["title", "authors", "pages"]},
            {"Name": "comment_vec", "Type": "text_embedding", "Key": "user",
             "Input": "event_text", "BatchSize": 4, "MaxWaitMs": 1}
        ]}"#,
    )
    .unwrap();
    let items: Arc<dyn ItemStore> = stores.clone();
    let context = EnrichContext {
        store: features.clone(),
        items: Arc::new(items) as Arc<dyn ItemFields>,
    };
    let batchers: Vec<Arc<MicroBatcher>> = config
        .enricher_confs
        .iter()
        .map(|conf| Arc::new(start_enricher(conf, &config, &context).unwrap()))
        .collect();
    let mut commented = click(0, "reader", "dune");
    commented.text = Some("The spice must flow, a desert planet epic".into());
    let events = vec![commented.clone(), click(1, "other", "not-in-catalogue")];
    stores.append(events).wait().await.unwrap();
    let observers = batchers
        .iter()
        .map(|b| b.clone() as Arc<dyn EventObserver>)
        .collect();
    let runtime = StreamRuntime::start(stores.clone(), observers);
    runtime.wait_applied(2).await;
    for batcher in &batchers {
        assert!(batcher.wait_completed(2, FOREVER), "{:?}", batcher.counts());
    }
    let expected = encoder().encode(&["Dune. Frank Herbert"]).unwrap();
    assert_close(value(&*features, "item_vec", "dune"), &expected[0]);
    let expected = encoder()
        .encode(&[commented.text.as_deref().unwrap()])
        .unwrap();
    assert_close(value(&*features, "comment_vec", "reader"), &expected[0]);
    assert_eq!(value(&*features, "item_vec", "not-in-catalogue"), None);
    assert_eq!(value(&*features, "comment_vec", "other"), None);
}

#[derive(serde::Deserialize)]
struct Reference {
    rows: Vec<Vec<f32>>,
    outputs: Vec<f32>,
}

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn onnx_config(features: &str) -> CascadeConfig {
    CascadeConfig::parse(&format!(
        r#"{{
            "WindowFeatureConfs": [{{"Name": "user_clicks", "Key": "user",
                "Window": {{"Type": "global"}}, "Aggregation": {{"Type": "count"}}}}],
            "EnricherConfs": [{{"Name": "score", "Type": "onnx", "Key": "user",
                "ModelPath": "{}", "Features": {features}, "BatchSize": 4, "MaxWaitMs": 600000}}],
            "StorageConf": {{"ModelDir": "{}"}}
        }}"#,
        fixture("enrich-4.onnx"),
        fixture("")
    ))
    .unwrap()
}

#[test]
fn the_onnx_enricher_scores_window_features_and_item_fields_as_the_reference_does() {
    let reference: Reference =
        serde_json::from_str(&std::fs::read_to_string(fixture("enrich-4-reference.json")).unwrap())
            .unwrap();
    let (_dir, store) = feature_store();
    let config = onnx_config(r#"["user_clicks", "item.f1", "item.f2", "item.f3"]"#);
    // Row r: user u<r> with user_clicks = column 0, item i<r> with f1..f3 = columns 1..3; a
    // zero in the reference is a missing value (NaN becomes 0), so it is left out.
    let users: Vec<String> = (0..reference.rows.len()).map(|r| format!("u{r}")).collect();
    let writes: Vec<FeatureWrite<'_>> = reference
        .rows
        .iter()
        .zip(&users)
        .filter(|(row, _)| row[0] != 0.0)
        .map(|(row, uid)| FeatureWrite {
            key: FeatureKey {
                feature: "user_clicks",
                entity: uid,
            },
            value: Some(FeatureValue::Number(f64::from(row[0]))),
        })
        .collect();
    store.write(&writes).unwrap();
    let rows = reference.rows.clone();
    let items = move |item_id: &str, field: &str| {
        let row = &rows[item_id.strip_prefix('i')?.parse::<usize>().ok()?];
        let column = field.strip_prefix('f')?.parse::<usize>().ok()?;
        (row[column] != 0.0).then(|| FieldValue::Numeric(f64::from(row[column])))
    };
    let context = EnrichContext {
        store: store.clone(),
        items: Arc::new(items),
    };
    let batcher = start_enricher(&config.enricher_confs[0], &config, &context).unwrap();
    for (r, uid) in users.iter().enumerate() {
        batcher.observe(r as u64, &click(r, uid, &format!("i{r}")));
    }
    assert!(batcher.wait_completed(users.len() as u64, FOREVER));
    assert_eq!(batcher.counts().batches, 1);
    for (uid, expected) in users.iter().zip(&reference.outputs) {
        let Some(FeatureValue::Number(score)) = value(&*store, "score", uid) else {
            panic!("no score for {uid}");
        };
        assert!(
            (score - f64::from(*expected)).abs() < 1e-5,
            "{uid}: {score} vs {expected}"
        );
    }
}

#[test]
fn an_onnx_model_of_another_width_does_not_start() {
    let (_dir, store) = feature_store();
    let config = onnx_config(r#"["user_clicks", "item.f1"]"#);
    let context = EnrichContext {
        store,
        items: Arc::new(|_: &str, _: &str| -> Option<FieldValue> { None }),
    };
    let error = start_enricher(&config.enricher_confs[0], &config, &context)
        .err()
        .expect("the width differs");
    let message = error.to_string();
    assert!(message.contains("enrich-4.onnx"), "{message}");
    assert!(message.contains("takes 4 inputs"), "{message}");
    assert!(message.contains("Features names 2"), "{message}");
}
