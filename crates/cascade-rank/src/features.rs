//! Feature assembly: a declared [`FeatureSet`] turns (user, candidate, item, recall scores)
//! into one row of numbers per candidate, the input of the ranking models.
//!
//! Items come as [`RankItem`]s: an item with its [`ItemDigest`], the values text and numeric
//! features compare, cut once per item rather than once per request.
//!
//! A feature set is a list of names ([`Feature`] lists them); a model file carries the names
//! it was trained on, and the scorer that loads it computes exactly those. The user side comes
//! from a [`UserProfile`] (built from the user's history), item statistics, recall scores of
//! other sources and feature-store values (window features, enricher outputs) from a
//! [`FeatureSource`], context features from the request; online serving and offline training
//! call the same [`FeatureSet::extract`].

mod digest;
mod embedding;
mod extract;
mod matrix;
mod profile;
mod source;
mod spec;
mod stored;
pub mod text;

pub use digest::{ItemDigest, RankItem};
pub use matrix::FeatureMatrix;
pub use profile::{ProfileNeeds, UserProfile};
pub use source::{FeatureSource, ItemStats, MemoryFeatureSource, RATING_EVENT};
pub use spec::{Feature, FeatureError, FeatureSet};

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use cascade_core::{Candidate, FieldValue, Item, RequestContext};

    use super::*;
    use crate::scorer::ScoringInput;

    fn book(id: &str, title: &str, authors: &str, year: f64, ratings: f64) -> RankItem {
        RankItem::new(Item {
            id: id.into(),
            fields: [
                ("title".to_string(), FieldValue::Text(title.into())),
                ("authors".to_string(), FieldValue::Keyword(authors.into())),
                ("year".to_string(), FieldValue::Numeric(year)),
                ("ratings_count".to_string(), FieldValue::Numeric(ratings)),
            ]
            .into(),
            embeddings: Default::default(),
        })
    }

    fn candidate(id: &str, score: f64, source: &str) -> Candidate {
        Candidate::new(id.into(), score, source.into())
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

    fn unit(radians: f32) -> Vec<f32> {
        vec![radians.cos(), radians.sin()]
    }

    fn with_vector(id: &str, vector: Vec<f32>) -> RankItem {
        RankItem::new(Item {
            id: id.into(),
            fields: Default::default(),
            embeddings: [("v".to_string(), vector)].into(),
        })
    }

    fn assert_row(got: &[f64], want: &[f64], names: &[&str]) {
        for ((got, want), name) in got.iter().zip(want).zip(names) {
            let same = (got.is_nan() && want.is_nan()) || (got - want).abs() < 1e-9;
            assert!(same, "{name}: got {got}, want {want}");
        }
    }

    #[test]
    fn store_embedding_and_context_features() {
        use cascade_store::FeatureValue;

        let history = [with_vector("h1", unit(0.0)), with_vector("h2", unit(0.5))];
        let mut source = MemoryFeatureSource::default();
        source.users.insert(
            "u".into(),
            Arc::new(UserProfile::from_history(history.iter().map(Some))),
        );
        for (feature, entity, value) in [
            ("clicks_1h", "u", FeatureValue::Number(3.0)),
            ("last_items", "u", FeatureValue::List(vec!["h1".into()])),
            ("ctr", "c1", FeatureValue::Number(0.25)),
            ("ctr", "c2", FeatureValue::Vector(vec![0.5])),
        ] {
            source.store.insert((feature.into(), entity.into()), value);
        }
        let names = [
            "user_feature.clicks_1h",
            "user_feature.last_items",
            "user_feature.absent",
            "item_feature.ctr",
            "embedding_sim.v",
            "embedding_sim.other",
            "context.hour",
            "context.mobile",
            "context.os",
            "context.absent",
        ];
        let set = FeatureSet::parse(&names).unwrap();
        // c1 points at 0.25 rad, the mean direction of the history's; c2's vector is zero
        let c1 = with_vector("c1", unit(0.25));
        let c2 = with_vector("c2", vec![0.0, 0.0]);
        let (a, b, c) = (
            candidate("c1", 1.0, "als"),
            candidate("c2", 1.0, "als"),
            candidate("c3", 1.0, "als"),
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
            features: [
                ("hour".to_string(), serde_json::json!(13)),
                ("mobile".to_string(), serde_json::json!(true)),
                ("os".to_string(), serde_json::json!("ios")),
            ]
            .into(),
            ..RequestContext::default()
        };
        let matrix = set.extract(&source, &request, &inputs);
        let nan = f64::NAN;
        // clicks_1h, last_items (a list), absent; hour, mobile, os (a string), absent
        let user_and_context = [3.0, nan, nan, 13.0, 1.0, nan, nan];
        let row = |ctr: f64, sim: f64| {
            let [clicks, last, absent, hour, mobile, os, missing] = user_and_context;
            [
                clicks, last, absent, ctr, sim, nan, hour, mobile, os, missing,
            ]
        };
        assert_row(matrix.row(0), &row(0.25, 1.0), &names);
        // a vector in the store and a zero embedding read as missing
        assert_row(matrix.row(1), &row(nan, nan), &names);
        assert_row(matrix.row(2), &row(nan, nan), &names);
        let flag = |value| {
            let request = RequestContext {
                features: [("mobile".to_string(), value)].into(),
                ..RequestContext::default()
            };
            let set = FeatureSet::parse(&["context.mobile"]).unwrap();
            set.extract(&source, &request, &inputs[..1]).row(0)[0]
        };
        assert_eq!(flag(serde_json::json!(false)), 0.0);
        assert_eq!(flag(serde_json::json!(-2.5)), -2.5);
        assert!(flag(serde_json::json!([1])).is_nan());
        assert!(flag(serde_json::Value::Null).is_nan());
    }

    #[test]
    fn recall_features_read_every_proposing_source_whatever_the_current_score() {
        let set = FeatureSet::parse(&["recall_score.als", "recall_score.popular"]).unwrap();
        // proposed by ALS (0.5) and popular (40), then re-scored by an earlier rank stage
        let mut both = candidate("c", 0.5, "als");
        both.recall_scores.push(("popular".into(), 40.0));
        both.score = 9.0;
        let only_popular = candidate("d", 7.0, "popular");
        let inputs = [&both, &only_popular].map(|candidate| ScoringInput {
            candidate,
            item: None,
        });
        let source = MemoryFeatureSource::default();
        let matrix = set.extract(&source, &RequestContext::default(), &inputs);
        assert_eq!(matrix.row(0), [0.5, 40.0]);
        assert!(matrix.row(1)[0].is_nan());
        assert_eq!(matrix.row(1)[1], 7.0);
    }

    #[test]
    fn a_source_without_a_store_gives_nan_store_features() {
        struct NoStore;
        impl FeatureSource for NoStore {
            fn user(&self, _: &RequestContext, _: &ProfileNeeds) -> Arc<UserProfile> {
                Arc::default()
            }
            fn item_stats(&self, _: &str) -> ItemStats {
                ItemStats::default()
            }
        }
        let set = FeatureSet::parse(&["item_feature.ctr", "user_feature.clicks"]).unwrap();
        let item = with_vector("c", unit(0.0));
        let cand = candidate("c", 1.0, "als");
        let inputs = [ScoringInput {
            candidate: &cand,
            item: Some(&item),
        }];
        let matrix = set.extract(&NoStore, &RequestContext::default(), &inputs);
        assert!(matrix.values().iter().all(|x| x.is_nan()));
    }

    #[test]
    fn a_bm25_source_gives_its_scores_and_ranks_as_recall_features() {
        let set = FeatureSet::parse(&["recall_score.bm25", "recall_rank.bm25"]).unwrap();
        let (a, b, c) = (
            candidate("a", 7.5, "bm25"),
            candidate("b", 11.0, "bm25"),
            candidate("c", 0.9, "als"),
        );
        let inputs: Vec<ScoringInput<'_>> = [&a, &b, &c]
            .into_iter()
            .map(|candidate| ScoringInput {
                candidate,
                item: None,
            })
            .collect();
        let matrix = set.extract(
            &MemoryFeatureSource::default(),
            &RequestContext::default(),
            &inputs,
        );
        assert_eq!(matrix.row(0), [7.5, 2.0]);
        assert_eq!(matrix.row(1), [11.0, 1.0]);
        assert!(matrix.row(2).iter().all(|x| x.is_nan()), "not a BM25 hit");
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

    /// Builds the user's profile from a history for the features asked, as serving does.
    struct ProfileForNeeds(Vec<RankItem>);

    impl FeatureSource for ProfileForNeeds {
        fn user(&self, _: &RequestContext, needs: &ProfileNeeds) -> Arc<UserProfile> {
            Arc::new(UserProfile::from_history_for(
                needs,
                self.0.iter().map(Some),
            ))
        }
        fn item_stats(&self, _: &str) -> ItemStats {
            ItemStats::default()
        }
    }

    #[test]
    fn a_profile_built_for_the_features_gives_the_values_of_a_whole_one() {
        let item = |id: &str, title: &str, authors: &str, year: f64, radians: f32| {
            let mut item = Item::clone(&book(id, title, authors, year, 10.0 * year));
            item.embeddings.insert("v".into(), unit(radians));
            RankItem::new(item)
        };
        let history = vec![
            item(
                "h1",
                "Dune (Dune Chronicles, #1)",
                "Frank Herbert",
                1965.0,
                0.0,
            ),
            item("h2", "Emma", "Jane Austen", 1815.0, 0.5),
            item(
                "h3",
                "Children of Dune (Dune Chronicles, #3)",
                "Frank Herbert",
                1976.0,
                0.2,
            ),
        ];
        let candidates = [
            item(
                "c1",
                "Dune Messiah (Dune Chronicles, #2)",
                "Frank Herbert",
                1969.0,
                0.1,
            ),
            item("c2", "Persuasion", "Jane Austen, Someone", 1817.0, 1.0),
        ];
        let mut whole = MemoryFeatureSource::default();
        whole.users.insert(
            "u".into(),
            Arc::new(UserProfile::from_history(history.iter().map(Some))),
        );
        let partial = ProfileForNeeds(history);
        let ids = [candidate("c1", 1.0, "als"), candidate("c2", 0.5, "als")];
        let inputs: Vec<ScoringInput> = ids
            .iter()
            .zip(&candidates)
            .map(|(candidate, item)| ScoringInput {
                candidate,
                item: Some(item),
            })
            .collect();
        let request = RequestContext {
            uid: "u".into(),
            ..RequestContext::default()
        };
        let names = [
            "user_activity",
            "keyword_count.authors",
            "keyword_share.authors",
            "token_overlap.title",
            "series_count.title",
            "gap.year",
            "log_gap.ratings_count",
            "embedding_sim.v",
        ];
        let each = names.iter().map(|name| vec![*name]);
        for names in each.chain([names.to_vec()]) {
            let set = FeatureSet::parse(&names).unwrap();
            let want = set.extract(&whole, &request, &inputs);
            let got = set.extract(&partial, &request, &inputs);
            for row in 0..inputs.len() {
                assert_row(got.row(row), want.row(row), &names);
            }
        }
        let only_year = FeatureSet::parse(&["gap.year"]).unwrap();
        let profile = partial.user(&request, only_year.profile_needs());
        assert_eq!(
            profile.keyword_count("authors", text::key("frank herbert")),
            0
        );
        assert_eq!(profile.embedding_similarity("v", &unit(0.0)), None);
        assert_eq!(
            profile.activity(),
            3,
            "every history item counts as activity"
        );
    }
}
