//! Batched commits of the text index: a background thread commits what changed in a
//! [`TextIndex`] once per refresh period, so that an item write is searchable within the
//! period while no write pays for a commit (and a reader reload) of its own.
//!
//! The index is derived state: a change that was written to the store but not yet committed
//! here is lost from the index by a crash, and the next start rebuilds the index from the
//! store (see [`crate::persisted`]).

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::text::TextIndex;

/// Commits a text index's changes every period on a thread of its own. Dropping it stops the
/// thread and waits for a commit in progress.
///
/// The thread runs at the request threads' priority, not below it
/// ([`cascade_core::background`]): a commit holds the index writer's lock, which every item
/// write waits for, and a thread below the requests, starved by them on a busy machine, would
/// hold it for seconds while every item write waits. It takes little CPU: the commit's work is
/// done by tantivy's own threads.
pub struct TextCommitter {
    stop: Arc<Stop>,
    thread: Option<JoinHandle<()>>,
}

/// The stop flag and the condition the thread sleeps on between commits.
#[derive(Default)]
struct Stop {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl TextCommitter {
    /// Starts committing `index` every `period` (which must not be zero).
    pub fn start(index: Arc<TextIndex>, period: Duration) -> std::io::Result<Self> {
        let stop = Arc::new(Stop::default());
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("cascade-text-commit".into())
                .spawn(move || run(&index, period, &stop))?
        };
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

fn run(index: &TextIndex, period: Duration, stop: &Stop) {
    loop {
        {
            let mut stopped = stop.stopped.lock();
            if !*stopped {
                stop.wake.wait_for(&mut stopped, period);
            }
            if *stopped {
                return;
            }
        }
        if let Err(error) = index.commit_pending() {
            tracing::warn!(%error, "text index commit failed; retrying at the next refresh");
        }
    }
}

impl Drop for TextCommitter {
    fn drop(&mut self) {
        *self.stop.stopped.lock() = true;
        self.stop.wake.notify_all();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the text index committer panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use cascade_core::{FieldValue, Item};

    use super::*;
    use crate::text::{TextField, TextTokenizer};

    fn titled(id: &str, title: &str) -> Item {
        Item {
            id: id.into(),
            fields: [("title".to_string(), FieldValue::Text(title.into()))].into(),
            embeddings: Default::default(),
        }
    }

    fn found(index: &TextIndex, query: &str) -> Vec<String> {
        let hits = index.search(query, 10, &|_| false).unwrap();
        hits.into_iter().map(|hit| hit.item_id).collect()
    }

    #[test]
    fn changes_become_searchable_within_the_period_without_a_commit_per_write() {
        let dir = tempfile::tempdir().unwrap();
        let fields = [TextField::new("title", TextTokenizer::Default)];
        let index = Arc::new(TextIndex::open(dir.path(), &fields).unwrap());
        index.upsert(&titled("dune", "Dune")).unwrap();
        index.upsert(&titled("dune", "Dune Messiah")).unwrap();
        index.upsert(&titled("emma", "Emma")).unwrap();
        index.delete("emma").unwrap();
        assert!(found(&index, "dune").is_empty(), "nothing committed yet");

        let period = Duration::from_millis(100);
        let started = Instant::now();
        let committer = TextCommitter::start(index.clone(), period).unwrap();
        while found(&index, "messiah").is_empty() {
            assert!(
                started.elapsed() < period + Duration::from_secs(5),
                "not searchable after {:?}",
                started.elapsed()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(found(&index, "dune"), ["dune"], "one document per item");
        assert!(found(&index, "emma").is_empty());
        assert!(
            !index.commit_pending().unwrap(),
            "the committer committed everything"
        );
        drop(committer);
        index.upsert(&titled("emma", "Emma")).unwrap();
        std::thread::sleep(period * 3);
        assert!(
            found(&index, "emma").is_empty(),
            "a dropped committer commits no more"
        );
        assert!(index.commit_pending().unwrap());
        assert_eq!(found(&index, "emma"), ["emma"]);
    }
}
