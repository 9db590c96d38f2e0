//! LambdaMART training: LightGBM's `lambdarank` objective over queries (one per user) of
//! labelled candidates.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use lightgbm3::{Booster, Dataset};
use serde_json::json;

use super::GbdtError;
use super::model::{DataSpan, GbdtModel, MODEL_FORMAT, MODEL_VERSION, ModelFile, TrainingInfo};
use crate::features::{FeatureMatrix, FeatureSet};
use crate::offline::ndcg_at_k;

/// Labelled candidates grouped into queries: the rows of one query are one user's candidates.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RankingData {
    features: FeatureMatrix,
    labels: Vec<f32>,
    groups: Vec<usize>,
}

impl RankingData {
    /// No queries yet, over `columns` features.
    pub fn new(columns: usize) -> Self {
        Self {
            features: FeatureMatrix::new(columns),
            labels: Vec::new(),
            groups: Vec::new(),
        }
    }

    /// Adds one query: its candidates' features and their relevance labels (0 = not
    /// relevant; LambdaRank reads labels as integer grades).
    pub fn push_query(&mut self, rows: &FeatureMatrix, labels: &[f32]) -> Result<(), GbdtError> {
        if rows.rows() != labels.len() || rows.columns() != self.features.columns() {
            return Err(GbdtError::Data(format!(
                "a query of {} rows x {} features with {} labels, into data of {} features",
                rows.rows(),
                rows.columns(),
                labels.len(),
                self.features.columns()
            )));
        }
        if labels
            .iter()
            .any(|l| !(0.0..=30.0).contains(l) || l.fract() != 0.0)
        {
            return Err(GbdtError::Data(
                "labels must be integer grades in 0..=30".into(),
            ));
        }
        if labels.is_empty() {
            return Ok(());
        }
        self.features.append(rows);
        self.labels.extend_from_slice(labels);
        self.groups.push(labels.len());
        Ok(())
    }

    /// How many queries there are.
    pub fn queries(&self) -> usize {
        self.groups.len()
    }

    /// How many rows there are.
    pub fn rows(&self) -> usize {
        self.labels.len()
    }

    /// How many rows have a positive label.
    pub fn positives(&self) -> usize {
        self.labels.iter().filter(|l| **l > 0.0).count()
    }

    /// The features, row by row.
    pub fn features(&self) -> &FeatureMatrix {
        &self.features
    }

    /// The labels, one per row.
    pub fn labels(&self) -> &[f32] {
        &self.labels
    }

    /// The query sizes, in order.
    pub fn groups(&self) -> &[usize] {
        &self.groups
    }

    /// Writes the rows as LightGBM's text data (label first, tab-separated, `nan` for a
    /// missing value) at `path`, and the query sizes beside it at `path.query`, which
    /// LightGBM reads as the query boundaries.
    fn write_lightgbm(&self, path: &Path) -> Result<(), GbdtError> {
        let io = |source| GbdtError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut text = String::with_capacity(self.rows() * (self.features.columns() + 1) * 12);
        for (row, label) in self.labels.iter().enumerate() {
            write!(text, "{label}").expect("writing to a String");
            push_values(&mut text, self.features.row(row));
        }
        std::fs::write(path, text).map_err(io)?;
        let queries: String = self.groups.iter().map(|n| format!("{n}\n")).collect();
        let mut query_path = path.as_os_str().to_owned();
        query_path.push(".query");
        std::fs::write(query_path, queries).map_err(io)
    }
}

impl RankingData {
    /// Writes the rows as a TSV file at `path` for trainers outside Cascade
    /// (`scripts/train-onnx-ranker.py`): a header `label<TAB>group<TAB>` + the feature
    /// `names`, then one line per row: its label, its query's index (0-based, in order) and
    /// its values, `nan` for a missing one. `names` must name every column.
    pub fn write_tsv(&self, names: &[String], path: &Path) -> Result<(), GbdtError> {
        if names.len() != self.features.columns() {
            return Err(GbdtError::Data(format!(
                "{} feature names for rows of {} features",
                names.len(),
                self.features.columns()
            )));
        }
        let mut text = String::with_capacity((self.rows() + 1) * (names.len() + 2) * 12);
        text.push_str("label\tgroup");
        for name in names {
            write!(text, "\t{name}").expect("writing to a String");
        }
        text.push('\n');
        let mut row = 0;
        for (group, &size) in self.groups.iter().enumerate() {
            for _ in 0..size {
                write!(text, "{}\t{group}", self.labels[row]).expect("writing to a String");
                push_values(&mut text, self.features.row(row));
                row += 1;
            }
        }
        std::fs::write(path, text).map_err(|source| GbdtError::Io {
            path: path.display().to_string(),
            source,
        })
    }
}

/// Appends a row's values, each after a tab (`nan` for a missing one), and ends the line.
fn push_values(text: &mut String, values: &[f64]) {
    for value in values {
        if value.is_nan() {
            text.push_str("\tnan");
        } else {
            write!(text, "\t{value:e}").expect("writing to a String");
        }
    }
    text.push('\n');
}

/// LambdaMART hyper-parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct LambdaMartConfig {
    /// Boosting rounds (trees), at most.
    pub trees: usize,
    /// Shrinkage per tree.
    pub learning_rate: f64,
    /// Leaves per tree.
    pub num_leaves: usize,
    /// The fewest rows a leaf may hold.
    pub min_data_in_leaf: usize,
    /// The share of features each tree sees.
    pub feature_fraction: f64,
    /// L2 penalty on leaf values.
    pub lambda_l2: f64,
    /// The cut-off of the NDCG that LambdaRank optimises and reports.
    pub ndcg_at: usize,
    /// Stops when validation NDCG has not improved for this many rounds (with validation data).
    pub early_stopping_rounds: Option<usize>,
    /// Seed of LightGBM's sampling.
    pub seed: u64,
}

impl Default for LambdaMartConfig {
    fn default() -> Self {
        Self {
            trees: 300,
            learning_rate: 0.05,
            num_leaves: 31,
            min_data_in_leaf: 50,
            feature_fraction: 0.9,
            lambda_l2: 1.0,
            ndcg_at: 10,
            early_stopping_rounds: None,
            seed: 42,
        }
    }
}

impl LambdaMartConfig {
    /// The LightGBM parameters: the `lambdarank` objective, deterministic, single-threaded.
    pub fn params(&self) -> serde_json::Value {
        let mut params = json!({
            "objective": "lambdarank",
            "metric": "ndcg",
            "eval_at": self.ndcg_at.to_string(),
            "lambdarank_truncation_level": (2 * self.ndcg_at).to_string(),
            "num_iterations": self.trees,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": self.feature_fraction,
            "lambda_l2": self.lambda_l2,
            "seed": self.seed,
            "deterministic": true,
            "force_col_wise": true,
            "num_threads": 1,
            "verbosity": -1,
        });
        if let Some(rounds) = self.early_stopping_rounds {
            params["early_stopping_rounds"] = json!(rounds);
        }
        params
    }
}

/// Trains a LambdaMART model on `train` (and stops early on `valid` when the config asks),
/// with LightGBM; the model file records `features`, the parameters, the data span and the
/// NDCG of the trained model on both sets.
pub fn train_lambdamart(
    features: &FeatureSet,
    train: &RankingData,
    valid: Option<&RankingData>,
    config: &LambdaMartConfig,
    data_span: Option<DataSpan>,
) -> Result<GbdtModel, GbdtError> {
    if train.features.columns() != features.len() {
        return Err(GbdtError::Width {
            expected: features.len(),
            found: train.features.columns(),
        });
    }
    if train.positives() == 0 {
        return Err(GbdtError::Data("no positive label to learn from".into()));
    }
    let dir = tempfile::tempdir().map_err(|source| GbdtError::Io {
        path: "a temporary directory".into(),
        source,
    })?;
    let names = features.names();
    let params = config.params();
    quiet_lightgbm(&params)?;
    let train_path = dir.path().join("train.tsv");
    train.write_lightgbm(&train_path)?;
    let mut train_set = Dataset::from_file(&train_path.to_string_lossy())?;
    train_set.set_feature_names(&names)?;
    let valid_set = match valid {
        Some(valid) => {
            let path = dir.path().join("valid.tsv");
            valid.write_lightgbm(&path)?;
            let mut set =
                Dataset::from_file_with_reference(&path.to_string_lossy(), Some(&train_set))?;
            set.set_feature_names(&names)?;
            Some(set)
        }
        None => None,
    };
    let booster = Booster::train_with_valid(train_set, valid_set, &params)?;
    let lightgbm_model = booster.save_string()?;
    let mut file = ModelFile {
        format: MODEL_FORMAT.into(),
        version: MODEL_VERSION,
        objective: "lambdarank".into(),
        features: names,
        training: TrainingInfo {
            trained_at_ms: cascade_core::time::now_ms(),
            data_span,
            rows: train.rows(),
            queries: train.queries(),
            positives: train.positives(),
            trees: 0,
            params,
            metrics: BTreeMap::new(),
        },
        lightgbm_model,
    };
    let model = GbdtModel::from_file(file.clone())?;
    file.training.trees = model.forest().trees();
    let k = config.ndcg_at;
    let mut metrics = BTreeMap::new();
    metrics.insert(format!("train_ndcg@{k}"), mean_ndcg(&model, train, k)?);
    if let Some(valid) = valid {
        metrics.insert(format!("valid_ndcg@{k}"), mean_ndcg(&model, valid, k)?);
    }
    file.training.metrics = metrics;
    GbdtModel::from_file(file)
}

/// LightGBM logs dataset loading at its (per-thread) log level, which only parameters that
/// name a verbosity change; a throw-away one-row prediction with the run's parameters sets it
/// before anything is loaded on this thread.
fn quiet_lightgbm(params: &serde_json::Value) -> Result<(), GbdtError> {
    const STUMP: &str = "tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\n\
        label_index=0\nmax_feature_idx=0\nobjective=regression\nfeature_names=x\n\
        feature_infos=none\n\nTree=0\nnum_leaves=1\nnum_cat=0\n\
        leaf_value=0\nshrinkage=1\n\n\nend of trees\n";
    let verbosity = params["verbosity"].as_i64().unwrap_or(-1);
    let booster = Booster::from_string(STUMP)?;
    booster.predict_with_params(&[0.0f64, 0.0], 1, true, &format!("verbosity={verbosity}"))?;
    Ok(())
}

/// The mean NDCG@`k` of the model's order over the queries of `data` that have a positive.
pub fn mean_ndcg(model: &GbdtModel, data: &RankingData, k: usize) -> Result<f64, GbdtError> {
    let scores = model.predict(&data.features)?;
    let (mut sum, mut counted, mut start) = (0.0, 0usize, 0usize);
    for &size in &data.groups {
        let labels = &data.labels[start..start + size];
        let relevant: Vec<u32> = (0..size as u32)
            .filter(|&i| labels[i as usize] > 0.0)
            .collect();
        if !relevant.is_empty() {
            let mut order: Vec<u32> = (0..size as u32).collect();
            let query = &scores[start..start + size];
            order.sort_by(|&a, &b| {
                query[b as usize]
                    .total_cmp(&query[a as usize])
                    .then(a.cmp(&b))
            });
            sum += ndcg_at_k(&order, &relevant, k);
            counted += 1;
        }
        start += size;
    }
    Ok(if counted == 0 {
        0.0
    } else {
        sum / counted as f64
    })
}

/// LightGBM's own prediction of the model's raw scores for `matrix`: the reference the Rust
/// evaluation is checked against, and what the benchmark compares it with.
pub fn lightgbm_predict(model: &GbdtModel, matrix: &FeatureMatrix) -> Result<Vec<f64>, GbdtError> {
    let booster = Booster::from_string(&model.file().lightgbm_model)?;
    Ok(booster.raw_scores_with_params(
        matrix.values(),
        matrix.columns() as i32,
        true,
        "num_threads=1",
    )?)
}
