//! `cascade eval-scene`: the quality of whole recommend scenes on held-out events.
//!
//! The data directory's events are split at a point in time. An engine is built, as `cascade
//! serve` builds one, from a copy of the catalogue and the events before that point; then each
//! sampled user who went on to interact with items new to them asks the scene for its top K,
//! and Recall@K and NDCG@K measure the answers against those items. Each configuration given
//! is served in turn by the same engine state (a config reload between them), so variants of
//! a scene (fewer recall candidates, a coarse stage, another model) are compared on one
//! replay, the way `PUT /api/admin/config` would switch a running server. The engine reads
//! user attributes from the data directory's own user store; nothing is written to it.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use cascade_core::config::CascadeConfig;
use cascade_core::time::TimestampMs;
use cascade_core::{Event, Item, RequestContext};
use cascade_rank::offline::{Evaluation, Metrics};
use cascade_retrieval::als::IdMap;
use cascade_server::App;
use cascade_store::{EmbeddedStore, Stores};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

/// Items and events copied into the evaluation's store per write.
const CHUNK: usize = 10_000;

/// `cascade eval-scene` arguments.
#[derive(clap::Args)]
pub struct EvalSceneArgs {
    /// The configuration evaluated first and the data directory whose events are split.
    #[command(flatten)]
    config: crate::ConfigArgs,
    /// Another configuration to evaluate on the same replay (repeatable). It is served after a
    /// reload, so it shares the first configuration's indexes and state: settings of the
    /// scene's components (recall, filters, ranking, sorting) take effect; index settings
    /// (`ItemCfConf`, `AnnConfs`, `HistoryConf`, …) stay those of `--config`.
    #[arg(long = "variant")]
    variants: Vec<PathBuf>,
    /// The scene asked.
    #[arg(long, default_value = "home")]
    scene: String,
    /// The share of the events, the latest by time, held out.
    #[arg(long, default_value_t = 0.1)]
    holdout_fraction: f64,
    /// Users evaluated: a seeded sample of those with held-out interactions.
    #[arg(long, default_value_t = 2_000)]
    users: usize,
    /// The ranking cut-off K, also the number of items asked for.
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Seed of the user sample.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

/// The events split at `cutoff`.
#[derive(Debug)]
struct HoldOut {
    /// The first held-out time: events at or after it are held out.
    cutoff: TimestampMs,
    /// The events before `cutoff`, in log order.
    train: Vec<Event>,
    /// Per user with interactions before `cutoff`, the items they interacted with from
    /// `cutoff` on that they had not interacted with before it.
    relevant: BTreeMap<String, Vec<String>>,
}

/// Splits `events` so that about `fraction` of them, the latest, are held out; an interaction
/// is an event for which `is_interaction` holds. Users without interactions before the cutoff
/// are left out: a scene serves them its cold-start fallback, which this does not measure.
fn hold_out(events: Vec<Event>, fraction: f64, is_interaction: impl Fn(&str) -> bool) -> HoldOut {
    let mut times: Vec<TimestampMs> = events.iter().map(|event| event.timestamp).collect();
    times.sort_unstable();
    let at = ((times.len() as f64) * (1.0 - fraction)).floor() as usize;
    let cutoff = times.get(at).copied().unwrap_or(TimestampMs::MAX);
    let (train, held): (Vec<Event>, Vec<Event>) =
        events.into_iter().partition(|e| e.timestamp < cutoff);
    let mut seen: BTreeMap<&str, HashSet<&str>> = BTreeMap::new();
    for event in train.iter().filter(|e| is_interaction(&e.event_type)) {
        seen.entry(&event.uid).or_default().insert(&event.item_id);
    }
    let mut relevant: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for event in held.iter().filter(|e| is_interaction(&e.event_type)) {
        if let Some(before) = seen.get(event.uid.as_str())
            && !before.contains(event.item_id.as_str())
        {
            relevant
                .entry(event.uid.clone())
                .or_default()
                .push(event.item_id.clone());
        }
    }
    for items in relevant.values_mut() {
        items.sort_unstable();
        items.dedup();
    }
    HoldOut {
        cutoff,
        train,
        relevant,
    }
}

/// One configuration's results.
#[derive(Debug)]
struct SceneReport {
    /// The configuration's file name.
    label: String,
    /// Recall@K, NDCG@K and coverage over the evaluated users.
    metrics: Metrics,
    /// Answers that were a fallback or partial.
    degraded: usize,
    /// Answers with fewer than K items.
    short: usize,
    /// The median time of one request, in process, one request at a time.
    median: Duration,
}

/// Runs `cascade eval-scene`.
pub fn run(args: &EvalSceneArgs) -> anyhow::Result<()> {
    let reports = evaluate_all(args)?;
    print!("{}", table(args, &reports));
    Ok(())
}

/// Splits the events, builds the engine and evaluates every configuration.
fn evaluate_all(args: &EvalSceneArgs) -> anyhow::Result<Vec<SceneReport>> {
    anyhow::ensure!(
        args.holdout_fraction > 0.0 && args.holdout_fraction < 1.0,
        "--holdout-fraction must be between 0 and 1 (exclusive), got {}",
        args.holdout_fraction
    );
    anyhow::ensure!(args.k > 0, "--k must be at least 1");
    let base = args.config.load_existing()?;
    let mut configs = vec![(label(args.config.config.as_deref()), base.clone())];
    for path in &args.variants {
        let mut variant = CascadeConfig::load(path)
            .with_context(|| format!("reading the variant {}", path.display()))?;
        variant.storage_conf = base.storage_conf.clone();
        configs.push((label(Some(path)), variant));
    }
    let source = &base.storage_conf.data_dir;
    let stores = EmbeddedStore::open_stores(source)
        .with_context(|| format!("opening {}", source.display()))?;
    let events = crate::eval::read_all(&stores)?;
    let split = hold_out(events, args.holdout_fraction, |kind| {
        base.event_conf.is_interaction(kind)
    });
    let users = sample(&split.relevant, args.users, args.seed);
    anyhow::ensure!(
        !users.is_empty(),
        "no user has interactions both before and after the cutoff; hold out more events"
    );
    eprintln!(
        "cutoff {} ms: {} events before it replayed, {} users with new items after it, {} evaluated",
        split.cutoff,
        split.train.len(),
        split.relevant.len(),
        users.len()
    );
    let scratch = tempfile::tempdir().context("creating the evaluation's data directory")?;
    let runtime = crate::runtime()?;
    runtime.block_on(evaluate(
        args,
        &stores,
        scratch.path(),
        split,
        users,
        configs,
    ))
}

/// The file name of a configuration, or `defaults`.
fn label(path: Option<&Path>) -> String {
    path.and_then(Path::file_name).map_or_else(
        || "defaults".to_string(),
        |name| name.to_string_lossy().into_owned(),
    )
}

/// Up to `count` of the users of `relevant`, drawn with `seed`.
fn sample(relevant: &BTreeMap<String, Vec<String>>, count: usize, seed: u64) -> Vec<String> {
    let mut users: Vec<String> = relevant.keys().cloned().collect();
    users.shuffle(&mut StdRng::seed_from_u64(seed));
    users.truncate(count);
    users
}

/// Copies the catalogue and the training events into `dir`, builds the engine over them, and
/// asks each configuration in turn for every user's top K.
async fn evaluate(
    args: &EvalSceneArgs,
    source: &Stores,
    dir: &Path,
    split: HoldOut,
    users: Vec<String>,
    configs: Vec<(String, CascadeConfig)>,
) -> anyhow::Result<Vec<SceneReport>> {
    let stores = EmbeddedStore::open_stores(dir)?;
    let catalogue = copy_items(source, &stores)?;
    let mut items = IdMap::default();
    let relevant = users
        .iter()
        .map(|uid| {
            let mut ids: Vec<u32> = split.relevant[uid]
                .iter()
                .map(|id| items.intern(id))
                .collect();
            ids.sort_unstable();
            ids
        })
        .collect();
    let progress = crate::train::bar(
        split.train.len() as u64,
        "replaying the events before the cutoff",
    );
    // The events move into the store chunk by chunk, so none is held twice.
    let mut train = split.train.into_iter();
    loop {
        let chunk: Vec<Event> = train.by_ref().take(CHUNK).collect();
        if chunk.is_empty() {
            break;
        }
        progress.inc(chunk.len() as u64);
        stores.events.append(chunk).wait().await?;
    }
    progress.finish_and_clear();
    let stores = Stores {
        users: source.users.clone(),
        ..stores
    };

    let mut configs = configs.into_iter();
    let (first_label, mut first) = configs.next().context("no configuration")?;
    first.storage_conf.data_dir = dir.to_owned();
    let app = App::with_stores(first, stores, |_| {})?;
    app.wait_ready().await;
    let mut asked = Asked {
        users,
        relevant,
        catalogue,
        items,
    };
    let mut reports = vec![asked.ask(args, &app, &first_label).await?];
    for (label, mut config) in configs {
        config.storage_conf.data_dir = dir.to_owned();
        app.reload(config)
            .with_context(|| format!("serving the variant {label}"))?;
        reports.push(asked.ask(args, &app, &label).await?);
    }
    Ok(reports)
}

/// Copies every item of `source` into `target`; returns how many.
fn copy_items(source: &Stores, target: &Stores) -> anyhow::Result<usize> {
    let total = source.items.item_count()?;
    let progress = crate::train::bar(total, "copying the catalogue");
    let mut batch: Vec<Item> = Vec::with_capacity(CHUNK);
    let mut failure = None;
    source.items.scan_items(&mut |item| {
        if failure.is_some() {
            return;
        }
        batch.push(item);
        if batch.len() == CHUNK {
            progress.inc(batch.len() as u64);
            failure = target.items.upsert_items(&batch).err();
            batch.clear();
        }
    })?;
    if let Some(error) = failure {
        return Err(error.into());
    }
    target.items.upsert_items(&batch)?;
    progress.finish_and_clear();
    Ok(usize::try_from(target.items.item_count()?)?)
}

/// What every configuration is asked and measured against.
struct Asked {
    /// The users asking.
    users: Vec<String>,
    /// Each user's held-out items, as sorted indexes of `items`.
    relevant: Vec<Vec<u32>>,
    /// The catalogue's size, for coverage.
    catalogue: usize,
    /// Item ids as the metrics' indexes.
    items: IdMap,
}

impl Asked {
    /// Asks the serving configuration for every user's top K and measures the answers.
    async fn ask(
        &mut self,
        args: &EvalSceneArgs,
        app: &Arc<App>,
        label: &str,
    ) -> anyhow::Result<SceneReport> {
        let (users, items) = (&self.users, &mut self.items);
        let engine = app.engine();
        let progress = crate::train::bar(users.len() as u64, "asking the scene");
        let mut evaluation = Evaluation::new(args.k);
        let (mut degraded, mut short) = (0, 0);
        let mut times = Vec::with_capacity(users.len());
        for (n, uid) in users.iter().enumerate() {
            let request = RequestContext {
                request_id: format!("eval-{n}"),
                uid: uid.clone(),
                scene_id: args.scene.clone(),
                size: args.k,
                ..RequestContext::default()
            };
            let began = Instant::now();
            let outcome = engine
                .recommend(request)
                .await
                .with_context(|| format!("{label}: asking for user {uid}"))?;
            times.push(began.elapsed());
            degraded += usize::from(outcome.degraded.is_some());
            short += usize::from(outcome.items.len() < args.k);
            let ranked: Vec<u32> = outcome
                .items
                .iter()
                .map(|candidate| items.intern(&candidate.item_id))
                .collect();
            evaluation.add(&ranked, &self.relevant[n]);
            progress.inc(1);
        }
        progress.finish_and_clear();
        times.sort_unstable();
        Ok(SceneReport {
            label: label.to_string(),
            metrics: evaluation.finish(self.catalogue),
            degraded,
            short,
            median: times[times.len() / 2],
        })
    }
}

/// The results as a Markdown table.
fn table(args: &EvalSceneArgs, reports: &[SceneReport]) -> String {
    let k = args.k;
    let users = reports.first().map_or(0, |report| report.metrics.users);
    let mut out = format!(
        "scene `{}`, {users} users, the latest {:.0} % of events held out\n\n\
         | config | Recall@{k} | NDCG@{k} | coverage | degraded | fewer than {k} | median ms |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n",
        args.scene,
        args.holdout_fraction * 100.0,
    );
    for report in reports {
        out.push_str(&format!(
            "| {} | {:.4} | {:.4} | {:.4} | {} | {} | {:.2} |\n",
            report.label,
            report.metrics.recall,
            report.metrics.ndcg,
            report.metrics.coverage,
            report.degraded,
            report.short,
            report.median.as_secs_f64() * 1e3,
        ));
    }
    out
}

#[cfg(test)]
mod tests;
