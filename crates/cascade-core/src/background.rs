//! Threads for work that no request waits on (index refreshes, snapshots, enrichment): they run
//! at a lower scheduling priority than the threads serving requests, so that on a machine with
//! few cores a burst of background work delays the background work, not the requests.

use std::io;
use std::thread::JoinHandle;

/// The nice value of background threads (0 is the default, 19 the lowest priority): the Linux
/// scheduler gives a nice-10 thread about a tenth of the CPU share of a nice-0 thread while
/// both want to run, and all of it when nothing else does.
const BACKGROUND_NICE: i32 = 10;

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

/// On Linux, `setpriority(PRIO_PROCESS, tid)` sets the nice value of that thread alone.
#[cfg(target_os = "linux")]
fn lower_current_thread_priority() {
    let thread = rustix::thread::gettid();
    if let Err(error) = rustix::process::setpriority_process(Some(thread), BACKGROUND_NICE) {
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
        assert_eq!(child, (parent + BACKGROUND_NICE).min(19));
        assert_eq!(
            nice_of_current_thread(),
            parent,
            "the caller keeps its priority"
        );
    }
}
