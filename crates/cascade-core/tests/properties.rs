//! Property tests of the parsers that read untrusted input: the expression language, the
//! config document and the record validators. Whatever they are given, they answer (a value
//! or an error) without a panic or a stack overflow. Bounded runs, so CI stays quick; the
//! cargo-fuzz targets in `fuzz/` run the same properties for as long as one likes.

use cascade_core::config::CascadeConfig;
use cascade_core::event::EventTypes;
use cascade_core::expr::{Expr, MAX_EXPR_NESTING, Value};
use cascade_core::item::ItemSchema;
use cascade_core::validate::{parse_event, parse_item, parse_user};
use proptest::prelude::*;

/// Text made of the expression language's own tokens, so that most cases get deep into the
/// parser rather than failing at the first character.
fn expression_text() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("("),
        Just(")"),
        Just("!"),
        Just("-"),
        Just("+"),
        Just("*"),
        Just("/"),
        Just("&&"),
        Just("||"),
        Just("=="),
        Just("<="),
        Just(">"),
        Just("x"),
        Just("${y}"),
        Just("1.5"),
        Just("'s'"),
        Just("true"),
        Just(" "),
    ];
    proptest::collection::vec(token, 0..400).prop_map(|tokens| tokens.concat())
}

/// A JSON value of bounded depth and size, with the keys the validators look for.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let key = prop_oneof![
        Just("event_id".to_string()),
        Just("type".to_string()),
        Just("uid".to_string()),
        Just("item_id".to_string()),
        Just("id".to_string()),
        Just("timestamp".to_string()),
        Just("value".to_string()),
        Just("context".to_string()),
        Just("fields".to_string()),
        Just("embeddings".to_string()),
        Just("attributes".to_string()),
        Just("title".to_string()),
        Just("v".to_string()),
        "[a-z]{1,8}",
    ];
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        ".{0,16}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(6, 64, 8, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(serde_json::Value::from),
            proptest::collection::btree_map(key.clone(), inner, 0..8)
                .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_expression_text_parses_or_is_refused_and_evaluates(text in expression_text()) {
        if let Ok(expr) = Expr::parse(&text) {
            let _ = expr.eval(&|name| Value::Text(name.to_string()));
        }
    }

    #[test]
    fn any_unicode_text_is_an_expression_or_an_error(text in "\\PC{0,200}") {
        let _ = Expr::parse(&text);
    }

    #[test]
    fn nesting_up_to_the_limit_is_accepted_and_past_it_refused(depth in 0..3 * MAX_EXPR_NESTING) {
        let text = format!("{}x{}", "(".repeat(depth), ")".repeat(depth));
        prop_assert_eq!(Expr::parse(&text).is_ok(), depth <= MAX_EXPR_NESTING);
    }

    #[test]
    fn any_document_is_a_config_or_an_error(value in json_value()) {
        let _ = CascadeConfig::parse(&value.to_string());
    }

    #[test]
    fn any_record_is_validated_or_refused_by_field(value in json_value()) {
        let schema: ItemSchema = serde_json::from_value(serde_json::json!({
            "Fields": {"title": "text", "year": "numeric", "tags": "tags"},
            "Embeddings": {"v": 3}
        }))
        .unwrap();
        if let Err(errors) = parse_event(value.clone(), &EventTypes::default(), 1_700_000_000_000) {
            prop_assert!(!errors.is_empty());
        }
        if let Err(errors) = parse_item(value.clone(), &schema, None) {
            prop_assert!(!errors.is_empty());
        }
        if let Err(errors) = parse_user(value, Some("u")) {
            prop_assert!(!errors.is_empty());
        }
    }
}
