//! What a backfill produces: the labelled rows, each with the time its features are as of,
//! grouped into queries (one per label event).

use std::ops::Range;

use cascade_core::time::TimestampMs;

use crate::features::{FeatureMatrix, FeatureSet};
use crate::gbdt::{GbdtError, RankingData};
use crate::model_file::DataSpan;

/// One label event's query.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryInfo {
    /// The user.
    pub uid: String,
    /// The label event's id.
    pub event_id: String,
    /// The label event's time: every feature of the query is computed from earlier events.
    pub label_time: TimestampMs,
    /// Its rows in [`TrainingRows`], the positive first.
    pub rows: Range<usize>,
}

/// One candidate row.
#[derive(Debug, Clone, PartialEq)]
pub struct RowInfo {
    /// The candidate item.
    pub item_id: String,
    /// The newest event time the row's user and item state held when its features were
    /// computed; `None` when neither had any event. Always before the query's label time.
    pub as_of: Option<TimestampMs>,
}

/// Counts of what a backfill read and emitted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackfillCounts {
    /// Events read (within `until`).
    pub events: usize,
    /// Events that are not interactions (exposures).
    pub exposures: usize,
    /// Label events that became queries.
    pub queries: usize,
    /// Interactions that repeat an earlier one of the same user and item (no query).
    pub repeats: usize,
    /// Interactions with items the catalogue lacks (no query).
    pub unknown_items: usize,
    /// Interactions before `since` (state only).
    pub before_since: usize,
    /// Queries with fewer negatives than asked for.
    pub short_queries: usize,
}

/// Labelled rows computed as of each label's time.
#[derive(Debug, Clone)]
pub struct TrainingRows {
    /// The features, in column order.
    pub features: FeatureSet,
    /// One row per candidate.
    pub matrix: FeatureMatrix,
    /// 1 for the positive, 0 for a negative, per row.
    pub labels: Vec<f32>,
    /// Per row: the item and the time its features are as of.
    pub rows: Vec<RowInfo>,
    /// The queries, in label time order.
    pub queries: Vec<QueryInfo>,
    /// The time span of the events read (state and labels).
    pub events_span: Option<DataSpan>,
    /// What was read and emitted.
    pub counts: BackfillCounts,
}

impl TrainingRows {
    /// The queries that `keep` selects, as ranking data.
    pub fn ranking_data(
        &self,
        keep: impl Fn(&QueryInfo) -> bool,
    ) -> Result<RankingData, GbdtError> {
        let columns = self.features.len();
        let mut data = RankingData::new(columns);
        for query in self.queries.iter().filter(|q| keep(q)) {
            let values =
                self.matrix.values()[query.rows.start * columns..query.rows.end * columns].to_vec();
            let rows = FeatureMatrix::from_values(columns, values)
                .ok_or_else(|| GbdtError::Data(format!("query of {} is empty", query.event_id)))?;
            data.push_query(&rows, &self.labels[query.rows.clone()])?;
        }
        Ok(data)
    }

    /// The label time from which the latest `fraction` of the labels' time span begins: the
    /// queries from it on are held out for validation. `None` without queries.
    pub fn holdout_start(&self, fraction: f64) -> Option<TimestampMs> {
        let (first, last) = (self.queries.first()?, self.queries.last()?);
        let span = (last.label_time - first.label_time) as f64;
        Some(last.label_time - (span * fraction.clamp(0.0, 1.0)).round() as TimestampMs)
    }
}
