//! Behaviour events, streamed user by user: each user's share of the events follows their
//! activity; their events come in sessions (seconds apart) spread over the 30 days before
//! the world's epoch; a session keeps to one cluster, mostly one of the user's interests;
//! items within a cluster are drawn by a Zipf law. Only one user's events are held at once.

use std::collections::VecDeque;
use std::sync::Arc;

use cascade_core::Event;
use rand::Rng;
use rand::rngs::StdRng;

use super::world::{DAY_MS, Stream, World, rng_for};

/// The event window: the 30 days before the epoch.
const WINDOW_MS: i64 = 30 * DAY_MS;

/// The share of sessions spent in one of the user's interests.
const SESSION_IN_INTEREST: f64 = 0.9;

/// The share of a session's events in the session's cluster.
const EVENT_IN_SESSION_CLUSTER: f64 = 0.85;

/// The event types and their shares.
pub const EVENT_TYPES: &[(&str, f64)] = &[("view", 0.6), ("click", 0.3), ("like", 0.1)];

/// The events of a world, in user order (each user's in time order).
pub struct Events {
    world: Arc<World>,
    /// Cumulative activity: user `u` gets events `[share(u), share(u + 1))`.
    cumulative: Vec<f64>,
    next_user: usize,
    next_id: u64,
    pending: VecDeque<Event>,
}

impl Events {
    /// The events of `world`.
    pub fn new(world: Arc<World>) -> Self {
        let mut cumulative = Vec::with_capacity(world.spec().users + 1);
        cumulative.push(0.0);
        let mut total = 0.0;
        for user in 0..world.spec().users {
            total += world.profile(user).activity;
            cumulative.push(total);
        }
        Self {
            world,
            cumulative,
            next_user: 0,
            next_id: 0,
            pending: VecDeque::new(),
        }
    }

    /// How many of the events go to user `user`.
    fn quota(&self, user: usize) -> usize {
        let total = *self.cumulative.last().unwrap_or(&0.0);
        if total <= 0.0 {
            return 0;
        }
        let events = self.world.spec().events as f64;
        let upto = |u: usize| (events * self.cumulative[u] / total).round() as usize;
        upto(user + 1) - upto(user)
    }

    fn generate(&mut self, user: usize) {
        let quota = self.quota(user);
        if quota == 0 {
            return;
        }
        let world = &self.world;
        let profile = world.profile(user);
        let mut rng = rng_for(world.spec().seed, Stream::Events, user as u64);
        let mut lengths = Vec::new();
        let mut left = quota;
        while left > 0 {
            let length = session_length(&mut rng).min(left);
            lengths.push(length);
            left -= length;
        }
        let start = world.epoch_ms() - WINDOW_MS;
        let mut starts: Vec<i64> = lengths
            .iter()
            .map(|_| start + rng.random_range(0..WINDOW_MS - 3 * 3_600_000))
            .collect();
        starts.sort_unstable();
        let mut time = start;
        for (length, session_start) in lengths.into_iter().zip(starts) {
            // sessions do not overlap: the next starts at least a minute after the last event
            time = session_start.max(time + 60_000);
            let session_cluster = if rng.random_bool(SESSION_IN_INTEREST) {
                profile.interests[rng.random_range(0..profile.interests.len())]
            } else {
                rng.random_range(0..world.cluster_count())
            };
            for _ in 0..length {
                let cluster = if rng.random_bool(EVENT_IN_SESSION_CLUSTER) {
                    session_cluster
                } else {
                    rng.random_range(0..world.cluster_count())
                };
                let rank = world.zipf_rank(cluster, &mut rng);
                let Some(item) = world.item_at(cluster, rank) else {
                    continue;
                };
                self.pending.push_back(Event {
                    event_id: format!("e{}", self.next_id),
                    event_type: event_type(&mut rng).to_string(),
                    uid: format!("u{user}"),
                    item_id: format!("i{item}"),
                    timestamp: time.min(world.epoch_ms()),
                    value: 1.0,
                    context: Default::default(),
                    text: None,
                });
                self.next_id += 1;
                time += rng.random_range(3_000..90_000);
            }
        }
    }
}

/// Events per session: 1 + geometric, mean about 6.
fn session_length(rng: &mut StdRng) -> usize {
    let mut length = 1;
    while length < 100 && rng.random_bool(0.83) {
        length += 1;
    }
    length
}

fn event_type(rng: &mut StdRng) -> &'static str {
    let mut draw: f64 = rng.random();
    for (name, share) in EVENT_TYPES {
        if draw < *share {
            return name;
        }
        draw -= share;
    }
    EVENT_TYPES[0].0
}

impl Iterator for Events {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        while self.pending.is_empty() {
            if self.next_user >= self.world.spec().users {
                return None;
            }
            let user = self.next_user;
            self.next_user += 1;
            self.generate(user);
        }
        self.pending.pop_front()
    }
}
