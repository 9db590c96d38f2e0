//! Computing a feature set's values for a batch of candidates.

use cascade_core::RequestContext;

use super::digest::{ItemDigest, RankItem};
use super::matrix::FeatureMatrix;
use super::profile::UserProfile;
use super::source::{FeatureSource, ItemStats};
use super::spec::{Feature, FeatureSet};
use super::stored::StoredValues;
use crate::scorer::ScoringInput;

/// One recall source's scores over a batch, with each candidate's rank and the best score.
struct RecallColumn {
    scores: Vec<f64>,
    ranks: Vec<f64>,
    best: f64,
}

impl RecallColumn {
    fn new(
        source_name: &str,
        source: &dyn FeatureSource,
        request: &RequestContext,
        inputs: &[ScoringInput<'_>],
    ) -> Self {
        let scores: Vec<f64> = inputs
            .iter()
            .map(|input| {
                let candidate = input.candidate;
                candidate
                    .recall_score(source_name)
                    .or_else(|| source.recall_score(request, source_name, &candidate.item_id))
                    .unwrap_or(f64::NAN)
            })
            .collect();
        let mut order: Vec<usize> = (0..scores.len())
            .filter(|&i| scores[i].is_finite())
            .collect();
        order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
        let mut ranks = vec![f64::NAN; scores.len()];
        for (rank, &i) in order.iter().enumerate() {
            ranks[i] = (rank + 1) as f64;
        }
        let best = order.first().map_or(f64::NAN, |&i| scores[i]);
        Self {
            scores,
            ranks,
            best,
        }
    }
}

/// Everything one row reads.
struct Row<'a> {
    request: &'a RequestContext,
    user: &'a UserProfile,
    /// The input's position in the batch.
    index: usize,
    item: Option<&'a RankItem>,
    stats: ItemStats,
    stored: &'a StoredValues<'a>,
}

impl FeatureSet {
    /// The feature values of a batch of candidates for the request's user, one row per input
    /// in order. Online scoring and offline training both call this, so a model sees the same
    /// values in both; a value that cannot be computed (no item, no history, nothing in the
    /// feature store) is NaN. The feature-store values of the user and of every candidate are
    /// read in one [`FeatureSource::store_features`] call.
    pub fn extract(
        &self,
        source: &dyn FeatureSource,
        request: &RequestContext,
        inputs: &[ScoringInput<'_>],
    ) -> FeatureMatrix {
        let user = source.user(request, self.profile_needs());
        let sources = self.recall_sources();
        let columns: Vec<RecallColumn> = sources
            .iter()
            .map(|name| RecallColumn::new(name, source, request, inputs))
            .collect();
        let recall = |name: &str| &columns[sources.iter().position(|s| *s == name).unwrap()];
        let needs_stats = self
            .features()
            .iter()
            .any(|f| matches!(f, Feature::ItemUsersLog | Feature::ItemRatingMean));
        let stats = if needs_stats {
            let ids: Vec<&str> = inputs
                .iter()
                .map(|input| input.candidate.item_id.as_str())
                .collect();
            source.item_stats_of(&ids)
        } else {
            vec![ItemStats::default(); inputs.len()]
        };
        let stored = StoredValues::read(self, source, request, inputs);
        let mut matrix = FeatureMatrix::new(self.len());
        let mut values = vec![0.0; self.len()];
        for (index, input) in inputs.iter().enumerate() {
            let row = Row {
                request,
                user: &user,
                index,
                item: input.item,
                stats: stats[index],
                stored: &stored,
            };
            for (value, feature) in values.iter_mut().zip(self.features()) {
                *value = match feature.recall_source() {
                    Some(name) => recall_value(feature, recall(name), index),
                    None => row.value(feature),
                };
            }
            matrix.push_row(&values);
        }
        matrix
    }
}

fn recall_value(feature: &Feature, column: &RecallColumn, index: usize) -> f64 {
    match feature {
        Feature::RecallScore(_) => column.scores[index],
        Feature::RecallRank(_) => column.ranks[index],
        Feature::RecallRatio(_) => {
            if column.best.is_finite() && column.best != 0.0 {
                column.scores[index] / column.best
            } else {
                f64::NAN
            }
        }
        _ => unreachable!("only recall features read a recall column"),
    }
}

impl Row<'_> {
    /// The item's digest (computed on the item's first use), when there is an item.
    fn digest(&self) -> Option<&ItemDigest> {
        self.item.map(RankItem::digest)
    }

    fn value(&self, feature: &Feature) -> f64 {
        let user = self.user;
        let activity = user.activity() as f64;
        let share = |count: f64| {
            if activity > 0.0 {
                count / activity
            } else {
                f64::NAN
            }
        };
        let numeric = |field: &str| self.digest().and_then(|digest| digest.numeric(field));
        let nan = f64::NAN;
        match feature {
            Feature::ItemUsersLog => f64::from(self.stats.users).ln_1p(),
            Feature::ItemRatingMean => self.stats.rating_mean().unwrap_or(nan),
            Feature::Item(field) => numeric(field).unwrap_or(nan),
            Feature::ItemLog(field) => numeric(field).map_or(nan, |x| x.max(0.0).ln_1p()),
            Feature::UserActivity => activity,
            Feature::KeywordCount(field) => self.keyword_count(field),
            Feature::KeywordShare(field) => share(self.keyword_count(field)),
            Feature::TokenOverlap(field) => match self.digest() {
                Some(digest) => share(
                    digest
                        .tokens(field)
                        .iter()
                        .map(|&word| f64::from(user.token_count(field, word)))
                        .sum(),
                ),
                None => nan,
            },
            Feature::SeriesCount(field) => match self.digest() {
                Some(digest) => digest
                    .series(field)
                    .map_or(0.0, |(name, _)| f64::from(user.series_count(field, name))),
                None => nan,
            },
            Feature::SeriesNumber(field) => self
                .digest()
                .and_then(|digest| digest.series(field))
                .map_or(nan, |(_, number)| number),
            Feature::Gap(field) => match (numeric(field), user.mean(field)) {
                (Some(x), Some(mean)) => x - mean,
                _ => nan,
            },
            Feature::LogGap(field) => match (numeric(field), user.log_mean(field)) {
                (Some(x), Some(mean)) => x.max(0.0).ln_1p() - mean,
                _ => nan,
            },
            Feature::UserFeature(name) => self.stored.user(name),
            Feature::ItemFeature(name) => self.stored.item(self.index, name),
            Feature::EmbeddingSim(embedding) => self
                .item
                .and_then(|item| item.embeddings.get(embedding))
                .and_then(|vector| user.embedding_similarity(embedding, vector))
                .unwrap_or(nan),
            Feature::Context(field) => context_value(self.request, field),
            Feature::RecallScore(_) | Feature::RecallRank(_) | Feature::RecallRatio(_) => {
                unreachable!("recall features read a recall column")
            }
        }
    }

    fn keyword_count(&self, field: &str) -> f64 {
        match self.digest() {
            Some(digest) => digest
                .keyword_values(field)
                .iter()
                .map(|&value| self.user.keyword_count(field, value))
                .max()
                .map_or(0.0, f64::from),
            None => f64::NAN,
        }
    }
}

/// Request feature `field` as a number: a number as it is, a boolean as 1 or 0, else NaN.
fn context_value(request: &RequestContext, field: &str) -> f64 {
    match request.features.get(field) {
        Some(serde_json::Value::Number(number)) => number.as_f64().unwrap_or(f64::NAN),
        Some(serde_json::Value::Bool(flag)) => f64::from(u8::from(*flag)),
        _ => f64::NAN,
    }
}
