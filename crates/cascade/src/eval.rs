//! `cascade eval`: offline evaluation of recall sources on held-out interactions.
//!
//! Every interaction event (not exposure) is a positive. Each user's distinct items are split
//! into training and test; the popularity baseline, ALS (ranked exactly, and through an HNSW
//! index as vector recall serves it) and item-CF are trained on the training part and rank
//! every item for each test user, the user's training items masked; Recall@K,
//! NDCG@K and catalogue coverage measure the top K against the test part.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use anyhow::Context;
use cascade_core::config::CascadeConfig;
use cascade_core::{Event, EventObserver, EventTypes, RequestContext};
use cascade_rank::offline::{Evaluation, Interaction, Metrics, Popularity, Protocol, Split};
use cascade_retrieval::als::{self, AlsConfig, AlsModel, IdMap};
use cascade_retrieval::{ItemCfConfig, ItemCfIndex, ItemCfRecall, RecallSource, Similarity};
use cascade_store::{EmbeddedStore, Stores};

use crate::import::{self, Format};

mod ann;
mod rerank;

/// Events read from the log per call.
const PAGE: usize = 100_000;

/// How each user's items are divided between training and test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ProtocolArg {
    /// A seeded random share (`--test-fraction`) of each user's items is held out.
    Random,
    /// Each user's latest item is held out.
    LeaveLastOut,
}

/// `cascade eval` arguments.
#[derive(clap::Args)]
pub struct EvalArgs {
    /// Evaluates the events of `--data-dir` (typed by `--config`); without `--data-dir`, the
    /// bundled goodbooks-10k data.
    #[command(flatten)]
    config: crate::ConfigArgs,
    /// The split protocol.
    #[arg(long, value_enum, default_value_t = ProtocolArg::Random)]
    protocol: ProtocolArg,
    /// The share of each user's items held out by the random protocol.
    #[arg(long, default_value_t = 0.2)]
    test_fraction: f64,
    /// Seed of the split and of ALS's initial factors.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// The ranking cut-off K.
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Only events of these types count (comma-separated), each one a positive whatever its
    /// value; `all` for every interaction type. The default, `rating`, is the protocol of the
    /// quality targets (BENCHMARKS.md): the bundled goodbooks ratings.
    #[arg(long, value_delimiter = ',', default_value = "rating")]
    event_types: Vec<String>,
    /// ALS: the dimension of user and item vectors.
    #[arg(long, default_value_t = AlsConfig::default().factors)]
    factors: usize,
    /// ALS: the ridge penalty.
    #[arg(long, default_value_t = AlsConfig::default().regularization)]
    regularization: f32,
    /// ALS: the confidence scale (confidence = 1 + alpha × weight).
    #[arg(long, default_value_t = AlsConfig::default().alpha)]
    alpha: f32,
    /// ALS: training passes.
    #[arg(long, default_value_t = AlsConfig::default().iterations)]
    iterations: usize,
    /// ALS: conjugate-gradient steps per vector per pass.
    #[arg(long, default_value_t = AlsConfig::default().cg_steps)]
    cg_steps: usize,
    /// Prints the results as JSON instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    rerank: rerank::RerankArgs,
}

impl EvalArgs {
    fn protocol(&self) -> anyhow::Result<Protocol> {
        Ok(match self.protocol {
            ProtocolArg::Random => {
                anyhow::ensure!(
                    (0.0..=1.0).contains(&self.test_fraction),
                    "--test-fraction must be in [0, 1]"
                );
                Protocol::Random {
                    test_fraction: self.test_fraction,
                }
            }
            ProtocolArg::LeaveLastOut => Protocol::LeaveLastOut,
        })
    }

    fn als_config(&self) -> AlsConfig {
        AlsConfig {
            factors: self.factors,
            regularization: self.regularization,
            alpha: self.alpha,
            iterations: self.iterations,
            cg_steps: self.cg_steps,
            seed: self.seed,
            ..AlsConfig::default()
        }
    }
}

/// The evaluated interactions with their id maps.
struct Dataset {
    interactions: Vec<Interaction>,
    users: IdMap,
    items: IdMap,
}

/// Runs `cascade eval`.
pub fn run(args: &EvalArgs) -> anyhow::Result<()> {
    let protocol = args.protocol()?;
    let events = load_events(args)?;
    let data = dataset(&events, args);
    anyhow::ensure!(
        !data.interactions.is_empty(),
        "{}",
        nothing_counted(&events, args)
    );
    let split = Split::new(&data.interactions, protocol, args.seed);
    let catalogue = data.items.len();

    let popularity = Popularity::fit(&split.train);
    let popular = evaluate(&split, args.k, catalogue, |_, seen| {
        popularity.recommend(seen, args.k)
    });

    let started = Instant::now();
    let model = AlsModel::train(
        data.users.len(),
        catalogue,
        &training_set(&split),
        &args.als_config(),
    )?;
    let train_secs = started.elapsed().as_secs_f64();
    let als = evaluate(&split, args.k, catalogue, |user, seen| {
        let vector = model.user_vector(user).expect("a vector per user");
        model
            .recommend(vector, args.k, |item| seen.binary_search(&item).is_ok())
            .into_iter()
            .map(|(item, _)| item)
            .collect()
    });

    let als_index = ann::AlsAnn::build(&model, args.factors)?;
    let als_ann = evaluate(&split, args.k, catalogue, |user, seen| {
        let vector = model.user_vector(user).expect("a vector per user");
        als_index.rank(vector, seen, args.k)
    });

    let item_cf = item_cf_index(&split);
    let cosine = evaluate(&split, args.k, catalogue, |user, seen| {
        item_cf_ranking(&item_cf, Similarity::Cosine, user, seen, args.k)
    });
    item_cf.rebuild_swing();
    let swing = evaluate(&split, args.k, catalogue, |user, seen| {
        item_cf_ranking(&item_cf, Similarity::Swing, user, seen, args.k)
    });

    let mut results = vec![
        ("popularity", popular),
        (als::ALS, als),
        (ann::ALS_ANN, als_ann),
        ("itemcf-cosine", cosine),
        ("itemcf-swing", swing),
    ];
    let reranked = rerank::run(args, &data, &split, &events.1, &model)?;
    if let Some(report) = &reranked {
        results.push((rerank::RERANKED, report.metrics));
    }
    if args.json {
        let mut json = report_json(args, &data, &split, &results, train_secs);
        if let Some(report) = &reranked {
            json["rerank"] = report.to_json();
        }
        println!("{json}");
    } else {
        print!(
            "{}",
            report_table(args, &data, &split, &results, train_secs)
        );
        if let Some(report) = &reranked {
            print!("{}", report.summary());
        }
    }
    Ok(())
}

/// Every event of `--data-dir`, or of the bundled goodbooks data imported into a temporary one.
fn load_events(args: &EvalArgs) -> anyhow::Result<(CascadeConfig, Vec<Event>)> {
    if args.config.data_dir.is_some() {
        let config = args.config.load_existing()?;
        let dir = &config.storage_conf.data_dir;
        let stores = EmbeddedStore::open_stores(dir)
            .with_context(|| format!("opening {}", dir.display()))?;
        let events = read_all(&stores)?;
        return Ok((config, events));
    }
    let config = crate::demo::goodbooks_config()?;
    let dir = tempfile::tempdir().context("creating a temporary data directory")?;
    let stores = EmbeddedStore::open_stores(dir.path())?;
    for (kind, source, mapping) in crate::demo::goodbooks_sources() {
        import::import(kind, Format::Csv, source, &mapping, &config, &stores, false)?;
    }
    let events = read_all(&stores)?;
    Ok((config, events))
}

/// Every event of the log, in log order.
pub(crate) fn read_all(stores: &Stores) -> anyhow::Result<Vec<Event>> {
    let mut events = Vec::new();
    loop {
        let page = stores.events.read_from(events.len() as u64, PAGE)?;
        if page.is_empty() {
            return Ok(events);
        }
        events.extend(page.into_iter().map(|logged| logged.event));
    }
}

/// The interaction events that count, as indexed interactions.
fn dataset((config, events): &(CascadeConfig, Vec<Event>), args: &EvalArgs) -> Dataset {
    let counts = |event: &Event| {
        config.event_conf.is_interaction(&event.event_type)
            && (args.event_types.iter().any(|t| t == "all")
                || args.event_types.contains(&event.event_type))
    };
    let (mut users, mut items) = (IdMap::default(), IdMap::default());
    let interactions = events
        .iter()
        .filter(|event| counts(event))
        .map(|event| Interaction {
            user: users.intern(&event.uid),
            item: items.intern(&event.item_id),
            timestamp: event.timestamp,
        })
        .collect();
    Dataset {
        interactions,
        users,
        items,
    }
}

/// Why no event counted: the types `--event-types` asked for, and the interaction types the
/// events hold, with how many of each.
fn nothing_counted((config, events): &(CascadeConfig, Vec<Event>), args: &EvalArgs) -> String {
    let asked = args.event_types.join(",");
    let mut held: BTreeMap<&str, u64> = BTreeMap::new();
    for event in events {
        if config.event_conf.is_interaction(&event.event_type) {
            *held.entry(event.event_type.as_str()).or_default() += 1;
        }
    }
    if held.is_empty() {
        return format!(
            "no interaction events to evaluate: the data holds {} events, none of an \
             interaction type",
            events.len()
        );
    }
    let listed: Vec<String> = held
        .iter()
        .map(|(kind, count)| format!("{kind} ({count})"))
        .collect();
    let types: Vec<&str> = held.keys().copied().collect();
    format!(
        "no interaction events to evaluate: only events of type {asked} count (--event-types, \
         default rating), and the data holds interaction events of type {}; pass \
         --event-types {} (or all)",
        listed.join(", "),
        types.join(",")
    )
}

/// An item-CF index fed the training interactions (user and item indexes as ids), each
/// user's items in their split order.
fn item_cf_index(split: &Split) -> Arc<ItemCfIndex> {
    let index = Arc::new(ItemCfIndex::new(
        ItemCfConfig::default(),
        EventTypes::default(),
    ));
    for (&user, items) in &split.train {
        for &item in items {
            let event = Event::new("", "rating", &user.to_string(), &item.to_string(), 0);
            index.observe(0, &event);
        }
    }
    index
}

/// The top `k` item-CF candidates for `user`, training items masked.
fn item_cf_ranking(
    index: &Arc<ItemCfIndex>,
    measure: Similarity,
    user: u32,
    seen: &[u32],
    k: usize,
) -> Vec<u32> {
    let recall = ItemCfRecall::new("itemcf", index.clone(), measure);
    let request = RequestContext {
        uid: user.to_string(),
        ..RequestContext::default()
    };
    recall
        .recall(&request, k + seen.len())
        .into_iter()
        .filter_map(|candidate| candidate.item_id.parse::<u32>().ok())
        .filter(|item| seen.binary_search(item).is_err())
        .take(k)
        .collect()
}

/// Each training (user, item) pair once, with weight 1.
fn training_set(split: &Split) -> Vec<als::Interaction> {
    split
        .train
        .iter()
        .flat_map(|(&user, items)| {
            items.iter().map(move |&item| als::Interaction {
                user,
                item,
                weight: 1.0,
            })
        })
        .collect()
}

/// Ranks for every test user (`rank(user, sorted training items)`), the users shared among the
/// available cores, and measures the top `k` against the held-out items.
fn evaluate(
    split: &Split,
    k: usize,
    catalogue: usize,
    rank: impl Fn(u32, &[u32]) -> Vec<u32> + Sync,
) -> Metrics {
    let users: Vec<(&u32, &Vec<u32>)> = split.test.iter().collect();
    let threads = thread::available_parallelism().map_or(1, |n| n.get());
    let share = users.len().div_ceil(threads).max(1);
    let mut total = Evaluation::new(k);
    thread::scope(|scope| {
        let workers: Vec<_> = users
            .chunks(share)
            .map(|chunk| {
                let rank = &rank;
                scope.spawn(move || {
                    let mut evaluation = Evaluation::new(k);
                    for &(&user, relevant) in chunk {
                        let seen = split.train.get(&user).map_or(&[][..], Vec::as_slice);
                        evaluation.add(&rank(user, seen), relevant);
                    }
                    evaluation
                })
            })
            .collect();
        for worker in workers {
            total.merge(worker.join().expect("an evaluation thread panicked"));
        }
    });
    total.finish(catalogue)
}

fn protocol_name(args: &EvalArgs) -> String {
    match args.protocol {
        ProtocolArg::Random => format!(
            "random per-user {:.0}/{:.0} split",
            (1.0 - args.test_fraction) * 100.0,
            args.test_fraction * 100.0
        ),
        ProtocolArg::LeaveLastOut => "leave-last-out split".into(),
    }
}

fn report_table(
    args: &EvalArgs,
    data: &Dataset,
    split: &Split,
    results: &[(&str, Metrics)],
    train_secs: f64,
) -> String {
    let c = args.als_config();
    let mut out = format!(
        "{} (seed {}): {} interactions, {} users, {} items; {} test users, training items masked\n\
         ALS: factors {}, regularization {}, alpha {}, iterations {}, CG steps {}; trained in {:.1} s\n\n",
        protocol_name(args),
        args.seed,
        data.interactions.len(),
        data.users.len(),
        data.items.len(),
        split.test.len(),
        c.factors,
        c.regularization,
        c.alpha,
        c.iterations,
        c.cg_steps,
        train_secs,
    );
    let k = args.k;
    out.push_str(&format!(
        "{:<14} {:>10} {:>10} {:>10}\n",
        "source",
        format!("Recall@{k}"),
        format!("NDCG@{k}"),
        "coverage"
    ));
    for (name, m) in results {
        out.push_str(&format!(
            "{:<14} {:>10.4} {:>10.4} {:>10.4}\n",
            name, m.recall, m.ndcg, m.coverage
        ));
    }
    out
}

fn report_json(
    args: &EvalArgs,
    data: &Dataset,
    split: &Split,
    results: &[(&str, Metrics)],
    train_secs: f64,
) -> serde_json::Value {
    let c = args.als_config();
    let sources: Vec<serde_json::Value> = results
        .iter()
        .map(|(name, m)| {
            serde_json::json!({
                "source": name,
                "recall": m.recall,
                "ndcg": m.ndcg,
                "coverage": m.coverage,
                "users": m.users,
            })
        })
        .collect();
    serde_json::json!({
        "protocol": protocol_name(args),
        "seed": args.seed,
        "k": args.k,
        "interactions": data.interactions.len(),
        "users": data.users.len(),
        "items": data.items.len(),
        "test_users": split.test.len(),
        "als": {
            "factors": c.factors,
            "regularization": c.regularization,
            "alpha": c.alpha,
            "iterations": c.iterations,
            "cg_steps": c.cg_steps,
            "train_seconds": train_secs,
        },
        "results": sources,
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: EvalArgs,
    }

    fn args(argv: &[&str]) -> EvalArgs {
        Cli::parse_from(std::iter::once("eval").chain(argv.iter().copied())).args
    }

    fn event(event_type: &str, uid: &str, item_id: &str) -> Event {
        Event {
            event_id: String::new(),
            event_type: event_type.into(),
            uid: uid.into(),
            item_id: item_id.into(),
            timestamp: 0,
            value: 1.0,
            context: Default::default(),
            text: None,
        }
    }

    #[test]
    fn exposures_and_unlisted_types_do_not_count() {
        let events = vec![
            event("rating", "u", "a"),
            event("impression", "u", "b"),
            event("to_read", "v", "c"),
        ];
        let loaded = (crate::demo::goodbooks_config().unwrap(), events);
        let all = dataset(&loaded, &args(&["--event-types", "all"]));
        assert_eq!((all.interactions.len(), all.items.len()), (2, 2));
        let ratings = dataset(&loaded, &args(&[]));
        assert_eq!((ratings.interactions.len(), ratings.users.len()), (1, 1));
        let listed = dataset(&loaded, &args(&["--event-types", "rating,to_read"]));
        assert_eq!(listed.interactions.len(), 2);
    }

    #[test]
    fn evaluates_every_test_user_with_its_training_items() {
        let split = Split {
            train: [(0, vec![1]), (1, vec![2]), (2, vec![3])].into(),
            test: [(0, vec![2]), (1, vec![1]), (2, vec![1])].into(),
        };
        // ranks the held-out item first for users 0 and 1 only
        let metrics = evaluate(&split, 1, 4, |user, seen| match (user, seen) {
            (0, [1]) => vec![2],
            (1, [2]) => vec![1],
            _ => vec![0],
        });
        assert_eq!(metrics.users, 3);
        assert!((metrics.recall - 2.0 / 3.0).abs() < 1e-9);
        assert!((metrics.coverage - 0.75).abs() < 1e-9);
    }
}
