//! [`MicroBatcher`]: the enricher's event observer, its queues and its worker threads.
//!
//! Each worker is two threads: a collector, which takes batches from the worker's queue,
//! hands them to the model and writes the results, and the model's own thread, which runs
//! `infer`. The collector waits for a result at most `TimeoutMs`, so a model that hangs costs
//! its batch (and, while it still hangs, the batches after it) the default value, never the
//! stream.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cascade_core::config::EnricherConf;
use cascade_core::config::enrich::EnrichKey;
use cascade_core::{Event, EventObserver, EventTypes};
use cascade_store::{FeatureKey, FeatureStore, FeatureValue, FeatureWrite};
use parking_lot::{Condvar, Mutex};

use super::queue::BatchQueue;
use super::{EnrichError, EnrichInput, Enricher, EnricherFactory};

/// Each worker's queue holds this many batches; beyond it the workers are that far behind.
const QUEUE_BATCHES: usize = 8;

/// What happened to the events an enricher took, since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EnricherCounts {
    /// Events handed to the model.
    pub events: u64,
    /// Model calls.
    pub batches: u64,
    /// Batches whose model call failed.
    pub errors: u64,
    /// Batches whose model call ran past the timeout.
    pub timeouts: u64,
    /// Events not enriched because the queue stayed full.
    pub shed: u64,
    /// Events finished: written, given the default, or shed.
    pub completed: u64,
}

#[derive(Default)]
struct Counters {
    events: AtomicU64,
    batches: AtomicU64,
    errors: AtomicU64,
    timeouts: AtomicU64,
    shed: AtomicU64,
}

/// State shared by the observer and the workers.
struct Shared {
    name: String,
    counters: Counters,
    completed: Mutex<u64>,
    progressed: Condvar,
}

impl Shared {
    fn complete(&self, events: usize) {
        *self.completed.lock() += events as u64;
        self.progressed.notify_all();
    }

    fn count_failure(&self, reason: &'static str) {
        metrics::counter!(
            "cascade_enricher_failures_total",
            "enricher" => self.name.clone(),
            "reason" => reason
        )
        .increment(1);
    }
}

/// Runs one enricher on the stream: an [`EventObserver`] that queues the events the enricher
/// takes, and `Workers` worker threads that run them through the model in micro-batches and
/// write the outputs to the feature store under the enricher's name, keyed by the event's item
/// or user.
///
/// Events are routed to workers by their entity, so the values of one entity are written in
/// event order. When a worker's queue is full (`BatchSize` × 8 events waiting: the model is
/// slower than the stream), `observe` waits at most `MaxWaitMs` (at least 1 ms) for room, then
/// sheds the event: it is counted (`cascade_enricher_failures_total{reason="shed"}`) and
/// nothing is written, so the entity keeps its last value. Shedding rather than writing the
/// default keeps an overloaded enricher from adding store writes to the stream thread, and a
/// value from the entity's previous event is a better guess than the default. The bounded
/// wait lets a short burst through whole while never holding the stream longer than the
/// latency a batch may add anyway.
pub struct MicroBatcher {
    conf: EnricherConf,
    types: EventTypes,
    push_wait: Duration,
    queues: Vec<Arc<BatchQueue<EnrichInput>>>,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl MicroBatcher {
    /// Builds `conf.workers` models with `factory` (here, so that a model that cannot be
    /// loaded is an error now) and starts the workers; outputs go to `store`.
    pub fn start(
        conf: &EnricherConf,
        types: &EventTypes,
        factory: &EnricherFactory,
        store: Arc<dyn FeatureStore>,
    ) -> Result<Self, EnrichError> {
        let models = (0..conf.workers.max(1))
            .map(|_| factory())
            .collect::<Result<Vec<_>, _>>()?;
        let mut batcher = Self {
            conf: conf.clone(),
            types: types.clone(),
            push_wait: Duration::from_millis(conf.max_wait_ms.max(1)),
            queues: Vec::new(),
            shared: Arc::new(Shared {
                name: conf.name.clone(),
                counters: Counters::default(),
                completed: Mutex::new(0),
                progressed: Condvar::new(),
            }),
            threads: Vec::new(),
        };
        for (i, model) in models.into_iter().enumerate() {
            let (requests, model_requests) = mpsc::channel();
            let (model_results, results) = mpsc::channel();
            cascade_core::background::spawn(&format!("enrich-model-{i}"), move || {
                run_model(model, model_requests, model_results)
            })?;
            let queue = Arc::new(BatchQueue::new(conf.batch_size.max(1) * QUEUE_BATCHES));
            batcher.queues.push(queue.clone());
            let worker = Worker {
                shared: batcher.shared.clone(),
                queue,
                store: store.clone(),
                requests,
                results,
                busy: false,
                batch_size: conf.batch_size.max(1),
                max_wait: Duration::from_millis(conf.max_wait_ms),
                timeout: Duration::from_millis(conf.timeout_ms.max(1)),
                default: conf.default.map(FeatureValue::Number),
            };
            let thread =
                cascade_core::background::spawn(&format!("enrich-worker-{i}"), move || {
                    worker.run()
                })?;
            batcher.threads.push(thread);
        }
        Ok(batcher)
    }

    /// The enricher's name: the feature its outputs are written as.
    pub fn name(&self) -> &str {
        &self.conf.name
    }

    /// Whose feature the outputs are.
    pub fn key(&self) -> EnrichKey {
        self.conf.key
    }

    /// How many events the queues hold in all before events are shed.
    pub fn queue_capacity(&self) -> usize {
        self.queues.iter().map(|q| q.capacity()).sum()
    }

    /// What happened to the events taken so far.
    pub fn counts(&self) -> EnricherCounts {
        let c = &self.shared.counters;
        EnricherCounts {
            events: c.events.load(Ordering::Relaxed),
            batches: c.batches.load(Ordering::Relaxed),
            errors: c.errors.load(Ordering::Relaxed),
            timeouts: c.timeouts.load(Ordering::Relaxed),
            shed: c.shed.load(Ordering::Relaxed),
            completed: *self.shared.completed.lock(),
        }
    }

    /// Waits until `count` events are finished (written, defaulted or shed), at most
    /// `timeout`; whether they are.
    pub fn wait_completed(&self, count: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut completed = self.shared.completed.lock();
        while *completed < count {
            if self
                .shared
                .progressed
                .wait_until(&mut completed, deadline)
                .timed_out()
            {
                return *completed >= count;
            }
        }
        true
    }
}

impl EventObserver for MicroBatcher {
    fn observe(&self, _seq: u64, event: &Event) {
        if !self.conf.accepts(&self.types, &event.event_type) {
            return;
        }
        let input = EnrichInput::new(event, self.conf.key);
        let queue = &self.queues[worker_of(&input.entity, self.queues.len())];
        if queue.push(input, self.push_wait).is_err() {
            self.shared.counters.shed.fetch_add(1, Ordering::Relaxed);
            self.shared.count_failure("shed");
            self.shared.complete(1);
        }
    }
}

impl Drop for MicroBatcher {
    /// Closes the queues and waits for the workers to finish the events queued; a model
    /// still running a call that timed out is left to finish on its own thread.
    fn drop(&mut self) {
        for queue in &self.queues {
            queue.close();
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// The worker that handles `entity`'s events.
fn worker_of(entity: &str, workers: usize) -> usize {
    let mut hasher = DefaultHasher::new();
    entity.hash(&mut hasher);
    (hasher.finish() % workers.max(1) as u64) as usize
}

/// A model's answer to one batch, and how long it took.
type Answer = (Result<Vec<Option<FeatureValue>>, EnrichError>, Duration);

/// The model's thread: runs each batch it is sent until the worker hangs up.
fn run_model(
    mut model: Box<dyn Enricher>,
    requests: mpsc::Receiver<Arc<[EnrichInput]>>,
    answers: mpsc::Sender<Answer>,
) {
    for batch in requests {
        let started = Instant::now();
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| model.infer(&batch)))
            .unwrap_or_else(|panic| Err(EnrichError::Model(panic_message(&*panic))));
        if answers.send((result, started.elapsed())).is_err() {
            return;
        }
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into());
    format!("the model panicked: {message}")
}

/// Why a batch got the default.
enum Failure {
    Error(EnrichError),
    Timeout,
}

/// A collector thread: batches from the queue to the model, results to the store.
struct Worker {
    shared: Arc<Shared>,
    queue: Arc<BatchQueue<EnrichInput>>,
    store: Arc<dyn FeatureStore>,
    requests: mpsc::Sender<Arc<[EnrichInput]>>,
    results: mpsc::Receiver<Answer>,
    /// Whether the model is still running a batch that timed out.
    busy: bool,
    batch_size: usize,
    max_wait: Duration,
    timeout: Duration,
    default: Option<FeatureValue>,
}

impl Worker {
    fn run(mut self) {
        while let Some(batch) = self.queue.next_batch(self.batch_size, self.max_wait) {
            let batch: Arc<[EnrichInput]> = batch.into();
            self.process(&batch);
            self.shared.complete(batch.len());
        }
    }

    fn process(&mut self, batch: &Arc<[EnrichInput]>) {
        let shared = self.shared.clone();
        let (name, counters) = (&shared.name, &shared.counters);
        counters.batches.fetch_add(1, Ordering::Relaxed);
        counters
            .events
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        metrics::histogram!("cascade_enricher_batch_size", "enricher" => name.clone())
            .record(batch.len() as f64);
        metrics::counter!("cascade_enricher_events_total", "enricher" => name.clone())
            .increment(batch.len() as u64);
        let deadline = Instant::now() + self.timeout;
        let (values, reason) = match self.call(batch, deadline) {
            Ok(values) => (values, None),
            Err(Failure::Timeout) => {
                counters.timeouts.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    enricher = %name,
                    events = batch.len(),
                    timeout_ms = self.timeout.as_millis() as u64,
                    "the enricher's model timed out; writing the default"
                );
                (self.defaults(batch.len()), Some("timeout"))
            }
            Err(Failure::Error(error)) => {
                counters.errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(enricher = %name, events = batch.len(), %error,
                    "the enricher's model failed; writing the default");
                (self.defaults(batch.len()), Some("error"))
            }
        };
        if let Some(reason) = reason {
            shared.count_failure(reason);
        }
        self.write(batch, values);
    }

    /// The model's outputs for `batch`, unless it fails or the deadline passes first
    /// (including any wait for the model to finish a batch that timed out before).
    fn call(
        &mut self,
        batch: &Arc<[EnrichInput]>,
        deadline: Instant,
    ) -> Result<Vec<Option<FeatureValue>>, Failure> {
        let ended = || Failure::Error(EnrichError::Model("the model's thread ended".into()));
        let wait = |results: &mpsc::Receiver<Answer>| {
            results.recv_timeout(deadline.saturating_duration_since(Instant::now()))
        };
        if self.busy {
            match wait(&self.results) {
                Ok(_late) => self.busy = false,
                Err(RecvTimeoutError::Timeout) => return Err(Failure::Timeout),
                Err(RecvTimeoutError::Disconnected) => return Err(ended()),
            }
        }
        self.requests.send(batch.clone()).map_err(|_| ended())?;
        self.busy = true;
        let (result, took) = match wait(&self.results) {
            Ok(answer) => answer,
            Err(RecvTimeoutError::Timeout) => return Err(Failure::Timeout),
            Err(RecvTimeoutError::Disconnected) => return Err(ended()),
        };
        self.busy = false;
        metrics::histogram!("cascade_enricher_seconds", "enricher" => self.shared.name.clone())
            .record(took.as_secs_f64());
        let values = result.map_err(Failure::Error)?;
        if values.len() != batch.len() {
            return Err(Failure::Error(EnrichError::Outputs {
                expected: batch.len(),
                got: values.len(),
            }));
        }
        Ok(values)
    }

    fn defaults(&self, count: usize) -> Vec<Option<FeatureValue>> {
        vec![self.default.clone(); count]
    }

    /// Writes the values that are set, in event order (a later event of the same entity wins).
    fn write(&self, batch: &[EnrichInput], values: Vec<Option<FeatureValue>>) {
        let writes: Vec<FeatureWrite<'_>> = batch
            .iter()
            .zip(values)
            .filter_map(|(input, value)| {
                Some(FeatureWrite {
                    key: FeatureKey {
                        feature: &self.shared.name,
                        entity: &input.entity,
                    },
                    value: Some(value?),
                })
            })
            .collect();
        if writes.is_empty() {
            return;
        }
        if let Err(error) = self.store.write(&writes) {
            self.shared.count_failure("store");
            tracing::error!(enricher = %self.shared.name, %error, "writing enricher outputs failed");
        }
    }
}
