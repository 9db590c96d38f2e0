//! ONNX models through tract: the shipped ranking model against onnx's own reference
//! evaluator (`tests/fixtures/onnx-reference.json`, written by `scripts/train-onnx-ranker.py
//! --reference-out`), and the errors of wrong input and wrong files.

use std::path::PathBuf;
use std::sync::Arc;

use cascade_infer::onnx::{FEATURES_KEY, OnnxError, OnnxModel};
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    features: Vec<String>,
    rows: Vec<Vec<f32>>,
    outputs: Vec<f32>,
}

fn fixture() -> Fixture {
    let json = include_str!("fixtures/onnx-reference.json");
    serde_json::from_str(json).expect("the reference fixture parses")
}

fn model_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/goodbooks-ranker.onnx")
}

fn model() -> OnnxModel {
    OnnxModel::load(&model_path()).expect("the shipped model loads")
}

#[test]
fn tract_matches_the_onnx_reference_evaluator() {
    let fixture = fixture();
    let model = model();
    assert_eq!(model.width(), fixture.features.len());
    assert_eq!(model.feature_names(), Some(fixture.features.clone()));
    assert!(fixture.rows.len() >= 4, "the fixture holds a batch");
    let rows: Vec<f32> = fixture.rows.concat();
    let outputs = model.run(&rows, fixture.rows.len()).unwrap();
    assert_eq!(outputs.len(), fixture.outputs.len());
    for (i, (got, want)) in outputs.iter().zip(&fixture.outputs).enumerate() {
        assert!(
            (got - want).abs() <= 1e-5,
            "row {i}: tract {got}, onnx reference {want}"
        );
    }
    // one row at a time gives the same as the batch: the plan takes any batch size
    for (i, row) in fixture.rows.iter().enumerate() {
        let single = model.run(row, 1).unwrap();
        assert!((single[0] - outputs[i]).abs() <= 1e-6, "row {i} alone");
    }
    assert!(
        outputs.windows(2).any(|w| w[0] != w[1]),
        "the rows score differently: {outputs:?}"
    );
}

#[test]
fn metadata_and_empty_batches() {
    let model = model();
    assert_eq!(model.path(), model_path());
    assert_eq!(model.metadata("cascade.nan").as_deref(), Some("0"));
    assert!(model.metadata(FEATURES_KEY).is_some());
    assert_eq!(model.metadata("no.such.key"), None);
    assert_eq!(model.run(&[], 0).unwrap(), Vec::<f32>::new());
}

#[test]
fn one_plan_serves_many_threads() {
    fn shared<T: Send + Sync>(_: &T) {}
    let model = Arc::new(model());
    shared(&model);
    let fixture = fixture();
    let rows: Vec<f32> = fixture.rows.concat();
    let want = model.run(&rows, fixture.rows.len()).unwrap();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| model.run(&rows, fixture.rows.len()).unwrap()))
            .collect();
        for worker in workers {
            assert_eq!(worker.join().unwrap(), want);
        }
    });
}

#[test]
fn rows_of_the_wrong_width_name_both_counts() {
    let model = model();
    let width = model.width();
    let rows = vec![0.0f32; 2 * width - 1];
    let error = model.run(&rows, 2).unwrap_err();
    assert!(
        matches!(
            error,
            OnnxError::Width { expected, rows: 2, found, .. }
                if expected == width && found == 2 * width - 1
        ),
        "{error}"
    );
    let message = error.to_string();
    assert!(message.contains("goodbooks-ranker.onnx"), "{message}");
    assert!(
        message.contains(&format!("2 rows of {width} features")),
        "{message}"
    );
    assert!(
        message.contains(&format!("found {} values", 2 * width - 1)),
        "{message}"
    );
    let error = model.run(&[1.0; 3], usize::MAX).unwrap_err();
    assert!(matches!(error, OnnxError::Width { .. }), "{error}");
}

#[test]
fn a_file_that_is_not_onnx_is_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let text = tmp.path().join("model.onnx");
    std::fs::write(&text, "this is not an ONNX model\n").unwrap();
    let error = OnnxModel::load(&text).unwrap_err();
    assert!(matches!(error, OnnxError::NotOnnx { .. }), "{error}");
    let message = error.to_string();
    assert!(
        message.contains(&text.display().to_string()) && message.contains("is not an ONNX model"),
        "{message}"
    );

    // an empty file is a valid (empty) protobuf, but holds no graph
    let empty = tmp.path().join("empty.onnx");
    std::fs::write(&empty, b"").unwrap();
    let error = OnnxModel::load(&empty).unwrap_err();
    assert!(
        matches!(&error, OnnxError::NotOnnx { reason, .. } if reason.contains("no graph")),
        "{error}"
    );

    let missing = tmp.path().join("missing.onnx");
    let error = OnnxModel::load(&missing).unwrap_err();
    assert!(matches!(error, OnnxError::Read { .. }), "{error}");
    assert!(
        error.to_string().contains(&missing.display().to_string()),
        "{error}"
    );
}

#[test]
fn a_truncated_model_is_refused_by_name() {
    let bytes = std::fs::read(model_path()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let cut = tmp.path().join("cut.onnx");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let error = OnnxModel::load(&cut).unwrap_err();
    assert!(
        error.to_string().contains(&cut.display().to_string()),
        "{error}"
    );
}
