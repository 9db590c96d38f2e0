//! The leakage check: every backfilled row recomputed by brute force from only the events
//! before its label time, and compared.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use cascade_core::time::TimestampMs;
use cascade_core::{Candidate, Event, EventTypes, RequestContext};
use indicatif::ProgressBar;

use super::Catalogue;
use super::replay::BACKFILL_SOURCE;
use super::rows::{QueryInfo, TrainingRows};
use crate::features::{
    FeatureSource, ItemStats, ProfileNeeds, RATING_EVENT, RankItem, UserProfile,
};
use crate::scorer::ScoringInput;

/// A row whose features are not those of the events before its label time.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LeakageError {
    /// A feature value differs from the one recomputed from the earlier events alone.
    #[error(
        "leakage: feature `{feature}` of item `{item_id}` in the query of event `{event_id}` \
         (user `{uid}`, label time {label_time}) is {backfilled} in the training rows but \
         {recomputed} from only the events before the label time"
    )]
    Value {
        /// The user.
        uid: String,
        /// The label event.
        event_id: String,
        /// The label event's time.
        label_time: TimestampMs,
        /// The row's item.
        item_id: String,
        /// The feature.
        feature: String,
        /// The value in the rows.
        backfilled: f64,
        /// The value recomputed.
        recomputed: f64,
    },
    /// A row says its features are as of a time that is not the newest earlier event.
    #[error(
        "leakage: item `{item_id}` in the query of event `{event_id}` (user `{uid}`, label \
         time {label_time}) has features as of {as_of:?}; the newest event before the label \
         time is at {expected:?}"
    )]
    AsOf {
        /// The user.
        uid: String,
        /// The label event.
        event_id: String,
        /// The label event's time.
        label_time: TimestampMs,
        /// The row's item.
        item_id: String,
        /// The row's `as_of`.
        as_of: Option<TimestampMs>,
        /// The newest event time of the user's and item's events before the label time.
        expected: Option<TimestampMs>,
    },
    /// The rows are not the shape their queries describe.
    #[error("malformed training rows: {0}")]
    Shape(String),
}

/// Recomputes every row of `rows` from only the interaction events (by `types`) of `events`
/// whose timestamp is before the row's label time — a fresh [`UserProfile`] of the user's
/// earlier distinct items and fresh [`ItemStats`] of each candidate's earlier events, with no
/// incremental state — and compares each value (NaN equals NaN; 1e-9 relative tolerance for
/// sums taken in another order) and each row's `as_of`. The first difference is the error: it
/// names the feature, the item, the label event and its time. `recall` must be the source
/// the backfill was given, if any. Returns the rows checked; `progress` advances per query.
pub fn check_point_in_time(
    rows: &TrainingRows,
    events: &[Event],
    catalogue: &Catalogue,
    types: &EventTypes,
    recall: Option<&dyn FeatureSource>,
    progress: &ProgressBar,
) -> Result<usize, LeakageError> {
    let columns = rows.features.len();
    if rows.matrix.rows() != rows.rows.len()
        || rows.labels.len() != rows.rows.len()
        || rows.matrix.columns() != columns
    {
        return Err(LeakageError::Shape(format!(
            "{} feature rows of {} columns, {} labels, {} row records, {} features",
            rows.matrix.rows(),
            rows.matrix.columns(),
            rows.labels.len(),
            rows.rows.len(),
            columns
        )));
    }
    let history = History::new(events, types);
    progress.set_length(rows.queries.len() as u64);
    let names = rows.features.names();
    for query in &rows.queries {
        if query.rows.end > rows.rows.len() || query.rows.is_empty() {
            return Err(LeakageError::Shape(format!(
                "the query of event `{}` has rows {:?} of {}",
                query.event_id,
                query.rows,
                rows.rows.len()
            )));
        }
        let recomputed = history.recompute(query, rows, catalogue, recall);
        for (k, row) in query.rows.clone().enumerate() {
            let info = &rows.rows[row];
            let got = rows.matrix.row(row);
            let want = recomputed.matrix.row(k);
            if let Some(j) = (0..columns).find(|&j| !same(got[j], want[j])) {
                return Err(LeakageError::Value {
                    uid: query.uid.clone(),
                    event_id: query.event_id.clone(),
                    label_time: query.label_time,
                    item_id: info.item_id.clone(),
                    feature: names[j].clone(),
                    backfilled: got[j],
                    recomputed: want[j],
                });
            }
            let expected = recomputed.newest[k];
            let late = info.as_of.is_some_and(|t| t >= query.label_time);
            if late || info.as_of != expected {
                return Err(LeakageError::AsOf {
                    uid: query.uid.clone(),
                    event_id: query.event_id.clone(),
                    label_time: query.label_time,
                    item_id: info.item_id.clone(),
                    as_of: info.as_of,
                    expected,
                });
            }
        }
        progress.inc(1);
    }
    Ok(rows.rows.len())
}

/// Equal, or both NaN, or within a relative 1e-9.
fn same(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// The interaction events by user and by item, each list in time order (ties in input
/// order).
struct History<'e> {
    events: &'e [Event],
    by_user: HashMap<&'e str, Vec<usize>>,
    by_item: HashMap<&'e str, Vec<usize>>,
}

/// A query's rows recomputed.
struct Recomputed {
    matrix: crate::features::FeatureMatrix,
    /// Per row: the newest earlier event of the user or the item.
    newest: Vec<Option<TimestampMs>>,
}

impl<'e> History<'e> {
    fn new(events: &'e [Event], types: &EventTypes) -> Self {
        let mut order: Vec<usize> = (0..events.len())
            .filter(|&i| types.is_interaction(&events[i].event_type))
            .collect();
        order.sort_by_key(|&i| events[i].timestamp);
        let (mut by_user, mut by_item) = (HashMap::new(), HashMap::new());
        for i in order {
            let event = &events[i];
            by_user
                .entry(event.uid.as_str())
                .or_insert_with(Vec::new)
                .push(i);
            by_item
                .entry(event.item_id.as_str())
                .or_insert_with(Vec::new)
                .push(i);
        }
        Self {
            events,
            by_user,
            by_item,
        }
    }

    /// The events of `list` before `time`.
    fn before<'l>(&self, list: Option<&'l Vec<usize>>, time: TimestampMs) -> &'l [usize] {
        let list = list.map_or(&[][..], Vec::as_slice);
        &list[..list.partition_point(|&i| self.events[i].timestamp < time)]
    }

    fn recompute(
        &self,
        query: &QueryInfo,
        rows: &TrainingRows,
        catalogue: &Catalogue,
        recall: Option<&dyn FeatureSource>,
    ) -> Recomputed {
        let t = query.label_time;
        let user_events = self.before(self.by_user.get(query.uid.as_str()), t);
        let mut distinct: Vec<&str> = Vec::new();
        let mut seen = HashSet::new();
        for &i in user_events {
            let item = self.events[i].item_id.as_str();
            if seen.insert(item) {
                distinct.push(item);
            }
        }
        let profile = UserProfile::from_history(distinct.iter().map(|id| catalogue.get(id)));
        let user_newest = user_events.last().map(|&i| self.events[i].timestamp);
        let item_ids: Vec<&str> = rows.rows[query.rows.clone()]
            .iter()
            .map(|row| row.item_id.as_str())
            .collect();
        let mut stats = HashMap::new();
        let mut newest = Vec::with_capacity(item_ids.len());
        for &id in &item_ids {
            let item_events = self.before(self.by_item.get(id), t);
            stats.insert(id.to_string(), self.item_stats(item_events));
            let item_newest = item_events.last().map(|&i| self.events[i].timestamp);
            newest.push(user_newest.max(item_newest));
        }
        let candidates: Vec<Candidate> = item_ids
            .iter()
            .map(|id| Candidate::new(id.to_string(), 0.0, BACKFILL_SOURCE.into()))
            .collect();
        let items: Vec<Option<&RankItem>> = item_ids.iter().map(|id| catalogue.get(id)).collect();
        let inputs: Vec<ScoringInput<'_>> = candidates
            .iter()
            .zip(items)
            .map(|(candidate, item)| ScoringInput { candidate, item })
            .collect();
        let source = Fresh {
            profile: Arc::new(profile),
            stats,
            recall,
        };
        let request = RequestContext {
            uid: query.uid.clone(),
            ..RequestContext::default()
        };
        Recomputed {
            matrix: rows.features.extract(&source, &request, &inputs),
            newest,
        }
    }

    /// An item's statistics from its earlier events: distinct users, and the first rating of
    /// each user.
    fn item_stats(&self, item_events: &[usize]) -> ItemStats {
        let (mut users, mut raters) = (HashSet::new(), HashSet::new());
        let mut stats = ItemStats::default();
        for &i in item_events {
            let event = &self.events[i];
            if users.insert(event.uid.as_str()) {
                stats.users += 1;
            }
            if event.event_type == RATING_EVENT && raters.insert(event.uid.as_str()) {
                stats.rating_sum += event.value;
                stats.ratings += 1;
            }
        }
        stats
    }
}

/// One query's user and items, freshly built.
struct Fresh<'r> {
    profile: Arc<UserProfile>,
    stats: HashMap<String, ItemStats>,
    recall: Option<&'r dyn FeatureSource>,
}

impl FeatureSource for Fresh<'_> {
    fn user(&self, _: &RequestContext, _: &ProfileNeeds) -> Arc<UserProfile> {
        self.profile.clone()
    }

    fn item_stats(&self, item_id: &str) -> ItemStats {
        self.stats.get(item_id).copied().unwrap_or_default()
    }

    fn recall_score(&self, request: &RequestContext, source: &str, item_id: &str) -> Option<f64> {
        self.recall?.recall_score(request, source, item_id)
    }
}
