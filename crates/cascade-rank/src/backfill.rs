//! Point-in-time training data from an event history without feature logs (an import):
//! [`backfill`] replays the events in time order and computes each label's features as of
//! the label event's time; [`check_point_in_time`] recomputes every row from only the events
//! before its label and fails on any difference, so a feature that read a later event is
//! caught.
//!
//! The replay keeps, for the events applied so far, each user's [`UserProfile`] and distinct
//! items and each item's [`ItemStats`] (the same semantics as the online
//! `ItemStatsIndex`: distinct users, each user's first rating). Every interaction event of a
//! user `u` on a catalogue item `i` at time `t` that `u` had not interacted with before is a
//! label: a query of the positive `i` and up to K negatives, drawn (seeded) by popularity as of
//! `t` (weight `1 + users so far`) among catalogue items `u` had not interacted with. The
//! features are computed from the state strictly before `t`: all events of time `t` are
//! applied only after the queries of time `t` are emitted.
//!
//! What backfill cannot reconstruct: `recall_*` features read nothing here (NaN) unless a
//! [`FeatureSource`] answering `recall_score` is given, and such a source is not point in
//! time unless it is built so; the default feature set ([`DEFAULT_FEATURES`]) leaves them
//! out. Item fields come from the catalogue as it is now (items carry no history). User
//! profiles summarise the whole history before `t`, where the online profile reads the
//! `HistoryConf.MaxItemsPerUser` most recent items.
//!
//! [`UserProfile`]: crate::features::UserProfile

mod check;
mod replay;
mod rows;
mod sampler;
mod state;

use std::collections::HashMap;

use cascade_core::Item;
use cascade_core::time::TimestampMs;

pub use check::{LeakageError, check_point_in_time};
pub use replay::backfill;
pub use rows::{QueryInfo, RowInfo, TrainingRows};

use crate::features::{FeatureSource, RankItem};

/// The features a backfill computes by default: item popularity and metadata, the user's
/// activity and the matches between the candidate and the user's history. No `recall_*`
/// feature: backfill has no recall source as of each event.
pub const DEFAULT_FEATURES: &[&str] = &[
    "item_users_log",
    "item_rating_mean",
    "item.average_rating",
    "item_log.ratings_count",
    "item.original_publication_year",
    "user_activity",
    "keyword_count.authors",
    "keyword_share.authors",
    "token_overlap.title",
    "series_count.title",
    "series_number.title",
    "gap.original_publication_year",
    "gap.average_rating",
    "log_gap.ratings_count",
];

/// How a backfill forms its queries.
#[derive(Clone)]
pub struct BackfillConfig {
    /// Negatives drawn per positive, at most.
    pub negatives: usize,
    /// Seed of the negative sampling.
    pub seed: u64,
    /// Labels from this time on (inclusive); earlier events only build up the state.
    pub since: Option<TimestampMs>,
    /// Events before this time only (exclusive); later ones are not read.
    pub until: Option<TimestampMs>,
    /// Answers `recall_*` features, when given; without one they are NaN.
    pub recall: Option<std::sync::Arc<dyn FeatureSource>>,
}

impl Default for BackfillConfig {
    fn default() -> Self {
        Self {
            negatives: 9,
            seed: 42,
            since: None,
            until: None,
            recall: None,
        }
    }
}

impl std::fmt::Debug for BackfillConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackfillConfig")
            .field("negatives", &self.negatives)
            .field("seed", &self.seed)
            .field("since", &self.since)
            .field("until", &self.until)
            .field("recall", &self.recall.is_some())
            .finish()
    }
}

/// The items a backfill draws negatives from and reads item features of, by id; each item is
/// cut for the features once, however many events and rows read it ([`RankItem`]).
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    items: Vec<RankItem>,
    index: HashMap<String, usize>,
}

impl Catalogue {
    /// A catalogue of `items` (a repeated id keeps the last).
    pub fn new(items: impl IntoIterator<Item = Item>) -> Self {
        let mut catalogue = Self::default();
        for item in items {
            match catalogue.index.get(&item.id) {
                Some(&i) => catalogue.items[i] = RankItem::new(item),
                None => {
                    catalogue
                        .index
                        .insert(item.id.clone(), catalogue.items.len());
                    catalogue.items.push(RankItem::new(item));
                }
            }
        }
        catalogue
    }

    /// How many items there are.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The index of the item `id`.
    pub fn index(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// The item at `index` (from [`Catalogue::index`]).
    pub fn item(&self, index: usize) -> &RankItem {
        &self.items[index]
    }

    /// The item `id`.
    pub fn get(&self, id: &str) -> Option<&RankItem> {
        self.index(id).map(|i| &self.items[i])
    }
}

#[cfg(test)]
mod tests;
