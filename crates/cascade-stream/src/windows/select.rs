//! Reading keys and values out of events: ids, context fields and (through [`ItemFields`])
//! fields of the event's item.

use std::sync::Arc;

use cascade_core::config::features::Selector;
use cascade_core::{Event, FieldValue};
use cascade_store::ItemStore;

/// Separates the parts of a composite key such as user × category.
pub const KEY_SEPARATOR: char = '\u{1f}';

/// The key of a user × item-field feature, e.g. `user_x_field:category`, as stored.
pub fn composite_key(uid: &str, field_value: &str) -> String {
    format!("{uid}{KEY_SEPARATOR}{field_value}")
}

/// Looks up a field of an item (the catalogue); a closure `Fn(item_id, field)` will do.
pub trait ItemFields: Send + Sync {
    /// The value of `field` of item `item_id`, if the item and the field exist.
    fn field(&self, item_id: &str, field: &str) -> Option<FieldValue>;
}

impl<F: Fn(&str, &str) -> Option<FieldValue> + Send + Sync> ItemFields for F {
    fn field(&self, item_id: &str, field: &str) -> Option<FieldValue> {
        self(item_id, field)
    }
}

/// Reads fields from the item store (put a cache in front where events are many).
impl ItemFields for Arc<dyn ItemStore> {
    fn field(&self, item_id: &str, field: &str) -> Option<FieldValue> {
        self.get_item(item_id).ok()??.fields.remove(field)
    }
}

/// Calls `visit` with each value `selector` reads from `event`: none when missing, one per
/// tag for a tags field.
pub(crate) fn for_each_value(
    selector: &Selector,
    event: &Event,
    fields: &dyn ItemFields,
    visit: &mut dyn FnMut(&str),
) {
    match selector {
        Selector::User => visit(&event.uid),
        Selector::Item => visit(&event.item_id),
        Selector::Context(name) => context_value(event, name, visit),
        Selector::ItemField(name) => match fields.field(&event.item_id, name) {
            None => {}
            Some(FieldValue::Text(s) | FieldValue::Keyword(s)) => visit(&s),
            Some(FieldValue::Tags(tags)) => tags.iter().for_each(|tag| visit(tag)),
            Some(FieldValue::Numeric(n)) => visit(&n.to_string()),
            Some(FieldValue::Timestamp(t)) => visit(&t.to_string()),
        },
    }
}

fn context_value(event: &Event, name: &str, visit: &mut dyn FnMut(&str)) {
    let context = &event.context;
    let named = match name {
        "scene" => context.scene.as_deref(),
        "device" => context.device.as_deref(),
        "experiment_id" => context.experiment_id.as_deref(),
        "request_id" => context.request_id.as_deref(),
        "position" => return context.position.iter().for_each(|p| visit(&p.to_string())),
        _ => match context.extra.get(name) {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(s)) => Some(s.as_str()),
            Some(other) => return visit(&other.to_string()),
        },
    };
    named.into_iter().for_each(visit);
}

/// Calls `visit` with each key `selectors` make of `event`: the parts' values joined by
/// [`KEY_SEPARATOR`], one key per combination. `buffer` is scratch space, left as found.
pub(crate) fn for_each_key(
    selectors: &[Selector],
    event: &Event,
    fields: &dyn ItemFields,
    buffer: &mut String,
    visit: &mut dyn FnMut(&str),
) {
    let Some((first, rest)) = selectors.split_first() else {
        return visit(buffer);
    };
    for_each_value(first, event, fields, &mut |part| {
        let start = buffer.len();
        if start > 0 {
            buffer.push(KEY_SEPARATOR);
        }
        buffer.push_str(part);
        for_each_key(rest, event, fields, buffer, visit);
        buffer.truncate(start);
    });
}
