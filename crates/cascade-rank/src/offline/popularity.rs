//! The popularity baseline: every user gets the most-interacted items they have not seen.

use std::collections::BTreeMap;

/// Items ranked by how many training users interacted with them.
#[derive(Debug, Clone)]
pub struct Popularity {
    ranked: Vec<u32>,
}

impl Popularity {
    /// Counts the users of each item in `train` (items by user); ties rank the lower index first.
    pub fn fit(train: &BTreeMap<u32, Vec<u32>>) -> Self {
        let mut counts: BTreeMap<u32, usize> = BTreeMap::new();
        for &item in train.values().flatten() {
            *counts.entry(item).or_default() += 1;
        }
        let mut by_count: Vec<(u32, usize)> = counts.into_iter().collect();
        by_count.sort_by_key(|&(item, count)| (std::cmp::Reverse(count), item));
        Self {
            ranked: by_count.into_iter().map(|(item, _)| item).collect(),
        }
    }

    /// The `k` most popular items not in `seen` (sorted), most popular first.
    pub fn recommend(&self, seen: &[u32], k: usize) -> Vec<u32> {
        self.ranked
            .iter()
            .filter(|item| seen.binary_search(item).is_err())
            .take(k)
            .copied()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_by_user_count_and_skips_seen_items() {
        let train = BTreeMap::from([(0, vec![1, 2]), (1, vec![2, 3]), (2, vec![2, 3])]);
        let popularity = Popularity::fit(&train);
        assert_eq!(popularity.recommend(&[], 3), [2, 3, 1]);
        assert_eq!(popularity.recommend(&[2], 3), [3, 1]);
    }
}
