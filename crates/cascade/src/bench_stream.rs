//! `cascade bench stream`: window features on the stream.
//!
//! 1. Throughput: the five benchmark window features (`windows::BENCH_FEATURES`) on a stream
//!    runtime that reads events already in an embedded log and writes the values to an
//!    embedded feature store, item categories read through the item cache; timed from the
//!    start to the write that covers the last event. The features alone (in memory, no log,
//!    no store) are measured beside it.
//! 2. Freshness: a server with the same features, started in process, is sent events over
//!    HTTP at a steady rate; each request is timed from its acknowledgement (the response) to
//!    the completed feature-store write that covers it. The server's own histogram
//!    (`cascade_feature_freshness_seconds`) is printed beside it.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use cascade_core::config::{CascadeConfig, FeatureStoreConf, WindowFeatureConf};
use cascade_core::{EventTypes, FieldValue, Item};
use cascade_pipeline::ItemCache;
use cascade_server::{App, Server};
use cascade_store::features::open_feature_store;
use cascade_store::{EmbeddedStore, Stores};
use cascade_stream::StreamRuntime;
use cascade_stream::windows::{BENCH_FEATURES, WindowObserver, bench_events, measure_throughput};

/// `cascade bench stream` arguments.
#[derive(clap::Args)]
pub struct StreamBench {
    /// Events in the log for the throughput run.
    #[arg(long, default_value_t = 1_000_000)]
    events: usize,
    /// Throughput rounds, each in a fresh data directory; the median is reported.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Events per second posted in the freshness run.
    #[arg(long, default_value_t = 2000)]
    rate: usize,
    /// Events per request in the freshness run.
    #[arg(long, default_value_t = 20)]
    batch: usize,
    /// Seconds the freshness run posts for.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

/// The items of the benchmark events, with the category the features read.
const ITEMS: usize = 50_000;

/// Runs both measurements.
pub fn run(args: &StreamBench) -> anyhow::Result<()> {
    let confs: Vec<WindowFeatureConf> = serde_json::from_str(BENCH_FEATURES)?;
    let mut rates = Vec::new();
    for _ in 0..args.rounds.max(1) {
        rates.push(stream_throughput(&confs, args.events)?);
    }
    rates.sort_by(f64::total_cmp);
    let rounds: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
    println!(
        "window features on the stream runtime, {} features, embedded log + embedded feature store, \
         {} events/round: median {:.0} events/s (rounds: {})",
        confs.len(),
        args.events,
        rates[rates.len() / 2],
        rounds.join(", ")
    );
    let alone = measure_throughput(args.events);
    println!(
        "the same features alone (in memory, one thread, no log or store): {:.0} events/s",
        alone.events_per_second
    );
    crate::runtime()?.block_on(freshness(args))
}

/// A fresh data directory on the working directory's disk (not a RAM-backed /tmp).
fn data_dir() -> anyhow::Result<tempfile::TempDir> {
    tempfile::tempdir_in(Path::new(".")).context("creating a data directory")
}

/// The items `i0` … with the categories the benchmark events imply.
fn put_items(stores: &Stores) -> anyhow::Result<()> {
    let items: Vec<Item> = (0..ITEMS)
        .map(|i| Item {
            id: format!("i{i}"),
            fields: [(
                "category".to_string(),
                FieldValue::Keyword(format!("c{}", i % 100)),
            )]
            .into(),
            embeddings: Default::default(),
        })
        .collect();
    for chunk in items.chunks(10_000) {
        stores.items.upsert_items(chunk)?;
    }
    Ok(())
}

/// Events/s of a stream runtime applying `events` logged events to the features `confs`.
fn stream_throughput(confs: &[WindowFeatureConf], events: usize) -> anyhow::Result<f64> {
    let dir = data_dir()?;
    let stores = EmbeddedStore::open_stores(dir.path())?;
    put_items(&stores)?;
    for chunk in bench_events(events).chunks(10_000) {
        stores.events.append(chunk.to_vec()).wait_blocking()?;
    }
    let store = open_feature_store(&FeatureStoreConf::default(), dir.path())?;
    let fields = Arc::new(ItemCache::new(stores.items.clone(), ITEMS as u64));
    let observer = Arc::new(WindowObserver::new(
        confs,
        &EventTypes::default(),
        fields,
        store,
        Duration::from_secs(3600),
        stores.events.durable_len(),
    ));
    let mut visible = observer.flushed();
    let started = Instant::now();
    let runtime = StreamRuntime::start_from(stores.events.clone(), vec![observer.clone()], 0);
    let waiter = tokio::runtime::Builder::new_current_thread().build()?;
    waiter.block_on(visible.wait_for(|&position| position >= events as u64))?;
    let seconds = started.elapsed().as_secs_f64();
    drop(runtime);
    Ok(events as f64 / seconds)
}

/// Posts events at a steady rate to an in-process server and reports ack-to-visible latency.
async fn freshness(args: &StreamBench) -> anyhow::Result<()> {
    let dir = data_dir()?;
    let mut config = CascadeConfig::parse(&format!(
        r#"{{"ItemSchema": {{"Fields": {{"category": "keyword"}}}},
            "WindowFeatureConfs": {BENCH_FEATURES}}}"#
    ))?;
    config.storage_conf.data_dir = dir.path().to_owned();
    config.listen_conf.http_port = 0;
    let app = App::open(config)?;
    put_items(&app.stores)?;
    let server = Server::bind(app.clone()).await?;
    let url = format!("http://{}/api/events", server.local_addr()?);
    let serving = tokio::spawn(server.run(std::future::pending()));
    let features = app.features.as_ref().context("the features are declared")?;
    let client = reqwest::Client::new();
    let batch = args.batch.max(1);
    let total = args.rate.max(1) * args.seconds as usize;
    let bodies: Vec<Vec<u8>> = bench_events(total)
        .chunks(batch)
        .map(serde_json::to_vec)
        .collect::<Result<_, _>>()?;
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(batch as f64 / args.rate as f64));
    let mut posts = Vec::with_capacity(bodies.len());
    for body in bodies {
        ticks.tick().await;
        let (client, url, app) = (client.clone(), url.clone(), app.clone());
        posts.push(tokio::spawn(async move {
            let response = client
                .post(&url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await?;
            anyhow::ensure!(
                response.status().is_success(),
                "ingest failed: {}",
                response.status()
            );
            let acknowledged = Instant::now();
            // The log's length now covers this request's events (and perhaps a few later ones).
            let logged = *app.stores.events.durable_len().borrow();
            let features = app.features.as_ref().context("the features are declared")?;
            features.wait_visible(logged).await;
            Ok(acknowledged.elapsed().as_secs_f64() * 1000.0)
        }));
    }
    let mut millis = Vec::with_capacity(posts.len());
    for post in posts {
        millis.push(post.await.context("a posting task")??);
    }
    millis.sort_by(f64::total_cmp);
    let at =
        |q: f64| millis[((millis.len() as f64 * q).ceil() as usize).clamp(1, millis.len()) - 1];
    println!(
        "ack-to-visible, {} events/s for {} s in requests of {batch} over HTTP ({} requests, \
         each from its response to the feature write covering it): p50 {:.2} ms, p99 {:.2} ms, \
         max {:.2} ms",
        args.rate,
        args.seconds,
        millis.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    );
    // The server records a write's samples on a thread of its own, just after the write.
    tokio::time::sleep(Duration::from_millis(500)).await;
    println!("{}", histogram_summary(*features.visible().borrow()));
    serving.abort();
    Ok(())
}

/// The server's `cascade_feature_freshness_seconds`: samples, mean, and the bucket bounds
/// of p50 and p99.
fn histogram_summary(visible: u64) -> String {
    let text = cascade_server::metrics::prometheus().render();
    let metric = "cascade_feature_freshness_seconds";
    let value = |suffix: &str| -> Option<f64> {
        text.lines()
            .find_map(|line| line.strip_prefix(&format!("{metric}_{suffix} ")))
            .and_then(|v| v.trim().parse().ok())
    };
    let buckets: Vec<(f64, f64)> = text
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(&format!("{metric}_bucket{{le=\""))?;
            let (le, count) = rest.split_once("\"} ")?;
            Some((le.parse().ok()?, count.trim().parse().ok()?))
        })
        .collect();
    let (Some(sum), Some(count)) = (value("sum"), value("count")) else {
        return format!("server histogram {metric}: no samples");
    };
    let bound = |q: f64| {
        buckets
            .iter()
            .find(|(_, cumulative)| *cumulative >= q * count)
            .map_or("+Inf".to_string(), |(le, _)| {
                format!("{:.1} ms", le * 1000.0)
            })
    };
    format!(
        "server histogram {metric}: {count} events (log position {visible}), mean {:.2} ms, \
         p50 <= {}, p99 <= {}",
        sum / count.max(1.0) * 1000.0,
        bound(0.5),
        bound(0.99)
    )
}
