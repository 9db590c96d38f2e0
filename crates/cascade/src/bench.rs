//! `cascade bench`: ingestion throughput (store alone and through HTTP), item writes, ANN recall and speed,
//! the latency of a configured scene, and the text encoder's throughput.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use cascade_core::Event;
use cascade_core::config::CascadeConfig;
use cascade_server::{App, Server};
use cascade_store::{EmbeddedStore, EventLog};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The benchmarks.
#[derive(clap::Subcommand)]
pub enum BenchCommand {
    /// Appends events straight into the embedded store, durably, from concurrent writers.
    Store(StoreBench),
    /// Posts event batches to a server over HTTP (one started in process on loopback unless --url).
    Ingest(IngestBench),
    /// PUTs items from concurrent writers to a server started in process on loopback; reports
    /// PUTs/s and how soon a write is searchable.
    Items(crate::bench_items::ItemsBench),
    /// Builds an HNSW index over synthetic vectors; reports recall@10 and queries/s per ef.
    Ann(crate::bench_ann::AnnBench),
    /// Runs a configured scene in process over a synthetic catalogue; reports p50/p99 latency.
    Pipeline(crate::bench_pipeline::PipelineBench),
    /// Encodes book texts with the built-in text encoder; reports texts/s per batch size.
    Encoder(crate::bench_encoder::EncoderBench),
    /// Window features on the stream: events/s with five features, and ack-to-visible latency.
    Stream(crate::bench_stream::StreamBench),
    /// The text embedding enricher through its micro-batcher: events/s per batch size.
    Enricher(crate::bench_enricher::EnricherBench),
    /// Drives a running server on loopback with recommend, search and event requests.
    Http(crate::bench_http::HttpBench),
    /// Times `cascade serve` from start to /ready over a data directory; reports its memory.
    Startup(crate::bench_http::StartupBench),
}

/// `cascade bench store` arguments.
#[derive(clap::Args)]
pub struct StoreBench {
    /// Events per round.
    #[arg(long, default_value_t = 1_000_000)]
    events: usize,
    /// Events per append.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Concurrent writers.
    #[arg(long, default_value_t = 4)]
    writers: usize,
    /// Rounds, each in a fresh data directory; the median is reported.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
}

/// `cascade bench ingest` arguments.
#[derive(clap::Args)]
pub struct IngestBench {
    /// Events per round.
    #[arg(long, default_value_t = 500_000)]
    events: usize,
    /// Events per HTTP request.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Concurrent HTTP clients.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Rounds; the median is reported.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// A running server's base URL (loopback only); by default one is started in process.
    #[arg(long)]
    url: Option<String>,
}

/// Runs a benchmark.
pub fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Store(args) => bench_store(&args),
        BenchCommand::Ingest(args) => crate::runtime()?.block_on(bench_ingest(&args)),
        BenchCommand::Items(args) => crate::runtime()?.block_on(crate::bench_items::run(&args)),
        BenchCommand::Ann(args) => crate::bench_ann::run(&args),
        BenchCommand::Pipeline(args) => {
            crate::runtime()?.block_on(crate::bench_pipeline::run(&args))
        }
        BenchCommand::Encoder(args) => crate::bench_encoder::run(&args),
        BenchCommand::Stream(args) => crate::bench_stream::run(&args),
        BenchCommand::Enricher(args) => crate::bench_enricher::run(&args),
        BenchCommand::Http(args) => crate::runtime()?.block_on(crate::bench_http::run(&args)),
        BenchCommand::Startup(args) => crate::bench_http::startup_run(&args),
    }
}

/// Synthetic events: uniform over 100k users and 1M items, unique ids.
fn events(prefix: &str, count: usize, seed: u64) -> Vec<Event> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..count)
        .map(|i| Event {
            event_id: format!("{prefix}-{i}"),
            event_type: "click".into(),
            uid: format!("u{}", rng.random_range(0..100_000)),
            item_id: format!("i{}", rng.random_range(0..1_000_000)),
            timestamp: 1_700_000_000_000 + i as i64,
            value: 1.0,
            context: Default::default(),
            text: None,
        })
        .collect()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn report(what: &str, rates: Vec<f64>) {
    let rounds: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
    println!(
        "{what}: median {:.0} events/s (rounds: {})",
        median(rates),
        rounds.join(", ")
    );
}

fn bench_store(args: &StoreBench) -> anyhow::Result<()> {
    let mut rates = Vec::new();
    for round in 0..args.rounds.max(1) {
        let dir = tempfile::tempdir_in(bench_dir())?;
        let store = Arc::new(EmbeddedStore::open(dir.path())?);
        let per_writer = args.events / args.writers.max(1);
        let batches: Vec<Vec<Vec<Event>>> = (0..args.writers.max(1))
            .map(|w| {
                events(&format!("r{round}w{w}"), per_writer, w as u64)
                    .chunks(args.batch.max(1))
                    .map(<[Event]>::to_vec)
                    .collect()
            })
            .collect();
        let started = Instant::now();
        let threads: Vec<_> = batches
            .into_iter()
            .map(|writer_batches| {
                let store = store.clone();
                std::thread::spawn(move || -> anyhow::Result<()> {
                    for batch in writer_batches {
                        store.append(batch).wait_blocking()?;
                    }
                    Ok(())
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("writer thread")?;
        }
        let seconds = started.elapsed().as_secs_f64();
        let stored = *store.durable_len().borrow();
        rates.push(stored as f64 / seconds);
    }
    report(
        &format!(
            "store append, {} events/round, batch {}, {} writers, durable commits",
            args.events, args.batch, args.writers
        ),
        rates,
    );
    Ok(())
}

/// Where benchmark data directories go: the working directory's disk, not a RAM-backed /tmp.
fn bench_dir() -> &'static Path {
    Path::new(".")
}

async fn bench_ingest(args: &IngestBench) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let mut rates = Vec::new();
    for round in 0..args.rounds.max(1) {
        let dir = tempfile::tempdir_in(bench_dir())?;
        let (base, server) = match &args.url {
            Some(url) => (url.trim_end_matches('/').to_string(), None),
            None => {
                let mut config = CascadeConfig::default();
                config.storage_conf.data_dir = dir.path().to_owned();
                config.listen_conf.http_port = 0;
                let server = Server::bind(App::open(config)?).await?;
                let base = format!("http://{}", server.local_addr()?);
                (base, Some(tokio::spawn(server.run(std::future::pending()))))
            }
        };
        let bodies: Vec<Vec<u8>> = events(
            &format!("ingest-{round}-{}", cascade_core::time::now_ms()),
            args.events,
            round as u64,
        )
        .chunks(args.batch.max(1))
        .map(|chunk| serde_json::to_vec(chunk).expect("events serialize"))
        .collect();
        let queue = Arc::new(std::sync::Mutex::new(bodies));
        let started = Instant::now();
        let mut clients = Vec::new();
        for _ in 0..args.concurrency.max(1) {
            let (client, queue, url) =
                (client.clone(), queue.clone(), format!("{base}/api/events"));
            clients.push(tokio::spawn(async move {
                let mut accepted = 0u64;
                loop {
                    let Some(body) = queue.lock().expect("queue lock").pop() else {
                        break;
                    };
                    let response = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await?;
                    let status = response.status();
                    let answer: serde_json::Value = response.json().await?;
                    anyhow::ensure!(status.is_success(), "ingest failed: {status} {answer}");
                    accepted += answer["accepted"].as_u64().unwrap_or(0);
                }
                Ok::<u64, anyhow::Error>(accepted)
            }));
        }
        let mut accepted = 0;
        for client in clients {
            accepted += client.await.context("client task")??;
        }
        rates.push(accepted as f64 / started.elapsed().as_secs_f64());
        if let Some(server) = server {
            server.abort();
        }
    }
    report(
        &format!(
            "HTTP ingest, {} events/round, {} events/request, {} clients",
            args.events, args.batch, args.concurrency
        ),
        rates,
    );
    Ok(())
}
