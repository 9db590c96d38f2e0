//! The declared feature set: feature names and what each one means.

use std::fmt;

use super::profile::ProfileNeeds;

/// Why a feature set could not be declared.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FeatureError {
    /// A name matches no known feature.
    #[error(
        "unknown feature `{0}`; expected one of recall_score.SOURCE, recall_rank.SOURCE, \
         recall_ratio.SOURCE (SOURCE: a recall source's Name; the BM25 score and rank when \
         SOURCE is a TextRecall source), item_users_log, item_rating_mean, item.FIELD, \
         item_log.FIELD, user_activity, keyword_count.FIELD, keyword_share.FIELD, \
         token_overlap.FIELD, series_count.FIELD, series_number.FIELD, gap.FIELD, \
         log_gap.FIELD, user_feature.NAME, item_feature.NAME (NAME: a feature-store feature, \
         e.g. a window feature or an enricher output), embedding_sim.EMBEDDING, context.FIELD"
    )]
    Unknown(String),
    /// A name is declared twice.
    #[error("feature `{0}` is declared twice")]
    Duplicate(String),
    /// No feature is declared.
    #[error("a feature set needs at least one feature")]
    Empty,
}

/// One feature: how a value is computed from the user, the candidate, its item and the
/// recall scores. Each has a name (its [`fmt::Display`]); `SOURCE` is a recall source's name
/// (a candidate's `retrieve_id`), `FIELD` an item field.
///
/// BM25 for search: `SOURCE` is a recall source's `Name` in `RecallConfs` (every source that
/// proposed a candidate keeps its score on it, `Candidate::recall_scores`). When that source
/// is a `TextRecall` source (it searches the text index for the query the request carries in
/// its request-time features, `query` unless its `QueryField` says otherwise),
/// `recall_score.SOURCE` is the candidate's BM25 score (the sum over the indexed fields, each
/// times its boost, as `TextIndex::search` gives it) and `recall_rank.SOURCE` its rank among
/// the batch's BM25 hits. (`/api/search` fuses its own BM25 list, named `text`, without a
/// ranking model; a scene whose pipeline recalls from a `TextRecall` ranks search results
/// with one.)
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Feature {
    /// `recall_score.SOURCE`: the score the source gave the candidate (its own score when it
    /// proposed it, else what [`super::FeatureSource::recall_score`] says).
    RecallScore(String),
    /// `recall_rank.SOURCE`: the candidate's 1-based rank by that score among the batch's
    /// candidates that have one.
    RecallRank(String),
    /// `recall_ratio.SOURCE`: that score over the best one in the batch.
    RecallRatio(String),
    /// `item_users_log`: `ln(1 + users who interacted with the item)`.
    ItemUsersLog,
    /// `item_rating_mean`: the mean rating value the item received.
    ItemRatingMean,
    /// `item.FIELD`: a numeric item field.
    Item(String),
    /// `item_log.FIELD`: `ln(1 + x)` of a numeric item field.
    ItemLog(String),
    /// `user_activity`: how many items the user's history holds.
    UserActivity,
    /// `keyword_count.FIELD`: of the item's values of a keyword field (its authors), the most
    /// history items any one of them appears in.
    KeywordCount(String),
    /// `keyword_share.FIELD`: that count over the user's activity.
    KeywordShare(String),
    /// `token_overlap.FIELD`: the history items sharing each word of a text field (its
    /// title), summed over the item's words, over the user's activity.
    TokenOverlap(String),
    /// `series_count.FIELD`: history items of the series a text field names (`(Name, #3)`).
    SeriesCount(String),
    /// `series_number.FIELD`: the item's number in that series.
    SeriesNumber(String),
    /// `gap.FIELD`: a numeric field of the item minus its mean over the user's history.
    Gap(String),
    /// `log_gap.FIELD`: the same on `ln(1 + x)`.
    LogGap(String),
    /// `user_feature.NAME`: the number the feature store holds under feature `NAME` for the
    /// request's user (a window feature keyed by user, an enricher's user output); NaN when it
    /// is missing or not a number.
    UserFeature(String),
    /// `item_feature.NAME`: the number the feature store holds under feature `NAME` for the
    /// candidate item; NaN when it is missing or not a number.
    ItemFeature(String),
    /// `embedding_sim.EMBEDDING`: the cosine between the user's profile vector of item
    /// embedding `EMBEDDING` (the mean of their history items' unit-length vectors) and the
    /// candidate's vector; NaN when either is missing.
    EmbeddingSim(String),
    /// `context.FIELD`: request feature `FIELD` sent by the caller (a number as it is, a
    /// boolean as 1 or 0); NaN when it is missing or anything else.
    Context(String),
}

impl Feature {
    /// The feature a name declares.
    pub fn parse(name: &str) -> Result<Self, FeatureError> {
        let unknown = || FeatureError::Unknown(name.to_string());
        match name {
            "item_users_log" => return Ok(Self::ItemUsersLog),
            "item_rating_mean" => return Ok(Self::ItemRatingMean),
            "user_activity" => return Ok(Self::UserActivity),
            _ => {}
        }
        let (kind, argument) = name.split_once('.').ok_or_else(unknown)?;
        if argument.is_empty() {
            return Err(unknown());
        }
        let argument = argument.to_string();
        Ok(match kind {
            "recall_score" => Self::RecallScore(argument),
            "recall_rank" => Self::RecallRank(argument),
            "recall_ratio" => Self::RecallRatio(argument),
            "item" => Self::Item(argument),
            "item_log" => Self::ItemLog(argument),
            "keyword_count" => Self::KeywordCount(argument),
            "keyword_share" => Self::KeywordShare(argument),
            "token_overlap" => Self::TokenOverlap(argument),
            "series_count" => Self::SeriesCount(argument),
            "series_number" => Self::SeriesNumber(argument),
            "gap" => Self::Gap(argument),
            "log_gap" => Self::LogGap(argument),
            "user_feature" => Self::UserFeature(argument),
            "item_feature" => Self::ItemFeature(argument),
            "embedding_sim" => Self::EmbeddingSim(argument),
            "context" => Self::Context(argument),
            _ => return Err(unknown()),
        })
    }

    /// The recall source a `recall_*` feature reads.
    pub fn recall_source(&self) -> Option<&str> {
        match self {
            Self::RecallScore(source) | Self::RecallRank(source) | Self::RecallRatio(source) => {
                Some(source)
            }
            _ => None,
        }
    }
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RecallScore(s) => write!(f, "recall_score.{s}"),
            Self::RecallRank(s) => write!(f, "recall_rank.{s}"),
            Self::RecallRatio(s) => write!(f, "recall_ratio.{s}"),
            Self::ItemUsersLog => write!(f, "item_users_log"),
            Self::ItemRatingMean => write!(f, "item_rating_mean"),
            Self::Item(field) => write!(f, "item.{field}"),
            Self::ItemLog(field) => write!(f, "item_log.{field}"),
            Self::UserActivity => write!(f, "user_activity"),
            Self::KeywordCount(field) => write!(f, "keyword_count.{field}"),
            Self::KeywordShare(field) => write!(f, "keyword_share.{field}"),
            Self::TokenOverlap(field) => write!(f, "token_overlap.{field}"),
            Self::SeriesCount(field) => write!(f, "series_count.{field}"),
            Self::SeriesNumber(field) => write!(f, "series_number.{field}"),
            Self::Gap(field) => write!(f, "gap.{field}"),
            Self::LogGap(field) => write!(f, "log_gap.{field}"),
            Self::UserFeature(name) => write!(f, "user_feature.{name}"),
            Self::ItemFeature(name) => write!(f, "item_feature.{name}"),
            Self::EmbeddingSim(embedding) => write!(f, "embedding_sim.{embedding}"),
            Self::Context(field) => write!(f, "context.{field}"),
        }
    }
}

/// An ordered list of distinct features: the columns of a model's input. A model file carries
/// the names; loading it rebuilds the same set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureSet {
    features: Vec<Feature>,
    /// What the features read of a user's history.
    profile_needs: ProfileNeeds,
}

impl FeatureSet {
    /// The set that `names` declare, in order.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Self, FeatureError> {
        if names.is_empty() {
            return Err(FeatureError::Empty);
        }
        let mut features: Vec<Feature> = Vec::with_capacity(names.len());
        for name in names {
            let feature = Feature::parse(name.as_ref())?;
            if features.contains(&feature) {
                return Err(FeatureError::Duplicate(feature.to_string()));
            }
            features.push(feature);
        }
        let profile_needs = ProfileNeeds::of(&features);
        Ok(Self {
            features,
            profile_needs,
        })
    }

    /// The features, in column order.
    pub fn features(&self) -> &[Feature] {
        &self.features
    }

    /// What the features read of a user's history: a [`FeatureSource`] builds the user's
    /// profile for them ([`crate::features::UserProfile::from_history_for`]).
    ///
    /// [`FeatureSource`]: crate::features::FeatureSource
    pub fn profile_needs(&self) -> &ProfileNeeds {
        &self.profile_needs
    }

    /// The feature names, in column order.
    pub fn names(&self) -> Vec<String> {
        self.features.iter().map(ToString::to_string).collect()
    }

    /// How many features (columns) there are.
    pub fn len(&self) -> usize {
        self.features.len()
    }

    /// Whether the set is empty (never, for a parsed set).
    pub fn is_empty(&self) -> bool {
        self.features.is_empty()
    }

    /// The distinct recall sources the `recall_*` features read, in order of first mention.
    pub fn recall_sources(&self) -> Vec<&str> {
        let mut sources: Vec<&str> = Vec::new();
        for source in self.features.iter().filter_map(Feature::recall_source) {
            if !sources.contains(&source) {
                sources.push(source);
            }
        }
        sources
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bad_names_are_refused() {
        let names = [
            "recall_score.als",
            "recall_rank.als",
            "recall_ratio.swing",
            "item_users_log",
            "item_rating_mean",
            "item.average_rating",
            "item_log.ratings_count",
            "user_activity",
            "keyword_count.authors",
            "keyword_share.authors",
            "token_overlap.title",
            "series_count.title",
            "series_number.title",
            "gap.original_publication_year",
            "log_gap.ratings_count",
            "user_feature.clicks_1h",
            "item_feature.ctr.7d",
            "embedding_sim.text",
            "context.is_mobile",
        ];
        let set = FeatureSet::parse(&names).unwrap();
        assert_eq!(set.names(), names);
        assert_eq!(
            set.features()[names.len() - 4..],
            [
                Feature::UserFeature("clicks_1h".into()),
                Feature::ItemFeature("ctr.7d".into()),
                Feature::EmbeddingSim("text".into()),
                Feature::Context("is_mobile".into()),
            ],
            "the name is everything after the first dot"
        );
        for bad in ["user_feature.", "item_feature", "embedding_sim.", "context"] {
            assert_eq!(
                Feature::parse(bad),
                Err(FeatureError::Unknown(bad.into())),
                "{bad}"
            );
        }
        assert_eq!(set.recall_sources(), ["als", "swing"]);
        assert_eq!(
            FeatureSet::parse(&["item.x", "popularity"]),
            Err(FeatureError::Unknown("popularity".into()))
        );
        assert_eq!(
            FeatureSet::parse(&["item."]),
            Err(FeatureError::Unknown("item.".into()))
        );
        assert_eq!(
            FeatureSet::parse(&["item.x", "item.x"]),
            Err(FeatureError::Duplicate("item.x".into()))
        );
        assert_eq!(FeatureSet::parse::<&str>(&[]), Err(FeatureError::Empty));
    }
}
