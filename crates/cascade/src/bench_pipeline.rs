//! `cascade bench pipeline`: one configured scene — three recall sources (popular, newest,
//! ALS), two filters, a coarse and a fine scorer and MMR — run in process over a synthetic
//! catalogue, reporting the latency of whole requests.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use cascade_core::config::CascadeConfig;
use cascade_core::{Event, Item, RequestContext};
use cascade_pipeline::registry::BuiltRecall;
use cascade_retrieval::{AlsConfig, AlsRecall};
use cascade_server::App;
use cascade_store::EmbeddedStore;

use crate::gen_data::{Events, World, WorldSpec};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// `cascade bench pipeline` arguments.
#[derive(clap::Args)]
pub struct PipelineBench {
    /// Items in the catalogue.
    #[arg(long, default_value_t = 100_000)]
    items: usize,
    /// Users with history.
    #[arg(long, default_value_t = 20_000)]
    users: usize,
    /// Interaction events.
    #[arg(long, default_value_t = 400_000)]
    events: usize,
    /// Timed requests (after 200 warm-up requests).
    #[arg(long, default_value_t = 3_000)]
    requests: usize,
    /// Seed of the synthetic data.
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

const CLUSTERS: usize = 50;
const DIMENSION: usize = 16;

const SCENE: &str = r#"{
    "RecallConfs": [
        {"Name": "popular", "RecallType": "UserGlobalHotRecall", "RecallCount": 300},
        {"Name": "newest", "RecallType": "ColdStartRecall", "RecallCount": 100, "TimeField": "created"},
        {"Name": "als", "RecallType": "BenchAls", "RecallCount": 200, "TimeoutMs": 40}
    ],
    "FilterConfs": [
        {"Name": "interacted", "FilterType": "UserInteractedFilter"},
        {"Name": "rated", "FilterType": "ItemStateFilter", "Condition": "quality >= 1.5"},
        {"Name": "top200", "FilterType": "AdjustCountFilter", "Count": 200}
    ],
    "SortConfs": [
        {"Name": "mmr", "SortType": "MMRSort", "Embedding": "vec", "Lambda": 0.7, "TopN": 50}
    ],
    "AlgoConfs": [
        {"Name": "coarse", "Type": "linear", "Weights": {"score": 1.0, "quality": 0.5}},
        {"Name": "fine", "Type": "linear", "Weights": {"score": 1.0, "quality": 2.0, "price": -0.001}}
    ],
    "SceneConfs": {"home": {"default": {"RecallNames": ["popular", "newest", "als"]}}},
    "FilterNames": {"home": ["interacted", "rated"]},
    "GeneralRankConfs": {"home": {"RankConf": {"RankAlgoList": ["coarse"]},
        "ActionConfs": [{"ActionType": "filter", "ActionName": "top200"}]}},
    "RankConf": {"home": {"RankAlgoList": ["fine"], "RankScore": "${fine}"}},
    "SortNames": {"home": ["mmr"]},
    "EngineConf": {"TimeoutMs": 100}
}"#;

/// The synthetic world of `cascade gen-data`: items in clusters with embeddings near their
/// cluster's centroid; users who mostly keep to one to three clusters; item popularity
/// power-law within a cluster.
fn generate(args: &PipelineBench) -> (Vec<Item>, Vec<Event>) {
    let world = Arc::new(World::new(WorldSpec {
        items: args.items,
        users: args.users,
        events: args.events,
        seed: args.seed,
        clusters: CLUSTERS,
        dimension: DIMENSION,
    }));
    let items = (0..args.items).map(|i| world.item(i)).collect();
    (items, Events::new(world).collect())
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

/// Runs the benchmark.
pub async fn run(args: &PipelineBench) -> anyhow::Result<()> {
    let (items, events) = generate(args);
    let dir = tempfile::tempdir_in(".")?;
    let stores = EmbeddedStore::open_stores(dir.path())?;
    for chunk in items.chunks(5_000) {
        stores.items.upsert_items(chunk)?;
    }
    for chunk in events.chunks(50_000) {
        stores.events.append(chunk.to_vec()).wait().await?;
    }
    let started = Instant::now();
    let als_config = AlsConfig {
        iterations: 5,
        ..AlsConfig::default()
    };
    let als = Arc::new(
        AlsRecall::train(
            events
                .iter()
                .map(|e| (e.uid.as_str(), e.item_id.as_str(), 1.0)),
            &als_config,
        )
        .context("training ALS")?,
    );
    eprintln!("ALS trained in {:.1} s", started.elapsed().as_secs_f64());

    let mut config = CascadeConfig::parse(SCENE)?;
    config.storage_conf.data_dir = dir.path().to_owned();
    config.popular_conf.window_hours = 24 * 365;
    let app = App::with_stores(config, stores, move |registry| {
        registry.register_recall("BenchAls", move |_| {
            Ok(BuiltRecall {
                source: als.clone(),
                observer: None,
            })
        })
    })?;
    app.wait_ready().await;

    let mut rng = StdRng::seed_from_u64(args.seed + 1);
    let engine = app.engine();
    let mut latencies = Vec::with_capacity(args.requests);
    let mut degraded = 0;
    for round in 0..args.requests + 200 {
        let request = RequestContext {
            request_id: round.to_string(),
            uid: format!("u{}", rng.random_range(0..args.users)),
            scene_id: "home".into(),
            size: 20,
            ..RequestContext::default()
        };
        let began = Instant::now();
        let outcome = engine.recommend(request).await?;
        if round >= 200 {
            latencies.push(began.elapsed());
            degraded += usize::from(outcome.degraded.is_some());
        }
    }
    latencies.sort();
    let stages = stage_medians(&engine, args, &mut rng).await?;
    println!(
        "pipeline, {} items, {} events, 3 recall sources (popular 300, newest 100, ALS 200), 2 filters, \
         coarse + fine linear scorers, MMR over 50: {} requests, p50 {:.2} ms, p99 {:.2} ms, degraded {}",
        args.items,
        args.events,
        latencies.len(),
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        degraded,
    );
    println!("median per stage over 500 traced requests (tracing adds its own cost): {stages}");
    Ok(())
}

/// The median time of each stage over traced requests, as `stage µs` pairs in stage order.
async fn stage_medians(
    engine: &Arc<cascade_pipeline::Engine>,
    args: &PipelineBench,
    rng: &mut StdRng,
) -> anyhow::Result<String> {
    let mut by_stage: Vec<(String, Vec<u64>)> = Vec::new();
    for round in 0..500 {
        let request = RequestContext {
            request_id: format!("traced-{round}"),
            uid: format!("u{}", rng.random_range(0..args.users)),
            scene_id: "home".into(),
            size: 20,
            debug: true,
            ..RequestContext::default()
        };
        let outcome = engine.recommend(request).await?;
        for stage in outcome.trace.map(|t| t.stages).unwrap_or_default() {
            match by_stage.iter_mut().find(|(name, _)| *name == stage.stage) {
                Some((_, times)) => times.push(stage.micros),
                None => by_stage.push((stage.stage, vec![stage.micros])),
            }
        }
    }
    Ok(by_stage
        .into_iter()
        .map(|(name, mut times)| {
            times.sort_unstable();
            format!("{name} {} µs", times[times.len() / 2])
        })
        .collect::<Vec<_>>()
        .join(", "))
}
