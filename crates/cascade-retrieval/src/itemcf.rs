//! Item-to-item collaborative filtering, kept up to date from the event stream.
//!
//! [`ItemCfIndex`] keeps each user's last N distinct interacted items (most recent first).
//! When a user interacts with an item that is not among them, the co-occurrence count of that
//! item with each of the user's other kept items is incremented (symmetrically), and so is the
//! item's user count. Re-interacting with a kept item only moves it to the front. Exposure
//! events (impressions) do not count. Histories are bounded by N per user; the counts grow by
//! at most N - 1 pairs per new (user, item) interaction. An item that fell out of a user's
//! window and comes back is counted again, as a new interaction.
//!
//! Two similarities are offered:
//! - [`Similarity::Cosine`], `co(i, j) / sqrt(n_i · n_j)`, is **incremental**: every event
//!   updates the counts. A recall sums each history item's best-neighbour list; without a
//!   refresh period those lists are computed from the counts at every recall, with one they are
//!   kept in a table that [`ItemCfIndex::refresh_neighbours`] recomputes for the items whose
//!   counts changed enough, so that a recall only reads (a popular item pairs with a large part
//!   of the catalogue, and computing its list costs more than a whole recall may).
//! - [`Similarity::Swing`] (Alibaba's Swing), `Σ 1 / (alpha + |I_u ∩ I_v|)` over unordered
//!   pairs of users `u, v` who both interacted with `i` and `j`, is **batch**: it is computed
//!   over the kept histories by [`ItemCfIndex::rebuild_swing`] and is empty until then.
//!
//! Ties between equal scores go to the item seen first. [`ItemCfRecall`] turns the index into
//! a [`RecallSource`] for one similarity.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ahash::HashMap as FastMap;

use cascade_core::{Candidate, Event, EventObserver, EventTypes, RequestContext};
use parking_lot::RwLock;

use crate::als::IdMap;
use crate::ranking::top_k;
use crate::source::RecallSource;

/// Item-CF settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemCfConfig {
    /// How many distinct recently interacted items are kept per user (at least 1).
    pub history_len: usize,
    /// Swing's smoothing term `alpha`.
    pub swing_alpha: f64,
    /// How many of each history item's best neighbours a recall adds up.
    pub neighbours_per_item: usize,
    /// Whether cosine neighbour lists are kept in a table recomputed by
    /// [`ItemCfIndex::refresh_neighbours`] (which someone must call) instead of being computed
    /// at every recall.
    pub refreshed_lists: bool,
    /// With refreshed lists: a changed item's list is recomputed once its new co-occurrences
    /// reach this fraction of its number of co-occurring items (0: at every refresh).
    pub refresh_fraction: f64,
}

impl Default for ItemCfConfig {
    fn default() -> Self {
        Self {
            history_len: 50,
            swing_alpha: 1.0,
            neighbours_per_item: 100,
            refreshed_lists: false,
            refresh_fraction: 0.05,
        }
    }
}

/// How item-to-item similarity is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Similarity {
    /// Co-occurrence count over the geometric mean of the two items' user counts; incremental.
    Cosine,
    /// Alibaba's Swing over the kept histories; as of the last [`ItemCfIndex::rebuild_swing`].
    Swing,
}

/// What recalls read besides the neighbour lists: the item ids and each user's kept items.
/// Apart from [`Counts`] so that a recall never waits for a refresh, which reads the counts
/// for a millisecond at a time, nor for the co-occurrence updates of an event, which take
/// most of the event stream's time: the stream runs at background priority, and a recall
/// queued behind a lock it held waited for as long as the stream waited for a core.
#[derive(Default)]
struct Kept {
    items: IdMap,
    histories: FastMap<String, VecDeque<u32>>,
}

impl Kept {
    /// Records that `uid` interacted with `item`, keeping at most `history_len` items, and
    /// returns the item's index with, when the item is new to the user's window, the other
    /// kept items it now co-occurs with (a re-read only moves it to the front).
    fn record(&mut self, uid: &str, item: &str, history_len: usize) -> (u32, Option<Vec<u32>>) {
        let item = self.items.intern(item);
        if !self.histories.contains_key(uid) {
            self.histories.insert(uid.to_string(), VecDeque::new());
        }
        let history = self.histories.get_mut(uid).expect("inserted above");
        if let Some(position) = history.iter().position(|&kept| kept == item) {
            history.remove(position);
            history.push_front(item);
            return (item, None);
        }
        history.truncate(history_len.max(1) - 1);
        let others = history.iter().copied().collect();
        history.push_front(item);
        (item, Some(others))
    }

    /// The kept histories, each sorted by item index.
    fn sorted_histories(&self) -> Vec<Vec<u32>> {
        self.histories
            .values()
            .map(|history| {
                let mut items: Vec<u32> = history.iter().copied().collect();
                items.sort_unstable();
                items
            })
            .collect()
    }
}

/// The co-occurrence counts the event stream updates, by item index (see [`Kept`]).
#[derive(Default)]
struct Counts {
    /// Each item's user count, apart from `co` so that a pass over a row reads a dense array.
    users: Vec<u32>,
    /// Each item's co-occurrence counts with other items (ahash: every event updates up to
    /// `history_len` of these maps, and SipHash dominated the stream thread).
    co: Vec<FastMap<u32, u32>>,
    /// While the index keeps refreshed lists: the items whose co-occurrence counts changed
    /// since their list was computed, with how many co-occurrences they gained.
    changed: Option<FastMap<u32, u32>>,
}

impl Counts {
    /// Counts a new user of `item`, who also kept `others`.
    fn record(&mut self, item: u32, others: &[u32]) {
        let index = item as usize;
        if index >= self.users.len() {
            self.users.resize(index + 1, 0);
            self.co.resize_with(index + 1, FastMap::default);
        }
        for &other in others {
            *self.co[index].entry(other).or_default() += 1;
            *self.co[other as usize].entry(item).or_default() += 1;
        }
        if let Some(changed) = &mut self.changed
            && !others.is_empty()
        {
            *changed.entry(item).or_default() += others.len() as u32;
            for &other in others {
                *changed.entry(other).or_default() += 1;
            }
        }
        self.users[index] += 1;
    }

    /// Whether `gained` new co-occurrences are enough to recompute the list of `item`, with
    /// `fraction` as in [`ItemCfConfig::refresh_fraction`].
    fn list_due(&self, item: u32, gained: u32, fraction: f64) -> bool {
        f64::from(gained) >= fraction * self.co[item as usize].len() as f64
    }

    /// The `k` items with the highest cosine similarity to `item`, best first; none for an
    /// item not counted yet.
    fn best_cosine(&self, item: u32, k: usize) -> NeighbourList {
        let Some(row) = self.co.get(item as usize) else {
            return Vec::new();
        };
        let users = f64::from(self.users[item as usize]);
        let row = row.iter().map(|(&other, &co)| {
            let other_users = f64::from(self.users[other as usize]);
            (other, (f64::from(co) / (users * other_users).sqrt()) as f32)
        });
        top_k(row, k)
    }
}

/// An item's best neighbours by item index, best first.
type NeighbourList = Vec<(u32, f32)>;

/// How long a refresh reads the counts before letting the event stream write again.
const REFRESH_SLICE: Duration = Duration::from_millis(1);

/// How many not-yet-due items a refresh hands back to the changed set per write lock.
const CARRY_CHUNK: usize = 16_384;

/// Item-to-item co-occurrence over recent user histories, updated from events.
pub struct ItemCfIndex {
    config: ItemCfConfig,
    types: EventTypes,
    kept: RwLock<Kept>,
    counts: RwLock<Counts>,
    /// Each item's best swing neighbours, as of the last rebuild.
    swing: RwLock<FastMap<u32, NeighbourList>>,
    /// Each item's best cosine neighbours, as of the last refresh, when `refreshed_lists`.
    cosine: Option<RwLock<FastMap<u32, NeighbourList>>>,
    /// Whether a recall reads the swing lists (see [`ItemCfIndex::swing_wanted`]).
    swing_wanted: AtomicBool,
}

impl ItemCfIndex {
    /// An empty index; `types` says which events are exposure only.
    pub fn new(config: ItemCfConfig, types: EventTypes) -> Self {
        let counts = Counts {
            changed: config.refreshed_lists.then(FastMap::default),
            ..Counts::default()
        };
        Self {
            cosine: config.refreshed_lists.then(RwLock::default),
            config,
            types,
            kept: RwLock::default(),
            counts: RwLock::new(counts),
            swing: RwLock::default(),
            swing_wanted: AtomicBool::new(false),
        }
    }

    /// Whether some recall source reads the swing lists: set when an [`ItemCfRecall`] by
    /// swing is built. Until then a swing rebuild would be wasted work.
    pub fn swing_wanted(&self) -> bool {
        self.swing_wanted.load(Ordering::Relaxed)
    }

    /// Computes the neighbour lists that recalls read (the cosine lists of the items whose
    /// counts changed, the swing lists when a recall wants them): once the start-up replay is
    /// applied, so that the first request does not find them empty until the first periodic
    /// refresh or rebuild.
    pub fn prime(&self) {
        self.refresh_neighbours();
        if self.swing_wanted() {
            self.rebuild_swing();
        }
    }

    /// The user's kept items, most recent first; empty for an unknown user.
    pub fn recent_items(&self, uid: &str) -> Vec<String> {
        let kept = self.kept.read();
        kept.histories.get(uid).map_or_else(Vec::new, |history| {
            history
                .iter()
                .map(|&item| kept.items.id(item).to_string())
                .collect()
        })
    }

    /// Up to `k` items most similar to `item` by `measure`, best first; never `item` itself.
    /// Cosine is computed from the current counts; swing lists hold at most
    /// `neighbours_per_item`.
    pub fn neighbours(&self, item: &str, k: usize, measure: Similarity) -> Vec<(String, f32)> {
        let kept = self.kept.read();
        let Some(item) = kept.items.get(item) else {
            return Vec::new();
        };
        let best = match measure {
            Similarity::Cosine => self.counts.read().best_cosine(item, k),
            Similarity::Swing => self
                .swing
                .read()
                .get(&item)
                .map_or_else(Vec::new, |list| list.iter().take(k).copied().collect()),
        };
        best.into_iter()
            .map(|(other, score)| (kept.items.id(other).to_string(), score))
            .collect()
    }

    /// Recomputes Swing similarities over the kept histories (a batch pass; cosine needs none)
    /// and keeps each item's `neighbours_per_item` best.
    ///
    /// The histories are copied under a read lock and the scores computed without holding any
    /// lock, so events and recalls go on meanwhile. The cost grows with the sum over items of
    /// the square of their kept-user counts.
    pub fn rebuild_swing(&self) {
        let histories = self.kept.read().sorted_histories();
        let lists = swing_scores(&histories, self.config.swing_alpha)
            .into_iter()
            .map(|(item, row)| {
                let row = row.into_iter().map(|(other, score)| (other, score as f32));
                (item, top_k(row, self.config.neighbours_per_item))
            })
            .collect();
        *self.swing.write() = lists;
    }

    /// Recomputes the cosine neighbour lists of the changed items that are due (see
    /// [`ItemCfConfig::refresh_fraction`]; an item without a list always is), and returns how
    /// many; does nothing unless the index keeps refreshed lists. The other changed items keep
    /// their gains for a later refresh.
    ///
    /// The counts are read in slices of about a millisecond, so the event stream is never held
    /// back for long, and each slice's lists replace the old ones at once.
    pub fn refresh_neighbours(&self) -> usize {
        let Some(table) = &self.cosine else {
            return 0;
        };
        // Taken whole under the write lock and walked after it is released.
        let changed = self.counts.write().changed.as_mut().map(std::mem::take);
        let fraction = self.config.refresh_fraction;
        let mut pending = changed.unwrap_or_default().into_iter().peekable();
        let mut carried = Vec::new();
        let mut refreshed = 0;
        while pending.peek().is_some() {
            let mut lists = Vec::new();
            {
                let counts = self.counts.read();
                let listed = table.read();
                let started = Instant::now();
                while started.elapsed() < REFRESH_SLICE
                    && let Some((item, gained)) = pending.next()
                {
                    if listed.contains_key(&item) && !counts.list_due(item, gained, fraction) {
                        carried.push((item, gained));
                        continue;
                    }
                    lists.push((
                        item,
                        counts.best_cosine(item, self.config.neighbours_per_item),
                    ));
                }
            }
            refreshed += lists.len();
            table.write().extend(lists);
        }
        for chunk in carried.chunks(CARRY_CHUNK) {
            let mut counts = self.counts.write();
            let changed = counts.changed.as_mut().expect("kept with refreshed lists");
            for &(item, gained) in chunk {
                *changed.entry(item).or_default() += gained;
            }
        }
        refreshed
    }

    /// Up to `limit` items for `uid`: the neighbours of the user's kept items, each weighted
    /// by `1 / (1 + rank)` of the history item it came from (rank 0 is the most recent),
    /// summed; the user's own kept items are left out.
    fn recommend(&self, uid: &str, limit: usize, measure: Similarity) -> Vec<(String, f64)> {
        // The kept histories' lock is held only to copy the history and, at the end, to name
        // the results: the stream thread takes it for writing on every event, and readers that
        // held it for a whole recall made that writer, and the readers queued behind it, wait.
        // Without stored neighbour lists (`NeighbourRefreshSeconds` 0) the neighbours are
        // computed from the counts, under their lock.
        let history: Vec<u32> = match self.kept.read().histories.get(uid) {
            Some(history) => history.iter().copied().collect(),
            None => return Vec::new(),
        };
        let mut scores: FastMap<u32, f64> = FastMap::with_capacity_and_hasher(
            history.len() * self.config.neighbours_per_item,
            Default::default(),
        );
        let mut add = |rank: usize, neighbours: &[(u32, f32)]| {
            let weight = 1.0 / (1.0 + rank as f64);
            for &(other, similarity) in neighbours {
                *scores.entry(other).or_default() += weight * f64::from(similarity);
            }
        };
        let stored = match measure {
            Similarity::Cosine => self.cosine.as_ref(),
            Similarity::Swing => Some(&self.swing),
        };
        if let Some(lists) = stored {
            let lists = lists.read();
            for (rank, item) in history.iter().enumerate() {
                add(rank, lists.get(item).map_or(&[], Vec::as_slice));
            }
        } else {
            let counts = self.counts.read();
            for (rank, &item) in history.iter().enumerate() {
                add(
                    rank,
                    &counts.best_cosine(item, self.config.neighbours_per_item),
                );
            }
        }
        for item in &history {
            scores.remove(item);
        }
        let best = top_k(scores, limit);
        let kept = self.kept.read();
        best.into_iter()
            .map(|(item, score)| (kept.items.id(item).to_string(), score))
            .collect()
    }
}

impl EventObserver for ItemCfIndex {
    /// Updates the kept history, then the counts, under one lock at a time.
    fn observe(&self, _seq: u64, event: &Event) {
        if !self.types.is_interaction(&event.event_type) {
            return;
        }
        let (item, others) =
            self.kept
                .write()
                .record(&event.uid, &event.item_id, self.config.history_len);
        if let Some(others) = others {
            self.counts.write().record(item, &others);
        }
    }
}

/// Swing similarities over `histories` (each sorted): for every unordered pair of users who
/// share at least two items, each ordered pair of distinct shared items gains
/// `1 / (alpha + shared count)`.
fn swing_scores(histories: &[Vec<u32>], alpha: f64) -> HashMap<u32, HashMap<u32, f64>> {
    let mut users_of: HashMap<u32, Vec<usize>> = HashMap::new();
    for (user, items) in histories.iter().enumerate() {
        for &item in items {
            users_of.entry(item).or_default().push(user);
        }
    }
    let mut swing: HashMap<u32, HashMap<u32, f64>> = HashMap::new();
    for (user, items) in histories.iter().enumerate() {
        for shared in shared_with_later_users(user, items, &users_of).into_values() {
            if shared.len() < 2 {
                continue;
            }
            let weight = 1.0 / (alpha + shared.len() as f64);
            for &i in &shared {
                for &j in shared.iter().filter(|&&j| j != i) {
                    *swing.entry(i).or_default().entry(j).or_default() += weight;
                }
            }
        }
    }
    swing
}

/// For each user after `user` (by index) who shares items with it, the shared items.
fn shared_with_later_users(
    user: usize,
    items: &[u32],
    users_of: &HashMap<u32, Vec<usize>>,
) -> HashMap<usize, Vec<u32>> {
    let mut shared: HashMap<usize, Vec<u32>> = HashMap::new();
    for &item in items {
        for &other in users_of[&item].iter().filter(|&&other| other > user) {
            shared.entry(other).or_default().push(item);
        }
    }
    shared
}

/// Item-CF as a recall source: one [`ItemCfIndex`] under one [`Similarity`].
pub struct ItemCfRecall {
    name: String,
    index: Arc<ItemCfIndex>,
    measure: Similarity,
}

impl ItemCfRecall {
    /// A source named `name` (the candidates' `retrieve_id`) recalling from `index` by `measure`.
    pub fn new(name: &str, index: Arc<ItemCfIndex>, measure: Similarity) -> Self {
        if measure == Similarity::Swing {
            index.swing_wanted.store(true, Ordering::Relaxed);
        }
        Self {
            name: name.to_string(),
            index,
            measure,
        }
    }
}

impl RecallSource for ItemCfRecall {
    fn name(&self) -> &str {
        &self.name
    }

    /// The neighbours of the user's recent items (see [`ItemCfIndex`]); nothing for a user
    /// without history.
    fn recall(&self, request: &RequestContext, limit: usize) -> Vec<Candidate> {
        self.index
            .recommend(&request.uid, limit, self.measure)
            .into_iter()
            .map(|(item_id, score)| Candidate::new(item_id, score, self.name.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Neighbour lists keep similarities as `f32`.
    const EPSILON: f64 = 1e-6;

    fn index_with(history_len: usize, reads: &[(&str, &str)]) -> ItemCfIndex {
        let config = ItemCfConfig {
            history_len,
            ..ItemCfConfig::default()
        };
        let index = ItemCfIndex::new(config, EventTypes::default());
        for (uid, item) in reads {
            index.observe(0, &Event::new("", "click", uid, item, 0));
        }
        index
    }

    fn index(reads: &[(&str, &str)]) -> ItemCfIndex {
        index_with(ItemCfConfig::default().history_len, reads)
    }

    fn assert_scores(actual: &[(String, f32)], expected: &[(&str, f64)]) {
        assert_eq!(actual.len(), expected.len(), "{actual:?} vs {expected:?}");
        for ((id, score), (want_id, want_score)) in actual.iter().zip(expected) {
            assert_eq!(id, want_id, "{actual:?} vs {expected:?}");
            assert!(
                (f64::from(*score) - want_score).abs() < EPSILON,
                "{id}: {score} vs {want_score}"
            );
        }
    }

    fn request(uid: &str) -> RequestContext {
        RequestContext {
            uid: uid.to_string(),
            ..RequestContext::default()
        }
    }

    #[test]
    fn items_read_together_are_top_neighbours() {
        let index = index(&[
            ("u1", "a"),
            ("u1", "b"),
            ("u2", "a"),
            ("u2", "b"),
            ("u3", "a"),
            ("u3", "c"),
            ("u4", "c"),
            ("u4", "d"),
        ]);
        index.rebuild_swing();
        for measure in [Similarity::Cosine, Similarity::Swing] {
            let neighbours = index.neighbours("a", 10, measure);
            assert_eq!(neighbours[0].0, "b", "{measure:?}: {neighbours:?}");
            assert!(neighbours.iter().all(|(id, _)| id != "a"), "{measure:?}");
        }
    }

    #[test]
    fn cosine_is_co_occurrence_over_the_user_counts() {
        let index = index(&[
            ("u1", "a"),
            ("u1", "b"),
            ("u2", "a"),
            ("u2", "c"),
            ("u3", "b"),
            ("u3", "a"),
        ]);
        // n_a = 3, n_b = 2, n_c = 1; co(a, b) = 2, co(a, c) = 1, co(b, c) = 0.
        let cosine = |item| index.neighbours(item, 10, Similarity::Cosine);
        assert_scores(
            &cosine("a"),
            &[("b", 2.0 / 6f64.sqrt()), ("c", 1.0 / 3f64.sqrt())],
        );
        assert_scores(&cosine("b"), &[("a", 2.0 / 6f64.sqrt())]);
        assert_scores(&cosine("c"), &[("a", 1.0 / 3f64.sqrt())]);
        assert_eq!(index.neighbours("a", 1, Similarity::Cosine).len(), 1);
        assert!(cosine("unknown").is_empty());
    }

    #[test]
    fn swing_is_built_in_batch_over_user_pairs() {
        let index = index(&[
            ("u1", "a"),
            ("u1", "b"),
            ("u1", "c"),
            ("u2", "a"),
            ("u2", "b"),
            ("u3", "a"),
            ("u3", "b"),
            ("u3", "c"),
            ("u4", "c"),
        ]);
        assert!(index.neighbours("a", 10, Similarity::Swing).is_empty());
        index.rebuild_swing();
        // alpha = 1. Pairs: (u1, u2) share {a, b}: 1/3; (u1, u3) share {a, b, c}: 1/4;
        // (u2, u3) share {a, b}: 1/3; u4 shares one item at most, which adds nothing.
        let ab = 1.0 / 3.0 + 1.0 / 4.0 + 1.0 / 3.0;
        let swing = |item| index.neighbours(item, 10, Similarity::Swing);
        assert_scores(&swing("a"), &[("b", ab), ("c", 0.25)]);
        assert_scores(&swing("b"), &[("a", ab), ("c", 0.25)]);
        assert_scores(&swing("c"), &[("a", 0.25), ("b", 0.25)]);
    }

    #[test]
    fn recall_weights_recent_items_and_leaves_out_the_users_own() {
        let index = Arc::new(index(&[
            ("u1", "a"),
            ("u1", "b"),
            ("u2", "c"),
            ("u2", "d"),
            ("me", "c"),
            ("me", "a"),
        ]));
        let recall = ItemCfRecall::new("itemcf", index, Similarity::Cosine);
        let candidates = recall.recall(&request("me"), 10);
        // me's history is [a, c]; cos(a, b) = 1/sqrt(2·1), cos(c, d) = 1/sqrt(2·1), and c,
        // one rank older, weighs 1/2.
        let expected = [("b", 0.5f64.sqrt()), ("d", 0.5 * 0.5f64.sqrt())];
        assert_eq!(candidates.len(), expected.len(), "{candidates:?}");
        for (candidate, (id, score)) in candidates.iter().zip(expected) {
            assert_eq!(
                (candidate.item_id.as_str(), candidate.retrieve_id.as_str()),
                (id, "itemcf")
            );
            assert!((candidate.score - score).abs() < EPSILON, "{candidates:?}");
        }
        assert_eq!(recall.recall(&request("me"), 1).len(), 1);
        assert!(recall.recall(&request("stranger"), 10).is_empty());
    }

    #[test]
    fn refreshed_lists_change_only_when_refreshed() {
        let reads = [("a", "x"), ("a", "y"), ("b", "x"), ("b", "z"), ("me", "x")];
        let refreshed = ItemCfIndex::new(
            ItemCfConfig {
                refreshed_lists: true,
                ..ItemCfConfig::default()
            },
            EventTypes::default(),
        );
        let live = index(&[]);
        for index in [&refreshed, &live] {
            for (uid, item) in reads {
                index.observe(0, &Event::new("", "click", uid, item, 0));
            }
        }
        let recall = |index: &Arc<ItemCfIndex>| -> Vec<String> {
            ItemCfRecall::new("cf", index.clone(), Similarity::Cosine)
                .recall(&request("me"), 10)
                .into_iter()
                .map(|c| c.item_id)
                .collect()
        };
        let (refreshed, live) = (Arc::new(refreshed), Arc::new(live));
        assert!(recall(&refreshed).is_empty(), "no list before a refresh");
        assert_eq!(refreshed.refresh_neighbours(), 3, "x, y and z paired");
        assert_eq!(recall(&refreshed), recall(&live));
        assert_eq!(recall(&live), ["y", "z"]);
        assert_eq!(refreshed.refresh_neighbours(), 0, "nothing changed since");
        // `w` now pairs with `x`: the live index sees it at once, the refreshed one after the
        // next refresh, which recomputes the two lists that changed.
        for index in [&refreshed, &live] {
            index.observe(0, &Event::new("", "click", "c", "x", 0));
            index.observe(0, &Event::new("", "click", "c", "w", 0));
        }
        assert_eq!(recall(&live), ["y", "z", "w"]);
        assert_eq!(recall(&refreshed), ["y", "z"]);
        assert_eq!(refreshed.refresh_neighbours(), 2);
        assert_eq!(recall(&refreshed), recall(&live));
    }

    #[test]
    fn a_list_waits_until_its_item_gained_the_fraction_of_its_row() {
        let index = ItemCfIndex::new(
            ItemCfConfig {
                refreshed_lists: true,
                refresh_fraction: 0.3,
                ..ItemCfConfig::default()
            },
            EventTypes::default(),
        );
        let read = |uid: &str, item: &str| index.observe(0, &Event::new("", "click", uid, item, 0));
        for (uid, item) in [("a", "x"), ("a", "p"), ("a", "q"), ("a", "r"), ("a", "s")] {
            read(uid, item);
        }
        assert_eq!(index.refresh_neighbours(), 5, "every list is new");
        let neighbours = || -> Vec<String> {
            let lists = index.cosine.as_ref().unwrap().read();
            let kept = index.kept.read();
            let x = kept.items.get("x").unwrap();
            lists[&x]
                .iter()
                .map(|&(other, _)| kept.items.id(other).to_string())
                .collect()
        };
        assert_eq!(neighbours().len(), 4, "x pairs with p, q, r and s");
        // One new co-occurrence (y) for x, which now pairs with five items: under 0.3 of them,
        // so not due; y's list is new.
        read("b", "x");
        read("b", "y");
        assert_eq!(index.refresh_neighbours(), 1, "only y's new list");
        assert!(!neighbours().contains(&"y".to_string()));
        // A second one (z) makes two of six: x's gains add up across refreshes and it is due.
        read("c", "x");
        read("c", "z");
        assert_eq!(index.refresh_neighbours(), 2, "x, and z's new list");
        assert_eq!(neighbours().len(), 6, "y and z now listed for x");
    }

    #[test]
    fn a_recall_from_refreshed_lists_does_not_wait_for_the_counts() {
        let index = Arc::new(ItemCfIndex::new(
            ItemCfConfig {
                refreshed_lists: true,
                ..ItemCfConfig::default()
            },
            EventTypes::default(),
        ));
        for (uid, item) in [("a", "x"), ("a", "y"), ("me", "x")] {
            index.observe(0, &Event::new("", "click", uid, item, 0));
        }
        index.refresh_neighbours();
        // The counts held for writing, as the event stream or a refresh may hold them.
        let held = index.counts.write();
        let (answer, answered) = std::sync::mpsc::channel();
        let recalling = index.clone();
        std::thread::spawn(move || {
            let recall = ItemCfRecall::new("cf", recalling, Similarity::Cosine);
            let ids: Vec<String> = recall
                .recall(&request("me"), 10)
                .into_iter()
                .map(|c| c.item_id)
                .collect();
            let _ = answer.send(ids);
        });
        let ids = answered.recv_timeout(Duration::from_secs(10));
        drop(held);
        assert_eq!(ids.expect("the recall waited for the counts"), ["y"]);
    }

    #[test]
    fn priming_fills_the_lists_that_recalls_read() {
        let reads = [("a", "x"), ("a", "y"), ("b", "x"), ("b", "y"), ("me", "x")];
        let index = Arc::new(ItemCfIndex::new(
            ItemCfConfig {
                refreshed_lists: true,
                ..ItemCfConfig::default()
            },
            EventTypes::default(),
        ));
        for (uid, item) in reads {
            index.observe(0, &Event::new("", "click", uid, item, 0));
        }
        index.prime();
        assert!(
            index.neighbours("x", 10, Similarity::Swing).is_empty(),
            "no swing recall yet: no rebuild"
        );
        let recall = |measure| -> Vec<String> {
            ItemCfRecall::new("cf", index.clone(), measure)
                .recall(&request("me"), 10)
                .into_iter()
                .map(|c| c.item_id)
                .collect()
        };
        assert_eq!(recall(Similarity::Cosine), ["y"], "cosine lists primed");
        assert!(
            recall(Similarity::Swing).is_empty(),
            "swing not rebuilt yet"
        );
        assert!(index.swing_wanted());
        index.prime();
        assert_eq!(recall(Similarity::Swing), ["y"], "swing lists primed");
    }

    #[test]
    fn impressions_are_ignored() {
        let index = index(&[("u1", "a")]);
        for item in ["b", "c"] {
            index.observe(0, &Event::new("", "impression", "u1", item, 0));
            index.observe(0, &Event::new("", "impression", "u2", item, 0));
        }
        assert_eq!(index.recent_items("u1"), ["a"]);
        assert!(index.recent_items("u2").is_empty());
        assert!(index.neighbours("a", 10, Similarity::Cosine).is_empty());
    }

    #[test]
    fn each_user_keeps_at_most_n_distinct_items() {
        let index = index_with(3, &[("u", "a"), ("u", "b"), ("u", "a"), ("u", "c")]);
        assert_eq!(
            index.recent_items("u"),
            ["c", "a", "b"],
            "a re-read moves to the front"
        );
        index.observe(0, &Event::new("", "click", "u", "d", 0));
        assert_eq!(index.recent_items("u"), ["d", "c", "a"]);
        let d = index.neighbours("d", 10, Similarity::Cosine);
        let ids: Vec<&str> = d.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(
            ids,
            ["a", "c"],
            "d pairs only with the items kept beside it"
        );
        assert_scores(
            &index.neighbours("b", 10, Similarity::Cosine),
            &[("a", 1.0), ("c", 1.0)],
        );
    }
}
