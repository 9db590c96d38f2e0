//! The engine end to end in process: PAI-Rec configs run, recall timeouts are cut off within
//! the deadline, a source that keeps failing is skipped for a cool-down, failing scorers fall
//! back, experiments change what runs, traces explain.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use cascade_core::config::CascadeConfig;
use cascade_core::{Candidate, Event, EventObserver, EventTypes, FieldValue, Item, RequestContext};
use cascade_pipeline::breaker::CircuitBreaker;
use cascade_pipeline::registry::BuiltRecall;
use cascade_pipeline::{
    Deps, Engine, ItemStatsIndex, LiveFeatureSource, Recommender, Registry, Shared,
};
use cascade_rank::scorer::{ScoreError, Scorer, ScoringInput};
use cascade_retrieval::{PopularIndex, RecallSource};
use cascade_store::{EmbeddedStore, ItemStore};
use cascade_stream::{HistoryKind, UserHistory};

/// A recall source that answers after `delay`.
struct Slow {
    delay: Duration,
    items: Vec<&'static str>,
}

impl RecallSource for Slow {
    fn name(&self) -> &str {
        "slow"
    }
    fn recall(&self, _: &RequestContext, limit: usize) -> Vec<Candidate> {
        std::thread::sleep(self.delay);
        self.items
            .iter()
            .take(limit)
            .map(|id| Candidate::new(id.to_string(), 1.0, "slow".into()))
            .collect()
    }
}

/// A model that fails while `failing` is set, else scores by the `rating` field.
struct Flaky {
    failing: Arc<AtomicBool>,
}

impl Scorer for Flaky {
    fn score(
        &self,
        _: &RequestContext,
        inputs: &[ScoringInput<'_>],
    ) -> Result<Vec<f64>, ScoreError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(ScoreError {
                scorer: "flaky".into(),
                reason: "model server down".into(),
            });
        }
        Ok(inputs
            .iter()
            .map(|i| cascade_rank::scorer::feature(i, "rating"))
            .collect())
    }
}

struct World {
    popular: Arc<PopularIndex>,
    interactions: Arc<UserHistory>,
    exposures: Arc<UserHistory>,
    registry: Registry,
    shared: Arc<Shared>,
    failing: Arc<AtomicBool>,
    _dir: tempfile::TempDir,
}

impl World {
    /// Items a…h with ratings and 2-d embeddings `v` (h's is [1, 0], each earlier item's is
    /// turned 0.3 rad further away); `a` is the most popular, then `b`, … (clicks by other users).
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn ItemStore> = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        let ids = ["a", "b", "c", "d", "e", "f", "g", "h"];
        let items: Vec<Item> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| Item {
                id: id.to_string(),
                fields: [
                    ("rating".to_string(), FieldValue::Numeric(i as f64)),
                    (
                        "author".to_string(),
                        FieldValue::Keyword(if i % 2 == 0 { "x" } else { "y" }.into()),
                    ),
                    ("year".to_string(), FieldValue::Numeric(2000.0 + i as f64)),
                ]
                .into(),
                embeddings: [("v".to_string(), angle(7 - i))].into(),
            })
            .collect();
        store.upsert_items(&items).unwrap();
        let vectors = Arc::new(
            cascade_retrieval::ItemVectors::build(
                &*store,
                cascade_retrieval::AnnConfig::new("v", 2, cascade_retrieval::AnnMetric::Cosine),
            )
            .unwrap(),
        );
        let types = EventTypes::default();
        let popular = Arc::new(PopularIndex::new(
            &cascade_core::config::PopularConf {
                window_hours: 24,
                refresh_millis: 0,
            },
            types.clone(),
        ));
        let interactions = Arc::new(UserHistory::new(
            HistoryKind::Interactions,
            100,
            types.clone(),
        ));
        let exposures = Arc::new(UserHistory::new(HistoryKind::Exposures, 100, types));
        let item_stats = Arc::new(ItemStatsIndex::new(EventTypes::default()));
        let mut seq = 0;
        for (rank, id) in ids.iter().enumerate() {
            for clicker in 0..(ids.len() - rank) {
                let event = click(&format!("other{clicker}"), id, "click", 1000);
                popular.observe(seq, &event);
                interactions.observe(seq, &event);
                item_stats.observe(seq, &event);
                seq += 1;
            }
        }
        let fallback = Recommender::new(popular.clone(), interactions.clone(), store.clone());
        let shared = Arc::new(Shared::new(
            &CascadeConfig::default(),
            store.clone(),
            fallback,
        ));
        let mut registry = Registry::with_builtins(Deps {
            popular: popular.clone(),
            interactions: interactions.clone(),
            exposures: exposures.clone(),
            items: store,
            vectors: [("v".to_string(), vectors)].into(),
            item_cf: Arc::new(cascade_retrieval::ItemCfIndex::new(
                Default::default(),
                EventTypes::default(),
            )),
            trending: Arc::new(cascade_retrieval::TrendingIndex::new(
                "trending",
                &Default::default(),
                EventTypes::default(),
            )),
            features: Arc::new(LiveFeatureSource::new(
                interactions.clone(),
                item_stats,
                shared.clone(),
                100,
            )),
            text: None,
        });
        registry.register_recall("SlowRecall", |conf| {
            let millis: u64 = conf
                .settings
                .get("SleepMs")
                .and_then(|v| v.as_u64())
                .unwrap_or(0);
            Ok(BuiltRecall {
                source: Arc::new(Slow {
                    delay: Duration::from_millis(millis),
                    items: vec!["g", "h"],
                }),
                observer: None,
            })
        });
        let failing = Arc::new(AtomicBool::new(false));
        let flag = failing.clone();
        registry.register_algo("flaky", move |_| {
            Ok(Arc::new(Flaky {
                failing: flag.clone(),
            }))
        });
        World {
            popular,
            interactions,
            exposures,
            registry,
            shared,
            failing,
            _dir: dir,
        }
    }

    fn engine(&self, config: &str) -> Arc<Engine> {
        let config = CascadeConfig::parse(config).unwrap();
        Arc::new(Engine::build(config, &self.registry, self.shared.clone()).unwrap())
    }
}

/// A unit vector at `steps` × 0.3 rad from [1, 0].
fn angle(steps: usize) -> Vec<f32> {
    let theta = steps as f32 * 0.3;
    vec![theta.cos(), theta.sin()]
}

fn click(uid: &str, item: &str, kind: &str, timestamp: i64) -> Event {
    Event::new(
        &format!("{uid}-{item}-{kind}-{timestamp}"),
        kind,
        uid,
        item,
        timestamp,
    )
}

fn request(uid: &str, scene: &str, size: usize) -> RequestContext {
    RequestContext {
        request_id: "r".into(),
        uid: uid.into(),
        scene_id: scene.into(),
        size,
        debug: true,
        ..RequestContext::default()
    }
}

fn ids(outcome: &cascade_pipeline::Outcome) -> Vec<&str> {
    outcome.items.iter().map(|c| c.item_id.as_str()).collect()
}

const CASCADE: &str = r#"{
    "RecallConfs": [
        {"Name": "hot", "RecallType": "UserGlobalHotRecall", "RecallCount": 6},
        {"Name": "newest", "RecallType": "ColdStartRecall", "RecallCount": 2, "TimeField": "year"},
        {"Name": "slow", "RecallType": "SlowRecall", "SleepMs": 300, "TimeoutMs": 20}
    ],
    "FilterConfs": [
        {"Name": "seen", "FilterType": "UserInteractedFilter"},
        {"Name": "shown", "FilterType": "User2ItemExposureFilter", "Hours": 1},
        {"Name": "state", "FilterType": "ItemStateFilter", "Condition": "rating >= 2"}
    ],
    "SortConfs": [
        {"Name": "by_score", "SortType": "ItemRankScore"},
        {"Name": "mix", "SortType": "MixSort", "Pipeline": "cold", "Positions": [2]}
    ],
    "AlgoConfs": [{"Name": "ctr", "Type": "flaky"}, {"Name": "pop", "Type": "linear", "Weights": {"score": 1}}],
    "SceneConfs": {"home": {"default": {"RecallNames": ["hot", "slow"]}}},
    "FilterNames": {"home": ["seen", "shown", "state"]},
    "RankConf": {"home": {"RankAlgoList": ["ctr", "pop"], "RankScore": "${ctr} * 10 + ${pop}"}},
    "SortNames": {"home": ["by_score", "mix"]},
    "PipelineConfs": {"home": [{"Name": "cold", "RecallNames": ["newest"], "FilterNames": ["seen"]}]},
    "EngineConf": {"TimeoutMs": 50}
}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pai_rec_example_config_runs() {
    let world = World::new();
    let engine = world.engine(include_str!(
        "../../cascade-core/tests/fixtures/pairec_pipeline_example.json"
    ));
    let outcome = engine
        .recommend(request("u", "video_feed", 5))
        .await
        .unwrap();
    assert!(outcome.items.is_empty(), "the example recalls from nothing");
    assert!(outcome.degraded.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scene_runs_its_cascade_and_a_slow_source_is_cut_off_within_the_deadline_and_named() {
    let world = World::new();
    world
        .interactions
        .observe(100, &click("u", "a", "click", 1000));
    world
        .exposures
        .observe(101, &click("u", "c", "impression", 1000));
    let engine = world.engine(CASCADE);
    let started = Instant::now();
    let outcome = engine.recommend(request("u", "home", 4)).await.unwrap();
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_millis(200),
        "took {elapsed:?}; the slow source sleeps 300 ms"
    );
    // hot recalls a..f; a seen, c shown, b filtered by rating >= 2 → d, e, f ranked by
    // ctr*10 + popularity (rating dominates: f, e, d); the cold pipeline's newest unseen
    // item (h) is mixed in at position 2.
    assert_eq!(ids(&outcome), ["f", "h", "e", "d"]);
    assert_eq!(
        outcome.degraded.as_deref(),
        Some("pipeline `main`: recall source `slow` timed out after 20 ms"),
        "the answer says which source it did without"
    );

    let trace = outcome.trace.unwrap();
    let slow = trace
        .stages
        .iter()
        .find(|s| s.stage == "recall:slow")
        .unwrap();
    assert!(
        slow.note.as_deref().unwrap().contains("timed out"),
        "{slow:?}"
    );
    let dropped = |id: &str| {
        trace
            .candidates
            .iter()
            .find(|c| c.item_id == id)
            .and_then(|c| c.dropped_by.clone())
    };
    assert_eq!(dropped("a").as_deref(), Some("filter:seen"));
    assert_eq!(dropped("c").as_deref(), Some("filter:shown"));
    assert_eq!(dropped("b").as_deref(), Some("filter:state"));
    let f = trace.candidates.iter().find(|c| c.item_id == "f").unwrap();
    assert_eq!(f.sources, ["hot"]);
    assert_eq!(f.scores.last().unwrap().0, "rank");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_scorer_falls_back_to_the_cached_then_the_popular_response() {
    let world = World::new();
    let engine = world.engine(CASCADE);
    let good = engine.recommend(request("u", "home", 3)).await.unwrap();
    let partial = good.degraded.as_deref().unwrap();
    assert!(!partial.contains("served"), "not a fallback: {partial}");

    world.failing.store(true, Ordering::SeqCst);
    let cached = engine.recommend(request("u", "home", 3)).await.unwrap();
    assert_eq!(ids(&cached), ids(&good), "the user's last good response");

    // The user then reads the first item: the last good response is served without it.
    let read = ids(&good)[0].to_string();
    world
        .interactions
        .observe(10_000, &click("u", &read, "click", 2000));
    let cached = engine.recommend(request("u", "home", 3)).await.unwrap();
    assert_eq!(
        ids(&cached),
        ids(&good)[1..],
        "the last good response, less what the user read since"
    );
    assert!(
        cached
            .degraded
            .as_deref()
            .unwrap()
            .contains("last good response")
    );

    let fresh = engine
        .recommend(request("new-user", "home", 3))
        .await
        .unwrap();
    assert_eq!(
        ids(&fresh),
        ["a", "b", "c"],
        "popular items for a user with no cached response"
    );
    assert!(fresh.degraded.as_deref().unwrap().contains("popular"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_main_pipeline_whose_sources_all_time_out_falls_back_to_the_popular_items() {
    let world = World::new();
    let engine = world.engine(&CASCADE.replace(r#"["hot", "slow"]"#, r#"["slow"]"#));
    let outcome = engine.recommend(request("u", "home", 3)).await.unwrap();
    assert_eq!(ids(&outcome), ["a", "b", "c"], "the popular items");
    let degraded = outcome.degraded.as_deref().unwrap();
    assert!(
        degraded.starts_with("pipeline `main`: no recall source answered (recall source `slow` timed out after 20 ms)")
            && degraded.ends_with("served popular items"),
        "{degraded}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_that_keeps_timing_out_is_skipped_for_the_configured_cooldown_then_tried_again() {
    let world = World::new();
    let engine = world.engine(&CASCADE.replace(
        r#""EngineConf": {"TimeoutMs": 50}"#,
        r#""EngineConf": {"TimeoutMs": 50, "BreakerFailures": 2, "BreakerCooldownMs": 1000}"#,
    ));
    let slow_note = |outcome: &cascade_pipeline::Outcome| {
        outcome
            .degraded
            .clone()
            .unwrap_or_default()
            .replace("pipeline `main`: recall source `slow` ", "")
    };
    for _ in 0..2 {
        let outcome = engine.recommend(request("u", "home", 3)).await.unwrap();
        assert_eq!(slow_note(&outcome), "timed out after 20 ms");
    }
    let skipped = engine.recommend(request("u", "home", 3)).await.unwrap();
    assert_eq!(
        slow_note(&skipped),
        "skipped: circuit open",
        "two failures open the breaker"
    );
    assert_eq!(ids(&skipped).len(), 3, "the other sources still answer");

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let retried = engine.recommend(request("u", "home", 3)).await.unwrap();
    assert_eq!(
        slow_note(&retried),
        "timed out after 20 ms",
        "after the cool-down the source is called again"
    );
    let reopened = engine.recommend(request("u", "home", 3)).await.unwrap();
    assert_eq!(
        slow_note(&reopened),
        "skipped: circuit open",
        "a failure while half-open re-opens it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_experiment_changes_the_recall_list_of_its_users_only() {
    let world = World::new();
    let with_experiment = CASCADE.replace(
        r#""EngineConf""#,
        r#""ExperimentConfs": {"Layers": [{"Name": "recall", "Experiments": [
            {"ExperimentId": "newest_only", "Buckets": "0-49", "Params": {"RecallNames": ["newest"]}}]}]},
          "EngineConf""#,
    );
    let engine = world.engine(&with_experiment);
    for u in 0..40 {
        let outcome = engine
            .recommend(request(&format!("user{u}"), "home", 3))
            .await
            .unwrap();
        let trace = outcome.trace.unwrap();
        let main_recalls: Vec<&str> = trace
            .stages
            .iter()
            .filter(|s| s.pipeline == "main" && s.stage.starts_with("recall:"))
            .map(|s| s.stage.as_str())
            .collect();
        if outcome.experiment_id == "newest_only" {
            assert_eq!(main_recalls, ["recall:newest"]);
        } else {
            assert_eq!(outcome.experiment_id, "");
            assert!(main_recalls.contains(&"recall:hot"), "{main_recalls:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_scene_is_refused_by_name() {
    let world = World::new();
    let engine = world.engine(CASCADE);
    let error = engine
        .recommend(request("u", "nowhere", 3))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("nowhere") && error.contains("home"),
        "{error}"
    );
    let _ = &world.popular;
}

/// Trains a LambdaMART model on synthetic queries graded by `rating` (higher is more relevant),
/// over the features `item.rating` and `item_users_log`, and saves it under `dir`.
fn rating_ranker(dir: &std::path::Path) -> std::path::PathBuf {
    use cascade_rank::features::{FeatureMatrix, FeatureSet};
    use cascade_rank::gbdt::{LambdaMartConfig, RankingData, train_lambdamart};
    let set = FeatureSet::parse(&["item.rating", "item_users_log"]).unwrap();
    let mut data = RankingData::new(set.len());
    for query in 0..40u32 {
        let mut rows = FeatureMatrix::new(set.len());
        let mut labels = Vec::new();
        for i in 0..8u32 {
            let rating = f64::from((i * 3 + query) % 8);
            rows.push_row(&[rating, f64::from(8 - i).ln_1p()]);
            labels.push(rating as f32);
        }
        data.push_query(&rows, &labels).unwrap();
    }
    let config = LambdaMartConfig {
        trees: 20,
        min_data_in_leaf: 5,
        ..LambdaMartConfig::default()
    };
    let model = train_lambdamart(&set, &data, None, &config, None).unwrap();
    let path = dir.join("ranker.json");
    model.save(&path).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gbdt_model_file_ranks_the_candidates_with_live_features() {
    let world = World::new();
    let dir = tempfile::tempdir().unwrap();
    let model = rating_ranker(dir.path());
    let config = format!(
        r#"{{
        "RecallConfs": [{{"Name": "hot", "RecallType": "UserGlobalHotRecall", "RecallCount": 8}}],
        "AlgoConfs": [{{"Name": "ranker", "Type": "gbdt", "ModelPath": {model:?}}}],
        "SceneConfs": {{"home": {{"default": {{"RecallNames": ["hot"]}}}}}},
        "RankConf": {{"home": {{"RankAlgoList": ["ranker"]}}}},
        "StorageConf": {{"ModelDir": {models:?}}}
    }}"#,
        models = dir.path()
    );
    let outcome = world
        .engine(&config)
        .recommend(request("u", "home", 3))
        .await
        .unwrap();
    // popularity recalls a (rating 0) first; the model puts the best rated first
    assert_eq!(ids(&outcome), ["h", "g", "f"]);
    assert!(outcome.degraded.is_none());

    let bad = config.replace("ranker.json", "missing.json");
    let issues = Engine::build(
        CascadeConfig::parse(&bad).unwrap(),
        &world.registry,
        world.shared.clone(),
    )
    .err()
    .unwrap();
    assert_eq!(issues[0].path, "AlgoConfs[0].ModelPath");
    assert!(issues[0].reason.contains("missing.json"), "{issues:?}");

    // A file outside the models directory is refused before it is opened, with no word on
    // whether it exists.
    for outside in ["/etc/passwd", "/dev/zero", "/no/such/file"] {
        let config = config.replace(&model.display().to_string(), outside);
        let issues = Engine::build(
            CascadeConfig::parse(&config).unwrap(),
            &world.registry,
            world.shared.clone(),
        )
        .err()
        .unwrap();
        assert_eq!(issues[0].path, "AlgoConfs[0].ModelPath");
        assert!(issues[0].reason.contains("not inside"), "{issues:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coarse_rank_by_embedding_and_a_cold_start_rank_that_sees_embeddings_only() {
    let world = World::new();
    world
        .interactions
        .observe(100, &click("u", "a", "click", 1000));
    let config = |only_embeddings: bool| {
        format!(
            r#"{{
            "RecallConfs": [{{"Name": "hot", "RecallType": "UserGlobalHotRecall", "RecallCount": 8}}],
            "AlgoConfs": [
                {{"Name": "near", "Type": "embedding_dot", "Embedding": "v"}},
                {{"Name": "by_rating", "Type": "lookup", "Field": "rating"}}
            ],
            "SceneConfs": {{"home": {{"default": {{"RecallNames": ["hot"]}}}}}},
            "GeneralRankConfs": {{"home": {{"RankConf": {{"RankAlgoList": ["near"]}}}}}},
            "ColdStartRankConfs": {{"home": {{"AlgoName": "by_rating", "OnlyEmbeddingFeature": {only_embeddings}}}}}
        }}"#
        )
    };
    let trace_scores = |outcome: &cascade_pipeline::Outcome, stage: &str| -> Vec<f64> {
        let trace = outcome.trace.as_ref().unwrap();
        trace
            .candidates
            .iter()
            .filter_map(|c| c.scores.iter().find(|(s, _)| s == stage).map(|(_, v)| *v))
            .collect()
    };
    let outcome = world
        .engine(&config(false))
        .recommend(request("u", "home", 8))
        .await
        .unwrap();
    // the cold-start model (by rating) decides the final order
    assert_eq!(ids(&outcome), ["h", "g", "f", "e", "d", "c", "b", "a"]);
    let near = trace_scores(&outcome, "general_rank");
    assert_eq!(near.len(), 8);
    assert!(near.iter().all(|s| (-1.0..=1.0001).contains(s)), "{near:?}");

    // The cold-start model reads `rating`, an item field: with OnlyEmbeddingFeature it sees
    // none, every score is 0 and the coarse order stands: nearest to a's vector first.
    let outcome = world
        .engine(&config(true))
        .recommend(request("u", "home", 8))
        .await
        .unwrap();
    assert!(
        trace_scores(&outcome, "cold_start_rank")
            .iter()
            .all(|s| *s == 0.0),
        "{:?}",
        outcome.trace
    );
    assert_eq!(ids(&outcome), ["a", "b", "c", "d", "e", "f", "g", "h"]);
}

#[test]
fn live_features_read_the_feature_store_and_compare_embeddings_with_the_history() {
    use cascade_rank::features::FeatureSet;
    use cascade_store::features::EmbeddedFeatureStore;
    use cascade_store::{FeatureKey, FeatureStore, FeatureValue, FeatureWrite};

    let world = World::new();
    world
        .interactions
        .observe(100, &click("u", "a", "click", 1000));
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedFeatureStore::open(dir.path(), 0).unwrap());
    let write = |feature, entity, value| FeatureWrite {
        key: FeatureKey { feature, entity },
        value: Some(value),
    };
    store
        .write(&[
            write("ctr", "b", FeatureValue::Number(0.125)),
            write("ctr", "c", FeatureValue::Vector(vec![1.0])),
            write("clicks_1h", "u", FeatureValue::Number(4.0)),
        ])
        .unwrap();
    let live = LiveFeatureSource::new(
        world.interactions.clone(),
        Arc::new(ItemStatsIndex::new(EventTypes::default())),
        world.shared.clone(),
        100,
    );
    let set = FeatureSet::parse(&[
        "item_feature.ctr",
        "user_feature.clicks_1h",
        "embedding_sim.v",
    ])
    .unwrap();
    let candidates: Vec<Candidate> = ["b", "c", "gone"]
        .iter()
        .map(|id| Candidate::new(id.to_string(), 1.0, "hot".into()))
        .collect();
    let items: Vec<_> = candidates
        .iter()
        .map(|c| world.shared.item(&c.item_id))
        .collect();
    let inputs: Vec<ScoringInput<'_>> = candidates
        .iter()
        .zip(&items)
        .map(|(candidate, item)| ScoringInput {
            candidate,
            item: item.as_deref(),
        })
        .collect();
    let user = request("u", "home", 3);

    let without_store = set.extract(&live, &user, &inputs);
    assert!(without_store.row(0)[..2].iter().all(|x| x.is_nan()));

    let live = live.with_store(store, CircuitBreaker::new(1, Duration::from_secs(1)));
    let matrix = set.extract(&live, &user, &inputs);
    // u read a (at 7 × 0.3 rad): b is 0.3 rad away from it, c 0.6 rad
    let (b, c, gone) = (matrix.row(0), matrix.row(1), matrix.row(2));
    assert_eq!(b[..2], [0.125, 4.0]);
    assert!((b[2] - 0.3f64.cos()).abs() < 1e-6, "{b:?}");
    assert!(c[0].is_nan(), "a vector is not a number: {c:?}");
    assert!((c[2] - 0.6f64.cos()).abs() < 1e-6, "{c:?}");
    assert!(gone[0].is_nan() && gone[2].is_nan(), "{gone:?}");
    assert_eq!(gone[1], 4.0, "the user's value holds for every row");
}
