//! How item text and keyword fields are cut into the values that text-match features compare.

use cascade_core::{FieldValue, Item};

/// Words too common in titles to say anything about a reader.
const STOPWORDS: &[&str] = &[
    "the", "and", "for", "with", "from", "into", "of", "a", "an", "in", "on", "to", "at", "by",
    "or", "is", "vol", "volume", "book", "books", "novel", "edition", "part", "series",
];

/// The distinct values of a keyword or tags field: a keyword holds a comma-separated list
/// (goodbooks' `authors`), tags hold one value each; lower-cased and trimmed.
pub fn keyword_values(item: &Item, field: &str) -> Vec<String> {
    let mut values: Vec<String> = match item.fields.get(field) {
        Some(FieldValue::Keyword(text) | FieldValue::Text(text)) => text
            .split(',')
            .map(|value| value.trim().to_lowercase())
            .filter(|value| !value.is_empty())
            .collect(),
        Some(FieldValue::Tags(tags)) => tags
            .iter()
            .map(|value| value.trim().to_lowercase())
            .filter(|value| !value.is_empty())
            .collect(),
        _ => Vec::new(),
    };
    values.sort_unstable();
    values.dedup();
    values
}

/// The distinct words of a text field: lower-cased alphanumeric runs of at least 3 characters
/// that are neither numbers nor stopwords, sorted.
pub fn tokens(item: &Item, field: &str) -> Vec<String> {
    let text = match item.fields.get(field) {
        Some(FieldValue::Text(text) | FieldValue::Keyword(text)) => text,
        _ => return Vec::new(),
    };
    let mut words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| word.chars().count() >= 3 && !word.chars().all(|c| c.is_numeric()))
        .map(str::to_lowercase)
        .filter(|word| !STOPWORDS.contains(&word.as_str()))
        .collect();
    words.sort_unstable();
    words.dedup();
    words
}

/// The series a title names in its last parentheses, `Title (Series Name, #3)`, as
/// (lower-cased series name, number); the number is NaN when it does not parse (`#1-3` reads
/// as 1).
pub fn series(item: &Item, field: &str) -> Option<(String, f64)> {
    let text = match item.fields.get(field) {
        Some(FieldValue::Text(text) | FieldValue::Keyword(text)) => text,
        _ => return None,
    };
    let open = text.rfind('(')?;
    let inner = text[open + 1..]
        .strip_suffix(')')
        .unwrap_or(&text[open + 1..]);
    let (name, number) = inner.rsplit_once('#')?;
    let name = name.trim().trim_end_matches(',').trim().to_lowercase();
    if name.is_empty() {
        return None;
    }
    let digits: String = number
        .trim()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    Some((name, digits.parse().unwrap_or(f64::NAN)))
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

    #[test]
    fn cuts_authors_titles_and_series() {
        let item = book(
            "Harry Potter and the Sorcerer's Stone (Harry Potter, #1)",
            "J.K. Rowling, Mary GrandPré",
        );
        assert_eq!(
            keyword_values(&item, "authors"),
            ["j.k. rowling", "mary grandpré"]
        );
        assert_eq!(
            tokens(&item, "title"),
            ["harry", "potter", "sorcerer", "stone"]
        );
        assert_eq!(series(&item, "title"), Some(("harry potter".into(), 1.0)));
        assert_eq!(numeric(&item, "year"), Some(1997.0));
        assert_eq!(numeric(&item, "title"), None);
        let plain = book("1984", "George Orwell");
        assert!(tokens(&plain, "title").is_empty(), "numbers are not words");
        assert_eq!(series(&plain, "title"), None);
        let omnibus = book("The Trilogy (Foo Saga, #1-3)", "X");
        assert_eq!(series(&omnibus, "title"), Some(("foo saga".into(), 1.0)));
        assert!(keyword_values(&omnibus, "missing").is_empty());
    }
}
