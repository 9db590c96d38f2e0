//! Train/test splits of interactions, per user.

use std::collections::{BTreeMap, HashMap};

use cascade_core::time::TimestampMs;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

/// One interaction of a user with an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interaction {
    /// The user index.
    pub user: u32,
    /// The item index.
    pub item: u32,
    /// When it happened.
    pub timestamp: TimestampMs,
}

/// How each user's items are divided between training and test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Protocol {
    /// A seeded random `floor(n × test_fraction)` of each user's `n` distinct items is held out.
    Random {
        /// The share of each user's items held out, in `[0, 1]`.
        test_fraction: f64,
    },
    /// Each user's latest item is held out (users with one item keep it in training).
    LeaveLastOut,
}

/// Each user's distinct items (sorted), divided into training and test; no item is in both.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Split {
    /// Training items by user; every user with an interaction has an entry.
    pub train: BTreeMap<u32, Vec<u32>>,
    /// Held-out items by user; only users with held-out items have an entry.
    pub test: BTreeMap<u32, Vec<u32>>,
}

impl Split {
    /// Splits `interactions` by `protocol`; the same input and seed always give the same split.
    /// A user's repeated interactions with one item count once, at their latest time.
    pub fn new(interactions: &[Interaction], protocol: Protocol, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut split = Self::default();
        for (user, mut items) in latest_by_user(interactions) {
            let held_out = match protocol {
                Protocol::Random { test_fraction } => {
                    items.sort_unstable();
                    items.shuffle(&mut rng);
                    (items.len() as f64 * test_fraction).floor() as usize
                }
                Protocol::LeaveLastOut => {
                    items.sort_unstable_by_key(|&(item, time)| (std::cmp::Reverse(time), item));
                    usize::from(items.len() > 1)
                }
            };
            let sorted_ids = |part: &[(u32, Latest)]| {
                let mut ids: Vec<u32> = part.iter().map(|&(item, _)| item).collect();
                ids.sort_unstable();
                ids
            };
            if held_out > 0 {
                split.test.insert(user, sorted_ids(&items[..held_out]));
            }
            split.train.insert(user, sorted_ids(&items[held_out..]));
        }
        split
    }
}

/// When a user last interacted with an item: (time, position in the input).
type Latest = (TimestampMs, usize);

/// Each user's distinct items with their latest interaction.
fn latest_by_user(interactions: &[Interaction]) -> BTreeMap<u32, Vec<(u32, Latest)>> {
    let mut latest: BTreeMap<u32, HashMap<u32, Latest>> = BTreeMap::new();
    for (position, i) in interactions.iter().enumerate() {
        let when = (i.timestamp, position);
        latest
            .entry(i.user)
            .or_default()
            .entry(i.item)
            .and_modify(|seen| *seen = (*seen).max(when))
            .or_insert(when);
    }
    latest
        .into_iter()
        .map(|(user, items)| (user, items.into_iter().collect()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// User `u` has `10 × (u + 1)` items, item `k` at time `k`, plus one repeat of item 0.
    fn interactions() -> Vec<Interaction> {
        let mut all = Vec::new();
        for user in 0..3u32 {
            for item in 0..10 * (user + 1) {
                all.push(Interaction {
                    user,
                    item,
                    timestamp: item.into(),
                });
            }
            all.push(Interaction {
                user,
                item: 0,
                timestamp: 100,
            });
        }
        all
    }

    const RANDOM: Protocol = Protocol::Random { test_fraction: 0.2 };

    #[test]
    fn random_split_is_seeded_80_20_per_user_without_overlap() {
        let split = Split::new(&interactions(), RANDOM, 42);
        assert_eq!(split, Split::new(&interactions(), RANDOM, 42));
        assert_ne!(split, Split::new(&interactions(), RANDOM, 7));
        for user in 0..3u32 {
            let (train, test) = (&split.train[&user], &split.test[&user]);
            let n = 10 * (user as usize + 1);
            assert_eq!((train.len(), test.len()), (n - n / 5, n / 5));
            assert!(test.iter().all(|item| train.binary_search(item).is_err()));
        }
    }

    #[test]
    fn small_users_keep_everything_in_training() {
        let few: Vec<Interaction> = interactions().into_iter().take(4).collect();
        let split = Split::new(&few, RANDOM, 42);
        assert_eq!(split.train[&0], [0, 1, 2, 3]);
        assert!(split.test.is_empty());
    }

    #[test]
    fn leave_last_out_holds_out_the_latest_item() {
        let split = Split::new(&interactions(), Protocol::LeaveLastOut, 42);
        assert_eq!(split.test[&0], [0], "item 0 was repeated last, at time 100");
        assert_eq!(split.train[&0], (1..10).collect::<Vec<_>>());
        let single = [Interaction {
            user: 9,
            item: 1,
            timestamp: 0,
        }];
        let split = Split::new(&single, Protocol::LeaveLastOut, 42);
        assert_eq!((split.train[&9].clone(), split.test.len()), (vec![1], 0));
    }
}
