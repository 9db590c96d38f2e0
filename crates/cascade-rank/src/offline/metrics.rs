//! Ranking metrics with binary relevance.

use std::collections::HashSet;

/// Recall@K: the share of `relevant` (sorted) found in the first `k` of `ranked`.
pub fn recall_at_k(ranked: &[u32], relevant: &[u32], k: usize) -> f64 {
    if relevant.is_empty() {
        return 0.0;
    }
    let hits = ranked
        .iter()
        .take(k)
        .filter(|item| relevant.binary_search(item).is_ok())
        .count();
    hits as f64 / relevant.len() as f64
}

/// NDCG@K with binary relevance: the DCG of the first `k` of `ranked` over the ideal DCG of
/// `min(k, |relevant|)` hits; `relevant` is sorted.
pub fn ndcg_at_k(ranked: &[u32], relevant: &[u32], k: usize) -> f64 {
    let discount = |rank: usize| 1.0 / (rank as f64 + 2.0).log2();
    let ideal: f64 = (0..k.min(relevant.len())).map(discount).sum();
    if ideal == 0.0 {
        return 0.0;
    }
    let dcg: f64 = ranked
        .iter()
        .take(k)
        .enumerate()
        .filter(|(_, item)| relevant.binary_search(item).is_ok())
        .map(|(rank, _)| discount(rank))
        .sum();
    dcg / ideal
}

/// The averages of one evaluation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metrics {
    /// Mean Recall@K over evaluated users.
    pub recall: f64,
    /// Mean NDCG@K over evaluated users.
    pub ndcg: f64,
    /// The share of the catalogue that appeared in at least one user's top K.
    pub coverage: f64,
    /// How many users were evaluated.
    pub users: usize,
}

/// Running sums of an evaluation at a cut-off `k`, one user at a time.
#[derive(Debug, Clone)]
pub struct Evaluation {
    k: usize,
    recall: f64,
    ndcg: f64,
    users: usize,
    recommended: HashSet<u32>,
}

impl Evaluation {
    /// An empty evaluation at cut-off `k`.
    pub fn new(k: usize) -> Self {
        Self {
            k,
            recall: 0.0,
            ndcg: 0.0,
            users: 0,
            recommended: HashSet::new(),
        }
    }

    /// Adds one user's ranking and held-out items (sorted).
    pub fn add(&mut self, ranked: &[u32], relevant: &[u32]) {
        self.recall += recall_at_k(ranked, relevant, self.k);
        self.ndcg += ndcg_at_k(ranked, relevant, self.k);
        self.users += 1;
        self.recommended.extend(ranked.iter().take(self.k));
    }

    /// Adds the users another evaluation (at the same cut-off) saw.
    pub fn merge(&mut self, other: Evaluation) {
        self.recall += other.recall;
        self.ndcg += other.ndcg;
        self.users += other.users;
        self.recommended.extend(other.recommended);
    }

    /// The averages; coverage is over a catalogue of `catalogue_size` items.
    pub fn finish(&self, catalogue_size: usize) -> Metrics {
        let per_user = |sum: f64| {
            if self.users == 0 {
                0.0
            } else {
                sum / self.users as f64
            }
        };
        Metrics {
            recall: per_user(self.recall),
            ndcg: per_user(self.ndcg),
            coverage: if catalogue_size == 0 {
                0.0
            } else {
                self.recommended.len() as f64 / catalogue_size as f64
            },
            users: self.users,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn recall_counts_hits_in_the_top_k_over_all_relevant() {
        // hits at ranks 1 and 3 of the top 3; one relevant item beyond the cut-off
        let ranked = [5, 1, 7, 2];
        assert!(close(recall_at_k(&ranked, &[2, 5, 7], 3), 2.0 / 3.0));
        assert!(close(recall_at_k(&ranked, &[9], 3), 0.0));
        assert!(close(recall_at_k(&ranked, &[], 3), 0.0));
    }

    #[test]
    fn ndcg_discounts_by_rank_over_the_ideal_of_min_k_relevant() {
        let ranked = [5, 1, 7, 2];
        // DCG = 1/log2(2) + 1/log2(4) = 1.5; ideal over min(3, 3) = 1 + 1/log2(3) + 1/2
        let ideal = 1.0 + 1.0 / 3f64.log2() + 0.5;
        assert!(close(ndcg_at_k(&ranked, &[2, 5, 7], 3), 1.5 / ideal));
        // one relevant item at rank 2: (1/log2(3)) / 1
        assert!(close(ndcg_at_k(&ranked, &[1], 3), 1.0 / 3f64.log2()));
        // more relevant items than k: the ideal stops at k
        assert!(close(ndcg_at_k(&[1, 2], &[1, 2, 3, 4], 2), 1.0));
    }

    #[test]
    fn evaluation_averages_users_and_measures_coverage() {
        let mut a = Evaluation::new(2);
        a.add(&[1, 2, 3], &[1]);
        let mut b = Evaluation::new(2);
        b.add(&[3, 2, 1], &[4]);
        a.merge(b);
        let metrics = a.finish(10);
        assert_eq!(metrics.users, 2);
        assert!(close(metrics.recall, 0.5));
        assert!(close(metrics.ndcg, 0.5));
        assert!(close(metrics.coverage, 0.3), "items 1, 2, 3 of 10");
    }
}
