//! BM25 recall (`TextRecall`): the [`TextIndex`] hits for the query a request carries among
//! its request-time features, so that a ranking model reads their BM25 score and rank as
//! `recall_score.NAME` and `recall_rank.NAME`.

use std::sync::Arc;

use cascade_core::{Candidate, RequestContext};

use crate::source::RecallSource;
use crate::text::TextIndex;

/// The request-time feature that holds the query unless configured otherwise.
pub const DEFAULT_QUERY_FIELD: &str = "query";

/// The items matching the request's query, best BM25 score first; the candidates' score is
/// their BM25 score as [`TextIndex::search`] gives it. A request without a query (the field
/// missing, not a string, or blank) recalls nothing.
pub struct TextRecall {
    name: String,
    index: Arc<TextIndex>,
    query_field: String,
}

impl TextRecall {
    /// A source named `name` (the candidates' `retrieve_id`) over `index`, reading the query
    /// from the request feature `query_field`.
    pub fn new(name: &str, index: Arc<TextIndex>, query_field: &str) -> Self {
        Self {
            name: name.to_string(),
            index,
            query_field: query_field.to_string(),
        }
    }

    /// The request's query: its `query_field` feature as a non-blank string.
    fn query<'a>(&self, request: &'a RequestContext) -> Option<&'a str> {
        request
            .features
            .get(&self.query_field)?
            .as_str()
            .map(str::trim)
            .filter(|query| !query.is_empty())
    }
}

impl RecallSource for TextRecall {
    fn name(&self) -> &str {
        &self.name
    }

    fn recall(&self, request: &RequestContext, limit: usize) -> Vec<Candidate> {
        let Some(query) = self.query(request) else {
            return Vec::new();
        };
        match self.index.search(query, limit, &|_| false) {
            Ok(hits) => hits
                .into_iter()
                .map(|hit| Candidate::new(hit.item_id, f64::from(hit.score), self.name.clone()))
                .collect(),
            Err(error) => {
                tracing::warn!(source = %self.name, %error, "text recall failed");
                Vec::new()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use cascade_core::{FieldValue, Item};
    use serde_json::{Value, json};

    use super::*;
    use crate::text::{TextField, TextTokenizer};

    fn book(id: &str, title: &str) -> Item {
        Item {
            id: id.into(),
            fields: [("title".to_string(), FieldValue::Text(title.into()))].into(),
            embeddings: Default::default(),
        }
    }

    /// Four titles, three of them about dragons, in an index under `dir`.
    fn index(dir: &std::path::Path) -> Arc<TextIndex> {
        let fields = [TextField::new("title", TextTokenizer::Default)];
        let index = TextIndex::open(dir, &fields).unwrap();
        let books = [
            book("dragon", "Dragon"),
            book("dragons", "The Dragon Reborn and the Dragon King"),
            book("tattoo", "The Girl with the Dragon Tattoo"),
            book("gatsby", "The Great Gatsby"),
        ];
        assert_eq!(index.build(books.into_iter()).unwrap(), 4);
        Arc::new(index)
    }

    fn request(features: &[(&str, Value)]) -> RequestContext {
        RequestContext {
            features: features
                .iter()
                .map(|(key, value)| (key.to_string(), value.clone()))
                .collect(),
            ..RequestContext::default()
        }
    }

    #[test]
    fn recalls_the_bm25_hits_of_the_query_best_first() {
        let dir = tempfile::tempdir().unwrap();
        let index = index(dir.path());
        let recall = TextRecall::new("bm25", index.clone(), DEFAULT_QUERY_FIELD);
        let candidates = recall.recall(&request(&[("query", json!(" dragon "))]), 10);
        let expected: Vec<(String, f64, String)> = index
            .search("dragon", 10, &|_| false)
            .unwrap()
            .into_iter()
            .map(|hit| (hit.item_id, f64::from(hit.score), "bm25".to_string()))
            .collect();
        let found: Vec<(String, f64, String)> = candidates
            .iter()
            .map(|c| (c.item_id.clone(), c.score, c.retrieve_id.clone()))
            .collect();
        assert_eq!(found, expected);
        assert_eq!(found.len(), 3, "gatsby does not match: {found:?}");
        assert!(found.windows(2).all(|w| w[0].1 >= w[1].1), "{found:?}");
        assert!(found[2].1 > 0.0, "{found:?}");
        assert_eq!(candidates[0].recall_score("bm25"), Some(found[0].1));

        let top = recall.recall(&request(&[("query", json!("dragon"))]), 2);
        assert_eq!(top, candidates[..2]);
    }

    #[test]
    fn a_request_without_a_query_recalls_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let recall = TextRecall::new("bm25", index(dir.path()), DEFAULT_QUERY_FIELD);
        for features in [
            vec![],
            vec![("query", json!(42))],
            vec![("query", json!(["dragon"]))],
            vec![("query", json!("   "))],
            vec![("q", json!("dragon"))],
        ] {
            let candidates = recall.recall(&request(&features), 10);
            assert!(candidates.is_empty(), "{features:?}: {candidates:?}");
        }
    }

    #[test]
    fn the_query_field_is_configurable() {
        let dir = tempfile::tempdir().unwrap();
        let recall = TextRecall::new("titles", index(dir.path()), "q");
        let candidates = recall.recall(&request(&[("q", json!("gatsby"))]), 10);
        let ids: Vec<&str> = candidates.iter().map(|c| c.item_id.as_str()).collect();
        assert_eq!(ids, ["gatsby"]);
        assert_eq!(candidates[0].retrieve_id, "titles");
        let other_field = recall.recall(&request(&[("query", json!("gatsby"))]), 10);
        assert!(other_field.is_empty(), "{other_field:?}");
    }
}
