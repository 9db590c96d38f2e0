//! The record validators behind `POST /api/events` and `PUT /api/items|users/{id}`: any JSON
//! document is a record or a list of field errors, never a panic.
#![no_main]

use cascade_core::event::EventTypes;
use cascade_core::item::ItemSchema;
use cascade_core::validate::{parse_event, parse_item, parse_user};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let schema: ItemSchema = serde_json::from_value(serde_json::json!({
        "Fields": {"title": "text", "year": "numeric", "tags": "tags"},
        "Embeddings": {"v": 4}
    }))
    .unwrap_or_default();
    let _ = parse_event(value.clone(), &EventTypes::default(), 1_700_000_000_000);
    let _ = parse_item(value.clone(), &schema, None);
    let _ = parse_user(value, Some("u"));
});
