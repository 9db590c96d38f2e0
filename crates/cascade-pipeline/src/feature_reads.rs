//! Feature-store reads on the request path, kept from holding a request past its deadline.
//!
//! A read runs on one of [`READERS`] threads of its own, never on the thread that asks (an
//! async worker, which would stall every request and `/health` behind a hung store): the
//! caller waits for the answer for at most [`READ_SHARE`] of the time left before the request's
//! deadline (the rest is for the stages after it), a slow answer with its async worker handed
//! over to another thread, and then goes on without the values. At most [`WAITING`] reads wait for a reader; past that a read is skipped, so a
//! store that hangs holds [`READERS`] threads, not one per request. A circuit breaker
//! (`EngineConf.BreakerFailures`, `BreakerCooldownMs`) skips the reads while the store keeps
//! failing or answering late. Every read that gave no values says why, for the answer's
//! `degraded` reasons.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cascade_core::RequestContext;
use cascade_store::FeatureStore;
use cascade_store::features::{UserItemFeatures, read_user_and_items};
use parking_lot::Mutex;
use tokio::runtime::RuntimeFlavor;

use crate::breaker::CircuitBreaker;

/// How many reads run at once.
pub const READERS: usize = 4;
/// How many reads may wait for a reader; a read past them is skipped.
pub const WAITING: usize = 64;
/// How long a read is waited for on the async worker itself; a slower one is waited for with
/// the worker handed over (see [`wait`]). Feature reads usually take well under a millisecond.
const QUICK_ANSWER: Duration = Duration::from_millis(2);
/// The share of the time left before the request's deadline that a read may take.
const READ_SHARE: f64 = 0.8;

/// One read for a reader thread.
type Job = Box<dyn FnOnce() + Send>;

/// Reads feature values for requests on threads of its own, within each request's deadline.
pub struct FeatureReader {
    store: Arc<dyn FeatureStore>,
    breaker: CircuitBreaker,
    /// `None` once dropped: the readers end.
    jobs: Option<SyncSender<Job>>,
    threads: Vec<JoinHandle<()>>,
}

impl FeatureReader {
    /// Starts the reader threads over `store`, skipping reads while `breaker` is open.
    pub fn start(store: Arc<dyn FeatureStore>, breaker: CircuitBreaker) -> Self {
        let (jobs, inbox) = sync_channel::<Job>(WAITING);
        let inbox = Arc::new(Mutex::new(inbox));
        let threads = (0..READERS)
            .filter_map(|i| {
                let inbox = inbox.clone();
                std::thread::Builder::new()
                    .name(format!("cascade-feature-read-{i}"))
                    .spawn(move || run_jobs(&inbox))
                    .inspect_err(|error| {
                        tracing::error!(%error, "cannot start a feature reader thread");
                    })
                    .ok()
            })
            .collect();
        Self {
            store,
            breaker,
            jobs: Some(jobs),
            threads,
        }
    }

    /// The values of `user_features` of the request's user and of `item_features` of each of
    /// `items`, in one store round trip, by the request's deadline; else why there are none.
    pub fn read(
        &self,
        request: &RequestContext,
        user_features: &[&str],
        items: &[&str],
        item_features: &[&str],
    ) -> Result<UserItemFeatures, String> {
        if request.deadline.is_some_and(|due| Instant::now() >= due) {
            return Err("skipped: the request's deadline had passed".into());
        }
        if !self.breaker.allow() {
            metrics::counter!("cascade_feature_store_reads_skipped_total").increment(1);
            return Err("skipped: circuit open after repeated failures".into());
        }
        // The read may take most of the time left; the rest is for the stages after it.
        let started = Instant::now();
        let give_up_at = request
            .deadline
            .map(|due| started + due.saturating_duration_since(started).mul_f64(READ_SHARE));
        let (reply, answer) = sync_channel(1);
        let job: Job = {
            let store = self.store.clone();
            let deadline = give_up_at;
            let owned =
                |list: &[&str]| -> Vec<String> { list.iter().map(|s| s.to_string()).collect() };
            let (uid, user, ids, item) = (
                request.uid.clone(),
                owned(user_features),
                owned(items),
                owned(item_features),
            );
            Box::new(move || {
                // Waited past the deadline: nobody takes the answer any more.
                if deadline.is_some_and(|due| Instant::now() >= due) {
                    return;
                }
                fn strs(list: &[String]) -> Vec<&str> {
                    list.iter().map(String::as_str).collect()
                }
                let read =
                    read_user_and_items(&*store, &uid, &strs(&user), &strs(&ids), &strs(&item));
                let _ = reply.send(read);
            })
        };
        if let Err(refused) = self.submit(job) {
            metrics::counter!("cascade_feature_store_reads_skipped_total").increment(1);
            return Err(refused);
        }
        match wait(&answer, give_up_at) {
            Ok(Ok(values)) => {
                self.breaker.success();
                Ok(values)
            }
            Ok(Err(error)) => {
                self.breaker.failure();
                Err(format!("read failed: {error}"))
            }
            Err(_) => {
                self.breaker.failure();
                metrics::counter!("cascade_feature_store_read_timeouts_total").increment(1);
                Err(format!(
                    "no answer in the {} ms the request's deadline left for it",
                    give_up_at.map_or(0, |at| at.duration_since(started).as_millis())
                ))
            }
        }
    }

    /// Hands `job` to a reader; refused when [`WAITING`] reads are already waiting.
    fn submit(&self, job: Job) -> Result<(), String> {
        let Some(jobs) = self.jobs.as_ref() else {
            return Err("skipped: the feature reader has stopped".into());
        };
        jobs.try_send(job).map_err(|error| match error {
            TrySendError::Full(_) => {
                format!("skipped: {WAITING} reads were already waiting for the store")
            }
            TrySendError::Disconnected(_) => "skipped: the feature reader has stopped".into(),
        })
    }
}

impl Drop for FeatureReader {
    /// Stops the readers once they have run the reads already handed to them.
    fn drop(&mut self) {
        self.jobs.take();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Waits for a read's answer until `deadline` (without one, until it comes). A read still
/// unanswered after [`QUICK_ANSWER`] is waited for with the async worker handed over to
/// another thread (`block_in_place`, on a multi-threaded runtime), so that a slow store does
/// not hold up the other requests and `/health` queued on this worker.
fn wait<T>(answer: &Receiver<T>, deadline: Option<Instant>) -> Result<T, RecvTimeoutError> {
    let left = || deadline.map(|due| due.saturating_duration_since(Instant::now()));
    let quick = left().map_or(QUICK_ANSWER, |left| left.min(QUICK_ANSWER));
    match answer.recv_timeout(quick) {
        Err(RecvTimeoutError::Timeout) if left().is_none_or(|left| !left.is_zero()) => {}
        answered => return answered,
    }
    let rest = || match left() {
        Some(left) => answer.recv_timeout(left),
        None => answer.recv().map_err(|_| RecvTimeoutError::Disconnected),
    };
    let on_worker_pool = tokio::runtime::Handle::try_current()
        .is_ok_and(|runtime| runtime.runtime_flavor() == RuntimeFlavor::MultiThread);
    if on_worker_pool {
        tokio::task::block_in_place(rest)
    } else {
        rest()
    }
}

/// A reader thread: runs jobs until the reader is dropped.
fn run_jobs(inbox: &Mutex<Receiver<Job>>) {
    loop {
        let job = inbox.lock().recv();
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use cascade_store::{FeatureKey, FeatureValue, FeatureWrite, StoreError};
    use parking_lot::Condvar;

    use super::*;

    /// A store whose reads hang until released, or fail at once.
    #[derive(Default)]
    struct TestStore {
        failing: bool,
        released: Mutex<bool>,
        release: Condvar,
        reads: AtomicUsize,
    }

    impl TestStore {
        fn release(&self) {
            *self.released.lock() = true;
            self.release.notify_all();
        }
    }

    impl FeatureStore for TestStore {
        fn write(&self, _: &[FeatureWrite<'_>]) -> Result<(), StoreError> {
            Ok(())
        }

        fn read(&self, keys: &[FeatureKey<'_>]) -> Result<Vec<Option<FeatureValue>>, StoreError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            if self.failing {
                return Err(StoreError::Redis("Connection refused".into()));
            }
            let mut released = self.released.lock();
            while !*released {
                self.release.wait(&mut released);
            }
            Ok(vec![None; keys.len()])
        }

        fn save_checkpoint(&self, _: &str, _: &[u8]) -> Result<(), StoreError> {
            Ok(())
        }

        fn load_checkpoint(&self, _: &str) -> Result<Option<Vec<u8>>, StoreError> {
            Ok(None)
        }
    }

    fn due_in(millis: u64) -> RequestContext {
        RequestContext {
            uid: "u".into(),
            deadline: Some(Instant::now() + Duration::from_millis(millis)),
            ..RequestContext::default()
        }
    }

    #[test]
    fn a_hung_store_costs_a_read_its_deadline_and_holds_no_more_than_the_readers() {
        let store = Arc::new(TestStore::default());
        let never_opens = CircuitBreaker::new(u32::MAX, Duration::from_secs(60));
        let reader = FeatureReader::start(store.clone(), never_opens);
        let started = Instant::now();
        let late = reader.read(&due_in(20), &["f"], &["i"], &["g"]);
        let took = started.elapsed();
        let why = late.unwrap_err();
        assert!(why.starts_with("no answer in the "), "{why}");
        assert!(
            why.ends_with(" ms the request's deadline left for it"),
            "{why}"
        );
        assert!(
            took >= Duration::from_millis(15) && took < Duration::from_millis(500),
            "{took:?}"
        );
        // The readers hang in the store; the reads that follow wait for them until the queue
        // is full, and the next one is skipped at once.
        let mut skipped = None;
        for _ in 0..2 * (READERS + WAITING) {
            if let Err(why) = reader.read(&due_in(1), &["f"], &[], &[])
                && why.starts_with("skipped")
            {
                skipped = Some(why);
                break;
            }
        }
        assert_eq!(
            skipped.as_deref(),
            Some("skipped: 64 reads were already waiting for the store")
        );
        assert_eq!(
            store.reads.load(Ordering::SeqCst),
            READERS,
            "one hung read per reader"
        );
        store.release();
    }

    #[test]
    fn an_open_breaker_skips_reads_until_its_cooldown_has_passed() {
        let store = Arc::new(TestStore {
            failing: true,
            ..TestStore::default()
        });
        let reader = FeatureReader::start(
            store.clone(),
            CircuitBreaker::new(2, Duration::from_millis(50)),
        );
        for _ in 0..2 {
            let why = reader.read(&due_in(1000), &["f"], &[], &[]).unwrap_err();
            assert_eq!(why, "read failed: redis error: Connection refused");
        }
        let why = reader.read(&due_in(1000), &["f"], &[], &[]).unwrap_err();
        assert_eq!(why, "skipped: circuit open after repeated failures");
        assert_eq!(store.reads.load(Ordering::SeqCst), 2);
        std::thread::sleep(Duration::from_millis(60));
        assert!(reader.read(&due_in(1000), &["f"], &[], &[]).is_err());
        assert_eq!(
            store.reads.load(Ordering::SeqCst),
            3,
            "half-open: one read let through"
        );
        let why = reader
            .read(
                &RequestContext {
                    deadline: Some(Instant::now()),
                    ..RequestContext::default()
                },
                &["f"],
                &[],
                &[],
            )
            .unwrap_err();
        assert_eq!(why, "skipped: the request's deadline had passed");
    }
}
