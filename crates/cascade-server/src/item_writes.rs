//! The locks that order item writes. An item's store write and the updates of everything
//! derived from it (ANN vectors, the text index, the engine's item observers and caches) run
//! under a lock of the item's id, so that for each id the derived state applies the writes in
//! the store's order and the last acknowledged write wins everywhere. Writes of different ids
//! run concurrently (the store commits them together), and none runs while the indexes are
//! being saved: [`ItemWriteLocks::close`] waits for those in progress and refuses later ones.

use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};

use cascade_store::StoreError;
use parking_lot::{Mutex, MutexGuard, RwLock};

/// Ids share this many locks: two writers wait for each other only when their ids hash to
/// the same lock.
const STRIPES: usize = 1024;

/// Per-id locks for item writes, and the switch that closes item writes for good.
pub(crate) struct ItemWriteLocks {
    /// `true` once closed; writes hold it for reading while they run.
    closed: RwLock<bool>,
    stripes: Box<[Mutex<()>]>,
}

impl ItemWriteLocks {
    /// Open locks.
    pub(crate) fn new() -> Self {
        Self {
            closed: RwLock::new(false),
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
        }
    }

    /// Runs `write` holding the locks of `ids` (any number, repeats allowed); refuses with
    /// [`StoreError::Closed`] once item writes are closed.
    pub(crate) fn write<'a, T>(
        &self,
        ids: impl IntoIterator<Item = &'a str>,
        write: impl FnOnce() -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let closed = self.closed.read();
        if *closed {
            return Err(StoreError::Closed);
        }
        let mut stripes: Vec<usize> = ids.into_iter().map(stripe_of).collect();
        // Always in ascending order, so that writers of several ids cannot deadlock.
        stripes.sort_unstable();
        stripes.dedup();
        let _held: Vec<MutexGuard<'_, ()>> =
            stripes.iter().map(|&s| self.stripes[s].lock()).collect();
        write()
    }

    /// Waits for the writes in progress and refuses every later one.
    pub(crate) fn close(&self) {
        *self.closed.write() = true;
    }
}

fn stripe_of(id: &str) -> usize {
    BuildHasherDefault::<DefaultHasher>::default().hash_one(id) as usize % STRIPES
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn writes_of_one_id_never_overlap_and_none_runs_once_closed() {
        let locks = Arc::new(ItemWriteLocks::new());
        let inside = Arc::new(AtomicUsize::new(0));
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let (locks, inside) = (locks.clone(), inside.clone());
                std::thread::spawn(move || {
                    for _ in 0..200 {
                        let ids = if w % 2 == 0 {
                            vec!["a"]
                        } else {
                            vec!["b", "a", "a"]
                        };
                        locks
                            .write(ids, || {
                                assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
                                std::thread::yield_now();
                                inside.fetch_sub(1, Ordering::SeqCst);
                                Ok(())
                            })
                            .unwrap();
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.join().unwrap();
        }
        locks.close();
        assert!(matches!(
            locks.write(["a"], || Ok(())),
            Err(StoreError::Closed)
        ));
    }
}
