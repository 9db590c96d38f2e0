//! Feature freshness: per event, the time from its acknowledgement (the commit that made it
//! durable, when the log's length moved past it) to the completed feature-store write that
//! holds its effect (when the window observer's flushed position moved past it), recorded
//! as the histogram `cascade_feature_freshness_seconds`.
//!
//! A thread waits on both positions. One acknowledgement instant is kept per commit (a range
//! of positions), not per event; a write that covers `n` events of a commit records `n`
//! samples at once. The instant is taken when the thread sees the log's length move, a thread
//! wake-up after the append resolved. Events logged before the process started are not
//! measured.

use std::collections::VecDeque;
use std::time::Instant;

use tokio::sync::watch;

/// The most commits waiting for their write; older ones are forgotten (not measured) beyond it.
const MAX_PENDING_COMMITS: usize = 100_000;

/// Commits acknowledged whose events are not all visible yet.
struct Pending {
    /// (end position of the commit, when it was acknowledged), oldest first.
    commits: VecDeque<(u64, Instant)>,
    /// The first position not measured yet.
    next: u64,
    /// The log length last seen.
    acknowledged: u64,
}

impl Pending {
    fn new(from: u64) -> Self {
        Self {
            commits: VecDeque::new(),
            next: from,
            acknowledged: from,
        }
    }

    /// The log's length is `len` at `now`: the events up to it are acknowledged.
    fn acknowledged(&mut self, len: u64, now: Instant) {
        if len <= self.acknowledged {
            return;
        }
        self.acknowledged = len;
        self.commits.push_back((len, now));
        if self.commits.len() > MAX_PENDING_COMMITS
            && let Some((end, _)) = self.commits.pop_front()
        {
            self.next = end;
        }
    }

    /// The events before `position` are visible at `now`: calls `record(seconds, events)`
    /// per commit they belong to.
    fn visible(&mut self, position: u64, now: Instant, record: &mut dyn FnMut(f64, usize)) {
        while self.next < position {
            let Some(&(end, acked)) = self.commits.front() else {
                return;
            };
            let upto = end.min(position);
            let events = upto.saturating_sub(self.next) as usize;
            if events > 0 {
                record(now.saturating_duration_since(acked).as_secs_f64(), events);
            }
            self.next = self.next.max(upto);
            if end <= position {
                self.commits.pop_front();
            }
        }
    }
}

/// Starts measuring from log position `from` (the log's length at start-up): `durable` is the
/// log's length, `visible` the window observer's flushed position. The thread ends when either
/// sender is dropped. Without a thread the histogram stays empty (logged).
pub(crate) fn track(durable: watch::Receiver<u64>, visible: watch::Receiver<u64>, from: u64) {
    let started = std::thread::Builder::new()
        .name("cascade-freshness".into())
        .spawn(move || follow(durable, visible, from));
    if let Err(error) = started {
        tracing::error!(%error, "cannot start the feature freshness thread");
    }
}

fn follow(mut durable: watch::Receiver<u64>, mut visible: watch::Receiver<u64>, from: u64) {
    let waiter = match tokio::runtime::Builder::new_current_thread().build() {
        Ok(waiter) => waiter,
        Err(error) => return tracing::error!(%error, "feature freshness is not measured"),
    };
    let mut pending = Pending::new(from);
    // Looked up per record: the metrics recorder may be installed after the start.
    let mut record = |seconds, events| {
        metrics::histogram!("cascade_feature_freshness_seconds").record_many(seconds, events);
    };
    loop {
        // The visible position first: every event it covers is acknowledged by now, so its
        // commit is found below.
        let position = *visible.borrow_and_update();
        let now = Instant::now();
        pending.acknowledged(*durable.borrow_and_update(), now);
        pending.visible(position, now, &mut record);
        let open = waiter.block_on(async {
            tokio::select! {
                changed = durable.changed() => changed.is_ok(),
                changed = visible.changed() => changed.is_ok(),
            }
        });
        if !open {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn each_event_is_measured_once_from_its_commit() {
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        let mut pending = Pending::new(10);
        let mut samples = Vec::new();
        let mut record = |seconds: f64, events| samples.push(((seconds * 1000.0).round(), events));
        pending.acknowledged(13, at(0));
        pending.acknowledged(13, at(1));
        pending.acknowledged(20, at(5));
        // Events before the start (below 10) are not measured.
        pending.visible(8, at(6), &mut record);
        pending.visible(15, at(7), &mut record);
        pending.visible(20, at(9), &mut record);
        pending.visible(20, at(30), &mut record);
        assert_eq!(samples, [(7.0, 3), (2.0, 2), (4.0, 5)]);
    }

    #[test]
    fn a_visible_position_ahead_of_the_acknowledgements_waits_for_them() {
        let start = Instant::now();
        let mut pending = Pending::new(0);
        let mut count = 0;
        pending.visible(5, start, &mut |_, n| count += n);
        assert_eq!(count, 0);
        pending.acknowledged(5, start);
        pending.visible(5, start, &mut |_, n| count += n);
        assert_eq!(count, 5);
    }
}
