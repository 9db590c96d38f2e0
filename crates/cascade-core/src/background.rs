//! Threads for work that no request waits on (index refreshes, snapshots, enrichment): they run
//! at a lower scheduling priority than the threads serving requests, so that on a machine with
//! few cores a burst of background work delays the background work, not the requests.
//!
//! On Linux a background thread runs under the `SCHED_IDLE` policy: it gets a core only when
//! no normal thread wants it, a request thread that wakes up on its core takes the core at
//! once, and the scheduler places a woken request thread on a core running only background
//! work as on an idle one. A nice value alone (10 below: a tenth of the CPU share) can let a
//! background thread keep the core for the rest of its time slice while a request thread waits,
//! and a request wakes up several times (recall calls on the blocking pool, their answers). The
//! nice value is lowered too: it is what remains where the policy cannot be set.

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

/// On Linux, `SCHED_IDLE` and then `setpriority(PRIO_PROCESS, tid)` for this thread alone. A
/// new thread starts at its parent's nice value, so a server started under `nice` keeps its
/// background threads below its request threads.
#[cfg(target_os = "linux")]
fn lower_current_thread_priority() {
    use thread_priority::{
        NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy,
        set_thread_priority_and_policy, thread_native_id, thread_schedule_policy,
    };

    let thread = rustix::thread::gettid();
    let parent_nice = rustix::process::getpriority_process(Some(thread));
    let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
    // After the policy the call sets the nice value to 0, which the lines below replace. That
    // second step fails in a server started under `nice` without privileges, with the policy
    // already set, so whether the policy took is read back rather than taken from the result.
    let _ = set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, idle);
    if !matches!(thread_schedule_policy(), Ok(policy) if policy == idle) {
        tracing::debug!("background thread not moved to SCHED_IDLE");
    }
    let lowered = parent_nice.and_then(|nice| {
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
        use thread_priority::{
            NormalThreadSchedulePolicy, ThreadSchedulePolicy, thread_schedule_policy,
        };

        let parent = nice_of_current_thread();
        let (child_nice, child_policy) = spawn("test-background", || {
            (nice_of_current_thread(), thread_schedule_policy().unwrap())
        })
        .unwrap()
        .join()
        .unwrap();
        assert_eq!(child_nice, (parent + BACKGROUND_NICE).min(NICEST));
        assert_eq!(
            child_policy,
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle)
        );
        assert_eq!(
            nice_of_current_thread(),
            parent,
            "the caller keeps its priority"
        );
        assert_eq!(
            thread_schedule_policy().unwrap(),
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Other),
            "and its policy"
        );
    }
}
