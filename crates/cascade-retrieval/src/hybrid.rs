//! Hybrid search: fusing ranked lists (BM25 text hits, vector hits) into one ranking.

use std::collections::HashMap;

/// How ranked lists combine.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fusion {
    /// Reciprocal-rank fusion: Σ weight / (k + rank), rank from 1; robust to score scales.
    ReciprocalRank {
        /// The damping constant (60 in the original paper).
        k: f64,
    },
    /// Weighted sum of each list's scores, min–max normalised to [0, 1] within the list.
    WeightedScore,
}

/// One ranked list to fuse: its name, its weight and its hits (best first).
pub struct RankedList {
    /// The signal's name, e.g. `text` or `vector`.
    pub name: &'static str,
    /// The signal's weight.
    pub weight: f64,
    /// `(item id, score)`, best first.
    pub hits: Vec<(String, f64)>,
}

/// A fused result.
#[derive(Debug, Clone, PartialEq)]
pub struct FusedHit {
    /// The item.
    pub item_id: String,
    /// The fused score.
    pub score: f64,
    /// The item's score in each list that had it.
    pub signals: Vec<(&'static str, f64)>,
}

/// Fuses `lists` and returns the best `limit` items, best first (ties by id).
pub fn fuse(lists: &[RankedList], fusion: Fusion, limit: usize) -> Vec<FusedHit> {
    let mut fused: HashMap<&str, FusedHit> = HashMap::new();
    for list in lists {
        let (low, high) = list
            .hits
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), (_, s)| {
                (lo.min(*s), hi.max(*s))
            });
        for (rank, (item_id, score)) in list.hits.iter().enumerate() {
            let contribution = match fusion {
                Fusion::ReciprocalRank { k } => list.weight / (k + rank as f64 + 1.0),
                Fusion::WeightedScore if high > low => list.weight * (score - low) / (high - low),
                Fusion::WeightedScore => list.weight,
            };
            let hit = fused.entry(item_id).or_insert_with(|| FusedHit {
                item_id: item_id.clone(),
                score: 0.0,
                signals: Vec::new(),
            });
            hit.score += contribution;
            hit.signals.push((list.name, *score));
        }
    }
    let mut hits: Vec<FusedHit> = fused.into_values().collect();
    hits.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.item_id.cmp(&b.item_id))
    });
    hits.truncate(limit);
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(name: &'static str, weight: f64, hits: &[(&str, f64)]) -> RankedList {
        RankedList {
            name,
            weight,
            hits: hits.iter().map(|(id, s)| (id.to_string(), *s)).collect(),
        }
    }

    #[test]
    fn reciprocal_rank_rewards_agreement() {
        let lists = [
            list("text", 1.0, &[("a", 9.0), ("b", 5.0)]),
            list("vector", 1.0, &[("b", 0.9), ("c", 0.8)]),
        ];
        let hits = fuse(&lists, Fusion::ReciprocalRank { k: 60.0 }, 10);
        let ids: Vec<&str> = hits.iter().map(|h| h.item_id.as_str()).collect();
        assert_eq!(ids, ["b", "a", "c"]);
        assert!((hits[0].score - (1.0 / 62.0 + 1.0 / 61.0)).abs() < 1e-12);
        assert_eq!(hits[0].signals, [("text", 5.0), ("vector", 0.9)]);
    }

    #[test]
    fn weighted_scores_are_normalised_per_list() {
        let lists = [
            list("text", 0.8, &[("a", 10.0), ("b", 0.0)]),
            list("vector", 0.2, &[("b", 0.9), ("a", 0.1)]),
        ];
        let hits = fuse(&lists, Fusion::WeightedScore, 1);
        assert_eq!(hits[0].item_id, "a");
        assert!((hits[0].score - 0.8).abs() < 1e-12);
    }
}
