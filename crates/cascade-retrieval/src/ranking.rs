//! What the counting recall sources (popular, trending, item-CF) share: picking the top `k`
//! scores, and a ranking cached between recomputations.

use std::cmp::Ordering;
use std::sync::Arc;
use std::sync::atomic::{self, AtomicBool};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// A score that [`top_k`] orders totally (NaN included), as `f64::total_cmp` does.
pub(crate) trait Score: Copy {
    /// The total order of `self` against `other`.
    fn total_order(&self, other: &Self) -> Ordering;
}

impl Score for f64 {
    fn total_order(&self, other: &Self) -> Ordering {
        self.total_cmp(other)
    }
}

impl Score for f32 {
    fn total_order(&self, other: &Self) -> Ordering {
        self.total_cmp(other)
    }
}

/// Best first, ties broken by key for stable output.
fn best_first<K: Ord, S: Score>(a: &(K, S), b: &(K, S)) -> Ordering {
    b.1.total_order(&a.1).then(a.0.cmp(&b.0))
}

/// Keeps the `k` best of `kept`, in no particular order.
fn keep_best<K: Ord, S: Score>(kept: &mut Vec<(K, S)>, k: usize) {
    if kept.len() > k {
        kept.select_nth_unstable_by(k, best_first);
        kept.truncate(k);
    }
}

/// The `k` highest scores, best first; ties broken by key for stable output. Holds at most
/// `2k` scores at a time, so a long input of which few are kept (a popular item's
/// co-occurrence row) is never copied whole.
pub(crate) fn top_k<K: Ord, S: Score>(
    scores: impl IntoIterator<Item = (K, S)>,
    k: usize,
) -> Vec<(K, S)> {
    let mut kept = Vec::new();
    for scored in scores {
        kept.push(scored);
        if kept.len() >= 2 * k.max(1) {
            keep_best(&mut kept, k);
        }
    }
    keep_best(&mut kept, k);
    kept.sort_unstable_by(best_first);
    kept
}

/// A ranked list, best first.
pub type Ranking = Arc<Vec<(String, f64)>>;

struct Cached {
    items: Ranking,
    version: u64,
    computed_at: Instant,
}

/// A ranking recomputed only when its source changed (a new version) and the last
/// computation is older than the refresh period, or when it is empty.
///
/// One caller recomputes while the others go on with the previous ranking, so a slow
/// recomputation (a million counted items) delays one request, not every request behind it.
pub(crate) struct CachedRanking {
    cached: Mutex<Cached>,
    refresh: Duration,
    computing: AtomicBool,
}

/// Marks a recomputation in progress until dropped.
struct Computing<'a>(&'a AtomicBool);

impl Drop for Computing<'_> {
    fn drop(&mut self) {
        self.0.store(false, atomic::Ordering::Release);
    }
}

impl CachedRanking {
    /// An empty cache recomputed at most every `refresh`.
    pub(crate) fn new(refresh: Duration) -> Self {
        Self {
            cached: Mutex::new(Cached {
                items: Arc::new(Vec::new()),
                version: 0,
                computed_at: Instant::now(),
            }),
            refresh,
            computing: AtomicBool::new(false),
        }
    }

    /// The ranking for source `version`; `compute` gives a fresh ranking and the version it
    /// reflects.
    pub(crate) fn get(
        &self,
        version: u64,
        compute: impl FnOnce() -> (Vec<(String, f64)>, u64),
    ) -> Ranking {
        let (items, stale) = {
            let cached = self.cached.lock();
            let stale = cached.version != version
                && (cached.items.is_empty() || cached.computed_at.elapsed() >= self.refresh);
            (cached.items.clone(), stale)
        };
        if !stale {
            return items;
        }
        let _computing = match self.computing.compare_exchange(
            false,
            true,
            atomic::Ordering::Acquire,
            atomic::Ordering::Relaxed,
        ) {
            Ok(_) => Computing(&self.computing),
            // Another caller is recomputing; an empty ranking is not worth serving meanwhile.
            Err(_) if !items.is_empty() => return items,
            Err(_) => return Arc::new(compute().0),
        };
        let (fresh, version) = compute();
        let fresh = Arc::new(fresh);
        *self.cached.lock() = Cached {
            items: fresh.clone(),
            version,
            computed_at: Instant::now(),
        };
        fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_keeps_the_best_in_order_ties_by_key() {
        // Scores repeat every 7 keys, so many keys tie; the keys come in a scrambled order.
        let scores: Vec<(u32, f32)> = (0..1000u32)
            .map(|i| (i * 389) % 1000)
            .map(|key| (key, (key % 7) as f32))
            .collect();
        let mut sorted = scores.clone();
        sorted.sort_by(best_first);
        for k in [0, 1, 5, 100, 999, 1000, 2000] {
            let expected = &sorted[..k.min(sorted.len())];
            assert_eq!(top_k(scores.iter().copied(), k), expected, "k = {k}");
        }
        assert_eq!(
            top_k(scores.iter().copied(), 3),
            [(6, 6.0), (13, 6.0), (20, 6.0)]
        );
    }
}
