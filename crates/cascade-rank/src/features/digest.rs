//! What the features read of one item, cut once per item version.
//!
//! Text features compare hashed values ([`super::text`]). Cutting a title into words and
//! hashing them, splitting an author list and looking fields up by name cost more than the rest
//! of a feature row, and a request reads the fields of hundreds of candidates and of the user's
//! history, most of them items earlier requests read too. An [`ItemDigest`] holds every field's
//! values as the features compare them, in one allocation looked up by a hash of the field's
//! name; a [`RankItem`] computes it on first use and keeps it beside its item, so an item the
//! serving cache holds is cut once, not once per request.

use std::ops::{Deref, Range};
use std::sync::OnceLock;

use cascade_core::{FieldValue, Item};

use super::text::{self, TextKey, field_key};

/// Which of a field's values a user profile summarises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// Keyword and tags fields: their values.
    Keywords,
    /// Text fields: their words and series.
    Text,
    /// Numeric and timestamp fields: the number.
    Number,
}

/// One field of an [`ItemDigest`]; its key lists are ranges of the digest's `keys`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct FieldDigest {
    /// [`field_key`] of the field's name.
    pub(super) name: u64,
    pub(super) kind: Kind,
    pub(super) numeric: Option<f64>,
    pub(super) series: Option<(TextKey, f64)>,
    keywords: Range<u32>,
    tokens: Range<u32>,
}

/// Every field of one item as the features compare it: keyword values, words and series of
/// text, numbers ([`text`] says how each is cut), as [`RankItem::digest`] builds it; answers
/// for any field name, a field the item lacks reading as empty.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemDigest {
    fields: Box<[FieldDigest]>,
    /// The key lists of all fields, end to end.
    keys: Box<[TextKey]>,
}

impl ItemDigest {
    /// The digest of `item`.
    fn of(item: &Item) -> Self {
        let mut keys = Vec::new();
        let mut append = |values: Vec<TextKey>| {
            let start = keys.len() as u32;
            keys.extend(values);
            start..keys.len() as u32
        };
        let fields = item
            .fields
            .iter()
            .map(|(name, value)| FieldDigest {
                name: field_key(name),
                kind: match value {
                    FieldValue::Keyword(_) | FieldValue::Tags(_) => Kind::Keywords,
                    FieldValue::Text(_) => Kind::Text,
                    FieldValue::Numeric(_) | FieldValue::Timestamp(_) => Kind::Number,
                },
                numeric: text::numeric(item, name),
                series: text::series(item, name),
                keywords: append(text::keyword_values(item, name)),
                tokens: append(text::tokens(item, name)),
            })
            .collect();
        Self {
            fields,
            keys: keys.into(),
        }
    }

    fn field(&self, name: &str) -> Option<&FieldDigest> {
        let key = field_key(name);
        self.fields.iter().find(|field| field.name == key)
    }

    fn keys(&self, range: &Range<u32>) -> &[TextKey] {
        &self.keys[range.start as usize..range.end as usize]
    }

    /// The distinct keyword values of field `name` ([`text::keyword_values`]).
    pub fn keyword_values(&self, name: &str) -> &[TextKey] {
        self.field(name)
            .map_or(&[], |field| self.keys(&field.keywords))
    }

    /// The distinct words of text field `name` ([`text::tokens`]).
    pub fn tokens(&self, name: &str) -> &[TextKey] {
        self.field(name)
            .map_or(&[], |field| self.keys(&field.tokens))
    }

    /// The series text field `name` names, with the number in it ([`text::series`]).
    pub fn series(&self, name: &str) -> Option<(TextKey, f64)> {
        self.field(name)?.series
    }

    /// Numeric or timestamp field `name` as a number ([`text::numeric`]).
    pub fn numeric(&self, name: &str) -> Option<f64> {
        self.field(name)?.numeric
    }

    /// Whether the item has field `name`, of any kind.
    pub fn has(&self, name: &str) -> bool {
        self.field(name).is_some()
    }

    /// Each field, with its keyword values and its words.
    pub(super) fn fields(&self) -> impl Iterator<Item = (&FieldDigest, &[TextKey], &[TextKey])> {
        self.fields
            .iter()
            .map(|field| (field, self.keys(&field.keywords), self.keys(&field.tokens)))
    }
}

/// A catalogue item as ranking reads it: the item, and its [`ItemDigest`] computed on first
/// use and kept. Dereferences to the item.
#[derive(Debug, Clone)]
pub struct RankItem {
    item: Item,
    digest: OnceLock<ItemDigest>,
}

impl RankItem {
    /// `item`, not yet digested.
    pub fn new(item: Item) -> Self {
        Self {
            item,
            digest: OnceLock::new(),
        }
    }

    /// The item's digest, computed by the first call.
    pub fn digest(&self) -> &ItemDigest {
        self.digest.get_or_init(|| ItemDigest::of(&self.item))
    }
}

impl Deref for RankItem {
    type Target = Item;

    fn deref(&self) -> &Item {
        &self.item
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_each_field_as_the_text_functions_cut_it() {
        let item = Item {
            id: "b".into(),
            fields: [
                (
                    "title".to_string(),
                    FieldValue::Text("Dune Messiah (Dune Chronicles, #2)".into()),
                ),
                (
                    "authors".to_string(),
                    FieldValue::Keyword("Frank Herbert, Someone".into()),
                ),
                ("tags".to_string(), FieldValue::Tags(vec!["SF".into()])),
                ("year".to_string(), FieldValue::Numeric(1969.0)),
                ("added".to_string(), FieldValue::Timestamp(7)),
            ]
            .into(),
            embeddings: Default::default(),
        };
        let digest = RankItem::new(item.clone());
        let digest = digest.digest();
        for field in [
            "title", "authors", "tags", "year", "added", "absent", "Title",
        ] {
            assert_eq!(
                digest.keyword_values(field),
                text::keyword_values(&item, field)
            );
            assert_eq!(digest.tokens(field), text::tokens(&item, field));
            let series = |s: Option<(TextKey, f64)>| s.map(|(k, n)| (k, n.to_bits()));
            assert_eq!(
                series(digest.series(field)),
                series(text::series(&item, field))
            );
            assert_eq!(digest.numeric(field), text::numeric(&item, field));
        }
        assert_eq!(digest.tokens("title").len(), 3, "dune, messiah, chronicles");
        assert_eq!(digest.numeric("added"), Some(7.0));
        let kinds: Vec<Kind> = digest.fields().map(|(field, _, _)| field.kind).collect();
        // in field-name order: added, authors, tags, title, year
        assert_eq!(
            kinds,
            [
                Kind::Number,
                Kind::Keywords,
                Kind::Keywords,
                Kind::Text,
                Kind::Number
            ]
        );
    }
}
