//! How item text and keyword fields are cut into the values that text-match features compare.
//!
//! A value is compared by its [`TextKey`], a hash of its lower-cased text, so that neither a
//! user's profile nor a candidate's features allocate a string per word: a request reads the
//! titles and keywords of hundreds of candidates and of the user's whole history.

use cascade_core::{FieldValue, Item};

/// A text value (a keyword value, a title word, a series name) as the features compare it: the
/// 64-bit FNV-1a hash of its lower-cased UTF-8 text. Two values with the same lower-cased text
/// have the same key; with tens of thousands of distinct values a collision is a one in
/// billions chance.
pub type TextKey = u64;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

const fn fnv_bytes(mut hash: u64, bytes: &[u8]) -> u64 {
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(FNV_PRIME);
        i += 1;
    }
    hash
}

/// The key of `text` as it reads lower-cased.
pub fn key(text: &str) -> TextKey {
    let mut hash = FNV_OFFSET;
    let mut buffer = [0u8; 4];
    for c in text.chars().flat_map(char::to_lowercase) {
        hash = fnv_bytes(hash, c.encode_utf8(&mut buffer).as_bytes());
    }
    hash
}

/// The key an item digest and a user profile file field `name` under: the hash of its exact
/// bytes (field names are case-sensitive). Two of the few names of one schema colliding is a
/// one in 10^17 chance.
pub(super) fn field_key(name: &str) -> u64 {
    fnv_bytes(FNV_OFFSET, name.as_bytes())
}

/// Words too common in titles to say anything about a reader.
const STOPWORDS: [&str; 24] = [
    "the", "and", "for", "with", "from", "into", "of", "a", "an", "in", "on", "to", "at", "by",
    "or", "is", "vol", "volume", "book", "books", "novel", "edition", "part", "series",
];

/// The keys of [`STOPWORDS`] (all lower-case ASCII, so their key is the hash of their bytes).
const STOPWORD_KEYS: [TextKey; STOPWORDS.len()] = {
    let mut keys = [0; STOPWORDS.len()];
    let mut i = 0;
    while i < STOPWORDS.len() {
        keys[i] = fnv_bytes(FNV_OFFSET, STOPWORDS[i].as_bytes());
        i += 1;
    }
    keys
};

/// Sorted and without repeats.
fn distinct(mut keys: Vec<TextKey>) -> Vec<TextKey> {
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// The distinct values of a keyword or tags field: a keyword holds a comma-separated list
/// (goodbooks' `authors`), tags hold one value each; compared lower-cased and trimmed.
pub fn keyword_values(item: &Item, field: &str) -> Vec<TextKey> {
    let trimmed_key = |value: &str| Some(value.trim()).filter(|v| !v.is_empty()).map(key);
    distinct(match item.fields.get(field) {
        Some(FieldValue::Keyword(text) | FieldValue::Text(text)) => {
            text.split(',').filter_map(trimmed_key).collect()
        }
        Some(FieldValue::Tags(tags)) => tags.iter().filter_map(|t| trimmed_key(t)).collect(),
        _ => Vec::new(),
    })
}

/// The distinct words of a text field: lower-cased alphanumeric runs of at least 3 characters
/// that are neither numbers nor stopwords.
pub fn tokens(item: &Item, field: &str) -> Vec<TextKey> {
    let text = match item.fields.get(field) {
        Some(FieldValue::Text(text) | FieldValue::Keyword(text)) => text,
        _ => return Vec::new(),
    };
    distinct(
        text.split(|c: char| !c.is_alphanumeric())
            .filter(|word| word.chars().count() >= 3 && !word.chars().all(char::is_numeric))
            .map(key)
            .filter(|word| !STOPWORD_KEYS.contains(word))
            .collect(),
    )
}

/// The series a title names in its last parentheses, `Title (Series Name, #3)`, as
/// (the key of the series name, number); the number is NaN when it does not parse (`#1-3`
/// reads as 1).
pub fn series(item: &Item, field: &str) -> Option<(TextKey, f64)> {
    let text = match item.fields.get(field) {
        Some(FieldValue::Text(text) | FieldValue::Keyword(text)) => text,
        _ => return None,
    };
    let open = text.rfind('(')?;
    let inner = text[open + 1..]
        .strip_suffix(')')
        .unwrap_or(&text[open + 1..]);
    let (name, number) = inner.rsplit_once('#')?;
    let name = name.trim().trim_end_matches(',').trim();
    if name.is_empty() {
        return None;
    }
    let number = number.trim();
    let digits = number
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map_or(number, |end| &number[..end]);
    Some((key(name), digits.parse().unwrap_or(f64::NAN)))
}

/// A numeric or timestamp field as a number.
pub fn numeric(item: &Item, field: &str) -> Option<f64> {
    match item.fields.get(field) {
        Some(FieldValue::Numeric(x)) if x.is_finite() => Some(*x),
        Some(FieldValue::Timestamp(t)) => Some(*t as f64),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book(title: &str, authors: &str) -> Item {
        Item {
            id: "b".into(),
            fields: [
                ("title".to_string(), FieldValue::Text(title.into())),
                ("authors".to_string(), FieldValue::Keyword(authors.into())),
                ("year".to_string(), FieldValue::Numeric(1997.0)),
            ]
            .into(),
            embeddings: Default::default(),
        }
    }

    fn keys(values: &[&str]) -> Vec<TextKey> {
        distinct(values.iter().map(|v| key(v)).collect())
    }

    #[test]
    fn a_key_ignores_case_and_tells_values_apart() {
        assert_eq!(key("GrandPré"), key("grandpré"));
        assert_eq!(
            key("the"),
            STOPWORD_KEYS[0],
            "the const keys hash the same way"
        );
        assert_ne!(key("dune"), key("emma"));
        assert_ne!(key("ab"), key("ba"));
    }

    #[test]
    fn cuts_authors_titles_and_series() {
        let item = book(
            "Harry Potter and the Sorcerer's Stone (Harry Potter, #1)",
            "J.K. Rowling, Mary GrandPré",
        );
        assert_eq!(
            keyword_values(&item, "authors"),
            keys(&["j.k. rowling", "mary grandpré"])
        );
        assert_eq!(
            tokens(&item, "title"),
            keys(&["harry", "potter", "sorcerer", "stone"])
        );
        assert_eq!(series(&item, "title"), Some((key("harry potter"), 1.0)));
        assert_eq!(numeric(&item, "year"), Some(1997.0));
        assert_eq!(numeric(&item, "title"), None);
        let plain = book("1984", "George Orwell");
        assert!(tokens(&plain, "title").is_empty(), "numbers are not words");
        assert_eq!(series(&plain, "title"), None);
        let omnibus = book("The Trilogy (Foo Saga, #1-3)", "X");
        assert_eq!(series(&omnibus, "title"), Some((key("foo saga"), 1.0)));
        let unnumbered = book("Tales (Foo Saga, #x)", "X");
        assert!(series(&unnumbered, "title").unwrap().1.is_nan());
        assert!(keyword_values(&omnibus, "missing").is_empty());
        let tagged = Item {
            id: "t".into(),
            fields: [(
                "tags".to_string(),
                FieldValue::Tags(vec!["Space ".into(), "space".into(), " ".into()]),
            )]
            .into(),
            embeddings: Default::default(),
        };
        assert_eq!(keyword_values(&tagged, "tags"), keys(&["space"]));
    }
}
