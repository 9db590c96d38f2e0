//! Negative sampling by popularity as of a point in time: a Fenwick tree of item weights
//! (`1 + users so far`), updated as the replay counts users, sampled in `O(log n)`.

use rand::Rng;

/// Item weights `1 + users` by catalogue index, summed in a Fenwick tree.
#[derive(Debug, Clone)]
pub(super) struct PopularitySampler {
    /// 1-based Fenwick tree of weights.
    tree: Vec<u64>,
    total: u64,
}

impl PopularitySampler {
    /// `items` items of weight 1 each (no users yet).
    pub(super) fn new(items: usize) -> Self {
        let mut tree = vec![0u64; items + 1];
        for i in 1..=items {
            tree[i] += 1;
            let parent = i + (i & i.wrapping_neg());
            if parent <= items {
                tree[parent] += tree[i];
            }
        }
        Self {
            tree,
            total: items as u64,
        }
    }

    /// One more user for item `index`.
    pub(super) fn add_user(&mut self, index: usize) {
        let mut i = index + 1;
        while i < self.tree.len() {
            self.tree[i] += 1;
            i += i & i.wrapping_neg();
        }
        self.total += 1;
    }

    /// An item index drawn with probability proportional to its weight; `None` for no items.
    pub(super) fn sample(&self, rng: &mut impl Rng) -> Option<usize> {
        if self.total == 0 {
            return None;
        }
        let mut target = rng.random_range(0..self.total);
        let (mut position, mut step) = (0usize, (self.tree.len() - 1).next_power_of_two());
        while step > 0 {
            let next = position + step;
            if next < self.tree.len() && self.tree[next] <= target {
                target -= self.tree[next];
                position = next;
            }
            step /= 2;
        }
        Some(position)
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn draws_in_proportion_to_one_plus_users() {
        let mut sampler = PopularitySampler::new(3);
        for _ in 0..7 {
            sampler.add_user(2);
        }
        sampler.add_user(0);
        // weights 2, 1, 8 of 11
        let mut rng = StdRng::seed_from_u64(1);
        let mut counts = [0usize; 3];
        for _ in 0..11_000 {
            counts[sampler.sample(&mut rng).unwrap()] += 1;
        }
        for (count, weight) in counts.iter().zip([2.0, 1.0, 8.0]) {
            let expected = weight * 1000.0;
            assert!(
                (*count as f64 - expected).abs() < 0.1 * expected,
                "{counts:?}"
            );
        }
        assert_eq!(PopularitySampler::new(0).sample(&mut rng), None);
    }
}
