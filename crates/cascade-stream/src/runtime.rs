//! The log follower: a reader thread that reads and decodes acknowledged events while an
//! applier thread hands the previous batch to the observers, in log order.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

use cascade_core::EventObserver;
use cascade_store::{EventLog, LoggedEvent, StoreError};
use tokio::sync::watch;

/// How many events are read from the log at a time.
const READ_BATCH: usize = 10_000;
/// How many decoded batches may wait for the applier.
const BATCHES_AHEAD: usize = 2;
/// How long the reader waits before it reads again from a store that is unavailable (being
/// re-opened after an I/O error).
const UNAVAILABLE_RETRY: Duration = Duration::from_millis(50);

/// Follows the event log and applies each new event to the observers.
///
/// Reading (a store read and a decode per event) and applying run on two threads, so a
/// replay or a burst costs about the larger of the two rather than their sum.
pub struct StreamRuntime {
    applied: watch::Receiver<u64>,
    stop: watch::Sender<bool>,
    threads: Vec<JoinHandle<()>>,
}

impl StreamRuntime {
    /// Starts following `log` from its beginning.
    pub fn start(log: Arc<dyn EventLog>, observers: Vec<Arc<dyn EventObserver>>) -> Self {
        Self::start_from(log, observers, 0)
    }

    /// Starts following `log` from position `from` (e.g. a checkpoint's): events before it are
    /// not read; `applied` counts from `from`.
    pub fn start_from(
        log: Arc<dyn EventLog>,
        observers: Vec<Arc<dyn EventObserver>>,
        from: u64,
    ) -> Self {
        let (applied_tx, applied) = watch::channel(from);
        let (stop, stop_rx) = watch::channel(false);
        let (batches_tx, batches) = sync_channel(BATCHES_AHEAD);
        let durable = log.durable_len();
        let reader = spawn("cascade-stream-read", move || {
            if let Err(error) = read(&*log, &batches_tx, stop_rx, from) {
                tracing::error!(%error, "the stream runtime stopped");
            }
        });
        let applier = spawn("cascade-stream", move || {
            apply(&observers, batches, &applied_tx, &durable);
        });
        Self {
            applied,
            stop,
            threads: vec![reader, applier],
        }
    }

    /// The log position applied up to: the number of log events applied so far, plus the
    /// position started from.
    pub fn applied(&self) -> watch::Receiver<u64> {
        self.applied.clone()
    }

    /// Waits until at least `count` events have been applied.
    pub async fn wait_applied(&self, count: u64) {
        let mut applied = self.applied.clone();
        let _ = applied.wait_for(|&n| n >= count).await;
    }
}

impl Drop for StreamRuntime {
    /// Stops the reader; the applier ends once it has applied the batches already read.
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// The runtime's threads run at background priority: applying events to the indexes must not
/// take the CPU from requests (an event is durable, and acknowledged, before it is applied).
fn spawn(name: &str, run: impl FnOnce() + Send + 'static) -> JoinHandle<()> {
    cascade_core::background::spawn(name, run).expect("spawning a stream runtime thread")
}

/// Reads the log from `from` in batches as it becomes durable, until stopped or until the
/// applier is gone; while the store is unavailable, reads again every [`UNAVAILABLE_RETRY`].
fn read(
    log: &dyn EventLog,
    batches: &SyncSender<Vec<LoggedEvent>>,
    mut stop: watch::Receiver<bool>,
    from: u64,
) -> Result<(), StoreError> {
    let waiter = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| StoreError::Database(format!("cannot start the stream waiter: {e}")))?;
    let mut durable = log.durable_len();
    let mut position = from;
    loop {
        let durable_len = *durable.borrow_and_update();
        while position < durable_len {
            if *stop.borrow() {
                return Ok(());
            }
            let batch = match log.read_from(position, READ_BATCH) {
                Err(StoreError::Unavailable(reason)) => {
                    tracing::debug!(%reason, "the event log cannot be read now; reading again soon");
                    std::thread::sleep(UNAVAILABLE_RETRY);
                    continue;
                }
                read => read?,
            };
            let Some(last) = batch.last() else { break };
            position = last.seq + 1;
            if batches.send(batch).is_err() {
                return Ok(());
            }
        }
        let keep_going = waiter.block_on(async {
            tokio::select! {
                changed = durable.changed() => changed.is_ok(),
                _ = stop.wait_for(|&stopped| stopped) => false,
            }
        });
        if !keep_going {
            return Ok(());
        }
    }
}

/// Hands each event of each batch to every observer, then publishes the position applied.
fn apply(
    observers: &[Arc<dyn EventObserver>],
    batches: Receiver<Vec<LoggedEvent>>,
    applied: &watch::Sender<u64>,
    durable: &watch::Receiver<u64>,
) {
    for batch in batches {
        let Some(last) = batch.last() else { continue };
        let position = last.seq + 1;
        for logged in &batch {
            for observer in observers {
                observer.observe(logged.seq, &logged.event);
            }
        }
        metrics::counter!("cascade_stream_events_applied_total").increment(batch.len() as u64);
        applied.send_replace(position);
        metrics::gauge!("cascade_stream_lag_events")
            .set(durable.borrow().saturating_sub(position) as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cascade_core::Event;
    use cascade_store::EmbeddedStore;
    use parking_lot::Mutex;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<(u64, String)>>);

    impl EventObserver for Recorder {
        fn observe(&self, seq: u64, event: &Event) {
            self.0.lock().push((seq, event.event_id.clone()));
        }
    }

    fn event(id: &str) -> Event {
        Event::new(id, "click", "u", "i", 0)
    }

    #[tokio::test]
    async fn replays_the_log_then_follows_new_appends_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        store
            .append(vec![event("a"), event("b")])
            .wait()
            .await
            .unwrap();
        let recorder = Arc::new(Recorder::default());
        let runtime = StreamRuntime::start(store.clone(), vec![recorder.clone()]);
        runtime.wait_applied(2).await;
        store
            .append(vec![event("c"), event("a")])
            .wait()
            .await
            .unwrap();
        runtime.wait_applied(3).await;
        let seen = recorder.0.lock().clone();
        assert_eq!(seen, [(0, "a".into()), (1, "b".into()), (2, "c".into())]);
    }
}
