//! `cascade bench http`: drives a running server on loopback with a mix of recommend, search
//! and event requests (open loop at fixed rates, or closed loop), then reports per endpoint
//! throughput, latency percentiles, how late the client sent and errors, the server's own
//! per-stage timings (from its `/metrics`, scraped before and after) and its resident memory.
//! `--find-max-rate` steps the recommend rate up to the highest one whose p99 stays under a
//! limit, each rate judged by the majority of repeated steps.

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
    /// Steps per rate of --find-max-rate (odd): a rate holds when most of them hold, so one
    /// slow step does not end the search. Steps stop once the majority is decided.
    #[arg(long, default_value_t = 3, value_parser = parse_step_repeats)]
    pub step_repeats: usize,
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

/// Parses `--step-repeats`: an odd count, so that a majority always decides.
fn parse_step_repeats(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if n % 2 == 1 => Ok(n),
        _ => Err(format!(
            "`{text}` is not an odd count of steps like 1, 3 or 5"
        )),
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
            "send_late_p50_ms": recorder.lateness_quantile_ms(0.5),
            "send_late_p99_ms": recorder.lateness_quantile_ms(0.99),
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
        "{:<10} {:>9} {:>10} {:>8} {:>8} {:>8} {:>8} {:>8} {:>10} {:>10}  errors",
        "endpoint",
        "requests",
        "ok/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "p999 ms",
        "max ms",
        "late p50",
        "late p99"
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
            "{:<10} {:>9} {:>10.1} {:>8} {:>8} {:>8} {:>8} {:>8} {:>10} {:>10}  {}",
            endpoint.name(),
            requests,
            recorder.ok() as f64 / outcome.seconds.max(1e-9),
            ms(recorder.quantile_ms(0.5)),
            ms(recorder.quantile_ms(0.9)),
            ms(recorder.quantile_ms(0.99)),
            ms(recorder.quantile_ms(0.999)),
            ms(recorder.quantile_ms(1.0)),
            ms(recorder.lateness_quantile_ms(0.5)),
            ms(recorder.lateness_quantile_ms(0.99)),
            if errors.is_empty() {
                "none".into()
            } else {
                errors.join(", ")
            }
        );
    }
}

/// Searches for the highest recommend rate whose steps keep p99 under the limit without
/// errors (see [`search_max_rate`]), printing each step, and reports them all.
async fn find_max_rate(
    args: &HttpBench,
    client: &reqwest::Client,
    base: &str,
    workload: &Arc<Workload>,
) -> Value {
    println!(
        "finding the highest recommend rate with p99 < {} ms (events at {}/s, most of {} steps per rate)",
        args.p99_limit_ms, args.event_rate, args.step_repeats
    );
    let mut steps = Vec::new();
    let step = async |rate: f64| step_holds(args, client, base, workload, rate, &mut steps).await;
    let (good, bad) = search_max_rate(
        args.recommend_rate.max(1.0),
        args.max_rate,
        args.bisect_steps,
        args.step_repeats,
        step,
    )
    .await;
    match good {
        Some(g) => println!(
            "highest recommend rate with p99 < {} ms: {g:.0}/s",
            args.p99_limit_ms
        ),
        None => println!("no rate tried kept p99 under {} ms", args.p99_limit_ms),
    }
    json!({"find_max_rate": {"p99_limit_ms": args.p99_limit_ms, "step_repeats": args.step_repeats,
        "max_rate": good, "first_missing_rate": bad, "steps": steps}})
}

/// Doubles the rate from `start` until one misses, then bisects `bisect_steps` times between
/// the last rate that held and the first that missed; returns both (`None` where no rate
/// held, or none missed below `max_rate`). A rate holds when most of `repeats` calls of
/// `step` at that rate hold; the calls stop once the majority is decided.
async fn search_max_rate(
    start: f64,
    max_rate: f64,
    bisect_steps: usize,
    repeats: usize,
    mut step: impl AsyncFnMut(f64) -> bool,
) -> (Option<f64>, Option<f64>) {
    let mut holds = async |rate: f64| {
        let (mut held, mut missed) = (0, 0);
        while held * 2 <= repeats && missed * 2 <= repeats {
            if step(rate).await {
                held += 1;
            } else {
                missed += 1;
            }
        }
        held > missed
    };
    let (mut good, mut bad) = (None, None);
    let mut rate = start;
    loop {
        if !holds(rate).await {
            bad = Some(rate);
            break;
        }
        good = Some(rate);
        if rate * 2.0 > max_rate {
            break;
        }
        rate *= 2.0;
    }
    if let (Some(mut g), Some(mut b)) = (good, bad) {
        for _ in 0..bisect_steps {
            let middle = ((g + b) / 2.0).round();
            if middle <= g || middle >= b {
                break;
            }
            if holds(middle).await {
                g = middle;
            } else {
                b = middle;
            }
        }
        (good, bad) = (Some(g), Some(b));
    }
    (good, bad)
}

/// One step of `--find-max-rate`: whether `rate` held the limit without errors.
async fn step_holds(
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

    #[test]
    fn step_repeats_must_be_odd() {
        assert_eq!(parse_step_repeats("3"), Ok(3));
        assert_eq!(parse_step_repeats("1"), Ok(1));
        assert!(parse_step_repeats("2").is_err());
        assert!(parse_step_repeats("0").is_err());
        assert!(parse_step_repeats("three").is_err());
    }

    /// Runs the search against `outcomes`: the step results per rate, in order, each rate's
    /// list consumed as the search asks; returns the result and every step taken.
    fn search(
        repeats: usize,
        outcomes: &[(f64, &[bool])],
    ) -> ((Option<f64>, Option<f64>), Vec<f64>) {
        let mut left: Vec<(f64, Vec<bool>)> = outcomes
            .iter()
            .map(|(rate, held)| (*rate, held.to_vec()))
            .collect();
        let mut taken = Vec::new();
        let step = async |rate: f64| {
            taken.push(rate);
            let (_, held) = left
                .iter_mut()
                .find(|(r, _)| *r == rate)
                .unwrap_or_else(|| panic!("no outcome for rate {rate}"));
            held.remove(0)
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        let result = runtime.block_on(search_max_rate(10.0, 1000.0, 2, repeats, step));
        (result, taken)
    }

    #[test]
    fn one_slow_step_does_not_end_the_search() {
        let (result, taken) = search(
            3,
            &[
                (10.0, &[true, true]),
                (20.0, &[false, true, true]),
                (40.0, &[true, false, false]),
                (30.0, &[true, true]),
                (35.0, &[false, false]),
            ],
        );
        assert_eq!(result, (Some(30.0), Some(35.0)));
        assert_eq!(
            taken,
            [
                10.0, 10.0, 20.0, 20.0, 20.0, 40.0, 40.0, 40.0, 30.0, 30.0, 35.0, 35.0
            ]
        );
    }

    #[test]
    fn a_single_step_per_rate_decides_alone() {
        let (result, taken) = search(
            1,
            &[
                (10.0, &[true]),
                (20.0, &[false]),
                (15.0, &[true]),
                (18.0, &[false]),
            ],
        );
        assert_eq!(result, (Some(15.0), Some(18.0)));
        assert_eq!(taken, [10.0, 20.0, 15.0, 18.0]);
    }

    #[test]
    fn no_rate_held_or_none_missed() {
        assert_eq!(search(3, &[(10.0, &[false, false])]).0, (None, Some(10.0)));
        let all: Vec<(f64, &[bool])> = [10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 640.0]
            .map(|r| (r, &[true, true][..]))
            .to_vec();
        assert_eq!(search(3, &all).0, (Some(640.0), None));
    }
}
