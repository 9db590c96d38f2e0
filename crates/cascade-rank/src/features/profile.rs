//! The user side of the features: what a user's history says about them.

use std::collections::HashMap;

use super::digest::{Kind, RankItem};
use super::embedding::MeanVector;
use super::spec::Feature;
use super::text::{TextKey, field_key};

/// How often each value of one field occurs in a history, by the value's [`TextKey`].
type Counts = HashMap<TextKey, u32, ahash::RandomState>;

/// A table by field, keyed by the field's name key (as an item digest files it).
type ByField<V> = HashMap<u64, V, ahash::RandomState>;

/// A summary of one user's history, built from the items they interacted with: how active
/// they are, which values of each keyword field (authors) and which words and series of each
/// text field (titles) recur, the mean of each numeric field and the mean direction of each
/// item embedding. None of it depends on the order of the history. It reads the items'
/// digests, so a history item is not cut again for each request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserProfile {
    activity: usize,
    /// field → value → history items with that value
    keywords: ByField<Counts>,
    /// field → word → history items whose field holds that word
    tokens: ByField<Counts>,
    /// field → series → history items of that series
    series: ByField<Counts>,
    /// field → (sum, sum of ln(1 + max(x, 0)), count)
    numeric: ByField<(f64, f64, u32)>,
    /// embedding → the mean of the history items' unit-length vectors
    embeddings: HashMap<String, MeanVector>,
}

/// What of a history the features of a feature set read: which fields' keyword values,
/// words, series and numbers, and which embeddings. A profile built for them
/// ([`UserProfile::from_history_for`]) summarises only those, and gives those features the
/// values a whole profile gives. A request builds its user's profile from up to hundreds of
/// history items; a model that reads no embedding does not need each item's vector summed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileNeeds {
    /// Every part of every field and embedding, whatever a feature set reads.
    everything: bool,
    keywords: Vec<u64>,
    tokens: Vec<u64>,
    series: Vec<u64>,
    numeric: Vec<u64>,
    embeddings: Vec<String>,
}

/// The needs of any feature set: a whole profile.
const EVERYTHING: ProfileNeeds = ProfileNeeds {
    everything: true,
    keywords: Vec::new(),
    tokens: Vec::new(),
    series: Vec::new(),
    numeric: Vec::new(),
    embeddings: Vec::new(),
};

impl ProfileNeeds {
    /// What `features` read of a user's history.
    pub fn of(features: &[Feature]) -> Self {
        let mut needs = Self::default();
        for feature in features {
            let (list, field) = match feature {
                Feature::KeywordCount(field) | Feature::KeywordShare(field) => {
                    (&mut needs.keywords, field)
                }
                Feature::TokenOverlap(field) => (&mut needs.tokens, field),
                Feature::SeriesCount(field) => (&mut needs.series, field),
                Feature::Gap(field) | Feature::LogGap(field) => (&mut needs.numeric, field),
                Feature::EmbeddingSim(embedding) => {
                    if !needs.embeddings.contains(embedding) {
                        needs.embeddings.push(embedding.clone());
                    }
                    continue;
                }
                _ => continue,
            };
            let key = field_key(field);
            if !list.contains(&key) {
                list.push(key);
            }
        }
        needs
    }

    /// Whether the profile summarises one part (keyword values, words, series or numbers) of
    /// the field of key `field`, given the fields whose part the features read.
    fn reads(&self, part: &[u64], field: u64) -> bool {
        self.everything || part.contains(&field)
    }

    fn embedding(&self, name: &str) -> bool {
        self.everything || self.embeddings.iter().any(|e| e == name)
    }
}

impl UserProfile {
    /// The profile of a history, one entry per interacted item: the item when the catalogue
    /// has it, `None` when it does not (it still counts towards activity).
    pub fn from_history<'a>(history: impl IntoIterator<Item = Option<&'a RankItem>>) -> Self {
        Self::from_history_for(&EVERYTHING, history)
    }

    /// The profile of a history as [`UserProfile::from_history`] builds it, summarising only
    /// what `needs` names: the features `needs` was made of read the same values from it.
    pub fn from_history_for<'a>(
        needs: &ProfileNeeds,
        history: impl IntoIterator<Item = Option<&'a RankItem>>,
    ) -> Self {
        let mut profile = Self::default();
        for item in history {
            profile.push_for(needs, item);
        }
        profile
    }

    /// Adds one more history entry, as [`UserProfile::from_history`] counts each: the item
    /// when the catalogue has it, `None` when it does not. Replaying a history in order, one
    /// push per item, gives the profile `from_history` builds (offline backfill keeps one
    /// profile per user up to date this way).
    pub fn push(&mut self, item: Option<&RankItem>) {
        self.push_for(&EVERYTHING, item);
    }

    /// Adds one history entry, summarising of its item only what `needs` names.
    fn push_for(&mut self, needs: &ProfileNeeds, item: Option<&RankItem>) {
        self.activity += 1;
        if let Some(item) = item {
            self.add(item, needs);
        }
    }

    fn add(&mut self, item: &RankItem, needs: &ProfileNeeds) {
        for (embedding, vector) in &item.embeddings {
            if needs.embedding(embedding) {
                slot(&mut self.embeddings, embedding).add(vector);
            }
        }
        for (field, keywords, tokens) in item.digest().fields() {
            match field.kind {
                Kind::Keywords if needs.reads(&needs.keywords, field.name) => {
                    count_all(self.keywords.entry(field.name), keywords);
                }
                Kind::Text => {
                    if needs.reads(&needs.tokens, field.name) {
                        count_all(self.tokens.entry(field.name), tokens);
                    }
                    if let Some((name, _)) = field.series
                        && needs.reads(&needs.series, field.name)
                    {
                        count_all(self.series.entry(field.name), &[name]);
                    }
                }
                Kind::Number if needs.reads(&needs.numeric, field.name) => {
                    if let Some(x) = field.numeric {
                        let entry = self.numeric.entry(field.name).or_default();
                        entry.0 += x;
                        entry.1 += x.max(0.0).ln_1p();
                        entry.2 += 1;
                    }
                }
                Kind::Keywords | Kind::Number => {}
            }
        }
    }

    /// How many items the history holds.
    pub fn activity(&self) -> usize {
        self.activity
    }

    /// How many history items have the value of key `value` in keyword field `field`.
    pub fn keyword_count(&self, field: &str, value: TextKey) -> u32 {
        count(&self.keywords, field, value)
    }

    /// How many history items have the word of key `word` in text field `field`.
    pub fn token_count(&self, field: &str, word: TextKey) -> u32 {
        count(&self.tokens, field, word)
    }

    /// How many history items belong to the series of key `series` (named in text field
    /// `field`).
    pub fn series_count(&self, field: &str, series: TextKey) -> u32 {
        count(&self.series, field, series)
    }

    /// The mean of numeric field `field` over the history items that have it.
    pub fn mean(&self, field: &str) -> Option<f64> {
        self.numeric
            .get(&field_key(field))
            .filter(|(_, _, n)| *n > 0)
            .map(|(sum, _, n)| sum / f64::from(*n))
    }

    /// The cosine between the user's profile vector of embedding `embedding` (the mean of the
    /// history items' unit-length vectors) and `vector`; `None` when no history item has that
    /// embedding or `vector` cannot be compared (zero, or another size).
    pub fn embedding_similarity(&self, embedding: &str, vector: &[f32]) -> Option<f64> {
        self.embeddings.get(embedding)?.cosine(vector)
    }

    /// The mean of `ln(1 + x)` of numeric field `field` over the history items that have it.
    pub fn log_mean(&self, field: &str) -> Option<f64> {
        self.numeric
            .get(&field_key(field))
            .filter(|(_, _, n)| *n > 0)
            .map(|(_, logs, n)| logs / f64::from(*n))
    }
}

/// The entry of `name`, added empty when missing; the name is copied only then (a profile
/// adds every embedding of up to hundreds of history items per request).
fn slot<'a, V: Default>(table: &'a mut HashMap<String, V>, name: &str) -> &'a mut V {
    if !table.contains_key(name) {
        table.insert(name.to_string(), V::default());
    }
    table.get_mut(name).expect("inserted above")
}

/// Counts one more history item holding each of `keys` (distinct) in the field of `entry`.
fn count_all(entry: std::collections::hash_map::Entry<'_, u64, Counts>, keys: &[TextKey]) {
    let counts = entry.or_default();
    for &key in keys {
        *counts.entry(key).or_default() += 1;
    }
}

fn count(table: &ByField<Counts>, field: &str, key: TextKey) -> u32 {
    table
        .get(&field_key(field))
        .and_then(|counts| counts.get(&key))
        .copied()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use cascade_core::{FieldValue, Item};

    use super::*;
    use crate::features::text;

    fn book(title: &str, authors: &str, year: f64) -> RankItem {
        RankItem::new(Item {
            id: title.into(),
            fields: [
                ("title".to_string(), FieldValue::Text(title.into())),
                ("authors".to_string(), FieldValue::Keyword(authors.into())),
                ("year".to_string(), FieldValue::Numeric(year)),
            ]
            .into(),
            embeddings: Default::default(),
        })
    }

    #[test]
    fn summarises_authors_words_series_and_means() {
        let a = book("Dune (Dune Chronicles, #1)", "Frank Herbert", 1965.0);
        let b = book(
            "Dune Messiah (Dune Chronicles, #2)",
            "Frank Herbert",
            1969.0,
        );
        let c = book("Emma", "Jane Austen", 1815.0);
        let profile = UserProfile::from_history([Some(&a), Some(&b), Some(&c), None]);
        assert_eq!(profile.activity(), 4, "unknown items count as activity");
        let key = text::key;
        assert_eq!(profile.keyword_count("authors", key("frank herbert")), 2);
        assert_eq!(profile.keyword_count("authors", key("nobody")), 0);
        assert_eq!(profile.token_count("title", key("dune")), 2);
        assert_eq!(profile.token_count("title", key("messiah")), 1);
        assert_eq!(profile.series_count("title", key("dune chronicles")), 2);
        assert_eq!(profile.mean("year"), Some((1965.0 + 1969.0 + 1815.0) / 3.0));
        assert!((profile.log_mean("year").unwrap() - 1965f64.ln_1p()).abs() < 0.1);
        assert_eq!(profile.mean("missing"), None);
        assert_eq!(UserProfile::from_history([]).activity(), 0);
    }

    #[test]
    fn the_embedding_profile_is_the_mean_direction_in_any_order() {
        let vector = |id: &str, v: Vec<f32>| {
            RankItem::new(Item {
                id: id.into(),
                fields: Default::default(),
                embeddings: [("v".to_string(), v)].into(),
            })
        };
        let (a, b) = (vector("a", vec![2.0, 0.0]), vector("b", vec![0.0, 1.0]));
        let profile = UserProfile::from_history([Some(&a), None, Some(&b)]);
        let mut pushed = UserProfile::default();
        for item in [Some(&b), None, Some(&a)] {
            pushed.push(item);
        }
        assert_eq!(
            pushed, profile,
            "replayed in another order, the same profile"
        );
        let cosine = profile.embedding_similarity("v", &[1.0, 1.0]).unwrap();
        assert!((cosine - 1.0).abs() < 1e-12, "{cosine}");
        assert_eq!(profile.embedding_similarity("w", &[1.0, 1.0]), None);
        assert_eq!(
            UserProfile::default().embedding_similarity("v", &[1.0]),
            None
        );
    }
}
