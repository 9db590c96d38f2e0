//! The text of an item, as the text encoder sees it: the named fields in order, text and
//! keyword values trimmed, tags joined by ", ", empty parts dropped, parts joined by ". ".
//!
//! One definition for every place that embeds item text (items at import and write time,
//! stream enrichers), so that the same item always gives the same text.

use crate::item::FieldValue;

/// The text of the fields `names`, each looked up with `value_of`; `None` when they are all
/// missing, empty or of a kind without text (numbers, timestamps).
pub fn item_text(
    names: &[String],
    mut value_of: impl FnMut(&str) -> Option<FieldValue>,
) -> Option<String> {
    let parts: Vec<String> = names
        .iter()
        .filter_map(|name| match value_of(name)? {
            FieldValue::Text(s) | FieldValue::Keyword(s) => Some(s.trim().to_string()),
            FieldValue::Tags(tags) => Some(tags.join(", ")),
            FieldValue::Numeric(_) | FieldValue::Timestamp(_) => None,
        })
        .filter(|s| !s.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join(". "))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn joins_the_named_text_fields_in_order() {
        let fields: BTreeMap<String, FieldValue> = [
            ("title".into(), FieldValue::Text("  Dune ".into())),
            (
                "authors".into(),
                FieldValue::Keyword("Frank Herbert".into()),
            ),
            (
                "tags".into(),
                FieldValue::Tags(vec!["sf".into(), "classic".into()]),
            ),
            ("year".into(), FieldValue::Numeric(1965.0)),
            ("blank".into(), FieldValue::Text("   ".into())),
        ]
        .into();
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let text = |list: &[&str]| item_text(&names(list), |name| fields.get(name).cloned());
        assert_eq!(
            text(&["authors", "title", "tags", "year", "blank", "missing"]),
            Some("Frank Herbert. Dune. sf, classic".into())
        );
        assert_eq!(text(&["year", "blank", "missing"]), None);
        assert_eq!(text(&[]), None);
    }
}
