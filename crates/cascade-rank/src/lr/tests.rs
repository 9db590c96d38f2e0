//! Training on a synthetic problem that one feature separates, the model file, the schema
//! check and the scorer.

use std::sync::Arc;

use cascade_core::{Candidate, FieldValue, Item, RequestContext};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::features::{FeatureMatrix, FeatureSet, MemoryFeatureSource, RankItem};
use crate::gbdt::RankingData;
use crate::model_file::DataSpan;
use crate::scorer::{Scorer, ScoringInput};

const NAMES: [&str; 3] = ["item.noise", "item.signal", "item_log.scale"];

/// Items whose `signal` (around 100, far from 0: standardisation matters) decides the label
/// (above 100 is positive); `noise` is sometimes missing.
fn items(rng: &mut StdRng, count: usize) -> (Vec<RankItem>, Vec<f32>) {
    let mut labels = Vec::with_capacity(count);
    let items = (0..count)
        .map(|i| {
            let signal: f64 = 100.0 + rng.random_range(-10.0..10.0);
            labels.push(f32::from(u8::from(signal > 100.0)));
            let mut fields = vec![
                ("signal".to_string(), FieldValue::Numeric(signal)),
                (
                    "scale".to_string(),
                    FieldValue::Numeric(rng.random_range(0.0..1e4)),
                ),
            ];
            if i % 5 != 0 {
                fields.push(("noise".to_string(), FieldValue::Numeric(rng.random())));
            }
            RankItem::new(Item {
                id: format!("i{i}"),
                fields: fields.into_iter().collect(),
                embeddings: Default::default(),
            })
        })
        .collect();
    (items, labels)
}

fn candidates(items: &[RankItem]) -> Vec<Candidate> {
    items
        .iter()
        .map(|item| Candidate::new(item.id.clone(), 0.0, "test".into()))
        .collect()
}

fn extract(set: &FeatureSet, items: &[RankItem]) -> FeatureMatrix {
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
        let (items, labels) = items(&mut rng, 10);
        data.push_query(&extract(set, &items), &labels).unwrap();
    }
    data
}

fn trained() -> (FeatureSet, LogisticModel) {
    let set = FeatureSet::parse(&NAMES).unwrap();
    let train = data(&set, 1, 100);
    let valid = data(&set, 2, 30);
    let span = DataSpan {
        from_ms: 10,
        to_ms: 20,
    };
    let model = train_logistic(
        &set,
        &train,
        Some(&valid),
        &LogisticConfig::default(),
        Some(span),
    )
    .unwrap();
    (set, model)
}

#[test]
fn learns_a_separable_problem() {
    let (_, model) = trained();
    let metrics = &model.training().metrics;
    assert!(metrics["valid_auc"] > 0.95, "{metrics:?}");
    assert!(metrics["train_auc"] > 0.95, "{metrics:?}");
    assert!(metrics["valid_logloss"] < 0.3, "{metrics:?}");
    let weights = &model.file().weights;
    assert!(
        weights[1] > 5.0 * weights[0].abs() && weights[1] > 5.0 * weights[2].abs(),
        "the signal carries the weight: {weights:?}"
    );
    let (set, info) = (model.features().clone(), model.training());
    assert_eq!((info.rows, info.queries), (1000, 100));
    assert_eq!(set.names(), NAMES);
    // a missing value scores as the training mean: no NaN out
    let row = FeatureMatrix::from_values(3, vec![f64::NAN, 105.0, f64::NAN]).unwrap();
    let p = model.predict(&row).unwrap()[0];
    assert!(p > 0.9 && p <= 1.0, "{p}");
    let low = FeatureMatrix::from_values(3, vec![0.5, 95.0, 3.0]).unwrap();
    assert!(model.predict(&low).unwrap()[0] < 0.1);
}

#[test]
fn a_single_class_or_the_wrong_width_is_refused() {
    let set = FeatureSet::parse(&NAMES).unwrap();
    let mut train = RankingData::new(3);
    let rows = FeatureMatrix::from_values(3, vec![1.0; 6]).unwrap();
    train.push_query(&rows, &[0.0, 0.0]).unwrap();
    let error = train_logistic(&set, &train, None, &LogisticConfig::default(), None)
        .err()
        .unwrap();
    assert!(error.to_string().contains("both classes"), "{error}");
    let narrow = FeatureSet::parse(&["item.x"]).unwrap();
    assert!(matches!(
        train_logistic(&narrow, &train, None, &LogisticConfig::default(), None),
        Err(LogisticError::Width { .. })
    ));
}

#[test]
fn model_file_round_trips_and_refuses_another_schema_or_version() {
    let (set, model) = trained();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ctr.json");
    model.save(&path).unwrap();
    let loaded = LogisticModel::load_expecting(&path, &set).unwrap();
    // JSON keeps each number to within an ulp (serde_json parses floats that closely)
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * a.abs().max(1.0);
    let (a, b) = (loaded.file(), model.file());
    assert_eq!(
        (&a.features, &a.training.rows, &a.training.params),
        (&b.features, &b.training.rows, &b.training.params)
    );
    for (x, y) in a
        .weights
        .iter()
        .zip(&b.weights)
        .chain([(&a.intercept, &b.intercept)])
    {
        assert!(close(*x, *y), "{x} vs {y}");
    }
    for (name, value) in &b.training.metrics {
        assert!(close(a.training.metrics[name], *value), "{name}");
    }
    assert_eq!(
        loaded.training().data_span,
        Some(DataSpan {
            from_ms: 10,
            to_ms: 20
        })
    );
    let test = data(&set, 3, 5);
    let (p, q) = (
        loaded.predict(test.features()).unwrap(),
        model.predict(test.features()).unwrap(),
    );
    assert!(
        p.iter().zip(&q).all(|(x, y)| close(*x, *y)),
        "{p:?} vs {q:?}"
    );
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(stored["format"], LOGISTIC_FORMAT);
    assert_eq!(stored["features"][1], "item.signal");
    assert!(stored["training"]["metrics"]["valid_auc"].is_number());

    let other = FeatureSet::parse(&["item.noise", "item.year", "item_log.scale"]).unwrap();
    let error = LogisticModel::load_expecting(&path, &other).unwrap_err();
    assert!(matches!(error, LogisticError::Schema(_)), "{error}");
    assert!(
        error
            .to_string()
            .contains("column 1 is `item.signal` in the model but `item.year` in the scorer"),
        "{error}"
    );
    let scorer = LogisticScorer::load(
        "ctr",
        &path,
        Some(&other),
        Arc::new(MemoryFeatureSource::default()),
    );
    assert!(scorer.is_err());

    let mut file = model.file().clone();
    file.version = LOGISTIC_VERSION + 1;
    std::fs::write(&path, serde_json::to_string(&file).unwrap()).unwrap();
    let error = LogisticModel::load(&path).unwrap_err();
    assert!(error.to_string().contains("version 2"), "{error}");
    let mut file = model.file().clone();
    file.weights.pop();
    std::fs::write(&path, serde_json::to_string(&file).unwrap()).unwrap();
    let error = LogisticModel::load(&path).unwrap_err();
    assert!(
        error.to_string().contains("2 weights for 3 features"),
        "{error}"
    );
    std::fs::write(&path, "{\"format\": 1}").unwrap();
    assert!(matches!(
        LogisticModel::load(&path),
        Err(LogisticError::File(_))
    ));
}

#[test]
fn the_scorer_ranks_by_the_model_over_extracted_features() {
    let (set, model) = trained();
    let scorer = LogisticScorer::new(
        "ctr",
        Arc::new(model),
        Arc::new(MemoryFeatureSource::default()),
    );
    let mut rng = StdRng::seed_from_u64(9);
    let (items, labels) = items(&mut rng, 40);
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
    assert_eq!(
        scores,
        scorer.model().predict(&extract(&set, &items)).unwrap()
    );
    let predicted: Vec<bool> = scores.iter().map(|&p| p > 0.5).collect();
    let right = predicted
        .iter()
        .zip(&labels)
        .filter(|(p, l)| **p == (**l > 0.0))
        .count();
    assert!(right >= 36, "{right} of 40 classified right");
    assert_eq!(
        auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]),
        Some(0.75)
    );
    assert_eq!(auc(&[0.1], &[true]), None);
}
