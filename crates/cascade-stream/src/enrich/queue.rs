//! A bounded queue that hands its consumer micro-batches: up to a batch size, or what has
//! arrived once the oldest queued entry has waited the maximum wait.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

struct State<T> {
    /// Entries with the time they were queued, oldest first.
    entries: VecDeque<(Instant, T)>,
    closed: bool,
}

/// A bounded multi-producer queue read in batches by one consumer.
pub(crate) struct BatchQueue<T> {
    state: Mutex<State<T>>,
    not_empty: Condvar,
    not_full: Condvar,
    capacity: usize,
}

impl<T> BatchQueue<T> {
    /// A queue of at most `capacity` entries (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            state: Mutex::new(State {
                entries: VecDeque::new(),
                closed: false,
            }),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            capacity: capacity.max(1),
        }
    }

    /// The most entries it holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Queues `entry`, waiting at most `wait` for room; gives it back when the queue is still
    /// full then, or closed.
    pub fn push(&self, entry: T, wait: Duration) -> Result<(), T> {
        let deadline = Instant::now() + wait;
        let mut state = self.state.lock();
        while state.entries.len() >= self.capacity && !state.closed {
            if self.not_full.wait_until(&mut state, deadline).timed_out() {
                break;
            }
        }
        if state.closed || state.entries.len() >= self.capacity {
            return Err(entry);
        }
        state.entries.push_back((Instant::now(), entry));
        drop(state);
        self.not_empty.notify_one();
        Ok(())
    }

    /// The next batch: waits for a first entry, then until `max` entries are queued or the
    /// oldest has waited `max_wait`, and takes at most `max`. Once the queue is closed, the
    /// entries left are handed out without waiting; `None` when it is closed and empty.
    pub fn next_batch(&self, max: usize, max_wait: Duration) -> Option<Vec<T>> {
        let max = max.max(1);
        let mut state = self.state.lock();
        while state.entries.is_empty() && !state.closed {
            self.not_empty.wait(&mut state);
        }
        let (first, _) = state.entries.front()?;
        let deadline = *first + max_wait;
        while state.entries.len() < max && !state.closed {
            if self.not_empty.wait_until(&mut state, deadline).timed_out() {
                break;
            }
        }
        let take = state.entries.len().min(max);
        let batch = state
            .entries
            .drain(..take)
            .map(|(_, entry)| entry)
            .collect();
        drop(state);
        self.not_full.notify_all();
        Some(batch)
    }

    /// Refuses new entries and wakes every waiter; the entries queued are still handed out.
    pub fn close(&self) {
        self.state.lock().closed = true;
        self.not_empty.notify_all();
        self.not_full.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn a_full_batch_is_handed_out_at_once() {
        let queue = BatchQueue::new(10);
        for i in 0..5 {
            queue.push(i, Duration::ZERO).unwrap();
        }
        let started = Instant::now();
        assert_eq!(
            queue.next_batch(3, Duration::from_secs(60)),
            Some(vec![0, 1, 2])
        );
        assert!(started.elapsed() < Duration::from_secs(30));
    }

    #[test]
    fn a_partial_batch_is_handed_out_after_the_wait() {
        let queue = BatchQueue::new(10);
        queue.push(1, Duration::ZERO).unwrap();
        let started = Instant::now();
        assert_eq!(
            queue.next_batch(3, Duration::from_millis(50)),
            Some(vec![1])
        );
        assert!(started.elapsed() >= Duration::from_millis(40));
    }

    #[test]
    fn a_full_queue_refuses_after_the_wait_and_takes_again_once_read() {
        let queue = Arc::new(BatchQueue::new(2));
        queue.push(1, Duration::ZERO).unwrap();
        queue.push(2, Duration::ZERO).unwrap();
        assert_eq!(queue.push(3, Duration::from_millis(10)), Err(3));
        let reader = {
            let queue = queue.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                queue.next_batch(1, Duration::ZERO)
            })
        };
        queue.push(3, Duration::from_secs(60)).unwrap();
        assert_eq!(reader.join().unwrap(), Some(vec![1]));
    }

    #[test]
    fn closing_hands_out_what_is_left_then_ends() {
        let queue = BatchQueue::new(4);
        queue.push(1, Duration::ZERO).unwrap();
        queue.close();
        assert_eq!(queue.push(2, Duration::ZERO), Err(2));
        assert_eq!(queue.next_batch(8, Duration::from_secs(60)), Some(vec![1]));
        assert_eq!(queue.next_batch(8, Duration::from_secs(60)), None);
    }
}
