//! The best-scoring rows of a factor block for one query vector.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use super::matrix::dot;

/// A score ordered by `total_cmp`, ties broken towards the lower index.
#[derive(PartialEq)]
struct Scored(f32, u32);

impl Eq for Scored {}

impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scored {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0).then(other.1.cmp(&self.1))
    }
}

/// The `k` rows of `block` (`factors` wide) with the highest dot product with `query`, best
/// first, skipping rows for which `excluded` is true.
pub(crate) fn top_k(
    block: &[f32],
    query: &[f32],
    k: usize,
    excluded: impl Fn(u32) -> bool,
) -> Vec<(u32, f32)> {
    let mut heap = BinaryHeap::with_capacity(k + 1);
    if k == 0 {
        return Vec::new();
    }
    for (row, factors) in block.chunks_exact(query.len()).enumerate() {
        let row = row as u32;
        if excluded(row) {
            continue;
        }
        let scored = Scored(dot(factors, query), row);
        if heap.len() < k {
            heap.push(Reverse(scored));
        } else if heap.peek().is_some_and(|Reverse(worst)| scored > *worst) {
            heap.pop();
            heap.push(Reverse(scored));
        }
    }
    heap.into_sorted_vec()
        .into_iter()
        .map(|Reverse(Scored(score, row))| (row, score))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_best_unexcluded_rows_best_first() {
        let block = [1.0, 0.0, 3.0, 0.0, 2.0, 0.0, 3.0, 0.0];
        let best = top_k(&block, &[1.0, 0.0], 2, |row| row == 1);
        assert_eq!(best, [(3, 3.0), (2, 2.0)]);
        assert!(top_k(&block, &[1.0, 0.0], 0, |_| false).is_empty());
    }
}
