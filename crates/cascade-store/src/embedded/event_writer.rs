//! Group commit: one thread owns event-log writes and commits every append that is waiting
//! in one durable transaction, then acknowledges them all. A commit that fails fails every
//! append of its group (none is acknowledged); the next commit takes its first position from
//! the log again, as the database re-opened after an I/O error holds it.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;

use cascade_core::Event;
use parking_lot::Mutex;
use redb::{Database, ReadableTable};
use tokio::sync::{oneshot, watch};

use super::{EVENT_IDS, EVENTS, EVENTS_BY_TIME, count_events};
use crate::error::StoreError;
use crate::reopening::ReopeningDatabase;
use crate::traits::{AppendOutcome, AppendTicket};

/// The most events committed in one transaction.
const MAX_GROUP_EVENTS: usize = 200_000;

struct AppendRequest {
    events: Vec<Event>,
    reply: oneshot::Sender<Result<AppendOutcome, StoreError>>,
}

/// The handle to the writer thread.
pub(super) struct EventWriter {
    requests: Mutex<Option<Sender<AppendRequest>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    durable_len: watch::Receiver<u64>,
}

impl EventWriter {
    /// Starts the writer thread; `durable_len` is the number of events already in the log.
    pub(super) fn start(db: Arc<ReopeningDatabase>, durable_len: u64) -> Self {
        let (requests, inbox) = channel();
        let (len_tx, len_rx) = watch::channel(durable_len);
        let thread = std::thread::Builder::new()
            .name("cascade-event-writer".into())
            .spawn(move || run(&db, inbox, durable_len, len_tx))
            .expect("spawning the event writer thread");
        Self {
            requests: Mutex::new(Some(requests)),
            thread: Mutex::new(Some(thread)),
            durable_len: len_rx,
        }
    }

    /// Queues an append; the ticket resolves after the commit that includes it.
    pub(super) fn submit(&self, events: Vec<Event>) -> AppendTicket {
        let (reply, ticket) = AppendTicket::new();
        let request = AppendRequest { events, reply };
        if let Some(requests) = self.requests.lock().as_ref()
            && let Err(refused) = requests.send(request)
        {
            let _ = refused.0.reply.send(Err(StoreError::Closed));
        }
        ticket
    }

    /// The number of durable events, updated after each commit.
    pub(super) fn durable_len(&self) -> watch::Receiver<u64> {
        self.durable_len.clone()
    }
}

impl Drop for EventWriter {
    fn drop(&mut self) {
        self.requests.lock().take();
        if let Some(thread) = self.thread.lock().take() {
            let _ = thread.join();
        }
    }
}

fn run(
    db: &ReopeningDatabase,
    inbox: Receiver<AppendRequest>,
    durable_len: u64,
    len: watch::Sender<u64>,
) {
    // The position of the next event, `None` after a failed commit: read from the log then.
    let mut next_seq = Some(durable_len);
    while let Ok(first) = inbox.recv() {
        let mut group = vec![first];
        let mut size = group[0].events.len();
        while size < MAX_GROUP_EVENTS {
            match inbox.try_recv() {
                Ok(request) => {
                    size += request.events.len();
                    group.push(request);
                }
                Err(_) => break,
            }
        }
        let committed = db.run(|db| {
            let first_seq = match next_seq {
                Some(seq) => seq,
                None => count_events(db)?,
            };
            commit_group(db, &group, first_seq)
        });
        match committed {
            Ok((outcomes, new_next_seq)) => {
                next_seq = Some(new_next_seq);
                len.send_replace(new_next_seq);
                for (request, outcome) in group.into_iter().zip(outcomes) {
                    let _ = request.reply.send(Ok(outcome));
                }
            }
            Err(error) => {
                next_seq = None;
                tracing::error!(%error, "event log commit failed");
                for request in group {
                    let _ = request.reply.send(Err(error.clone()));
                }
            }
        }
    }
}

/// Writes every new event of the group in one durable transaction.
fn commit_group(
    db: &Database,
    group: &[AppendRequest],
    mut next_seq: u64,
) -> Result<(Vec<AppendOutcome>, u64), StoreError> {
    let txn = db.begin_write().map_err(StoreError::database)?;
    let mut outcomes = Vec::with_capacity(group.len());
    {
        let mut events = txn.open_table(EVENTS).map_err(StoreError::database)?;
        let mut by_time = txn
            .open_table(EVENTS_BY_TIME)
            .map_err(StoreError::database)?;
        let mut ids = txn.open_table(EVENT_IDS).map_err(StoreError::database)?;
        let mut bytes = Vec::new();
        for request in group {
            let mut outcome = AppendOutcome::default();
            for event in &request.events {
                if ids
                    .get(event.event_id.as_str())
                    .map_err(StoreError::database)?
                    .is_some()
                {
                    outcome.duplicates.push(event.event_id.clone());
                    continue;
                }
                bytes.clear();
                serde_json::to_writer(&mut bytes, event).map_err(|e| StoreError::Corrupt {
                    key: event.event_id.clone(),
                    reason: e.to_string(),
                })?;
                let seq = next_seq;
                events
                    .insert(seq, bytes.as_slice())
                    .map_err(StoreError::database)?;
                by_time
                    .insert((event.timestamp, seq), ())
                    .map_err(StoreError::database)?;
                ids.insert(event.event_id.as_str(), seq)
                    .map_err(StoreError::database)?;
                next_seq += 1;
                outcome.accepted += 1;
            }
            outcomes.push(outcome);
        }
    }
    txn.commit().map_err(StoreError::database)?;
    Ok((outcomes, next_seq))
}
