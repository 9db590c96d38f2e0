//! The training side: logged rows labelled by the events that followed them, point in time.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use cascade_core::Event;
use cascade_core::time::TimestampMs;

use super::FeatureLogError;
use super::reader::read_feature_log;
use crate::features::{FeatureMatrix, FeatureSet};
use crate::gbdt::{DataSpan, RankingData};

/// One day, the default attribution window.
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// The highest grade LambdaRank reads.
const MAX_GRADE: u32 = 30;

/// How events label logged rows.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelRule {
    /// Event type → graded label; a row takes the highest grade among its events. Types not
    /// listed (impressions, say) label nothing.
    pub grades: BTreeMap<String, u32>,
    /// How long after the impression an event still counts, in ms.
    pub window_ms: i64,
    /// When set, rows whose window had not closed by then (`logged_at + window_ms > as_of`)
    /// are left out: their label is not final yet.
    pub as_of_ms: Option<TimestampMs>,
}

impl Default for LabelRule {
    /// `click` 1; `like`, `share` and `purchase` (the conversions) 2; a 24-hour window.
    fn default() -> Self {
        Self {
            grades: [("click", 1), ("like", 2), ("share", 2), ("purchase", 2)]
                .into_iter()
                .map(|(event_type, grade)| (event_type.to_string(), grade))
                .collect(),
            window_ms: DAY_MS,
            as_of_ms: None,
        }
    }
}

impl LabelRule {
    fn check(&self) -> Result<(), FeatureLogError> {
        if self.window_ms < 0 {
            return Err(FeatureLogError::Label(format!(
                "the attribution window must not be negative, got {} ms",
                self.window_ms
            )));
        }
        if let Some((event_type, grade)) = self.grades.iter().find(|(_, g)| **g > MAX_GRADE) {
            return Err(FeatureLogError::Label(format!(
                "event type `{event_type}` has grade {grade}; grades are 0..={MAX_GRADE}"
            )));
        }
        if self.grades.values().all(|grade| *grade == 0) {
            return Err(FeatureLogError::Label(
                "no event type has a positive grade".into(),
            ));
        }
        Ok(())
    }
}

/// Where one training row came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowOrigin {
    /// The request that showed the item.
    pub request_id: String,
    /// The item.
    pub item_id: String,
    /// Its 0-based position in the response.
    pub position: u32,
    /// When it was shown.
    pub logged_at: TimestampMs,
}

/// How the join went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JoinCounts {
    /// Log files read.
    pub files: usize,
    /// Rows of the training data (logged items).
    pub rows: usize,
    /// Queries (requests).
    pub queries: usize,
    /// Rows with a positive label.
    pub positives: usize,
    /// Graded events with a request id that labelled a row.
    pub matched_events: usize,
    /// Graded events with a request id whose (request, item) was never logged: the request
    /// was sampled out, its records dropped, or the item not shown by it.
    pub unmatched_events: usize,
    /// Graded events whose (request, item) was logged but which came before the impression
    /// or after the window: they label nothing.
    pub out_of_window_events: usize,
    /// Events without a request id, which cannot be attributed (ignored).
    pub events_without_request: usize,
    /// Logged rows left out because their window had not closed by `as_of_ms`.
    pub open_rows: usize,
    /// Records a crash cut short, left out.
    pub torn_records: usize,
}

/// Training data joined from a feature log and the event log.
#[derive(Debug, Clone)]
pub struct LoggedTrainingData {
    /// The labelled rows, one query per request, requests in the order they were served.
    pub data: RankingData,
    /// The features of the columns (the log's schema).
    pub features: FeatureSet,
    /// From the first impression to the last impression or labelling event; `None` without
    /// rows.
    pub span: Option<DataSpan>,
    /// Where each row of `data` came from, in row order.
    pub rows: Vec<RowOrigin>,
    /// How the join went.
    pub counts: JoinCounts,
}

/// One logged row while labels are collected.
struct Pending {
    origin: RowOrigin,
    values: Vec<f64>,
    label: u32,
}

/// Joins the feature log in `log_dir` (see [`read_feature_log`]) to `events` (any order; the
/// event log, typically) into LambdaMART training data.
///
/// Each logged row (request, item, position, features) is labelled with the highest grade
/// `label` gives to the events of the same `request_id` *and* `item_id` whose timestamp is in
/// `[logged_at, logged_at + window]`; with none it is a negative. Events before the impression
/// or after the window never label (the point-in-time rule); events without a request id are
/// ignored; a click on the same item from another request labels nothing here. The features
/// are the ones logged when the item was shown, so nothing later leaks into them.
pub fn training_data_from_logs(
    log_dir: &Path,
    events: impl IntoIterator<Item = Event>,
    label: &LabelRule,
) -> Result<LoggedTrainingData, FeatureLogError> {
    label.check()?;
    let log = read_feature_log(log_dir)?;
    let features = FeatureSet::parse(&log.schema).map_err(|error| FeatureLogError::Record {
        path: log.files[0].display().to_string(),
        line: 1,
        reason: format!("the header's schema: {error}"),
    })?;
    let mut counts = JoinCounts {
        files: log.files.len(),
        torn_records: log.torn_records,
        ..JoinCounts::default()
    };
    let mut rows: Vec<Pending> = Vec::with_capacity(log.records.len());
    for record in log.records {
        if label
            .as_of_ms
            .is_some_and(|as_of| record.logged_at.saturating_add(label.window_ms) > as_of)
        {
            counts.open_rows += 1;
            continue;
        }
        rows.push(Pending {
            values: record.row().collect(),
            origin: RowOrigin {
                request_id: record.request_id,
                item_id: record.item_id,
                position: record.position,
                logged_at: record.logged_at,
            },
            label: 0,
        });
    }
    let mut by_key: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
    for (index, row) in rows.iter().enumerate() {
        by_key
            .entry((&row.origin.request_id, &row.origin.item_id))
            .or_default()
            .push(index);
    }
    let mut labels = vec![0u32; rows.len()];
    let mut last_event: Option<TimestampMs> = None;
    for event in events {
        let Some(grade) = label.grades.get(&event.event_type).copied() else {
            continue;
        };
        let Some(request_id) = event.context.request_id.as_deref() else {
            counts.events_without_request += 1;
            continue;
        };
        let Some(indexes) = by_key.get(&(request_id, event.item_id.as_str())) else {
            counts.unmatched_events += 1;
            continue;
        };
        let mut matched = false;
        for &index in indexes {
            let shown = rows[index].origin.logged_at;
            if event.timestamp >= shown && event.timestamp - shown <= label.window_ms {
                labels[index] = labels[index].max(grade);
                matched = true;
            }
        }
        if matched {
            counts.matched_events += 1;
            last_event = last_event.max(Some(event.timestamp));
        } else {
            counts.out_of_window_events += 1;
        }
    }
    for (row, grade) in rows.iter_mut().zip(labels) {
        row.label = grade;
    }
    let span = span(&rows, last_event);
    let (data, rows) = group_queries(rows, features.len())?;
    counts.rows = data.rows();
    counts.queries = data.queries();
    counts.positives = data.positives();
    Ok(LoggedTrainingData {
        data,
        features,
        span,
        rows,
        counts,
    })
}

/// From the first impression to the last impression or labelling event.
fn span(rows: &[Pending], last_event: Option<TimestampMs>) -> Option<DataSpan> {
    let from_ms = rows.iter().map(|row| row.origin.logged_at).min()?;
    let last_shown = rows.iter().map(|row| row.origin.logged_at).max()?;
    Some(DataSpan {
        from_ms,
        to_ms: last_shown.max(last_event.unwrap_or(last_shown)),
    })
}

/// One query per request, requests by the time they were served (then by first appearance
/// in the log), rows by position.
fn group_queries(
    rows: Vec<Pending>,
    columns: usize,
) -> Result<(RankingData, Vec<RowOrigin>), FeatureLogError> {
    let mut queries: Vec<Vec<Pending>> = Vec::new();
    let mut query_of: HashMap<String, usize> = HashMap::new();
    for row in rows {
        let next = queries.len();
        let query = *query_of
            .entry(row.origin.request_id.clone())
            .or_insert(next);
        if query == next {
            queries.push(Vec::new());
        }
        queries[query].push(row);
    }
    queries.sort_by_key(|query| query.iter().map(|row| row.origin.logged_at).min());
    let mut data = RankingData::new(columns);
    let mut origins = Vec::new();
    for mut query in queries {
        query.sort_by_key(|row| row.origin.position);
        let mut matrix = FeatureMatrix::new(columns);
        let mut labels = Vec::with_capacity(query.len());
        for row in query {
            matrix.push_row(&row.values);
            labels.push(row.label as f32);
            origins.push(row.origin);
        }
        data.push_query(&matrix, &labels)?;
    }
    Ok((data, origins))
}
