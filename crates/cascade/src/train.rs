//! `cascade train`: trains a ranking model (LambdaMART or a logistic-regression CTR model) from
//! a data directory and writes its versioned model file.
//!
//! The training rows come from a point-in-time backfill of the event log (`--source
//! backfill`: each interaction is a query of its item and sampled negatives, with features as
//! of the interaction's time) or from the feature log joined to later events (`--source
//! logs`). The latest 10% of the labels' time is held out for validation. The data directory
//! is read while no server holds it.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use cascade_core::Event;
use cascade_core::config::CascadeConfig;
use cascade_core::time::{TimestampMs, parse_instant};
use cascade_rank::backfill::{
    self, BackfillConfig, Catalogue, DEFAULT_FEATURES, TrainingRows, check_point_in_time,
};
use cascade_rank::features::FeatureSet;
use cascade_rank::gbdt::{LambdaMartConfig, RankingData, train_lambdamart};
use cascade_rank::logging::{LabelRule, training_data_from_logs};
use cascade_rank::lr::{LogisticConfig, train_logistic};
use cascade_rank::model_file::{DataSpan, TrainingInfo};
use cascade_store::{EmbeddedStore, Stores};
use indicatif::{ProgressBar, ProgressStyle};

/// The model kinds `cascade train` trains.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelKind {
    /// LambdaMART (LightGBM `lambdarank`), a `cascade-gbdt` file.
    Lambdamart,
    /// Logistic regression (linfa, L2), a `cascade-logistic` file.
    Logistic,
}

/// Where the training rows come from.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataSource {
    /// A point-in-time backfill of the event log (for data without feature logs).
    Backfill,
    /// The feature log (`FeatureLogConf.Dir`) joined to the events that followed.
    Logs,
}

/// `cascade train` options.
#[derive(clap::Args, Clone)]
pub struct TrainArgs {
    #[command(flatten)]
    config: crate::ConfigArgs,
    /// The model to train.
    #[arg(long, value_enum)]
    model: ModelKind,
    /// Where the model file is written (JSON).
    #[arg(long)]
    out: PathBuf,
    /// The features (comma-separated names); by default item popularity and metadata, user
    /// activity and history matches (`recall_*` features read nothing in a backfill).
    #[arg(long, value_delimiter = ',')]
    features: Vec<String>,
    /// Negatives sampled per positive (backfill).
    #[arg(long, default_value_t = 9)]
    negatives: usize,
    /// Labels from this instant on (date `YYYY-MM-DD`, date-time or epoch ms); earlier events
    /// still build the state the features are computed from.
    #[arg(long)]
    since: Option<String>,
    /// Events before this instant only.
    #[arg(long)]
    until: Option<String>,
    /// Seed of the negative sampling and of the trainer.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Recomputes every backfilled row from only the events before its label and fails on
    /// any difference (a feature that read a later event).
    #[arg(long)]
    check_leakage: bool,
    /// Where the training rows come from.
    #[arg(long, value_enum, default_value_t = DataSource::Backfill)]
    source: DataSource,
    /// The share of the labels' time span, the latest, held out for validation.
    #[arg(long, default_value_t = 0.1)]
    valid_fraction: f64,
    /// LambdaMART: boosting rounds (trees).
    #[arg(long, default_value_t = LambdaMartConfig::default().trees)]
    trees: usize,
    /// LambdaMART: shrinkage per tree.
    #[arg(long, default_value_t = LambdaMartConfig::default().learning_rate)]
    learning_rate: f64,
    /// LambdaMART: leaves per tree.
    #[arg(long, default_value_t = LambdaMartConfig::default().num_leaves)]
    leaves: usize,
    /// LambdaMART: the fewest rows per leaf.
    #[arg(long, default_value_t = LambdaMartConfig::default().min_data_in_leaf)]
    min_leaf: usize,
    /// Logistic: the L2 penalty.
    #[arg(long, default_value_t = LogisticConfig::default().alpha)]
    alpha: f64,
    /// Logistic: L-BFGS iterations, at most.
    #[arg(long, default_value_t = LogisticConfig::default().max_iterations)]
    max_iterations: u64,
}

/// Training and validation data, with where they came from.
struct Prepared {
    features: FeatureSet,
    train: RankingData,
    valid: RankingData,
    span: Option<DataSpan>,
}

/// Runs `cascade train`.
pub fn run(args: &TrainArgs) -> anyhow::Result<()> {
    ensure!(
        args.valid_fraction > 0.0 && args.valid_fraction < 1.0,
        "--valid-fraction must be between 0 and 1"
    );
    let config = args.config.load()?;
    let since = instant("--since", args.since.as_deref())?;
    let until = instant("--until", args.until.as_deref())?;
    let started = Instant::now();
    let stores = open(&config)?;
    let events = read_events(&stores, until)?;
    let prepared = match args.source {
        DataSource::Backfill => from_backfill(args, &config, &stores, &events, since, until)?,
        DataSource::Logs => from_logs(args, &config, events, since)?,
    };
    println!(
        "training on {} queries ({} rows, {} positive); validating on the latest {:.0}% of \
         the time: {} queries ({} rows)",
        prepared.train.queries(),
        prepared.train.rows(),
        prepared.train.positives(),
        args.valid_fraction * 100.0,
        prepared.valid.queries(),
        prepared.valid.rows()
    );
    ensure!(
        prepared.train.positives() > 0 && prepared.valid.queries() > 0,
        "too little data to train and validate on: widen --since/--until or import more events"
    );
    let spinner = spinner(match args.model {
        ModelKind::Lambdamart => "training LambdaMART (LightGBM)",
        ModelKind::Logistic => "training logistic regression (linfa)",
    });
    let info = match args.model {
        ModelKind::Lambdamart => {
            let config = LambdaMartConfig {
                trees: args.trees,
                learning_rate: args.learning_rate,
                num_leaves: args.leaves,
                min_data_in_leaf: args.min_leaf,
                seed: args.seed,
                ..LambdaMartConfig::default()
            };
            let model = train_lambdamart(
                &prepared.features,
                &prepared.train,
                Some(&prepared.valid),
                &config,
                prepared.span,
            )?;
            model.save(&args.out)?;
            model.training().clone()
        }
        ModelKind::Logistic => {
            let config = LogisticConfig {
                alpha: args.alpha,
                max_iterations: args.max_iterations,
                ..LogisticConfig::default()
            };
            let model = train_logistic(
                &prepared.features,
                &prepared.train,
                Some(&prepared.valid),
                &config,
                prepared.span,
            )?;
            model.save(&args.out)?;
            model.training().clone()
        }
    };
    let train_secs = spinner.elapsed().as_secs_f64();
    spinner.finish_and_clear();
    println!("{}", report(args, &prepared.features, &info, train_secs));
    println!(
        "model written to {} in {:.1} s",
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The summary printed after training.
fn report(args: &TrainArgs, features: &FeatureSet, info: &TrainingInfo, secs: f64) -> String {
    let metrics: Vec<String> = info
        .metrics
        .iter()
        .map(|(name, value)| format!("{name} {value:.4}"))
        .collect();
    let trees = match args.model {
        ModelKind::Lambdamart => format!(", {} trees", info.trees),
        ModelKind::Logistic => String::new(),
    };
    let span = info.data_span.map_or("no events".to_string(), |span| {
        format!("events {} .. {} (ms)", span.from_ms, span.to_ms)
    });
    format!(
        "{:?} over {} features, trained in {secs:.1} s{trees}; {span}\n  {}",
        args.model,
        features.len(),
        metrics.join(", ")
    )
}

fn instant(flag: &str, text: Option<&str>) -> anyhow::Result<Option<TimestampMs>> {
    text.map(|text| {
        parse_instant(text).with_context(|| {
            format!("{flag}: `{text}` is not a date (YYYY-MM-DD), date-time or epoch milliseconds")
        })
    })
    .transpose()
}

/// Opens the data directory, which must hold Cascade data and must not be held by a server.
fn open(config: &CascadeConfig) -> anyhow::Result<Stores> {
    let dir = &config.storage_conf.data_dir;
    crate::require_data(dir)?;
    EmbeddedStore::open_stores(dir).with_context(|| {
        format!(
            "opening {} (training reads the data directory while no server holds it: stop \
             `cascade serve`, or train on a copy)",
            dir.display()
        )
    })
}

/// Every event before `until`, in time order, with a progress bar.
fn read_events(stores: &Stores, until: Option<TimestampMs>) -> anyhow::Result<Vec<Event>> {
    let total = *stores.events.durable_len().borrow();
    let progress = bar(total, "reading events");
    let mut events = Vec::with_capacity(total as usize);
    stores.events.scan_time_range(
        TimestampMs::MIN,
        until.unwrap_or(TimestampMs::MAX),
        &mut |logged| {
            events.push(logged.event);
            progress.inc(1);
            true
        },
    )?;
    progress.finish_and_clear();
    println!("read {} events", events.len());
    Ok(events)
}

fn features(args: &TrainArgs) -> anyhow::Result<FeatureSet> {
    Ok(if args.features.is_empty() {
        FeatureSet::parse(DEFAULT_FEATURES)?
    } else {
        FeatureSet::parse(&args.features)?
    })
}

fn from_backfill(
    args: &TrainArgs,
    config: &CascadeConfig,
    stores: &Stores,
    events: &[Event],
    since: Option<TimestampMs>,
    until: Option<TimestampMs>,
) -> anyhow::Result<Prepared> {
    ensure!(args.negatives > 0, "--negatives must be at least 1");
    let features = features(args)?;
    let mut items = Vec::new();
    stores.items.scan_items(&mut |item| items.push(item))?;
    let catalogue = Catalogue::new(items);
    ensure!(
        !catalogue.is_empty(),
        "the catalogue is empty: negatives are drawn from it"
    );
    let types = &config.event_conf;
    let backfill_config = BackfillConfig {
        negatives: args.negatives,
        seed: args.seed,
        since,
        until,
        recall: None,
    };
    let progress = bar(events.len() as u64, "backfilling features as of each event");
    let rows = backfill::backfill(
        events,
        &catalogue,
        types,
        &features,
        &backfill_config,
        &progress,
    );
    progress.finish_and_clear();
    let counts = &rows.counts;
    println!(
        "backfill: {} queries from {} events ({} repeats, {} items not in the catalogue, {} \
         exposures, {} before --since, {} with fewer negatives) over {} items",
        counts.queries,
        counts.events,
        counts.repeats,
        counts.unknown_items,
        counts.exposures,
        counts.before_since,
        counts.short_queries,
        catalogue.len()
    );
    if args.check_leakage {
        let progress = bar(rows.queries.len() as u64, "checking for leakage");
        let started = Instant::now();
        let checked = check_point_in_time(&rows, events, &catalogue, types, None, &progress)?;
        progress.finish_and_clear();
        println!(
            "leakage check passed: {checked} rows recomputed from only the events before their \
             label, all equal ({:.1} s)",
            started.elapsed().as_secs_f64()
        );
    }
    split_rows(&rows, args.valid_fraction, features)
}

/// Train and validation queries of backfilled rows, by label time.
fn split_rows(
    rows: &TrainingRows,
    fraction: f64,
    features: FeatureSet,
) -> anyhow::Result<Prepared> {
    let Some(cut) = rows.holdout_start(fraction) else {
        bail!("the backfill produced no query: are there interaction events of catalogue items?");
    };
    Ok(Prepared {
        train: rows.ranking_data(|q| q.label_time < cut)?,
        valid: rows.ranking_data(|q| q.label_time >= cut)?,
        span: rows.events_span,
        features,
    })
}

fn from_logs(
    args: &TrainArgs,
    config: &CascadeConfig,
    events: Vec<Event>,
    since: Option<TimestampMs>,
) -> anyhow::Result<Prepared> {
    let dir = config
        .feature_log_conf
        .dir_under(&config.storage_conf.data_dir);
    let spinner = spinner("joining the feature log to the events");
    let logged = training_data_from_logs(&dir, events, &LabelRule::default())
        .with_context(|| format!("reading the feature log in {}", dir.display()))?;
    spinner.finish_and_clear();
    if !args.features.is_empty() {
        let asked = features(args)?;
        ensure!(
            asked == logged.features,
            "--features {:?} are not the logged features {:?}; the log decides the features",
            asked.names(),
            logged.features.names()
        );
    }
    println!(
        "feature log: {} queries, {} rows ({} positive) from {} files",
        logged.counts.queries, logged.counts.rows, logged.counts.positives, logged.counts.files
    );
    // one query per request; its time is when its first row was shown
    let data = &logged.data;
    let mut times = Vec::with_capacity(data.queries());
    let mut start = 0;
    for &size in data.groups() {
        times.push(logged.rows.get(start).map_or(0, |row| row.logged_at));
        start += size;
    }
    let keep = |t: TimestampMs| since.is_none_or(|since| t >= since);
    let kept: Vec<TimestampMs> = times.iter().copied().filter(|&t| keep(t)).collect();
    let (Some(&first), Some(&last)) = (kept.iter().min(), kept.iter().max()) else {
        bail!("the feature log in {} holds no query", dir.display());
    };
    let cut = last - ((last - first) as f64 * args.valid_fraction).round() as TimestampMs;
    let select = |valid: bool| -> anyhow::Result<RankingData> {
        let columns = logged.features.len();
        let mut out = RankingData::new(columns);
        let mut start = 0;
        for (&size, &t) in data.groups().iter().zip(&times) {
            if keep(t) && (t >= cut) == valid {
                let values =
                    data.features().values()[start * columns..(start + size) * columns].to_vec();
                let rows = cascade_rank::features::FeatureMatrix::from_values(columns, values)
                    .context("a logged query without rows")?;
                out.push_query(&rows, &data.labels()[start..start + size])?;
            }
            start += size;
        }
        Ok(out)
    };
    Ok(Prepared {
        train: select(false)?,
        valid: select(true)?,
        span: logged.span,
        features: logged.features.clone(),
    })
}

/// A progress bar of `total` steps.
pub(crate) fn bar(total: u64, message: &'static str) -> ProgressBar {
    let progress = ProgressBar::new(total);
    progress.set_style(
        ProgressStyle::with_template(
            "{spinner} {msg} [{bar:30}] {human_pos}/{human_len} ({per_sec}, {eta})",
        )
        .expect("a valid progress template")
        .progress_chars("=> "),
    );
    progress.set_message(message);
    progress
}

/// A spinner with the elapsed time, for steps that report no progress (LightGBM's rounds,
/// linfa's iterations).
fn spinner(message: &'static str) -> ProgressBar {
    let progress = ProgressBar::new_spinner();
    progress.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .expect("a valid progress template"),
    );
    progress.set_message(message);
    progress.enable_steady_tick(Duration::from_millis(200));
    progress
}
