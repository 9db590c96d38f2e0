//! Threads for work that no request waits on (index refreshes, snapshots, enrichment): they run
//! at a lower scheduling priority than the threads serving requests, so that on a machine with
//! few cores a burst of background work delays the background work, not the requests.

use std::io;
use std::thread::JoinHandle;

/// How much nicer than the thread that starts them background threads run (0 is the default,
/// 19 the lowest priority): the Linux scheduler gives a thread 10 nice values below another
/// about a tenth of its CPU share while both want to run, and all of it when nothing else does.
const BACKGROUND_NICE: i32 = 10;

/// The lowest priority a thread can have.
const NICEST: i32 = 19;

/// Starts a thread named `name` that runs `job` at background priority. The priority is lowered
/// only where the platform allows it per thread (Linux); elsewhere the thread runs at the
/// normal priority.
pub fn spawn<T: Send + 'static>(
    name: &str,
    job: impl FnOnce() -> T + Send + 'static,
) -> io::Result<JoinHandle<T>> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            lower_current_thread_priority();
            job()
        })
}

/// On Linux, `setpriority(PRIO_PROCESS, tid)` sets the nice value of that thread alone. A new
/// thread starts at its parent's nice value, so a server started under `nice` keeps its
/// background threads below its request threads.
#[cfg(target_os = "linux")]
fn lower_current_thread_priority() {
    let thread = rustix::thread::gettid();
    let lowered = rustix::process::getpriority_process(Some(thread)).and_then(|nice| {
        let background = (nice + BACKGROUND_NICE).min(NICEST);
        rustix::process::setpriority_process(Some(thread), background)
    });
    if let Err(error) = lowered {
        tracing::debug!(%error, "background thread priority not lowered");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_current_thread_priority() {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn nice_of_current_thread() -> i32 {
        rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap()
    }

    #[test]
    fn a_background_thread_runs_at_lower_priority_than_its_parent() {
        let parent = nice_of_current_thread();
        let child = spawn("test-background", nice_of_current_thread)
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(child, (parent + BACKGROUND_NICE).min(NICEST));
        assert_eq!(
            nice_of_current_thread(),
            parent,
            "the caller keeps its priority"
        );
    }
}
