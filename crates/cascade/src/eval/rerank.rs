//! The two-stage order in `cascade eval`: ALS recall's top candidates, re-ranked by a
//! LambdaMART model.
//!
//! The ranker learns from the training part only. Each user's training items are split again
//! (`--rerank-folds` times, each with its own seed) into a fit part and a label part; ALS is
//! trained and item co-occurrence counted on the fit part, every user's top candidates from
//! ALS are labelled by the label part, and their features are computed from the fit part
//! alone (history, item popularity and rating means). LambdaMART trains on those queries. At
//! evaluation the same features come from the whole training part, over the candidates of the
//! ALS model trained on it, and the ranker orders them; the held-out test items are never
//! seen before they are scored against.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use anyhow::Context;
use cascade_core::{Candidate, Event, Item, RequestContext};
use cascade_rank::features::{
    FeatureSet, FeatureSource, ItemStats, ProfileNeeds, RATING_EVENT, RankItem, UserProfile,
};
use cascade_rank::gbdt::{DataSpan, GbdtScorer, LambdaMartConfig, RankingData};
use cascade_rank::offline::{Interaction, Metrics, Protocol, Split};
use cascade_rank::scorer::{Scorer, ScoringInput};
use cascade_retrieval::als::{self, AlsModel};
use cascade_store::{EmbeddedStore, Stores};

use super::{Dataset, EvalArgs, evaluate, training_set};
use crate::import::{self, Format, Kind};

/// The row name of the two-stage order.
pub(super) const RERANKED: &str = "als+lambdamart";

/// The item-CF scores offered to the ranker as features, by source name: the sum and the
/// maximum over the user's history of the cosine co-occurrence `co(h, c) / sqrt(n_h n_c)`
/// (computed here, in history order, so the same seed gives the same features).
const ITEM_CF: [&str; 2] = ["itemcf", "itemcf_max"];

/// The ranker's features: recall scores and ranks, item popularity and metadata, the user's
/// activity, and text matches between the candidate and the user's history (authors, title
/// words, series).
pub(super) const FEATURES: &[&str] = &[
    "recall_score.als",
    "recall_rank.als",
    "recall_ratio.als",
    "recall_score.itemcf",
    "recall_rank.itemcf",
    "recall_score.itemcf_max",
    "item_users_log",
    "item_rating_mean",
    "item.average_rating",
    "item_log.ratings_count",
    "item.original_publication_year",
    "user_activity",
    "keyword_count.authors",
    "keyword_share.authors",
    "token_overlap.title",
    "series_count.title",
    "series_number.title",
    "gap.original_publication_year",
    "gap.average_rating",
    "log_gap.ratings_count",
];

/// `cascade eval` options of the two-stage (recall, then LambdaMART) order.
#[derive(clap::Args, Clone, Debug)]
pub(super) struct RerankArgs {
    /// Skips the two-stage order.
    #[arg(long)]
    no_rerank: bool,
    /// Stage 1: candidates per user from ALS.
    #[arg(long, default_value_t = 100)]
    rerank_candidates: usize,
    /// Re-splits of the training part into fit and label parts that make the ranker's
    /// training queries.
    #[arg(long, default_value_t = 2)]
    rerank_folds: usize,
    /// The share of each user's training items that labels candidates in a re-split.
    #[arg(long, default_value_t = 0.2)]
    rerank_label_fraction: f64,
    /// LambdaMART: boosting rounds (trees).
    #[arg(long, default_value_t = LambdaMartConfig::default().trees)]
    rerank_trees: usize,
    /// LambdaMART: shrinkage per tree.
    #[arg(long, default_value_t = LambdaMartConfig::default().learning_rate)]
    rerank_learning_rate: f64,
    /// LambdaMART: leaves per tree.
    #[arg(long, default_value_t = LambdaMartConfig::default().num_leaves)]
    rerank_leaves: usize,
    /// LambdaMART: the fewest rows per leaf.
    #[arg(long, default_value_t = LambdaMartConfig::default().min_data_in_leaf)]
    rerank_min_leaf: usize,
    /// The ranker's features (comma-separated names); by default the full set (see
    /// `cascade_rank::features::Feature` for what each name computes).
    #[arg(long, value_delimiter = ',')]
    rerank_features: Vec<String>,
    /// Writes the trained ranker's model file (JSON, with its feature schema) here.
    #[arg(long)]
    rerank_model_out: Option<PathBuf>,
    /// Writes the ranker's training queries here as TSV (`label<TAB>group<TAB>features...`,
    /// `nan` for a missing value), for `scripts/train-onnx-ranker.py`.
    #[arg(long)]
    export_ranking_data: Option<PathBuf>,
}

/// What the two-stage evaluation measured.
pub(super) struct RerankReport {
    /// The two-stage order's metrics.
    pub(super) metrics: Metrics,
    /// The share of test items among the stage-1 candidates (Recall@N of ALS).
    pub(super) stage1_recall: f64,
    candidates: usize,
    features: Vec<String>,
    folds: usize,
    queries: usize,
    rows: usize,
    positives: usize,
    trees: usize,
    train_secs: f64,
    total_secs: f64,
    model_metrics: BTreeMap<String, f64>,
}

impl RerankReport {
    /// Lines printed under the table.
    pub(super) fn summary(&self) -> String {
        let metrics: Vec<String> = self
            .model_metrics
            .iter()
            .map(|(name, value)| format!("{name} {value:.4}"))
            .collect();
        format!(
            "\n{RERANKED}: stage 1 = ALS top {} (holds {:.1}% of test items), stage 2 = LambdaMART \
             over {} features\n  ranker trained on {} re-splits of the training part: {} queries, \
             {} candidates ({} positive); {} trees in {:.1} s ({}); whole two-stage eval {:.1} s\n",
            self.candidates,
            self.stage1_recall * 100.0,
            self.features.len(),
            self.folds,
            self.queries,
            self.rows,
            self.positives,
            self.trees,
            self.train_secs,
            metrics.join(", "),
            self.total_secs,
        )
    }

    /// The JSON block of `--json`.
    pub(super) fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "source": RERANKED,
            "stage1": {"source": als::ALS, "candidates": self.candidates, "recall": self.stage1_recall},
            "features": self.features,
            "folds": self.folds,
            "queries": self.queries,
            "rows": self.rows,
            "positives": self.positives,
            "trees": self.trees,
            "train_seconds": self.train_secs,
            "total_seconds": self.total_secs,
            "model_metrics": self.model_metrics,
        })
    }
}

/// The catalogue, per-pair ratings and timestamps the stages read, by dense index.
struct Shared<'a> {
    items: Vec<Option<RankItem>>,
    ratings: HashMap<(u32, u32), f64>,
    data: &'a Dataset,
}

/// Runs the two-stage evaluation, unless `--no-rerank`: trains the ranker on re-splits of
/// the training part, then re-ranks the candidates of `model` (ALS trained on the training
/// part).
pub(super) fn run(
    args: &EvalArgs,
    data: &Dataset,
    split: &Split,
    events: &[Event],
    model: &AlsModel,
) -> anyhow::Result<Option<RerankReport>> {
    let rerank = &args.rerank;
    if rerank.no_rerank {
        return Ok(None);
    }
    anyhow::ensure!(
        rerank.rerank_candidates > 0,
        "--rerank-candidates must be at least 1"
    );
    anyhow::ensure!(rerank.rerank_folds > 0, "--rerank-folds must be at least 1");
    let started = Instant::now();
    let shared = Shared {
        items: catalogue(args, data)?,
        ratings: ratings(events, data),
        data,
    };
    let features = if rerank.rerank_features.is_empty() {
        FeatureSet::parse(FEATURES)?
    } else {
        FeatureSet::parse(&rerank.rerank_features)?
    };

    let mut training = RankingData::new(features.len());
    let mut span: Option<DataSpan> = None;
    for fold in 0..rerank.rerank_folds {
        let seed = args.seed.wrapping_add(1 + fold as u64);
        let resplit = resplit(split, rerank.rerank_label_fraction, seed);
        let als = AlsModel::train(
            data.users.len(),
            data.items.len(),
            &training_set(&resplit),
            &args.als_config(),
        )?;
        let source = Stage::build(&shared, &resplit.train, &als, rerank.rerank_candidates);
        for (&user, labels) in &resplit.test {
            let candidates = &source.candidates[user as usize];
            let marks: Vec<f32> = candidates
                .iter()
                .map(|c| f32::from(u8::from(labels.binary_search(&c.item).is_ok())))
                .collect();
            if !marks.contains(&1.0) {
                continue;
            }
            let request = request(user);
            let matrix = features.extract(&source, &request, &source.inputs(&shared, user));
            training.push_query(&matrix, &marks)?;
        }
        span = merge_span(span, shared.span(&resplit.train));
    }

    if let Some(path) = &rerank.export_ranking_data {
        training.write_tsv(&features.names(), path)?;
    }
    let config = LambdaMartConfig {
        trees: rerank.rerank_trees,
        learning_rate: rerank.rerank_learning_rate,
        num_leaves: rerank.rerank_leaves,
        min_data_in_leaf: rerank.rerank_min_leaf,
        ndcg_at: args.k,
        seed: args.seed,
        ..LambdaMartConfig::default()
    };
    let train_started = Instant::now();
    let ranker = cascade_rank::gbdt::train_lambdamart(&features, &training, None, &config, span)?;
    let train_secs = train_started.elapsed().as_secs_f64();
    if let Some(path) = &rerank.rerank_model_out {
        ranker.save(path)?;
    }
    let model_metrics = ranker.training().metrics.clone();
    let trees = ranker.training().trees;

    let stage = Arc::new(Stage::build(
        &shared,
        &split.train,
        model,
        rerank.rerank_candidates,
    ));
    let stage1_recall = stage.recall(split);
    let scorer = GbdtScorer::new(RERANKED, Arc::new(ranker), stage.clone());
    let k = args.k;
    let metrics = evaluate(split, k, data.items.len(), |user, _seen| {
        let candidates = &stage.candidates[user as usize];
        let inputs = stage.inputs(&shared, user);
        let scores = scorer
            .score(&request(user), &inputs)
            .expect("the ranker scores rows of its own features");
        let mut order: Vec<usize> = (0..candidates.len()).collect();
        order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
        order
            .into_iter()
            .take(k)
            .map(|i| candidates[i].item)
            .collect()
    });
    Ok(Some(RerankReport {
        metrics,
        stage1_recall,
        candidates: rerank.rerank_candidates,
        features: features.names(),
        folds: rerank.rerank_folds,
        queries: training.queries(),
        rows: training.rows(),
        positives: training.positives(),
        trees,
        train_secs,
        total_secs: started.elapsed().as_secs_f64(),
        model_metrics,
    }))
}

/// The request of user index `user`; uids are the dense indexes, as in the item-CF index.
fn request(user: u32) -> RequestContext {
    RequestContext {
        uid: user.to_string(),
        ..RequestContext::default()
    }
}

/// Each user's training items divided again into a fit part (`train`) and a label part
/// (`test`), by the split protocol itself; users with fewer than 5 items keep all to fit.
fn resplit(split: &Split, label_fraction: f64, seed: u64) -> Split {
    let pairs: Vec<Interaction> = split
        .train
        .iter()
        .flat_map(|(&user, items)| {
            items.iter().map(move |&item| Interaction {
                user,
                item,
                timestamp: 0,
            })
        })
        .collect();
    Split::new(
        &pairs,
        Protocol::Random {
            test_fraction: label_fraction,
        },
        seed,
    )
}

fn merge_span(a: Option<DataSpan>, b: Option<DataSpan>) -> Option<DataSpan> {
    match (a, b) {
        (Some(a), Some(b)) => Some(DataSpan {
            from_ms: a.from_ms.min(b.from_ms),
            to_ms: a.to_ms.max(b.to_ms),
        }),
        (a, b) => a.or(b),
    }
}

impl Shared<'_> {
    /// The time span of the interactions in `history`.
    fn span(&self, history: &BTreeMap<u32, Vec<u32>>) -> Option<DataSpan> {
        let times = self.data.interactions.iter().filter(|i| {
            history
                .get(&i.user)
                .is_some_and(|items| items.binary_search(&i.item).is_ok())
        });
        times.fold(None, |span, i| {
            merge_span(
                span,
                Some(DataSpan {
                    from_ms: i.timestamp,
                    to_ms: i.timestamp,
                }),
            )
        })
    }
}

/// The catalogue by dense item index: the items of `--data-dir`, or the bundled books.
fn catalogue(args: &EvalArgs, data: &Dataset) -> anyhow::Result<Vec<Option<RankItem>>> {
    let mut items: Vec<Option<RankItem>> = vec![None; data.items.len()];
    let mut keep = |item: Item| {
        if let Some(index) = data.items.get(&item.id) {
            items[index as usize] = Some(RankItem::new(item));
        }
    };
    if args.config.data_dir.is_some() {
        let config = args.config.load()?;
        let dir = &config.storage_conf.data_dir;
        let stores = EmbeddedStore::open_stores(dir)
            .with_context(|| format!("opening {}", dir.display()))?;
        stores.items.scan_items(&mut keep)?;
        return Ok(items);
    }
    let config = crate::demo::goodbooks_config()?;
    let dir = tempfile::tempdir().context("creating a temporary data directory")?;
    let stores: Stores = EmbeddedStore::open_stores(dir.path())?;
    for (kind, source, mapping) in crate::demo::goodbooks_sources() {
        if matches!(kind, Kind::Items) {
            import::import(kind, Format::Csv, source, &mapping, &config, &stores, false)?;
        }
    }
    stores.items.scan_items(&mut keep)?;
    Ok(items)
}

/// The value of each (user, item) rating event, by dense indexes (the latest when repeated).
fn ratings(events: &[Event], data: &Dataset) -> HashMap<(u32, u32), f64> {
    events
        .iter()
        .filter(|event| event.event_type == RATING_EVENT)
        .filter_map(|event| {
            let user = data.users.get(&event.uid)?;
            let item = data.items.get(&event.item_id)?;
            Some(((user, item), event.value))
        })
        .collect()
}

/// One stage-1 candidate.
struct Scored {
    item: u32,
    candidate: Candidate,
}

/// Everything known at one point of the protocol (the fit part of a re-split, or the whole
/// training part): each user's stage-1 candidates, profiles, item statistics and the item-CF
/// scores of the candidates; it answers the ranker's features as a [`FeatureSource`].
struct Stage {
    candidates: Vec<Vec<Scored>>,
    profiles: Vec<Arc<UserProfile>>,
    stats: Vec<ItemStats>,
    /// per user: candidate → score per [`ITEM_CF`] source
    item_cf: Vec<HashMap<u32, [Option<f64>; 2]>>,
}

impl Stage {
    fn build(
        shared: &Shared<'_>,
        history: &BTreeMap<u32, Vec<u32>>,
        als: &AlsModel,
        count: usize,
    ) -> Self {
        let users = shared.data.users.len();
        let no_items: &[u32] = &[];
        let seen = |user: u32| history.get(&user).map_or(no_items, Vec::as_slice);
        let mut stats = vec![ItemStats::default(); shared.data.items.len()];
        for (&user, items) in history {
            for &item in items {
                let entry = &mut stats[item as usize];
                entry.count_user();
                if let Some(&rating) = shared.ratings.get(&(user, item)) {
                    entry.count_rating(rating);
                }
            }
        }
        let mut co_counts: Vec<HashMap<u32, u32>> = vec![HashMap::new(); stats.len()];
        for items in history.values() {
            for (i, &a) in items.iter().enumerate() {
                for &b in &items[i + 1..] {
                    *co_counts[a as usize].entry(b).or_default() += 1;
                    *co_counts[b as usize].entry(a).or_default() += 1;
                }
            }
        }
        let (stats_ref, co_counts) = (&stats, &co_counts);
        let per_user = |user: u32| {
            let stats = stats_ref;
            let seen = seen(user);
            let profile = UserProfile::from_history(
                seen.iter()
                    .map(|&item| shared.items[item as usize].as_ref()),
            );
            let vector = als.user_vector(user).expect("a vector per user");
            let candidates: Vec<Scored> = als
                .recommend(vector, count, |item| seen.binary_search(&item).is_ok())
                .into_iter()
                .map(|(item, score)| Scored {
                    item,
                    candidate: Candidate::new(
                        item.to_string(),
                        f64::from(score),
                        als::ALS.to_string(),
                    ),
                })
                .collect();
            let cf: HashMap<u32, [Option<f64>; 2]> = candidates
                .iter()
                .map(|c| {
                    let (mut sum, mut max) = (0.0f64, 0.0f64);
                    let users = f64::from(stats[c.item as usize].users);
                    for &h in seen {
                        let co = co_counts[h as usize].get(&c.item).copied().unwrap_or(0);
                        if co > 0 {
                            let cosine =
                                f64::from(co) / (users * f64::from(stats[h as usize].users)).sqrt();
                            sum += cosine;
                            max = max.max(cosine);
                        }
                    }
                    (c.item, [Some(sum), Some(max)])
                })
                .collect();
            (Arc::new(profile), candidates, cf)
        };
        let threads = thread::available_parallelism().map_or(1, |n| n.get());
        let share = users.div_ceil(threads).max(1);
        let all: Vec<u32> = (0..users as u32).collect();
        let mut done = Vec::with_capacity(users);
        thread::scope(|scope| {
            let workers: Vec<_> = all
                .chunks(share)
                .map(|chunk| {
                    let per_user = &per_user;
                    scope.spawn(move || chunk.iter().map(|&u| per_user(u)).collect::<Vec<_>>())
                })
                .collect();
            for worker in workers {
                done.extend(worker.join().expect("a stage-1 thread panicked"));
            }
        });
        let mut stage = Stage {
            candidates: Vec::with_capacity(users),
            profiles: Vec::with_capacity(users),
            stats,
            item_cf: Vec::with_capacity(users),
        };
        for (profile, candidates, cf) in done {
            stage.profiles.push(profile);
            stage.candidates.push(candidates);
            stage.item_cf.push(cf);
        }
        stage
    }

    /// The scoring inputs of `user`'s candidates.
    fn inputs<'a>(&'a self, shared: &'a Shared<'_>, user: u32) -> Vec<ScoringInput<'a>> {
        self.candidates[user as usize]
            .iter()
            .map(|c| ScoringInput {
                candidate: &c.candidate,
                item: shared.items[c.item as usize].as_ref(),
            })
            .collect()
    }

    /// The share of the test items that are among the test users' candidates.
    fn recall(&self, split: &Split) -> f64 {
        let (mut found, mut total) = (0usize, 0usize);
        for (&user, relevant) in &split.test {
            total += relevant.len();
            found += self.candidates[user as usize]
                .iter()
                .filter(|c| relevant.binary_search(&c.item).is_ok())
                .count();
        }
        if total == 0 {
            0.0
        } else {
            found as f64 / total as f64
        }
    }
}

fn user_index(request: &RequestContext) -> Option<usize> {
    request.uid.parse().ok()
}

impl FeatureSource for Stage {
    fn user(&self, request: &RequestContext, _: &ProfileNeeds) -> Arc<UserProfile> {
        user_index(request)
            .and_then(|user| self.profiles.get(user).cloned())
            .unwrap_or_default()
    }

    fn item_stats(&self, item_id: &str) -> ItemStats {
        item_id
            .parse::<usize>()
            .ok()
            .and_then(|item| self.stats.get(item).copied())
            .unwrap_or_default()
    }

    fn recall_score(&self, request: &RequestContext, source: &str, item_id: &str) -> Option<f64> {
        let slot = ITEM_CF.iter().position(|name| *name == source)?;
        let user = user_index(request)?;
        let item: u32 = item_id.parse().ok()?;
        self.item_cf.get(user)?.get(&item)?[slot]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resplits_divide_the_training_items_only() {
        let split = Split {
            train: [(0, (0..10).collect()), (1, vec![3, 4])].into(),
            test: [(0, vec![10, 11])].into(),
        };
        let again = resplit(&split, 0.2, 7);
        for (user, items) in &split.train {
            let mut both: Vec<u32> = again.train[user]
                .iter()
                .chain(again.test.get(user).into_iter().flatten())
                .copied()
                .collect();
            both.sort_unstable();
            assert_eq!(&both, items, "user {user}: fit + label = training items");
        }
        assert_eq!(again.test[&0].len(), 2);
        assert!(
            !again.test.contains_key(&1),
            "a user with few items only fits"
        );
        assert_eq!(again, resplit(&split, 0.2, 7));
        assert!((8..16).any(|seed| resplit(&split, 0.2, seed) != again));
    }
}
