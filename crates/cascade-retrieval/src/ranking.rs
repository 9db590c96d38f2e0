//! What the counting recall sources (popular, trending, item-CF) share: picking the top `k`
//! scores, and a ranking cached between recomputations.

use std::cmp::Ordering;
use std::sync::Arc;
use std::sync::atomic::{self, AtomicBool, AtomicU64};

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
/// co-occurrence row) is never copied whole; once `k` are kept, a score below the worst of
/// them is skipped with one comparison (most of a long-tailed input, such as a million items'
/// popularity counts).
pub(crate) fn top_k<K: Ord, S: Score>(
    scores: impl IntoIterator<Item = (K, S)>,
    k: usize,
) -> Vec<(K, S)> {
    let mut kept = Vec::new();
    let mut worst_kept: Option<S> = None;
    for scored in scores {
        if worst_kept.is_some_and(|worst| scored.1.total_order(&worst) == Ordering::Less) {
            continue;
        }
        kept.push(scored);
        if kept.len() >= 2 * k.max(1) {
            keep_best(&mut kept, k);
            worst_kept = kept
                .iter()
                .map(|(_, score)| *score)
                .min_by(Score::total_order);
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
}

/// A ranking cached between recomputations.
///
/// Refreshed in the background (`refreshed`), readers ([`CachedRanking::get`]) take the last
/// computed ranking and never wait for a recomputation, which holds the counts' read lock (a
/// writer queued for that lock would hold back every reader behind it); they compute it only
/// while none exists yet. The server calls [`CachedRanking::refresh`] periodically on a
/// background thread. Otherwise a reader recomputes whenever the source changed (tests, tiny
/// catalogues).
///
/// A refresh recomputes only when the ranking was read since the last one, so a source no
/// scene uses costs nothing. One caller recomputes at a time; the others take the previous
/// ranking. The source's version is an atomic counter ([`CachedRanking::changed`]), so
/// finding out whether the ranking is stale takes no lock.
pub(crate) struct CachedRanking {
    cached: Mutex<Cached>,
    /// Bumped by the source with every change.
    version: AtomicU64,
    /// Whether [`CachedRanking::refresh`] keeps the ranking fresh, rather than readers.
    refreshed: bool,
    computing: AtomicBool,
    read_since_refresh: AtomicBool,
}

/// Marks a recomputation in progress until dropped.
struct Computing<'a>(&'a AtomicBool);

impl Drop for Computing<'_> {
    fn drop(&mut self) {
        self.0.store(false, atomic::Ordering::Release);
    }
}

impl CachedRanking {
    /// An empty cache, kept fresh by [`CachedRanking::refresh`] when `refreshed`, else by
    /// its readers.
    pub(crate) fn new(refreshed: bool) -> Self {
        Self {
            cached: Mutex::new(Cached {
                items: Arc::new(Vec::new()),
                version: 0,
            }),
            version: AtomicU64::new(0),
            refreshed,
            computing: AtomicBool::new(false),
            read_since_refresh: AtomicBool::new(false),
        }
    }

    /// Marks the source changed: call after each change, under the source's write lock.
    pub(crate) fn changed(&self) {
        self.version.fetch_add(1, atomic::Ordering::Release);
    }

    /// The ranking: the cached one, unless none was computed yet or (not `refreshed`) the
    /// source changed since; `compute` ranks the source as it is.
    pub(crate) fn get(&self, compute: impl FnOnce() -> Vec<(String, f64)>) -> Ranking {
        let version = self.version.load(atomic::Ordering::Acquire);
        self.read_since_refresh
            .store(true, atomic::Ordering::Relaxed);
        let (items, stale) = {
            let cached = self.cached.lock();
            let stale = cached.version != version && (cached.items.is_empty() || !self.refreshed);
            (cached.items.clone(), stale)
        };
        if stale {
            self.recompute(items, version, compute)
        } else {
            items
        }
    }

    /// Recomputes the ranking when it was read since the last refresh and the source changed
    /// since it was computed.
    pub(crate) fn refresh(&self, compute: impl FnOnce() -> Vec<(String, f64)>) {
        let version = self.version.load(atomic::Ordering::Acquire);
        if !self
            .read_since_refresh
            .swap(false, atomic::Ordering::Relaxed)
        {
            return;
        }
        self.prime_at(version, compute);
    }

    /// Recomputes the ranking if the source changed since it was computed, whether or not it
    /// was read: at start-up, so that the first readers find it computed.
    pub(crate) fn prime(&self, compute: impl FnOnce() -> Vec<(String, f64)>) {
        self.prime_at(self.version.load(atomic::Ordering::Acquire), compute);
    }

    fn prime_at(&self, version: u64, compute: impl FnOnce() -> Vec<(String, f64)>) {
        let (items, stale) = {
            let cached = self.cached.lock();
            (cached.items.clone(), cached.version != version)
        };
        if stale {
            self.recompute(items, version, compute);
        }
    }

    /// Computes and caches a fresh ranking of the source at (at least) `version`, unless another
    /// caller is computing one: then the `previous` ranking, or when that is empty a ranking
    /// computed for this caller alone. A change that lands during the computation may or may
    /// not be in it; it is marked as not, so the next look recomputes.
    fn recompute(
        &self,
        previous: Ranking,
        version: u64,
        compute: impl FnOnce() -> Vec<(String, f64)>,
    ) -> Ranking {
        let _computing = match self.computing.compare_exchange(
            false,
            true,
            atomic::Ordering::Acquire,
            atomic::Ordering::Relaxed,
        ) {
            Ok(_) => Computing(&self.computing),
            Err(_) if !previous.is_empty() => return previous,
            Err(_) => return Arc::new(compute()),
        };
        let fresh = Arc::new(compute());
        *self.cached.lock() = Cached {
            items: fresh.clone(),
            version,
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

    /// A computation giving a one-item ranking named `label`.
    fn ranking(label: &str) -> impl FnOnce() -> Vec<(String, f64)> {
        let label = label.to_string();
        move || vec![(label, 1.0)]
    }

    fn never() -> Vec<(String, f64)> {
        panic!("recomputed when the cached ranking should have been served")
    }

    fn first(ranking: &Ranking) -> &str {
        &ranking[0].0
    }

    #[test]
    fn refreshed_reads_serve_the_cache_and_refreshes_recompute() {
        let cache = CachedRanking::new(true);
        cache.changed();
        assert_eq!(first(&cache.get(ranking("a"))), "a", "none yet: computed");
        cache.changed();
        assert_eq!(first(&cache.get(never)), "a", "a read never recomputes");
        cache.refresh(ranking("b"));
        assert_eq!(first(&cache.get(never)), "b", "read since: refreshed");
        cache.refresh(never);
        assert_eq!(first(&cache.get(never)), "b", "unchanged source: kept");
        cache.changed();
        cache.refresh(ranking("c"));
        cache.changed();
        cache.refresh(never);
        assert_eq!(
            first(&cache.get(never)),
            "c",
            "not read since: not refreshed"
        );
    }

    #[test]
    fn priming_computes_a_changed_ranking_that_nobody_read() {
        let cache = CachedRanking::new(true);
        cache.changed();
        cache.refresh(never);
        cache.prime(ranking("a"));
        assert_eq!(first(&cache.get(never)), "a", "primed before any read");
        cache.prime(never);
        cache.changed();
        cache.prime(ranking("b"));
        assert_eq!(
            first(&cache.get(never)),
            "b",
            "a stale ranking is primed again"
        );
    }

    #[test]
    fn otherwise_reads_recompute_when_the_source_changed() {
        let cache = CachedRanking::new(false);
        cache.changed();
        assert_eq!(first(&cache.get(ranking("a"))), "a");
        assert_eq!(first(&cache.get(never)), "a");
        cache.changed();
        assert_eq!(first(&cache.get(ranking("b"))), "b");
    }
}
