//! The load itself: open loop (each endpoint's requests issued on a fixed schedule whatever
//! the responses; latency counted from the scheduled send time, so a stalled server is not
//! hidden by the client waiting — no coordinated omission) or closed loop (N clients, each
//! sending its next request when the last one answered).
//!
//! The open loop's schedule is kept by a blocking thread per endpoint that sleeps to each send
//! time, not by the async timer: that one fires on millisecond ticks, rounded up, so each send
//! would leave up to a millisecond late and the lateness would count as the server's latency.
//! How late each request did leave is recorded beside its latency.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::workload::Workload;

/// Locks `mutex`; poisoning cannot matter here (nothing panics while holding one).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The endpoints the bench drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /api/recommend`.
    Recommend,
    /// `POST /api/search`.
    Search,
    /// `POST /api/events`.
    Events,
}

impl Endpoint {
    /// All of them, in report order.
    pub const ALL: [Endpoint; 3] = [Endpoint::Recommend, Endpoint::Search, Endpoint::Events];

    /// The name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Recommend => "recommend",
            Endpoint::Search => "search",
            Endpoint::Events => "events",
        }
    }

    fn path(self) -> &'static str {
        match self {
            Endpoint::Recommend => "/api/recommend",
            Endpoint::Search => "/api/search",
            Endpoint::Events => "/api/events",
        }
    }
}

/// What one endpoint saw during the measured part of a run.
pub struct Recorder {
    /// Latencies of successful requests, in microseconds.
    pub latency: Histogram<u64>,
    /// For the same requests, how long after its scheduled time (open loop) each one was
    /// handed to the HTTP client, in microseconds: the client's own share of `latency`.
    pub send_lateness: Histogram<u64>,
    /// Failed requests by `status NNN` or the transport error's kind.
    pub errors: BTreeMap<String, u64>,
    /// Recommendations answered from a fallback (`degraded`).
    pub degraded: u64,
    /// Recommendations with no items.
    pub empty: u64,
}

impl Recorder {
    fn new() -> Self {
        let histogram =
            || Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid histogram bounds");
        Self {
            latency: histogram(),
            send_lateness: histogram(),
            errors: BTreeMap::new(),
            degraded: 0,
            empty: 0,
        }
    }

    /// Requests that answered 2xx.
    pub fn ok(&self) -> u64 {
        self.latency.len()
    }

    /// Requests that failed.
    pub fn failed(&self) -> u64 {
        self.errors.values().sum()
    }

    /// The `q` quantile of the latency in milliseconds, `None` without successes.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        quantile_ms(&self.latency, q)
    }

    /// The `q` quantile of the send lateness in milliseconds, `None` without successes.
    pub fn lateness_quantile_ms(&self, q: f64) -> Option<f64> {
        quantile_ms(&self.send_lateness, q)
    }
}

fn quantile_ms(histogram: &Histogram<u64>, q: f64) -> Option<f64> {
    (!histogram.is_empty()).then(|| histogram.value_at_quantile(q) as f64 / 1e3)
}

/// How to load the server.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Requests per second per endpoint, in [`Endpoint::ALL`] order (open loop); the mix
    /// weights in closed loop.
    pub rates: [f64; 3],
    /// Closed loop with this many clients, instead of the open-loop schedule.
    pub closed_loop: Option<usize>,
    /// Unmeasured time first.
    pub warmup: Duration,
    /// Measured time.
    pub duration: Duration,
    /// At most this many measured requests in all.
    pub max_requests: Option<u64>,
    /// The seed of the request draws.
    pub seed: u64,
}

/// The measurements of one run.
pub struct Outcome {
    /// Per endpoint, in [`Endpoint::ALL`] order.
    pub recorders: Vec<Recorder>,
    /// Seconds from the end of the warm-up to the last measured response.
    pub seconds: f64,
}

struct Shared {
    client: reqwest::Client,
    base: String,
    workload: Arc<Workload>,
    recorders: Vec<Mutex<Recorder>>,
    start: Instant,
    measure_from: Instant,
    end: Instant,
    slots: Option<AtomicU64>,
    last_response: Mutex<Instant>,
}

impl Shared {
    /// Whether another measured request may go (the `max_requests` bound).
    fn take_slot(&self) -> bool {
        match &self.slots {
            None => true,
            Some(left) => left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok(),
        }
    }

    fn body(&self, endpoint: Endpoint, rng: &mut StdRng, at: Instant) -> Vec<u8> {
        let body = match endpoint {
            Endpoint::Recommend => self.workload.recommend(rng),
            Endpoint::Search => self.workload.search(rng),
            Endpoint::Events => {
                let elapsed = at.saturating_duration_since(self.start).as_millis() as i64;
                self.workload.events(rng, elapsed)
            }
        };
        serde_json::to_vec(&body).expect("request bodies serialize")
    }

    /// Sends one request; records it when `measured`, its latency counted from `since`.
    async fn send(&self, endpoint: Endpoint, body: Vec<u8>, since: Instant, measured: bool) {
        let sent = Instant::now();
        let outcome = self.exchange(endpoint, body).await;
        if !measured {
            return;
        }
        let now = Instant::now();
        let mut recorder = lock(&self.recorders[endpoint as usize]);
        match outcome {
            Ok((degraded, empty)) => {
                let micros = |from: Instant, to: Instant| {
                    (to.saturating_duration_since(from).as_micros() as u64).max(1)
                };
                recorder.latency.saturating_record(micros(since, now));
                recorder
                    .send_lateness
                    .saturating_record(micros(since, sent));
                recorder.degraded += u64::from(degraded);
                recorder.empty += u64::from(empty);
            }
            Err(kind) => *recorder.errors.entry(kind).or_default() += 1,
        }
        drop(recorder);
        let mut last = lock(&self.last_response);
        *last = (*last).max(now);
    }

    /// One request and its whole response; for recommendations, whether it was degraded or
    /// empty.
    async fn exchange(&self, endpoint: Endpoint, body: Vec<u8>) -> Result<(bool, bool), String> {
        let response = self
            .client
            .post(format!("{}{}", self.base, endpoint.path()))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| transport_kind(&e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| transport_kind(&e))?;
        if !status.is_success() {
            return Err(format!("status {}", status.as_u16()));
        }
        if endpoint != Endpoint::Recommend {
            return Ok((false, false));
        }
        let answer: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|_| "malformed response".to_string())?;
        let empty = answer["items"].as_array().is_none_or(Vec::is_empty);
        Ok((answer.get("degraded").is_some(), empty))
    }
}

fn transport_kind(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timeout".into()
    } else if error.is_connect() {
        "connect".into()
    } else {
        "transport".into()
    }
}

/// Runs `plan` against `base`.
pub async fn drive(
    client: &reqwest::Client,
    base: &str,
    workload: Arc<Workload>,
    plan: &Plan,
) -> Outcome {
    let start = Instant::now();
    let measure_from = start + plan.warmup;
    let shared = Arc::new(Shared {
        client: client.clone(),
        base: base.to_string(),
        workload,
        recorders: Endpoint::ALL.map(|_| Mutex::new(Recorder::new())).into(),
        start,
        measure_from,
        end: measure_from + plan.duration,
        slots: plan.max_requests.map(AtomicU64::new),
        last_response: Mutex::new(measure_from),
    });
    let mut drivers = JoinSet::new();
    match plan.closed_loop {
        Some(clients) => {
            let weights = if plan.rates.iter().any(|r| *r > 0.0) {
                plan.rates
            } else {
                [1.0, 0.0, 0.0]
            };
            for client in 0..clients.max(1) {
                let rng = StdRng::seed_from_u64(plan.seed.wrapping_add(client as u64));
                drivers.spawn(closed_client(shared.clone(), weights, rng));
            }
        }
        None => {
            for (index, endpoint) in Endpoint::ALL.into_iter().enumerate() {
                if plan.rates[index] > 0.0 {
                    let rng = StdRng::seed_from_u64(plan.seed.wrapping_add(index as u64));
                    drivers.spawn(scheduler(shared.clone(), endpoint, plan.rates[index], rng));
                }
            }
        }
    }
    while drivers.join_next().await.is_some() {}
    let seconds = lock(&shared.last_response)
        .saturating_duration_since(measure_from)
        .as_secs_f64();
    let shared = Arc::into_inner(shared).expect("every driver has finished");
    Outcome {
        recorders: shared
            .recorders
            .into_iter()
            .map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner()))
            .collect(),
        seconds,
    }
}

/// Issues `endpoint`'s requests at `rate` per second on a fixed schedule (see the module's
/// note on how it is kept).
async fn scheduler(shared: Arc<Shared>, endpoint: Endpoint, rate: f64, rng: StdRng) {
    let mut in_flight = tokio::task::spawn_blocking(move || pace(&shared, endpoint, rate, rng))
        .await
        .expect("the pacing thread does not panic");
    while in_flight.join_next().await.is_some() {}
}

/// Sleeps to each scheduled send time and starts that request as a task; answers the tasks
/// still running after the last one. Runs on a blocking-pool thread, which has the runtime's
/// context for spawning.
fn pace(shared: &Arc<Shared>, endpoint: Endpoint, rate: f64, mut rng: StdRng) -> JoinSet<()> {
    let mut in_flight = JoinSet::new();
    for k in 0u64.. {
        let scheduled = shared.start + Duration::from_secs_f64(k as f64 / rate);
        if scheduled >= shared.end {
            break;
        }
        std::thread::sleep(scheduled.saturating_duration_since(Instant::now()));
        let measured = scheduled >= shared.measure_from;
        if measured && !shared.take_slot() {
            break;
        }
        let body = shared.body(endpoint, &mut rng, scheduled);
        let task = shared.clone();
        in_flight.spawn(async move { task.send(endpoint, body, scheduled, measured).await });
        while in_flight.try_join_next().is_some() {}
    }
    in_flight
}

/// One closed-loop client: the next request as soon as the last one answered.
async fn closed_client(shared: Arc<Shared>, weights: [f64; 3], mut rng: StdRng) {
    let total: f64 = weights.iter().sum();
    loop {
        let now = Instant::now();
        if now >= shared.end {
            break;
        }
        let measured = now >= shared.measure_from;
        if measured && !shared.take_slot() {
            break;
        }
        let mut draw = rng.random::<f64>() * total;
        let endpoint = Endpoint::ALL
            .into_iter()
            .zip(weights)
            .find(|(_, weight)| {
                let hit = draw < *weight;
                draw -= weight;
                hit
            })
            .map_or(Endpoint::Recommend, |(endpoint, _)| endpoint);
        let body = shared.body(endpoint, &mut rng, now);
        shared.send(endpoint, body, now, measured).await;
    }
}
