//! What the counting recall sources (popular, trending, item-CF) share: picking the top `k`
//! scores, and a ranking cached between recomputations.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// The `k` highest scores, best first; ties broken by id for stable output.
pub(crate) fn top_k<'a>(
    scores: impl IntoIterator<Item = (&'a str, f64)>,
    k: usize,
) -> Vec<(&'a str, f64)> {
    let mut all: Vec<(&str, f64)> = scores.into_iter().collect();
    let order = |a: &(&str, f64), b: &(&str, f64)| b.1.total_cmp(&a.1).then(a.0.cmp(b.0));
    if all.len() > k {
        all.select_nth_unstable_by(k, order);
        all.truncate(k);
    }
    all.sort_unstable_by(order);
    all
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
pub(crate) struct CachedRanking {
    cached: Mutex<Cached>,
    refresh: Duration,
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
        }
    }

    /// The ranking for source `version`; `compute` gives a fresh ranking and the version it
    /// reflects.
    pub(crate) fn get(
        &self,
        version: u64,
        compute: impl FnOnce() -> (Vec<(String, f64)>, u64),
    ) -> Ranking {
        let mut cached = self.cached.lock();
        let stale = cached.version != version
            && (cached.items.is_empty() || cached.computed_at.elapsed() >= self.refresh);
        if stale {
            let (items, version) = compute();
            *cached = Cached {
                items: Arc::new(items),
                version,
                computed_at: Instant::now(),
            };
        }
        cached.items.clone()
    }
}
