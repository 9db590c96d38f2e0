//! Readiness: the server is ready once the start-up replay is applied, the derived state
//! that background threads otherwise compute on a period has been computed from it once, and
//! the item cache has been filled from the catalogue (a scan that runs beside the replay).
//!
//! Without the second step the first requests after a start found the popular and trending
//! rankings not computed yet (the first reader computed them, within its recall's budget) and
//! the item-CF neighbour lists empty until their first refresh, 30 seconds later: a fresh demo
//! could answer its first request with no popular or item-CF candidates at all.

use std::io;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::app::App;

/// Computes the derived state once and waits for the item cache's warm-up; run after the
/// start-up replay.
pub(crate) type Prime = Box<dyn FnOnce() + Send>;

/// How often the replay's progress is checked.
const POLL: Duration = Duration::from_millis(10);

/// Starts the thread that primes the derived state once the start-up replay is applied and
/// then marks the app ready. With an empty log there is nothing to replay or prime, and the
/// app is marked ready at once.
pub(crate) fn start(app: &Arc<App>, prime: Prime) -> io::Result<()> {
    if app.startup_events == 0 {
        app.ready.send_replace(true);
        return Ok(());
    }
    let weak = Arc::downgrade(app);
    // At normal priority, unlike the periodic refreshes: the server is not ready until it is done.
    std::thread::Builder::new()
        .name("cascade-prime".into())
        .spawn(move || run(&weak, prime))
        .map(drop)
}

fn run(app: &Weak<App>, prime: Prime) {
    loop {
        match app.upgrade() {
            None => return,
            Some(app) if app.is_replayed() => break,
            Some(_) => std::thread::sleep(POLL),
        }
    }
    let started = Instant::now();
    prime();
    tracing::info!(
        seconds = started.elapsed().as_secs_f64(),
        "rankings and neighbour lists computed from the replayed events"
    );
    if let Some(app) = app.upgrade() {
        app.ready.send_replace(true);
    }
}
