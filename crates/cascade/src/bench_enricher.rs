//! `cascade bench enricher`: the text embedding enricher's throughput through its
//! micro-batcher, over the bundled goodbooks books, at each batch size.
//!
//! The books are imported into a fresh data directory; events (a user reading a book, cycling
//! over the first books) are handed to the batcher as the stream runtime hands them, and a
//! round ends when the last one's vector is in the feature store. The producer keeps at most
//! a queue's worth of events in flight, so nothing is shed and the rate measured is the
//! enricher's, not the queue's.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use cascade_core::config::EnricherConf;
use cascade_core::{Event, EventObserver};
use cascade_pipeline::ItemCache;
use cascade_store::features::EmbeddedFeatureStore;
use cascade_store::{EmbeddedStore, FeatureStore};
use cascade_stream::enrich::{EnrichContext, MicroBatcher, start_enricher};
use indicatif::{ProgressBar, ProgressStyle};

use crate::demo::{BOOKS, goodbooks_config};
use crate::import::{self, Format, Kind, MappingArgs, Source};

/// How long the bench waits for a round's last events before it gives up.
const ROUND_LIMIT: Duration = Duration::from_secs(3600);

/// `cascade bench enricher` arguments.
#[derive(clap::Args)]
pub struct EnricherBench {
    /// Events per round (over the first goodbooks books, cycling).
    #[arg(long, default_value_t = 512)]
    events: usize,
    /// How many distinct books the events are spread over.
    #[arg(long, default_value_t = 512)]
    books: usize,
    /// Batch sizes to compare (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,16")]
    batches: Vec<usize>,
    /// MaxWaitMs of the batcher.
    #[arg(long, default_value_t = 5)]
    max_wait_ms: u64,
    /// Rounds per batch size; the median is reported.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
}

/// Runs the benchmark and prints events/s per batch size.
pub fn run(args: &EnricherBench) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.batches.iter().all(|&b| b > 0) && args.rounds > 0 && args.events > 0 && args.books > 0,
        "--events, --books, --batches and --rounds must be positive"
    );
    let config = goodbooks_config()?;
    let dir = tempfile::tempdir().context("a temporary data directory")?;
    let stores = EmbeddedStore::open_stores(dir.path())?;
    let books = MappingArgs {
        map: vec!["id=book_id".into()],
        ..MappingArgs::default()
    };
    let source = Source::from_static("books", BOOKS);
    import::import(
        Kind::Items,
        Format::Csv,
        source,
        &books,
        &config,
        &stores,
        true,
    )?;
    let ids: Vec<String> = (1..=args.books).map(|id| id.to_string()).collect();
    let events: Vec<Event> = (0..args.events)
        .map(|n| {
            let item = &ids[n % ids.len()];
            Event::new(&format!("bench-{n}"), "rating", &format!("u{n}"), item, 0)
        })
        .collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "text_embedding enricher (all-MiniLM-L6-v2, CPU, {threads} threads), 1 worker, \
         MaxWaitMs {}, {} events over {} goodbooks books, median of {} rounds",
        args.max_wait_ms,
        events.len(),
        ids.len(),
        args.rounds
    );
    let mut results = Vec::new();
    for &batch in &args.batches {
        let features: Arc<dyn FeatureStore> = Arc::new(EmbeddedFeatureStore::open(
            &dir.path().join(format!("features-{batch}")),
            0,
        )?);
        let context = EnrichContext {
            store: features,
            items: Arc::new(ItemCache::new(stores.items.clone(), 100_000)),
        };
        let conf: EnricherConf = serde_json::from_value(serde_json::json!({
            "Name": "book_text_vec", "Type": "text_embedding", "Key": "item",
            "BatchSize": batch, "MaxWaitMs": args.max_wait_ms, "TimeoutMs": 600_000,
        }))?;
        let batcher = start_enricher(&conf, &config, &context)?;
        let progress = progress(batch, args.rounds * events.len());
        let mut rates = Vec::new();
        for _ in 0..args.rounds {
            rates.push(round(&batcher, &events, &progress)?);
        }
        progress.finish_and_clear();
        let counts = batcher.counts();
        anyhow::ensure!(
            counts.errors == 0 && counts.timeouts == 0 && counts.shed == 0,
            "batch {batch}: the enricher failed or shed events: {counts:?}"
        );
        rates.sort_by(f64::total_cmp);
        let mean_batch = counts.events as f64 / counts.batches.max(1) as f64;
        results.push((batch, rates[rates.len() / 2], mean_batch));
    }
    println!("{:>6} {:>10} {:>12}", "batch", "events/s", "mean batch");
    for (batch, rate, mean_batch) in results {
        println!("{batch:>6} {rate:>10.1} {mean_batch:>12.1}");
    }
    Ok(())
}

/// Hands every event to `batcher`, at most a queue's worth in flight; events/s until the
/// last one is written.
fn round(batcher: &MicroBatcher, events: &[Event], progress: &ProgressBar) -> anyhow::Result<f64> {
    let before = batcher.counts().completed;
    let in_flight = batcher.queue_capacity() as u64;
    let started = Instant::now();
    for (n, event) in events.iter().enumerate() {
        let sent = n as u64;
        if sent >= in_flight {
            anyhow::ensure!(
                batcher.wait_completed(before + sent - in_flight + 1, ROUND_LIMIT),
                "the enricher stopped making progress"
            );
        }
        batcher.observe(before + sent, event);
        progress.set_position(progress.position() + 1);
    }
    anyhow::ensure!(
        batcher.wait_completed(before + events.len() as u64, ROUND_LIMIT),
        "the enricher stopped making progress"
    );
    Ok(events.len() as f64 / started.elapsed().as_secs_f64())
}

fn progress(batch: usize, total: usize) -> ProgressBar {
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} events ({per_sec}, {eta})")
            .expect("a valid progress template")
            .progress_chars("=> "),
    );
    bar.set_message(format!("batch {batch}"));
    bar
}
