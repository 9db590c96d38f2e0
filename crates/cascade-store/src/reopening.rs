//! A redb database that re-opens itself after an I/O error.
//!
//! After an I/O error (a full disk, a failed `fsync`) redb fails every later operation with
//! `Previous I/O error occurred. Please close and re-open the database.` until the file is
//! closed and opened again. [`ReopeningDatabase`] hands the database to each operation and
//! watches the outcome: the first operation that fails with an I/O error takes the database
//! out of service (the operations already running fail as redb fails them; those that follow
//! fail at once with [`StoreError::Unavailable`], naming the error), and a thread of its own
//! closes the file and opens it again, with backoff, until the tables are prepared in a write
//! transaction that commits; then the database is back in service. redb's recovery on open
//! keeps every committed transaction, and a write is acknowledged only after its commit, so no
//! acknowledged write is lost.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex, MutexGuard, RwLock};
use redb::Database;

use crate::error::StoreError;

/// The wait before the first try to re-open; doubled after each failed try, up to
/// [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// The longest wait between two tries to re-open.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Prepares a database just opened (creates its tables) in one write transaction, whose commit
/// shows that the storage writes again.
pub(crate) type Prepare = fn(&Database) -> Result<(), StoreError>;

enum State {
    /// In service.
    Open(Arc<Database>),
    /// Out of service since an I/O error, described; being re-opened.
    Failed(String),
    /// The handle was dropped: the re-opening thread ends.
    Dropped,
}

struct Shared {
    path: PathBuf,
    prepare: Prepare,
    state: RwLock<State>,
    /// Held while the state changes to `Failed` or `Dropped` and while the re-opening thread
    /// checks it before waiting, so that no change goes unnoticed.
    signal: Mutex<()>,
    changed: Condvar,
}

/// A redb database that is closed and opened again, by a thread of its own, after an I/O
/// error (see the module documentation).
pub(crate) struct ReopeningDatabase {
    shared: Arc<Shared>,
    reopener: Option<JoinHandle<()>>,
}

impl ReopeningDatabase {
    /// Opens (or creates) the database file at `path` and prepares it. A file another process
    /// (or another handle) holds is refused as [`StoreError::InUse`].
    pub(crate) fn open(path: &Path, prepare: Prepare) -> Result<Self, StoreError> {
        let db = open_prepared(path, prepare)?;
        let shared = Arc::new(Shared {
            path: path.to_owned(),
            prepare,
            state: RwLock::new(State::Open(Arc::new(db))),
            signal: Mutex::new(()),
            changed: Condvar::new(),
        });
        let reopener = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("cascade-store-reopen".into())
                .spawn(move || shared.reopen_after_failures())
                .map_err(|e| StoreError::Database(format!("cannot start a thread: {e}")))?
        };
        Ok(Self {
            shared,
            reopener: Some(reopener),
        })
    }

    /// Runs `operation` on the database in service; while it is out of service, fails at once
    /// with [`StoreError::Unavailable`]. An operation that fails with an I/O error takes the
    /// database out of service.
    pub(crate) fn run<T>(
        &self,
        operation: impl FnOnce(&Database) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let db = self.shared.current()?;
        let outcome = operation(&db);
        if let Err(StoreError::Unavailable(reason)) = &outcome {
            self.shared.fail(&db, reason);
        }
        outcome
    }

    /// `Ok` while the database is in service; else why not.
    pub(crate) fn health(&self) -> Result<(), StoreError> {
        self.shared.current().map(drop)
    }
}

impl Drop for ReopeningDatabase {
    fn drop(&mut self) {
        self.shared.set(State::Dropped);
        if let Some(thread) = self.reopener.take() {
            let _ = thread.join();
        }
    }
}

impl Shared {
    fn current(&self) -> Result<Arc<Database>, StoreError> {
        match &*self.state.read() {
            State::Open(db) => Ok(db.clone()),
            State::Failed(reason) => Err(StoreError::Unavailable(format!(
                "re-opening the database after an I/O error ({reason})"
            ))),
            State::Dropped => Err(StoreError::Closed),
        }
    }

    /// Takes `db` out of service, unless it already is (another operation saw the error first).
    fn fail(&self, db: &Arc<Database>, reason: &str) {
        let _signal = self.signal.lock();
        let mut state = self.state.write();
        if matches!(&*state, State::Open(current) if Arc::ptr_eq(current, db)) {
            tracing::error!(
                path = %self.path.display(),
                reason,
                "storage failed; re-opening the database until it writes again"
            );
            *state = State::Failed(reason.to_owned());
            self.changed.notify_all();
        }
    }

    fn set(&self, new: State) {
        let _signal = self.signal.lock();
        *self.state.write() = new;
        self.changed.notify_all();
    }

    /// The re-opening thread: waits for a failure, then re-opens until it succeeds; ends when
    /// the handle is dropped.
    fn reopen_after_failures(&self) {
        loop {
            let mut signal = self.signal.lock();
            let reason = loop {
                match &*self.state.read() {
                    State::Open(_) => {}
                    State::Failed(reason) => break reason.clone(),
                    State::Dropped => return,
                }
                self.changed.wait(&mut signal);
            };
            let mut backoff = FIRST_BACKOFF;
            loop {
                // The database out of service drops once the operations still running on it
                // end; until then the file is still open and re-opening it is refused.
                self.changed.wait_for(&mut signal, backoff);
                if matches!(&*self.state.read(), State::Dropped) {
                    return;
                }
                let reopened =
                    MutexGuard::unlocked(&mut signal, || open_prepared(&self.path, self.prepare));
                match reopened {
                    Ok(db) => {
                        *self.state.write() = State::Open(Arc::new(db));
                        tracing::info!(path = %self.path.display(), "storage writes again");
                        break;
                    }
                    Err(error) => {
                        tracing::warn!(%error, ?backoff, "the database could not be re-opened yet");
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        *self.state.write() =
                            State::Failed(format!("{reason}; the last try to re-open: {error}"));
                    }
                }
            }
        }
    }
}

/// Opens the database at `path` (recovering it if it was not closed cleanly) and prepares it.
fn open_prepared(path: &Path, prepare: Prepare) -> Result<Database, StoreError> {
    let db = Database::create(path).map_err(|e| match e {
        redb::DatabaseError::DatabaseAlreadyOpen => {
            StoreError::InUse(path.parent().unwrap_or(path).display().to_string())
        }
        other => StoreError::database(other),
    })?;
    prepare(&db)?;
    Ok(db)
}
