//! Sorters (re-rank): reorder candidates. Each is a `SortConfs` type, built from its settings.

use std::collections::VecDeque;

use cascade_core::RequestContext;
use cascade_core::expr::Expr;

use crate::entry::Entry;

/// Reorders a list of candidates.
pub trait Sorter: Send + Sync {
    /// The candidates in their new order.
    fn sort(&self, request: &RequestContext, entries: Vec<Entry>) -> Vec<Entry>;
}

fn by_score_desc(entries: &mut [Entry]) {
    entries.sort_by(|a, b| b.candidate.score.total_cmp(&a.candidate.score));
}

/// `ItemRankScore`: by score, highest first (stable for ties).
pub struct ScoreSort;

impl Sorter for ScoreSort {
    fn sort(&self, _: &RequestContext, mut entries: Vec<Entry>) -> Vec<Entry> {
        by_score_desc(&mut entries);
        entries
    }
}

/// One boost or bury rule: where `condition` holds, `score × multiply + add`.
pub struct Boost {
    /// When the rule applies.
    pub condition: Expr,
    /// Factor (below 1 buries).
    pub multiply: f64,
    /// Offset.
    pub add: f64,
}

/// `BoostScoreSort`: applies boost/bury rules to scores, then sorts by score.
pub struct BoostSort {
    /// The rules, applied in order.
    pub boosts: Vec<Boost>,
}

impl Sorter for BoostSort {
    fn sort(&self, _: &RequestContext, mut entries: Vec<Entry>) -> Vec<Entry> {
        for entry in &mut entries {
            for boost in &self.boosts {
                if boost.condition.eval(&|name| entry.value(name)).is_true() {
                    let score = entry.candidate.score * boost.multiply + boost.add;
                    entry.set_score("boost", score);
                }
            }
        }
        by_score_desc(&mut entries);
        entries
    }
}

/// `DiversityRuleSort`: at most `max_per_window` items with the same `field` value in any
/// `window` consecutive positions; an item that would break the rule waits for a later slot
/// (and takes the slot when no waiting item fits).
///
/// Only the first `request.size` positions reach an answer, so the rule places those and the
/// other items follow them in their incoming order. Placing is greedy, slot by slot, so those
/// positions are the ones a placement of the whole list would give; an item's field is read
/// only when the item is considered for a slot, not for each of the hundreds ranked.
pub struct DiversityRuleSort {
    /// The categorical field.
    pub field: String,
    /// The window length.
    pub window: usize,
    /// The most items of one value per window.
    pub max_per_window: usize,
}

impl Sorter for DiversityRuleSort {
    fn sort(&self, request: &RequestContext, entries: Vec<Entry>) -> Vec<Entry> {
        let slots = request.size.min(entries.len());
        // Each entry's category key, read on first use; entries move by position, once, at
        // the end.
        let mut keys: Vec<Option<Option<u64>>> = vec![None; entries.len()];
        let mut key =
            |at: usize| *keys[at].get_or_insert_with(|| entries[at].category_key(&self.field));
        let mut waiting: VecDeque<usize> = (0..entries.len()).collect();
        let mut placed: Vec<(Option<u64>, usize)> = Vec::with_capacity(entries.len());
        while placed.len() < slots {
            let recent = &placed[placed.len().saturating_sub(self.window.saturating_sub(1))..];
            let index = waiting
                .iter()
                .position(|&at| {
                    let category = key(at);
                    category.is_none()
                        || recent.iter().filter(|(c, _)| *c == category).count()
                            < self.max_per_window
                })
                .unwrap_or(0);
            let Some(at) = waiting.remove(index) else {
                break;
            };
            placed.push((key(at), at));
        }
        let order: Vec<usize> = placed
            .into_iter()
            .map(|(_, at)| at)
            .chain(waiting)
            .collect();
        let mut entries: Vec<Option<Entry>> = entries.into_iter().map(Some).collect();
        order
            .into_iter()
            .filter_map(|at| entries[at].take())
            .collect()
    }
}

/// What MMR measures similarity by.
pub enum Similarity {
    /// 1 when a categorical field is equal, else 0.
    Field(String),
    /// Cosine similarity of a named embedding (0 when either item lacks it).
    Embedding(String),
}

/// `MMRSort`: maximal marginal relevance over the first `top_n` candidates:
/// repeatedly picks `λ·relevance − (1−λ)·max similarity to those already picked`, with
/// relevance the min–max normalised score.
pub struct MmrSort {
    /// The trade-off λ in [0, 1]; 1 is pure relevance.
    pub lambda: f64,
    /// The similarity measure.
    pub similarity: Similarity,
    /// How many leading candidates are re-ranked.
    pub top_n: usize,
}

impl MmrSort {
    fn similarity(&self, a: &Entry, b: &Entry) -> f64 {
        match &self.similarity {
            Similarity::Field(field) => match (a.category_key(field), b.category_key(field)) {
                (Some(x), Some(y)) if x == y => 1.0,
                _ => 0.0,
            },
            Similarity::Embedding(name) => match (embedding(a, name), embedding(b, name)) {
                (Some(x), Some(y)) => cosine(x, y),
                _ => 0.0,
            },
        }
    }
}

fn embedding<'a>(entry: &'a Entry, name: &str) -> Option<&'a [f32]> {
    entry.item.as_ref()?.embeddings.get(name).map(Vec::as_slice)
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut dot, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y) in a.iter().zip(b) {
        dot += f64::from(*x) * f64::from(*y);
        aa += f64::from(*x) * f64::from(*x);
        bb += f64::from(*y) * f64::from(*y);
    }
    if aa == 0.0 || bb == 0.0 {
        0.0
    } else {
        dot / (aa.sqrt() * bb.sqrt())
    }
}

impl Sorter for MmrSort {
    fn sort(&self, _: &RequestContext, mut entries: Vec<Entry>) -> Vec<Entry> {
        let tail = entries.split_off(self.top_n.min(entries.len()));
        let (low, high) = entries.iter().fold((f64::MAX, f64::MIN), |(lo, hi), e| {
            (lo.min(e.candidate.score), hi.max(e.candidate.score))
        });
        let span = if high > low { high - low } else { 1.0 };
        let mut pool: Vec<(f64, Entry)> = entries
            .into_iter()
            .map(|e| ((e.candidate.score - low) / span, e))
            .collect();
        let mut picked: Vec<Entry> = Vec::with_capacity(pool.len() + tail.len());
        // max similarity of each pool entry to the picked set, updated incrementally
        let mut max_similarity = vec![0.0f64; pool.len()];
        while !pool.is_empty() {
            let best = (0..pool.len())
                .max_by(|&i, &j| {
                    let value = |k: usize| {
                        self.lambda * pool[k].0 - (1.0 - self.lambda) * max_similarity[k]
                    };
                    value(i).total_cmp(&value(j)).then(j.cmp(&i))
                })
                .unwrap_or(0);
            let (_, chosen) = pool.swap_remove(best);
            max_similarity.swap_remove(best);
            for (k, (_, other)) in pool.iter().enumerate() {
                max_similarity[k] = max_similarity[k].max(self.similarity(&chosen, other));
            }
            picked.push(chosen);
        }
        picked.extend(tail);
        picked
    }
}

/// `MixSort`: puts candidates of one pipeline at fixed 1-based positions (e.g. the cold-start
/// pipeline's best two at positions 3 and 8); the rest keep their order around them.
pub struct MixSort {
    /// The pipeline whose candidates are placed.
    pub pipeline: String,
    /// The 1-based positions, ascending.
    pub positions: Vec<usize>,
}

impl Sorter for MixSort {
    fn sort(&self, _: &RequestContext, entries: Vec<Entry>) -> Vec<Entry> {
        let (mut placed, mut others): (VecDeque<Entry>, VecDeque<Entry>) = entries
            .into_iter()
            .partition(|e| *e.pipeline == *self.pipeline);
        placed.truncate(self.positions.len());
        let total = placed.len() + others.len();
        let mut out = Vec::with_capacity(total);
        let mut slots = self.positions.iter().peekable();
        while out.len() < total {
            let position = out.len() + 1;
            let take_placed = slots.peek().is_some_and(|&&p| p <= position) && !placed.is_empty();
            let next = if take_placed {
                slots.next();
                placed.pop_front()
            } else {
                others.pop_front().or_else(|| placed.pop_front())
            };
            out.extend(next);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::test_entry;
    use cascade_core::FieldValue;

    fn author(id: &str, score: f64, author: &str) -> Entry {
        test_entry(
            id,
            score,
            "main",
            &[("author", FieldValue::Keyword(author.into()))],
        )
    }

    fn ids(entries: &[Entry]) -> Vec<&str> {
        entries.iter().map(Entry::id).collect()
    }

    fn request() -> RequestContext {
        RequestContext::default()
    }

    #[test]
    fn diversity_rule_spreads_one_author_over_the_window() {
        let sorter = DiversityRuleSort {
            field: "author".into(),
            window: 2,
            max_per_window: 1,
        };
        let entries = || {
            vec![
                author("a1", 9.0, "a"),
                author("a2", 8.0, "a"),
                author("a3", 7.0, "a"),
                author("b1", 6.0, "b"),
                author("a4", 5.0, "a"),
                author("b2", 4.0, "b"),
                author("c1", 3.0, "c"),
                author("a5", 2.0, "a"),
            ]
        };
        let sized = |size| RequestContext { size, ..request() };
        assert_eq!(
            ids(&sorter.sort(&sized(10), entries())),
            ["a1", "b1", "a2", "b2", "a3", "c1", "a4", "a5"],
            "an `a` waits while the last slot holds one; when nothing else is left it takes the slot"
        );
        assert_eq!(
            ids(&sorter.sort(&sized(3), entries())),
            ["a1", "b1", "a2", "a3", "a4", "b2", "c1", "a5"],
            "the answer's three slots are placed as above, the rest follow in their order"
        );
    }

    #[test]
    fn mmr_trades_relevance_for_variety() {
        let entries = || {
            vec![
                author("a1", 1.0, "a"),
                author("a2", 0.9, "a"),
                author("b1", 0.5, "b"),
            ]
        };
        let diverse = MmrSort {
            lambda: 0.5,
            similarity: Similarity::Field("author".into()),
            top_n: 10,
        };
        assert_eq!(
            ids(&diverse.sort(&request(), entries())),
            ["a1", "b1", "a2"]
        );
        let relevant = MmrSort {
            lambda: 1.0,
            similarity: Similarity::Field("author".into()),
            top_n: 10,
        };
        assert_eq!(
            ids(&relevant.sort(&request(), entries())),
            ["a1", "a2", "b1"]
        );
    }

    #[test]
    fn mix_places_a_pipeline_at_fixed_positions() {
        let mut entries: Vec<Entry> = (0..6).map(|i| author(&format!("m{i}"), 0.0, "x")).collect();
        entries.push(test_entry("c0", 0.0, "cold", &[]));
        entries.push(test_entry("c1", 0.0, "cold", &[]));
        entries.push(test_entry("c2", 0.0, "cold", &[]));
        let sorter = MixSort {
            pipeline: "cold".into(),
            positions: vec![3, 5],
        };
        assert_eq!(
            ids(&sorter.sort(&request(), entries)),
            ["m0", "m1", "c0", "m2", "c1", "m3", "m4", "m5"]
        );
    }

    #[test]
    fn boosts_and_buries_by_condition() {
        let sorter = BoostSort {
            boosts: vec![
                Boost {
                    condition: Expr::parse("author == 'b'").unwrap(),
                    multiply: 3.0,
                    add: 0.0,
                },
                Boost {
                    condition: Expr::parse("score > 8").unwrap(),
                    multiply: 0.1,
                    add: 0.0,
                },
            ],
        };
        let entries = vec![
            author("a1", 9.0, "a"),
            author("a2", 2.0, "a"),
            author("b1", 1.0, "b"),
        ];
        assert_eq!(ids(&sorter.sort(&request(), entries)), ["b1", "a2", "a1"]);
    }
}
