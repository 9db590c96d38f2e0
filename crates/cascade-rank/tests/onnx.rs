//! `OnnxScorer` over the shipped goodbooks ranker (`models/goodbooks-ranker.onnx`), models it
//! must refuse (fixtures written by `scripts/train-onnx-ranker.py --declare`), and the TSV
//! export the training script reads.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cascade_core::{Candidate, FieldValue, Item, RequestContext};
use cascade_rank::features::{
    FeatureMatrix, FeatureSet, FeatureSource, ItemStats, MemoryFeatureSource, RankItem, UserProfile,
};
use cascade_rank::gbdt::RankingData;
use cascade_rank::onnx::{MISSING_VALUE, OnnxScorer, OnnxScorerError, model_rows};
use cascade_rank::scorer::{Scorer, ScoringInput};

fn repository(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn ranker() -> PathBuf {
    repository("models/goodbooks-ranker.onnx")
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn book(id: &str, title: &str, authors: &str, year: f64, rating: f64, ratings: f64) -> RankItem {
    RankItem::new(Item {
        id: id.into(),
        fields: [
            ("title".to_string(), FieldValue::Text(title.into())),
            ("authors".to_string(), FieldValue::Keyword(authors.into())),
            (
                "original_publication_year".to_string(),
                FieldValue::Numeric(year),
            ),
            ("average_rating".to_string(), FieldValue::Numeric(rating)),
            ("ratings_count".to_string(), FieldValue::Numeric(ratings)),
        ]
        .into(),
        embeddings: Default::default(),
    })
}

fn als(id: &str, score: f64) -> Candidate {
    Candidate::new(id.into(), score, "als".into())
}

/// A reader of Frank Herbert and Jane Austen, with item statistics and item-CF scores.
fn source() -> MemoryFeatureSource {
    let history = [
        book(
            "h1",
            "Dune (Dune Chronicles, #1)",
            "Frank Herbert",
            1965.0,
            4.2,
            500_000.0,
        ),
        book("h2", "Emma", "Jane Austen", 1815.0, 4.0, 400_000.0),
        book(
            "h3",
            "Children of Dune (Dune Chronicles, #3)",
            "Frank Herbert",
            1976.0,
            3.9,
            90_000.0,
        ),
    ];
    let mut source = MemoryFeatureSource::default();
    source.users.insert(
        "u".into(),
        Arc::new(UserProfile::from_history(history.iter().map(Some))),
    );
    for (id, users, ratings) in [("c1", 40, 30), ("c2", 3, 2), ("c3", 12, 10)] {
        source.items.insert(
            id.into(),
            ItemStats {
                users,
                rating_sum: 4.0 * f64::from(ratings),
                ratings,
            },
        );
    }
    source.recall.insert(
        ("u".into(), "itemcf".into()),
        [("c1".to_string(), 0.9), ("c3".to_string(), 0.2)].into(),
    );
    source
}

#[test]
fn scores_a_batch_of_candidates_over_the_declared_features() {
    let source: Arc<dyn FeatureSource> = Arc::new(source());
    let scorer = OnnxScorer::load("onnx", &ranker(), None, source.clone()).unwrap();
    let features = scorer.features().clone();
    assert_eq!(features.len(), scorer.model().width());
    assert_eq!(scorer.model().feature_names(), Some(features.names()));

    let items = [
        book(
            "c1",
            "Dune Messiah (Dune Chronicles, #2)",
            "Frank Herbert",
            1969.0,
            3.9,
            150_000.0,
        ),
        book(
            "c2",
            "Twilight",
            "Stephenie Meyer",
            2005.0,
            3.6,
            4_000_000.0,
        ),
        book("c3", "Persuasion", "Jane Austen", 1817.0, 4.1, 120_000.0),
    ];
    let candidates = [
        als("c1", 0.9),
        als("c2", 0.2),
        als("c3", 0.5),
        als("gone", 0.1),
    ];
    let inputs: Vec<ScoringInput<'_>> = candidates
        .iter()
        .enumerate()
        .map(|(i, candidate)| ScoringInput {
            candidate,
            item: items.get(i),
        })
        .collect();
    let request = RequestContext {
        uid: "u".into(),
        ..RequestContext::default()
    };
    let scores = scorer.score(&request, &inputs).unwrap();
    assert_eq!(scores.len(), inputs.len());
    assert!(
        scores.iter().all(|s| s.is_finite() && *s > 0.0 && *s < 1.0),
        "sigmoid scores: {scores:?}"
    );
    assert!(
        scores[0] > scores[1],
        "the next Dune book, first by ALS and by item-CF, outranks an unrelated one: {scores:?}"
    );

    // The contract: the graph gets the extracted features with NaN as 0.
    let matrix = features.extract(source.as_ref(), &request, &inputs);
    assert!(
        matrix.row(3).iter().any(|v| v.is_nan()),
        "the candidate without an item has missing features"
    );
    let zeroed: Vec<f32> = matrix
        .values()
        .iter()
        .map(|v| if v.is_nan() { 0.0 } else { *v as f32 })
        .collect();
    let direct = scorer.model().run(&zeroed, matrix.rows()).unwrap();
    for (i, (got, want)) in scores.iter().zip(&direct).enumerate() {
        assert_eq!(*got, f64::from(*want), "row {i}");
    }
    assert!(scorer.score(&request, &[]).unwrap().is_empty());
}

#[test]
fn missing_values_reach_the_graph_as_zero() {
    let matrix = FeatureMatrix::from_values(3, vec![1.5, f64::NAN, -2.0, f64::NAN, 0.25, 1e3])
        .expect("two rows of three");
    assert_eq!(MISSING_VALUE, 0.0);
    assert_eq!(model_rows(&matrix), [1.5, 0.0, -2.0, 0.0, 0.25, 1000.0]);
}

#[test]
fn a_model_of_other_features_is_refused_with_both_lists() {
    let expected = FeatureSet::parse(&["item.average_rating", "user_activity"]).unwrap();
    let source = Arc::new(MemoryFeatureSource::default());
    let error = OnnxScorer::load("onnx", &ranker(), Some(&expected), source.clone())
        .err()
        .expect("a schema mismatch");
    let OnnxScorerError::Schema {
        source: mismatch, ..
    } = &error
    else {
        panic!("expected a schema mismatch, got {error}");
    };
    assert_eq!(mismatch.expected, expected.names());
    let message = error.to_string();
    assert!(message.contains("goodbooks-ranker.onnx"), "{message}");
    assert!(message.contains("feature schema mismatch"), "{message}");
    assert!(message.contains("user_activity"), "{message}");

    // its own features are accepted
    let own = OnnxScorer::load("onnx", &ranker(), None, source.clone())
        .unwrap()
        .features()
        .clone();
    assert!(OnnxScorer::load("onnx", &ranker(), Some(&own), source).is_ok());
}

#[test]
fn a_model_without_declared_features_is_refused() {
    let path = fixture("onnx-no-features.onnx");
    let error = OnnxScorer::load(
        "onnx",
        &path,
        None,
        Arc::new(MemoryFeatureSource::default()),
    )
    .err()
    .expect("no cascade.features");
    assert!(
        matches!(error, OnnxScorerError::NoFeatures { .. }),
        "{error}"
    );
    let message = error.to_string();
    assert!(
        message.contains("onnx-no-features.onnx") && message.contains("cascade.features"),
        "{message}"
    );
}

#[test]
fn declared_features_must_fit_the_input() {
    let source: Arc<dyn FeatureSource> = Arc::new(MemoryFeatureSource::default());
    let error = OnnxScorer::load(
        "onnx",
        &fixture("onnx-width-mismatch.onnx"),
        None,
        source.clone(),
    )
    .err()
    .expect("3 names for 4 columns");
    assert!(
        matches!(
            error,
            OnnxScorerError::Width {
                declared: 3,
                width: 4,
                ..
            }
        ),
        "{error}"
    );
    let error = OnnxScorer::load("onnx", &fixture("onnx-unknown-feature.onnx"), None, source)
        .err()
        .expect("an unknown feature name");
    assert!(matches!(error, OnnxScorerError::Features { .. }), "{error}");
    assert!(error.to_string().contains("`popularity`"), "{error}");
}

#[test]
fn a_file_that_is_not_a_model_is_refused() {
    let path = fixture("onnx-missing.onnx");
    let error = OnnxScorer::load(
        "onnx",
        &path,
        None,
        Arc::new(MemoryFeatureSource::default()),
    )
    .err()
    .expect("no such file");
    assert!(matches!(error, OnnxScorerError::Model(_)), "{error}");
    assert!(error.to_string().contains("onnx-missing.onnx"), "{error}");
}

#[test]
fn ranking_data_is_written_as_tsv() {
    let mut data = RankingData::new(2);
    let query = |values: Vec<f64>| FeatureMatrix::from_values(2, values).unwrap();
    data.push_query(&query(vec![1.0, f64::NAN, 0.5, 2e6]), &[1.0, 0.0])
        .unwrap();
    data.push_query(&query(vec![-3.25, 0.0]), &[0.0]).unwrap();
    let names = vec!["item.a".to_string(), "user_activity".to_string()];
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("rank.tsv");
    data.write_tsv(&names, &path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(lines[0], ["label", "group", "item.a", "user_activity"]);
    assert_eq!(lines.len(), 4, "{text}");
    let parsed: Vec<Vec<f64>> = lines[1..]
        .iter()
        .map(|l| l.iter().map(|v| v.parse::<f64>().unwrap()).collect())
        .collect();
    assert_eq!(parsed[0][..3], [1.0, 0.0, 1.0]);
    assert!(parsed[0][3].is_nan() && lines[1][3] == "nan");
    assert_eq!(parsed[1], [0.0, 0.0, 0.5, 2e6]);
    assert_eq!(parsed[2], [0.0, 1.0, -3.25, 0.0]);

    let error = data.write_tsv(&names[..1], &path).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("1 feature names for rows of 2 features"),
        "{error}"
    );
}
