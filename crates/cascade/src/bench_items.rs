//! `cascade bench items`: item writes over HTTP. Concurrent writers PUT items with a text field
//! to a server started in process on loopback (fresh data directory, default `SearchConf`), as
//! fast as the answers come; reports PUTs/s and their latency. Beside them, a probe writes an
//! item with a word of its own every half second and polls search until it finds it: how long
//! after its acknowledgement a write becomes searchable.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use cascade_core::config::CascadeConfig;
use cascade_server::{App, Server};
use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// `cascade bench items` arguments.
#[derive(clap::Args)]
pub struct ItemsBench {
    /// Concurrent writers, each waiting for its answer before its next PUT.
    #[arg(long, default_value_t = 20)]
    writers: usize,
    /// How long the writers write.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Item ids are drawn uniformly from this many.
    #[arg(long, default_value_t = 100_000)]
    ids: usize,
}

/// The probe's period.
const PROBE_EVERY: Duration = Duration::from_millis(500);

/// Runs the benchmark.
pub async fn run(args: &ItemsBench) -> anyhow::Result<()> {
    let dir = tempfile::tempdir_in(".")?;
    let mut config = CascadeConfig::parse(
        r#"{"ItemSchema": {"Fields": {"title": "text", "year": "numeric"}}}"#,
    )?;
    config.storage_conf.data_dir = dir.path().to_owned();
    config.listen_conf.http_port = 0;
    let refresh_ms = config.search_conf.refresh_ms;
    let server = Server::bind(App::open(config)?).await?;
    let base = format!("http://{}", server.local_addr()?);
    let server = tokio::spawn(server.run(std::future::pending()));
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let writers: Vec<_> = (0..args.writers.max(1))
        .map(|w| {
            let (client, base, ids) = (client.clone(), base.clone(), args.ids.max(1));
            tokio::spawn(async move { write(&client, &base, w as u64, ids, deadline).await })
        })
        .collect();
    let done = Arc::new(AtomicBool::new(false));
    let probe = {
        let (client, base, done) = (client.clone(), base.clone(), done.clone());
        tokio::spawn(async move { probe(&client, &base, &done).await })
    };
    let mut latency = histogram();
    for writer in writers {
        latency.add(writer.await.context("writer task")??)?;
    }
    let seconds = started.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let visible = probe.await.context("probe task")??;
    server.abort();
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1e3;
    println!(
        "item PUTs, {} writers, {:.1} s, SearchConf.RefreshMs {refresh_ms}: {:.0} PUTs/s \
         ({} PUTs), latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        args.writers,
        seconds,
        latency.len() as f64 / seconds,
        latency.len(),
        ms(&latency, 0.5),
        ms(&latency, 0.99),
        ms(&latency, 1.0),
    );
    if visible.is_empty() {
        println!("searchable after the PUT answered: no probe finished");
    } else {
        println!(
            "searchable after the PUT answered: p50 {:.0} ms, max {:.0} ms ({} probes)",
            ms(&visible, 0.5),
            ms(&visible, 1.0),
            visible.len()
        );
    }
    Ok(())
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

async fn put(
    client: &reqwest::Client,
    base: &str,
    id: &str,
    title: &str,
    year: u32,
) -> anyhow::Result<()> {
    let body = serde_json::json!({"fields": {"title": title, "year": year}});
    let response = client
        .put(format!("{base}/api/items/{id}"))
        .json(&body)
        .send()
        .await?;
    let status = response.status();
    anyhow::ensure!(
        status.is_success(),
        "PUT {id}: {status} {}",
        response.text().await?
    );
    Ok(())
}

/// PUTs until `deadline`; the latencies in microseconds.
async fn write(
    client: &reqwest::Client,
    base: &str,
    writer: u64,
    ids: usize,
    deadline: Instant,
) -> anyhow::Result<Histogram<u64>> {
    let mut rng = StdRng::seed_from_u64(writer);
    let mut latency = histogram();
    let mut n = 0u64;
    while Instant::now() < deadline {
        let id = format!("i{}", rng.random_range(0..ids));
        let title = format!("book {id} edition w{writer}n{n}");
        let sent = Instant::now();
        put(client, base, &id, &title, 1900 + (n % 120) as u32).await?;
        latency.record(sent.elapsed().as_micros().max(1) as u64)?;
        n += 1;
    }
    Ok(latency)
}

/// Every [`PROBE_EVERY`] until `done`: PUTs an item with a word of its own and polls search
/// until it is found; how long after the PUT answered, in microseconds.
async fn probe(
    client: &reqwest::Client,
    base: &str,
    done: &AtomicBool,
) -> anyhow::Result<Histogram<u64>> {
    let mut visible = histogram();
    for k in 0u64.. {
        tokio::time::sleep(PROBE_EVERY).await;
        if done.load(Ordering::Relaxed) {
            break;
        }
        let word = format!("probe{k}x");
        put(client, base, &format!("probe{k}"), &word, 2000).await?;
        let answered = Instant::now();
        loop {
            let found: serde_json::Value = client
                .post(format!("{base}/api/search"))
                .json(&serde_json::json!({"query": word, "size": 1}))
                .send()
                .await?
                .json()
                .await?;
            if found["items"]
                .as_array()
                .is_some_and(|items| !items.is_empty())
            {
                break;
            }
            anyhow::ensure!(
                answered.elapsed() < Duration::from_secs(60),
                "probe {k} never searchable"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        visible.record(answered.elapsed().as_micros().max(1) as u64)?;
    }
    Ok(visible)
}
