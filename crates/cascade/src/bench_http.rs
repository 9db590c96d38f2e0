//! `cascade bench http`: drives a running server on loopback with a mix of recommend, search
//! and event requests (open loop at fixed rates, or closed loop), then reports per endpoint
//! throughput, latency percentiles and errors, the server's own per-stage timings (from its
//! `/metrics`, scraped before and after) and its resident memory. `--find-max-rate` steps the
//! recommend rate up to the highest one whose p99 stays under a limit.

mod load;
mod prom;
mod startup;
mod workload;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use load::{Endpoint, Outcome, Plan, drive};
use prom::Scrape;
pub use startup::{StartupBench, run as startup_run};
use workload::{Workload, loopback_base};

/// `cascade bench http` arguments.
#[derive(clap::Args)]
pub struct HttpBench {
    /// The server's base URL; loopback hosts only.
    #[arg(long)]
    pub url: String,
    /// Recommend requests per second (open loop).
    #[arg(long, default_value_t = 200.0)]
    pub recommend_rate: f64,
    /// Search requests per second (open loop).
    #[arg(long, default_value_t = 0.0)]
    pub search_rate: f64,
    /// Events per second, posted in batches of --event-batch (open loop).
    #[arg(long, default_value_t = 2000.0)]
    pub event_rate: f64,
    /// Events per `/api/events` request.
    #[arg(long, default_value_t = 20)]
    pub event_batch: usize,
    /// Closed loop: --concurrency clients, each sending when its last request answered; the
    /// rates become the mix's weights.
    #[arg(long)]
    pub closed_loop: bool,
    /// Closed-loop clients.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Measured time (`60s`, `500ms`, `2m`).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub duration: Duration,
    /// At most this many measured requests in all.
    #[arg(long)]
    pub requests: Option<u64>,
    /// Unmeasured time before (each step of) the run.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Reads user and item ids from users.ndjson and items.ndjson here (gen-data --out-dir).
    #[arg(long)]
    pub ndjson_dir: Option<PathBuf>,
    /// Without --ndjson-dir: users `u0..N` (gen-data's id scheme).
    #[arg(long, default_value_t = 100_000)]
    pub users: usize,
    /// Without --ndjson-dir: items `i0..N`.
    #[arg(long, default_value_t = 1_000_000)]
    pub items: usize,
    /// The scene recommended.
    #[arg(long, default_value = "home")]
    pub scene: String,
    /// Items per recommendation and search.
    #[arg(long, default_value_t = 10)]
    pub size: usize,
    /// The gen-data seed: posted events are stamped from its epoch on, so that the server's
    /// event-time windows keep the generated data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// The server's process id, for its resident memory (/proc/PID/status).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Steps the recommend rate up (doubling from --recommend-rate, then bisecting), events
    /// at their fixed rate; reports the highest rate whose p99 stays under --p99-limit-ms.
    #[arg(long)]
    pub find_max_rate: bool,
    /// The p99 limit of --find-max-rate, in milliseconds.
    #[arg(long, default_value_t = 50.0)]
    pub p99_limit_ms: f64,
    /// Measured time of each --find-max-rate step.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub step_duration: Duration,
    /// The highest rate --find-max-rate tries.
    #[arg(long, default_value_t = 20_000.0)]
    pub max_rate: f64,
    /// Bisection steps of --find-max-rate after the doubling.
    #[arg(long, default_value_t = 3)]
    pub bisect_steps: usize,
    /// Also writes the report here as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// Parses `60s`, `500ms`, `2m` or a plain number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60.0)
    } else {
        (text, 1.0)
    };
    match number.trim().parse::<f64>() {
        Ok(value) if value.is_finite() && value >= 0.0 => {
            Ok(Duration::from_secs_f64(value * scale))
        }
        _ => Err(format!("`{text}` is not a duration like 60s, 500ms or 2m")),
    }
}

/// Runs `cascade bench http`.
pub async fn run(args: &HttpBench) -> anyhow::Result<()> {
    let base = loopback_base(&args.url)?;
    if args.duration.is_zero() && args.requests.is_none() {
        bail!("give a --duration above zero or --requests");
    }
    let workload = match &args.ndjson_dir {
        Some(dir) => Workload::from_ndjson(dir)?,
        None => Workload::from_ranges(args.users, args.items)?,
    };
    let workload = Arc::new(workload.with(
        &args.scene,
        args.size,
        args.event_batch,
        crate::gen_data::epoch_for(args.seed),
    ));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .context("building the HTTP client")?;
    let ready = client
        .get(format!("{base}/ready"))
        .send()
        .await
        .with_context(|| format!("no server answers at {base}"))?;
    if !ready.status().is_success() {
        bail!(
            "{base}/ready answered {}: the server is not ready",
            ready.status()
        );
    }
    let before = scrape(&client, &base).await?;
    let rss_before = resident_bytes(args.server_pid, &before);
    let mut report = if args.find_max_rate {
        find_max_rate(args, &client, &base, &workload).await
    } else {
        let plan = plan(args, args.recommend_rate, args.warmup, args.duration);
        let outcome = drive(&client, &base, workload.clone(), &plan).await;
        print_endpoints(&outcome);
        json!({"plan": plan_json(args, &plan), "endpoints": endpoints_json(&outcome)})
    };
    let after = scrape(&client, &base).await?;
    let rss_after = resident_bytes(args.server_pid, &after);
    report["server"] = server_report(&before, &after, rss_before, rss_after);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn plan(args: &HttpBench, recommend_rate: f64, warmup: Duration, duration: Duration) -> Plan {
    let duration = if duration.is_zero() {
        Duration::from_secs(24 * 3600)
    } else {
        duration
    };
    Plan {
        rates: [
            recommend_rate,
            args.search_rate,
            args.event_rate / args.event_batch.max(1) as f64,
        ],
        closed_loop: args.closed_loop.then_some(args.concurrency),
        warmup,
        duration,
        max_requests: args.requests,
        seed: args.seed,
    }
}

fn plan_json(args: &HttpBench, plan: &Plan) -> Value {
    json!({
        "mode": if plan.closed_loop.is_some() { "closed loop" } else { "open loop" },
        "concurrency": plan.closed_loop,
        "recommend_rate": plan.rates[0],
        "search_rate": plan.rates[1],
        "event_rate": args.event_rate,
        "event_batch": args.event_batch,
        "warmup_s": plan.warmup.as_secs_f64(),
        "duration_s": plan.duration.as_secs_f64(),
        "max_requests": plan.max_requests,
        "scene": args.scene,
    })
}

fn endpoints_json(outcome: &Outcome) -> Value {
    let mut out = serde_json::Map::new();
    for (endpoint, recorder) in Endpoint::ALL.iter().zip(&outcome.recorders) {
        let requests = recorder.ok() + recorder.failed();
        if requests == 0 {
            continue;
        }
        let mut entry = json!({
            "requests": requests,
            "ok": recorder.ok(),
            "throughput_per_s": recorder.ok() as f64 / outcome.seconds.max(1e-9),
            "p50_ms": recorder.quantile_ms(0.5),
            "p90_ms": recorder.quantile_ms(0.9),
            "p99_ms": recorder.quantile_ms(0.99),
            "p999_ms": recorder.quantile_ms(0.999),
            "max_ms": recorder.quantile_ms(1.0),
            "errors": recorder.errors,
        });
        if *endpoint == Endpoint::Recommend {
            entry["degraded"] = recorder.degraded.into();
            entry["empty"] = recorder.empty.into();
        }
        out.insert(endpoint.name().to_string(), entry);
    }
    Value::Object(out)
}

fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "-".into(), |v| format!("{v:.2}"))
}

fn print_endpoints(outcome: &Outcome) {
    println!(
        "{:<10} {:>9} {:>10} {:>8} {:>8} {:>8} {:>8} {:>8}  errors",
        "endpoint", "requests", "ok/s", "p50 ms", "p90 ms", "p99 ms", "p999 ms", "max ms"
    );
    for (endpoint, recorder) in Endpoint::ALL.iter().zip(&outcome.recorders) {
        let requests = recorder.ok() + recorder.failed();
        if requests == 0 {
            continue;
        }
        let mut errors: Vec<String> = recorder
            .errors
            .iter()
            .map(|(kind, n)| format!("{kind}: {n}"))
            .collect();
        if *endpoint == Endpoint::Recommend {
            errors.push(format!("degraded: {}", recorder.degraded));
            errors.push(format!("empty: {}", recorder.empty));
        }
        println!(
            "{:<10} {:>9} {:>10.1} {:>8} {:>8} {:>8} {:>8} {:>8}  {}",
            endpoint.name(),
            requests,
            recorder.ok() as f64 / outcome.seconds.max(1e-9),
            ms(recorder.quantile_ms(0.5)),
            ms(recorder.quantile_ms(0.9)),
            ms(recorder.quantile_ms(0.99)),
            ms(recorder.quantile_ms(0.999)),
            ms(recorder.quantile_ms(1.0)),
            if errors.is_empty() {
                "none".into()
            } else {
                errors.join(", ")
            }
        );
    }
}

/// Doubles the recommend rate until a step misses the limit (p99 at or over it, or any
/// error), then bisects between the last rate that held and the first that did not.
async fn find_max_rate(
    args: &HttpBench,
    client: &reqwest::Client,
    base: &str,
    workload: &Arc<Workload>,
) -> Value {
    println!(
        "finding the highest recommend rate with p99 < {} ms (events at {}/s)",
        args.p99_limit_ms, args.event_rate
    );
    let mut steps = Vec::new();
    let (mut good, mut bad): (Option<f64>, Option<f64>) = (None, None);
    let mut rate = args.recommend_rate.max(1.0);
    loop {
        if try_rate(args, client, base, workload, rate, &mut steps).await {
            good = Some(rate);
            if rate * 2.0 > args.max_rate {
                break;
            }
            rate *= 2.0;
        } else {
            bad = Some(rate);
            break;
        }
    }
    if let (Some(mut g), Some(mut b)) = (good, bad) {
        for _ in 0..args.bisect_steps {
            let middle = ((g + b) / 2.0).round();
            if middle <= g || middle >= b {
                break;
            }
            if try_rate(args, client, base, workload, middle, &mut steps).await {
                g = middle;
            } else {
                b = middle;
            }
        }
        (good, bad) = (Some(g), Some(b));
    }
    match good {
        Some(g) => println!(
            "highest recommend rate with p99 < {} ms: {g:.0}/s",
            args.p99_limit_ms
        ),
        None => println!("no rate tried kept p99 under {} ms", args.p99_limit_ms),
    }
    json!({"find_max_rate": {"p99_limit_ms": args.p99_limit_ms, "max_rate": good,
        "first_missing_rate": bad, "steps": steps}})
}

/// One step of `--find-max-rate`: whether `rate` held the limit without errors.
async fn try_rate(
    args: &HttpBench,
    client: &reqwest::Client,
    base: &str,
    workload: &Arc<Workload>,
    rate: f64,
    steps: &mut Vec<Value>,
) -> bool {
    let plan = plan(args, rate, args.warmup, args.step_duration);
    let outcome = drive(client, base, workload.clone(), &plan).await;
    let recommend = &outcome.recorders[Endpoint::Recommend as usize];
    let p99 = recommend.quantile_ms(0.99);
    let failed: u64 = outcome.recorders.iter().map(load::Recorder::failed).sum();
    let held = failed == 0 && p99.is_some_and(|p| p < args.p99_limit_ms);
    println!(
        "  rate {rate:>8.0}/s: p99 {} ms, {:.1} ok/s, {failed} errors: {}",
        ms(p99),
        recommend.ok() as f64 / outcome.seconds.max(1e-9),
        if held { "holds" } else { "misses" }
    );
    steps.push(json!({"rate": rate, "p99_ms": p99, "errors": failed,
        "endpoints": endpoints_json(&outcome)}));
    held
}

async fn scrape(client: &reqwest::Client, base: &str) -> anyhow::Result<Scrape> {
    let response = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .with_context(|| format!("scraping {base}/metrics"))?;
    if !response.status().is_success() {
        bail!("{base}/metrics answered {}", response.status());
    }
    Ok(Scrape::parse(&response.text().await?))
}

/// The server's resident memory: /proc/PID/status `VmRSS` when the pid is known, else its
/// `process_resident_memory_bytes` metric if it exports one.
fn resident_bytes(pid: Option<u32>, scrape: &Scrape) -> Option<u64> {
    match pid {
        Some(pid) => startup::vm_rss(pid),
        None => scrape
            .value("process_resident_memory_bytes")
            .map(|b| b as u64),
    }
}

/// The server's view: recommend duration and per-stage timings over the run, and memory.
fn server_report(
    before: &Scrape,
    after: &Scrape,
    rss_before: Option<u64>,
    rss_after: Option<u64>,
) -> Value {
    let summarise = |name: &str| -> Vec<(String, f64, Option<f64>, Option<f64>)> {
        let old = before.histograms(name);
        after
            .histograms(name)
            .iter()
            .map(|(labels, buckets)| {
                let run = prom::diff(old.get(labels), buckets);
                let to_ms = |q| prom::quantile(&run, q).map(|s| s * 1e3);
                (labels.clone(), prom::count(&run), to_ms(0.5), to_ms(0.99))
            })
            .filter(|(_, count, _, _)| *count > 0.0)
            .collect()
    };
    let recommend = summarise("cascade_recommend_duration_seconds");
    let stages = summarise("cascade_stage_duration_seconds");
    println!("server side (from /metrics buckets; p50/p99 interpolated within buckets):");
    println!(
        "  {:<40} {:>9} {:>9} {:>9}",
        "what", "count", "p50 ms", "p99 ms"
    );
    for (label, count, p50, p99) in recommend.iter().chain(&stages) {
        let name = if label.is_empty() {
            "recommend (handler)".to_string()
        } else {
            label
                .trim_start_matches("stage=")
                .trim_matches('"')
                .to_string()
        };
        println!("  {name:<40} {count:>9.0} {:>9} {:>9}", ms(*p50), ms(*p99));
    }
    let mib = |b: Option<u64>| {
        b.map_or_else(
            || "unknown".into(),
            |b| format!("{:.0} MiB", b as f64 / 1048576.0),
        )
    };
    println!(
        "  resident memory: before {}, after {}",
        mib(rss_before),
        mib(rss_after)
    );
    let entry = |(label, count, p50, p99): &(String, f64, Option<f64>, Option<f64>)| {
        (
            label.clone(),
            json!({"count": count, "p50_ms": p50, "p99_ms": p99}),
        )
    };
    json!({
        "recommend_duration": recommend.first().map(|r| entry(r).1),
        "stages": stages.iter().map(entry).collect::<serde_json::Map<_, _>>(),
        "rss_before_bytes": rss_before,
        "rss_after_bytes": rss_after,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1s").is_err());
    }
}
