//! Feature assembly: a declared [`FeatureSet`] turns (user, candidate, item, recall scores)
//! into one row of numbers per candidate, the input of the ranking models.
//!
//! A feature set is a list of names ([`Feature`] lists them); a model file carries the names
//! it was trained on, and the scorer that loads it computes exactly those. The user side comes
//! from a [`UserProfile`] (built from the user's history), item statistics and recall scores
//! of other sources from a [`FeatureSource`]; online serving and offline training call the
//! same [`FeatureSet::extract`].

mod extract;
mod matrix;
mod profile;
mod source;
mod spec;
pub mod text;

pub use matrix::FeatureMatrix;
pub use profile::UserProfile;
pub use source::{FeatureSource, ItemStats, MemoryFeatureSource, RATING_EVENT};
pub use spec::{Feature, FeatureError, FeatureSet};

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use cascade_core::{Candidate, FieldValue, Item, RequestContext};

    use super::*;
    use crate::scorer::ScoringInput;

    fn book(id: &str, title: &str, authors: &str, year: f64, ratings: f64) -> Item {
        Item {
            id: id.into(),
            fields: [
                ("title".to_string(), FieldValue::Text(title.into())),
                ("authors".to_string(), FieldValue::Keyword(authors.into())),
                ("year".to_string(), FieldValue::Numeric(year)),
                ("ratings_count".to_string(), FieldValue::Numeric(ratings)),
            ]
            .into(),
            embeddings: Default::default(),
        }
    }

    fn candidate(id: &str, score: f64, source: &str) -> Candidate {
        Candidate {
            item_id: id.into(),
            score,
            retrieve_id: source.into(),
        }
    }

    #[test]
    fn computes_every_kind_of_feature_for_a_batch() {
        let read = [
            book(
                "h1",
                "Dune (Dune Chronicles, #1)",
                "Frank Herbert",
                1965.0,
                99.0,
            ),
            book("h2", "Emma", "Jane Austen", 1815.0, 9.0),
        ];
        let c1 = book(
            "c1",
            "Dune Messiah (Dune Chronicles, #2)",
            "Frank Herbert, Someone",
            1969.0,
            49.0,
        );
        let c2 = book("c2", "Persuasion", "Jane Austen", 1817.0, 19.0);
        let mut source = MemoryFeatureSource::default();
        source.users.insert(
            "u".into(),
            Arc::new(UserProfile::from_history(read.iter().map(Some))),
        );
        source.items.insert(
            "c1".into(),
            ItemStats {
                users: 6,
                rating_sum: 9.0,
                ratings: 2,
            },
        );
        source.recall.insert(
            ("u".into(), "swing".into()),
            [("c2".to_string(), 0.5)].into(),
        );
        let names = [
            "recall_score.als",
            "recall_rank.als",
            "recall_ratio.als",
            "recall_score.swing",
            "recall_rank.swing",
            "item_users_log",
            "item_rating_mean",
            "item.year",
            "item_log.ratings_count",
            "user_activity",
            "keyword_count.authors",
            "keyword_share.authors",
            "token_overlap.title",
            "series_count.title",
            "series_number.title",
            "gap.year",
            "log_gap.ratings_count",
        ];
        let set = FeatureSet::parse(&names).unwrap();
        let (a, b, c) = (
            candidate("c1", 2.0, "als"),
            candidate("c2", 4.0, "als"),
            candidate("gone", 1.0, "other"),
        );
        let inputs = [
            ScoringInput {
                candidate: &a,
                item: Some(&c1),
            },
            ScoringInput {
                candidate: &b,
                item: Some(&c2),
            },
            ScoringInput {
                candidate: &c,
                item: None,
            },
        ];
        let request = RequestContext {
            uid: "u".into(),
            ..RequestContext::default()
        };
        let matrix = set.extract(&source, &request, &inputs);
        assert_eq!((matrix.rows(), matrix.columns()), (3, names.len()));
        let log_mean = (100f64.ln() + 10f64.ln()) / 2.0;
        #[rustfmt::skip]
        let expected_c1 = [
            2.0, 2.0, 0.5,             // ALS score, rank 2 of 2, half the best
            f64::NAN, f64::NAN,        // swing gives c1 nothing
            7f64.ln(), 4.5,            // 6 users, ratings 9 / 2
            1969.0, 50f64.ln(),        // item fields
            2.0,                       // activity
            1.0, 0.5,                  // one history item by Frank Herbert, of 2
            0.5,                       // "dune" in 1 history title (also "chronicles": 1) ...
            1.0, 2.0,                  // one Dune Chronicles book read; this is #2
            1969.0 - 1890.0,           // year over the mean of 1965 and 1815
            50f64.ln() - log_mean,
        ];
        let row = matrix.row(0);
        for (i, (got, want)) in row.iter().zip(expected_c1).enumerate() {
            if i == 12 {
                // "messiah" 0 + "dune" 1 + "chronicles" 1, over 2 history items
                assert_eq!(*got, 1.0, "{}", names[i]);
                continue;
            }
            let same = (got.is_nan() && want.is_nan()) || (got - want).abs() < 1e-9;
            assert!(same, "{}: got {got}, want {want}", names[i]);
        }
        let row = matrix.row(1);
        assert_eq!(&row[..5], [4.0, 1.0, 1.0, 0.5, 1.0]);
        assert_eq!((row[5], row[6].is_nan()), (0.0, true), "no stats: 0 users");
        assert_eq!((row[10], row[13], row[14].is_nan()), (1.0, 0.0, true));
        let row = matrix.row(2);
        assert!(row[0].is_nan() && row[1].is_nan(), "not an ALS candidate");
        assert!(
            row[7].is_nan() && row[10].is_nan(),
            "no item: no item features"
        );
        assert_eq!(row[9], 2.0, "the user side is still known");
    }

    #[test]
    fn an_unknown_user_has_no_history_features() {
        let set =
            FeatureSet::parse(&["user_activity", "keyword_share.authors", "gap.year"]).unwrap();
        let item = book("c", "T", "A", 2000.0, 1.0);
        let cand = candidate("c", 1.0, "als");
        let inputs = [ScoringInput {
            candidate: &cand,
            item: Some(&item),
        }];
        let matrix = set.extract(
            &MemoryFeatureSource::default(),
            &RequestContext::default(),
            &inputs,
        );
        assert_eq!(matrix.row(0)[0], 0.0);
        assert!(matrix.row(0)[1].is_nan() && matrix.row(0)[2].is_nan());
    }
}
