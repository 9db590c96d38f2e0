//! Training, scoring, parity with LightGBM and the model file, on synthetic queries where
//! one feature decides relevance.

use std::sync::Arc;

use cascade_core::{Candidate, FieldValue, Item, RequestContext};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::features::{FeatureMatrix, FeatureSet, MemoryFeatureSource, RankItem};
use crate::scorer::{Scorer, ScoringInput};

const NAMES: [&str; 3] = ["item.noise", "item.signal", "item.other"];

/// One query's candidates: `signal` decides relevance (> 0.7), the others are noise; some
/// noise values are missing.
fn query(rng: &mut StdRng, size: usize) -> Vec<RankItem> {
    (0..size)
        .map(|i| {
            let mut fields = vec![
                ("signal".to_string(), FieldValue::Numeric(rng.random())),
                ("other".to_string(), FieldValue::Numeric(rng.random())),
            ];
            if i % 7 != 0 {
                fields.push(("noise".to_string(), FieldValue::Numeric(rng.random())));
            }
            RankItem::new(Item {
                id: format!("i{i}"),
                fields: fields.into_iter().collect(),
                embeddings: Default::default(),
            })
        })
        .collect()
}

fn signal(item: &Item) -> f64 {
    match item.fields["signal"] {
        FieldValue::Numeric(x) => x,
        _ => unreachable!(),
    }
}

fn candidates(items: &[RankItem]) -> Vec<Candidate> {
    items
        .iter()
        .map(|item| Candidate::new(item.id.clone(), 0.0, "test".into()))
        .collect()
}

fn features(set: &FeatureSet, items: &[RankItem]) -> FeatureMatrix {
    let candidates = candidates(items);
    let inputs: Vec<ScoringInput<'_>> = candidates
        .iter()
        .zip(items)
        .map(|(candidate, item)| ScoringInput {
            candidate,
            item: Some(item),
        })
        .collect();
    set.extract(
        &MemoryFeatureSource::default(),
        &RequestContext::default(),
        &inputs,
    )
}

fn data(set: &FeatureSet, seed: u64, queries: usize) -> RankingData {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut data = RankingData::new(set.len());
    for _ in 0..queries {
        let items = query(&mut rng, 20);
        let labels: Vec<f32> = items
            .iter()
            .map(|item| f32::from(u8::from(signal(item) > 0.7)))
            .collect();
        data.push_query(&features(set, &items), &labels).unwrap();
    }
    data
}

fn config() -> LambdaMartConfig {
    LambdaMartConfig {
        trees: 30,
        learning_rate: 0.2,
        num_leaves: 7,
        min_data_in_leaf: 10,
        ..LambdaMartConfig::default()
    }
}

fn trained() -> (FeatureSet, GbdtModel) {
    let set = FeatureSet::parse(&NAMES).unwrap();
    let span = DataSpan {
        from_ms: 1,
        to_ms: 2,
    };
    let model = train_lambdamart(
        &set,
        &data(&set, 1, 150),
        Some(&data(&set, 2, 50)),
        &config(),
        Some(span),
    )
    .unwrap();
    (set, model)
}

#[test]
fn lambdamart_ranks_by_the_feature_that_decides_relevance() {
    let (set, model) = trained();
    let info = model.training();
    assert_eq!((info.queries, info.rows, info.trees), (150, 3000, 30));
    assert!(info.metrics["valid_ndcg@10"] > 0.99, "{:?}", info.metrics);
    let scorer = GbdtScorer::new(
        "gbdt",
        Arc::new(model),
        Arc::new(MemoryFeatureSource::default()),
    );
    let mut rng = StdRng::seed_from_u64(3);
    for _ in 0..20 {
        let items = query(&mut rng, 30);
        let candidates = candidates(&items);
        let inputs: Vec<ScoringInput<'_>> = candidates
            .iter()
            .zip(&items)
            .map(|(candidate, item)| ScoringInput {
                candidate,
                item: Some(item),
            })
            .collect();
        let scores = scorer.score(&RequestContext::default(), &inputs).unwrap();
        // every relevant candidate outranks every irrelevant one
        let worst_relevant = (0..items.len())
            .filter(|&i| signal(&items[i]) > 0.72)
            .map(|i| scores[i])
            .fold(f64::INFINITY, f64::min);
        let best_irrelevant = (0..items.len())
            .filter(|&i| signal(&items[i]) < 0.68)
            .map(|i| scores[i])
            .fold(f64::NEG_INFINITY, f64::max);
        assert!(worst_relevant > best_irrelevant, "{scores:?}");
    }
    let _ = set;
}

#[test]
fn rust_scores_match_lightgbm_and_training_is_deterministic() {
    let (set, model) = trained();
    let test = data(&set, 9, 30);
    assert!(test.features().values().iter().any(|x| x.is_nan()));
    let ours = model.predict(test.features()).unwrap();
    let lightgbm = lightgbm_predict(&model, test.features()).unwrap();
    assert_eq!(ours.len(), lightgbm.len());
    for (a, b) in ours.iter().zip(&lightgbm) {
        assert!((a - b).abs() < 1e-9, "{a} vs LightGBM's {b}");
    }
    let (_, again) = trained();
    assert_eq!(again.file().lightgbm_model, model.file().lightgbm_model);
}

/// The thresholds of each feature's splits in a LightGBM text model.
fn thresholds_by_feature(model: &GbdtModel) -> Vec<Vec<f64>> {
    let mut thresholds = vec![Vec::new(); model.forest().features()];
    let mut features: Vec<usize> = Vec::new();
    for line in model.file().lightgbm_model.lines() {
        let numbers =
            |text: &str| -> Vec<f64> { text.split(' ').map(|x| x.parse().unwrap()).collect() };
        if let Some(list) = line.strip_prefix("split_feature=") {
            features = numbers(list).into_iter().map(|f| f as usize).collect();
        } else if let Some(list) = line.strip_prefix("threshold=") {
            for (&feature, threshold) in features.iter().zip(numbers(list)) {
                thresholds[feature].push(threshold);
            }
        }
    }
    thresholds
}

/// The shipped synthetic ranker (100 trees of 31 leaves, NaN-as-missing splits) scored on
/// values exactly on, just beside and between its thresholds, NaN, zero and values within
/// LightGBM's zero threshold: the Rust trees give LightGBM's scores.
#[test]
fn rust_scores_match_lightgbm_on_and_beside_every_threshold() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/synthetic-ranker.json");
    let model = GbdtModel::load(&path).unwrap();
    let thresholds = thresholds_by_feature(&model);
    let mut rng = StdRng::seed_from_u64(3);
    let mut rows = FeatureMatrix::new(thresholds.len());
    for _ in 0..4000 {
        let row: Vec<f64> = thresholds
            .iter()
            .map(|mine| {
                let on = mine[rng.random_range(0..mine.len())];
                match rng.random_range(0..8) {
                    0 => f64::NAN,
                    1 => 0.0,
                    2 => [1e-36, -1e-36, 1e-30][rng.random_range(0..3)],
                    3 => on.next_up(),
                    4 => on.next_down(),
                    5 => on * rng.random_range(0.5..1.5),
                    _ => on,
                }
            })
            .collect();
        rows.push_row(&row);
    }
    let ours = model.predict(&rows).unwrap();
    let lightgbm = lightgbm_predict(&model, &rows).unwrap();
    assert_eq!(ours.len(), 4000);
    for (row, (a, b)) in ours.iter().zip(&lightgbm).enumerate() {
        assert!(
            (a - b).abs() < 1e-12,
            "row {row} {:?}: {a} vs LightGBM's {b}",
            rows.row(row)
        );
    }
}

#[test]
fn model_file_round_trips_with_its_schema_and_training_info() {
    let (set, model) = trained();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ranker.json");
    model.save(&path).unwrap();
    let loaded = GbdtModel::load_expecting(&path, &set).unwrap();
    assert_eq!(loaded.file(), model.file());
    assert_eq!(loaded.features().names(), NAMES);
    assert_eq!(
        loaded.training().data_span,
        Some(DataSpan {
            from_ms: 1,
            to_ms: 2
        })
    );
    let test = data(&set, 5, 10);
    assert_eq!(
        loaded.predict(test.features()).unwrap(),
        model.predict(test.features()).unwrap()
    );
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(stored["format"], MODEL_FORMAT);
    assert_eq!(stored["version"], MODEL_VERSION);
    assert_eq!(stored["features"][1], "item.signal");
}

#[test]
fn a_model_of_another_schema_or_version_is_refused_clearly() {
    let (_, model) = trained();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ranker.json");
    model.save(&path).unwrap();
    let other = FeatureSet::parse(&["item.noise", "item.year", "item.other"]).unwrap();
    let error = GbdtModel::load_expecting(&path, &other).unwrap_err();
    assert!(matches!(error, GbdtError::Schema { .. }), "{error}");
    let message = error.to_string();
    assert!(
        message.contains("column 1 is `item.signal` in the model but `item.year` in the scorer"),
        "{message}"
    );
    let fewer = FeatureSet::parse(&["item.noise", "item.signal"]).unwrap();
    let message = GbdtScorer::load(
        "g",
        &path,
        Some(&fewer),
        Arc::new(MemoryFeatureSource::default()),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(message.contains("trained on 3 features"), "{message}");
    assert!(message.contains("computes 2 features"), "{message}");
    assert!(
        model
            .predict(&FeatureMatrix::from_values(2, vec![0.0; 4]).unwrap())
            .is_err()
    );

    let mut file = model.file().clone();
    file.version = MODEL_VERSION + 1;
    std::fs::write(&path, serde_json::to_string(&file).unwrap()).unwrap();
    let error = GbdtModel::load(&path).unwrap_err();
    assert!(matches!(error, GbdtError::Version { .. }), "{error}");
    let mut file = model.file().clone();
    file.features[1] = "item.renamed".into();
    std::fs::write(&path, serde_json::to_string(&file).unwrap()).unwrap();
    let error = GbdtModel::load(&path).unwrap_err();
    assert!(
        error.to_string().contains("LightGBM model's features"),
        "{error}"
    );
    std::fs::write(&path, "{\"format\": \"onnx\"}").unwrap();
    assert!(matches!(
        GbdtModel::load(&path).unwrap_err(),
        GbdtError::Format(_)
    ));
    assert!(matches!(
        GbdtModel::load(&dir.path().join("missing.json")).unwrap_err(),
        GbdtError::Io { .. }
    ));
}
