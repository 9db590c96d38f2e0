//! A candidate in flight through a pipeline, with what the stages need to see of it.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use cascade_core::expr::Value;
use cascade_core::{Candidate, FieldValue, Item};
use cascade_rank::features::RankItem;

/// An item field as an expression value: numbers and timestamps as numbers, text and
/// keywords as strings, anything else (tags, absent) as null.
pub fn field_value(item: &Item, name: &str) -> Value {
    match item.fields.get(name) {
        Some(FieldValue::Numeric(x)) => Value::Number(*x),
        Some(FieldValue::Timestamp(t)) => Value::Number(*t as f64),
        Some(FieldValue::Text(s) | FieldValue::Keyword(s)) => Value::Text(s.clone()),
        Some(FieldValue::Tags(_)) | None => Value::Null,
    }
}

/// A candidate with its provenance and its item.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The item id, the current score, the first recall source (`retrieve_id`) and every
    /// recall source that proposed the item with its score, in recall order.
    pub candidate: Candidate,
    /// The pipeline that produced it.
    pub pipeline: Arc<str>,
    /// The item, when it is in the catalogue.
    pub item: Option<Arc<RankItem>>,
    /// The score after each stage that scored it, when the request asked for a trace.
    pub stage_scores: Option<Vec<(String, f64)>>,
}

impl Entry {
    /// The item id.
    pub fn id(&self) -> &str {
        &self.candidate.item_id
    }

    /// Sets the score, recording it for `stage` when tracing.
    pub fn set_score(&mut self, stage: &str, score: f64) {
        self.candidate.score = score;
        if let Some(scores) = &mut self.stage_scores {
            scores.push((stage.to_string(), score));
        }
    }

    /// A variable for config expressions: `score`, `retrieve_id`, `pipeline`, or an item field
    /// (numbers and timestamps as numbers, text and keywords as strings).
    ///
    /// Numbers are read from the item's digest, which the rank stage reads too: one allocation
    /// searched by a hash of the name, where the field map compares the name with each key's
    /// string, each in memory of its own, for a condition tested on hundreds of candidates.
    pub fn value(&self, name: &str) -> Value {
        match name {
            "score" => return Value::Number(self.candidate.score),
            "retrieve_id" => return Value::Text(self.candidate.retrieve_id.clone()),
            "pipeline" => return Value::Text(self.pipeline.to_string()),
            _ => {}
        }
        let Some(item) = &self.item else {
            return Value::Null;
        };
        let digest = item.digest();
        match digest.numeric(name) {
            Some(number) => Value::Number(number),
            None if !digest.has(name) => Value::Null,
            // text, keywords and tags, and numbers that are not finite
            None => field_value(item, name),
        }
    }

    /// A hash of the item's value of a categorical field (text, keyword, tags, a number), equal
    /// for equal values: for comparing the categories of many entries without copying them.
    pub fn category_key(&self, field: &str) -> Option<u64> {
        let mut hasher = DefaultHasher::new();
        match self.item.as_ref()?.fields.get(field)? {
            FieldValue::Text(s) | FieldValue::Keyword(s) => s.hash(&mut hasher),
            FieldValue::Tags(tags) => tags.hash(&mut hasher),
            FieldValue::Numeric(x) => x.to_bits().hash(&mut hasher),
            FieldValue::Timestamp(t) => t.hash(&mut hasher),
        }
        Some(hasher.finish())
    }
}

/// An entry for unit tests: item `id` with `fields`, `score`, from `pipeline`.
#[cfg(test)]
pub(crate) fn test_entry(
    id: &str,
    score: f64,
    pipeline: &str,
    fields: &[(&str, FieldValue)],
) -> Entry {
    Entry {
        candidate: Candidate::new(id.to_string(), score, "test".into()),
        pipeline: Arc::from(pipeline),
        item: Some(Arc::new(RankItem::new(Item {
            id: id.to_string(),
            fields: fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            embeddings: Default::default(),
        }))),
        stage_scores: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_every_field_kind_as_the_field_map_gives_it() {
        let fields = [
            ("price", FieldValue::Numeric(12.5)),
            ("broken", FieldValue::Numeric(f64::NAN)),
            ("created", FieldValue::Timestamp(1_700_000_000_000)),
            ("title", FieldValue::Text("The Hobbit".into())),
            ("genre", FieldValue::Keyword("fantasy".into())),
            ("tags", FieldValue::Tags(vec!["a".into()])),
        ];
        let entry = test_entry("i", 0.25, "main", &fields);
        let item = entry.item.clone().unwrap();
        for name in ["price", "created", "title", "genre", "tags", "absent"] {
            assert_eq!(entry.value(name), field_value(&item, name), "{name}");
        }
        assert!(matches!(entry.value("broken"), Value::Number(x) if x.is_nan()));
        assert_eq!(entry.value("price"), Value::Number(12.5));
        assert_eq!(entry.value("absent"), Value::Null);
        assert_eq!(entry.value("score"), Value::Number(0.25));
    }
}
