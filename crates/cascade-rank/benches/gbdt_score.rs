//! Latency of GBDT scoring: one batch of 500 candidates x 50 features through a 300-tree
//! LambdaMART model, timed call by call; prints p50 / p99 / mean in microseconds. The same
//! batch also goes through an ONNX model in tract (`models/bench-50.onnx`: an MLP of 50 -> 64
//! -> 1 written by `scripts/train-onnx-ranker.py --synthetic 50 --hidden 64`).
//!
//! `cargo bench -p cascade-rank --bench gbdt_score` (`-- --calls N` to change the count).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use cascade_core::{Candidate, FieldValue, Item, RequestContext};
use cascade_infer::onnx::OnnxModel;
use cascade_rank::features::{FeatureMatrix, FeatureSet, MemoryFeatureSource, RankItem};
use cascade_rank::gbdt::{GbdtModel, GbdtScorer, LambdaMartConfig, RankingData, train_lambdamart};
use cascade_rank::onnx::{OnnxScorer, model_rows};
use cascade_rank::scorer::{Scorer, ScoringInput};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const FEATURES: usize = 50;
const CANDIDATES: usize = 500;
const TREES: usize = 300;

fn row(rng: &mut StdRng) -> Vec<f64> {
    (0..FEATURES).map(|_| rng.random::<f64>()).collect()
}

/// Relevance grade 0..=3 from a few features, with noise: enough structure for full trees.
fn label(row: &[f64], rng: &mut StdRng) -> f32 {
    let signal = row[0] * 2.0 + row[1] * row[2] + (row[3] - 0.5).abs() + rng.random::<f64>() * 0.5;
    (signal * 1.2).floor().clamp(0.0, 3.0) as f32
}

fn train(set: &FeatureSet) -> GbdtModel {
    let mut rng = StdRng::seed_from_u64(7);
    let mut data = RankingData::new(FEATURES);
    for _ in 0..200 {
        let mut rows = FeatureMatrix::new(FEATURES);
        let mut labels = Vec::new();
        for _ in 0..100 {
            let r = row(&mut rng);
            labels.push(label(&r, &mut rng));
            rows.push_row(&r);
        }
        data.push_query(&rows, &labels)
            .expect("a well-formed query");
    }
    let config = LambdaMartConfig {
        trees: TREES,
        learning_rate: 0.05,
        num_leaves: 31,
        min_data_in_leaf: 5,
        feature_fraction: 1.0,
        ..LambdaMartConfig::default()
    };
    train_lambdamart(set, &data, None, &config, None).expect("training")
}

/// A named call to time.
type Timed<'a> = (&'static str, Box<dyn FnMut() + 'a>);

fn time(calls: usize, mut f: impl FnMut()) -> (f64, f64, f64) {
    for _ in 0..calls / 10 {
        f();
    }
    let mut micros: Vec<f64> = (0..calls)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    micros.sort_by(f64::total_cmp);
    let at =
        |q: f64| micros[((micros.len() as f64 * q).ceil() as usize).clamp(1, micros.len()) - 1];
    let mean = micros.iter().sum::<f64>() / micros.len() as f64;
    (at(0.50), at(0.99), mean)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let calls = args
        .iter()
        .position(|a| a == "--calls")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000usize);
    let names: Vec<String> = (0..FEATURES).map(|i| format!("item.f{i}")).collect();
    let set = FeatureSet::parse(&names).expect("feature names");
    let started = Instant::now();
    let model = train(&set);
    let leaves: usize = model
        .file()
        .lightgbm_model
        .lines()
        .filter_map(|l| l.strip_prefix("num_leaves="))
        .filter_map(|n| n.parse::<usize>().ok())
        .sum();
    println!(
        "model: {} trees, {:.1} leaves per tree, {FEATURES} features; trained in {:.1} s",
        model.forest().trees(),
        leaves as f64 / model.forest().trees() as f64,
        started.elapsed().as_secs_f64()
    );

    let mut rng = StdRng::seed_from_u64(11);
    let mut batch = FeatureMatrix::new(FEATURES);
    for _ in 0..CANDIDATES {
        batch.push_row(&row(&mut rng));
    }
    let booster = lightgbm3::Booster::from_string(&model.file().lightgbm_model).expect("booster");
    let ours = model.predict(&batch).expect("scores");
    let theirs = booster
        .raw_scores_with_params(batch.values(), FEATURES as i32, true, "num_threads=1")
        .expect("LightGBM scores");
    let worst = ours
        .iter()
        .zip(&theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(worst < 1e-9, "Rust and LightGBM scores differ by {worst}");

    let items: Vec<RankItem> = (0..CANDIDATES)
        .map(|i| {
            RankItem::new(Item {
                id: format!("i{i}"),
                fields: (0..FEATURES)
                    .map(|f| (format!("f{f}"), FieldValue::Numeric(batch.row(i)[f])))
                    .collect(),
                embeddings: Default::default(),
            })
        })
        .collect();
    let candidates: Vec<Candidate> = items
        .iter()
        .map(|item| Candidate::new(item.id.clone(), 0.0, "bench".into()))
        .collect();
    let inputs: Vec<ScoringInput<'_>> = candidates
        .iter()
        .zip(&items)
        .map(|(candidate, item)| ScoringInput {
            candidate,
            item: Some(item),
        })
        .collect();
    let scorer = GbdtScorer::new(
        "bench",
        Arc::new(model.clone()),
        Arc::new(MemoryFeatureSource::default()),
    );
    let request = RequestContext::default();

    let onnx_path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/bench-50.onnx");
    let onnx = Arc::new(OnnxModel::load(&onnx_path).expect("models/bench-50.onnx loads"));
    assert_eq!(
        onnx.width(),
        FEATURES,
        "bench-50.onnx takes {FEATURES} features"
    );
    let onnx_rows = model_rows(&batch);
    let onnx_scorer = OnnxScorer::new(
        "bench-onnx",
        onnx.clone(),
        Arc::new(MemoryFeatureSource::default()),
    )
    .expect("bench-50.onnx declares item.f0..item.f49");
    assert_eq!(
        onnx_scorer.features(),
        &set,
        "the ONNX model's features are the bench's"
    );
    println!(
        "ONNX model: {} ({} bytes), width {}",
        onnx_path.display(),
        std::fs::metadata(&onnx_path).map_or(0, |m| m.len()),
        onnx.width()
    );

    println!(
        "{CANDIDATES} candidates x {FEATURES} features, {} calls each (after {} warm-up), one thread\n",
        calls,
        calls / 10
    );
    println!("| what | p50 µs | p99 µs | mean µs |");
    println!("| --- | ---: | ---: | ---: |");
    let rows: [Timed<'_>; 5] = [
        (
            "trees in Rust (`GbdtModel::predict`)",
            Box::new(|| {
                black_box(model.predict(black_box(&batch)).expect("scores"));
            }),
        ),
        (
            "trees in LightGBM (C API, `LGBM_BoosterPredictForMat`)",
            Box::new(|| {
                black_box(
                    booster
                        .raw_scores_with_params(
                            black_box(batch.values()),
                            FEATURES as i32,
                            true,
                            "num_threads=1",
                        )
                        .expect("scores"),
                );
            }),
        ),
        (
            "features from items + trees (`GbdtScorer::score`)",
            Box::new(|| {
                black_box(scorer.score(&request, black_box(&inputs)).expect("scores"));
            }),
        ),
        (
            "ONNX MLP 50-64-1 in tract (`OnnxModel::run`, models/bench-50.onnx)",
            Box::new(|| {
                black_box(onnx.run(black_box(&onnx_rows), CANDIDATES).expect("scores"));
            }),
        ),
        (
            "features from items + ONNX MLP (`OnnxScorer::score`)",
            Box::new(|| {
                black_box(
                    onnx_scorer
                        .score(&request, black_box(&inputs))
                        .expect("scores"),
                );
            }),
        ),
    ];
    for (name, mut f) in rows {
        let (p50, p99, mean) = time(calls, &mut f);
        println!("| {name} | {p50:.0} | {p99:.0} | {mean:.0} |");
    }
}
