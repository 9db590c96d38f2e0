//! Untrusted JSON in, validated records out; every error names the field and the reason.

use std::collections::BTreeMap;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

use crate::error::FieldError;
use crate::event::{Event, EventContext, EventTypes};
use crate::item::{FieldType, FieldValue, Item, ItemSchema, direction_norm, json_kind};
use crate::time::{TimestampMs, seconds_mistake};
use crate::user::User;

/// The longest id (event, user or item) accepted, in bytes.
pub const MAX_ID_BYTES: usize = 256;

/// The longest name of an item field, a user attribute or an embedding accepted, in bytes.
pub const MAX_NAME_BYTES: usize = 256;

/// The most fields one item, or attributes one user, may have.
pub const MAX_FIELDS: usize = 1024;

/// The largest value accepted, in bytes: one item field, one user attribute, an event's
/// `text` (see [`FieldValue::size_bytes`]).
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// The largest total of one item's field values, or one user's attribute values, in bytes.
pub const MAX_RECORD_VALUE_BYTES: usize = 1024 * 1024;

/// The largest event `context` accepted, in bytes of its JSON.
pub const MAX_CONTEXT_BYTES: usize = 16 * 1024;

/// The most dimensions an embedding may declare in `ItemSchema.Embeddings`.
pub const MAX_EMBEDDING_DIMENSIONS: usize = 8192;

/// The largest magnitude of a number (an event's `value`, a numeric field or attribute): 2^53,
/// up to which every integer is exact, so ids, counts and timestamps kept as numbers survive.
pub const MAX_NUMBER_MAGNITUDE: f64 = 9_007_199_254_740_992.0;

/// What a number must be, for error messages.
pub(crate) const BOUNDED_NUMBER: &str =
    "a finite number of magnitude at most 2^53 (9007199254740992)";

/// `number`, if it is within [`MAX_NUMBER_MAGNITUDE`] (so neither infinite nor NaN).
pub(crate) fn bounded(number: f64) -> Option<f64> {
    (number.abs() <= MAX_NUMBER_MAGNITUDE).then_some(number)
}

/// How many unknown keys of one record are listed one by one; the rest are counted.
const MAX_UNKNOWN_KEYS_LISTED: usize = 16;

/// How far in the future an event's timestamp may lie (clock skew allowance): one day.
pub const MAX_FUTURE_SKEW_MS: TimestampMs = 24 * 3_600_000;

/// An id given as a string or an integer; integers are kept in decimal.
/// Deserialize it where callers may send either.
pub struct Id(pub String);

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IdVisitor;
        impl Visitor<'_> for IdVisitor {
            type Value = Id;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or integer id")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Id, E> {
                Ok(Id(v.to_owned()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Id, E> {
                Ok(Id(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Id, E> {
                Ok(Id(v.to_string()))
            }
        }
        deserializer.deserialize_any(IdVisitor)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventInput {
    event_id: Option<Id>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    uid: Option<Id>,
    item_id: Option<Id>,
    timestamp: Option<TimestampMs>,
    value: Option<f64>,
    #[serde(default)]
    context: EventContext,
    text: Option<String>,
}

/// Deserializes `value` into `T`, turning a serde error into a [`FieldError`] with its path.
fn deserialize_at<T: for<'de> Deserialize<'de>>(value: serde_json::Value) -> Result<T, FieldError> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let field = if path == "." { String::new() } else { path };
        FieldError::new(field, error.into_inner().to_string())
    })
}

fn required_id(field: &str, id: Option<Id>, errors: &mut Vec<FieldError>) -> String {
    match id {
        None => {
            errors.push(FieldError::new(field, "is required"));
            String::new()
        }
        Some(Id(id)) => {
            if id.is_empty() {
                errors.push(FieldError::new(field, "must not be empty"));
            } else if id.len() > MAX_ID_BYTES {
                errors.push(FieldError::new(
                    field,
                    format!(
                        "is {} bytes long; at most {MAX_ID_BYTES} are allowed",
                        id.len()
                    ),
                ));
            }
            id
        }
    }
}

/// Validates one event record. A missing timestamp becomes `now`; a missing value becomes 1.0.
pub fn parse_event(
    value: serde_json::Value,
    types: &EventTypes,
    now: TimestampMs,
) -> Result<Event, Vec<FieldError>> {
    let input: EventInput = deserialize_at(value).map_err(|e| vec![e])?;
    let mut errors = Vec::new();
    let event_id = required_id("event_id", input.event_id, &mut errors);
    let uid = required_id("uid", input.uid, &mut errors);
    let item_id = required_id("item_id", input.item_id, &mut errors);
    let event_type = match input.event_type {
        None => {
            errors.push(FieldError::new("type", "is required"));
            String::new()
        }
        Some(t) if !types.accepts(&t) => {
            let known: Vec<&str> = types.types.iter().map(String::as_str).collect();
            errors.push(FieldError::new(
                "type",
                format!(
                    "unknown event type `{t}`; configured types: {}",
                    known.join(", ")
                ),
            ));
            t
        }
        Some(t) => t,
    };
    let value = input.value.unwrap_or(1.0);
    if bounded(value).is_none() {
        errors.push(FieldError::new(
            "value",
            format!("must be {BOUNDED_NUMBER}"),
        ));
    }
    if let Some(text) = &input.text
        && text.len() > MAX_VALUE_BYTES
    {
        errors.push(too_large("text", text.len(), MAX_VALUE_BYTES));
    }
    let context_bytes = json_bytes(&input.context);
    if context_bytes > MAX_CONTEXT_BYTES {
        errors.push(too_large("context", context_bytes, MAX_CONTEXT_BYTES));
    }
    match input.timestamp {
        Some(timestamp) if timestamp < 0 => errors.push(FieldError::new(
            "timestamp",
            "must be milliseconds since the Unix epoch (not negative)",
        )),
        Some(timestamp) if timestamp > now.saturating_add(MAX_FUTURE_SKEW_MS) => {
            errors.push(FieldError::new(
                "timestamp",
                format!(
                    "{timestamp} is more than a day in the future (now is {now}); \
                     timestamps are milliseconds since the Unix epoch"
                ),
            ))
        }
        Some(timestamp) => {
            if let Some(reason) = seconds_mistake(timestamp) {
                errors.push(FieldError::new("timestamp", reason));
            }
        }
        None => {}
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Event {
        event_id,
        event_type,
        uid,
        item_id,
        timestamp: input.timestamp.unwrap_or(now),
        value,
        context: input.context,
        text: input.text,
    })
}

/// The error of a value of `bytes` bytes over a limit of `limit`.
fn too_large(field: &str, bytes: usize, limit: usize) -> FieldError {
    FieldError::new(
        field,
        format!("is {bytes} bytes; at most {limit} are allowed"),
    )
}

/// The length of `value`'s JSON, counted without building it.
fn json_bytes(value: &impl Serialize) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    serde_json::to_writer(&mut counter, value).map_or(usize::MAX, |()| counter.0)
}

fn expect_object(
    value: serde_json::Value,
) -> Result<serde_json::Map<String, serde_json::Value>, FieldError> {
    match value {
        serde_json::Value::Object(map) => Ok(map),
        other => Err(FieldError::new(
            "",
            format!("expected a JSON object, got {}", json_kind(&other)),
        )),
    }
}

/// Takes the id out of a record: from the record itself, checked against `path_id` when both are given.
fn take_id(
    record: &mut serde_json::Map<String, serde_json::Value>,
    path_id: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> String {
    let given = match record.remove("id") {
        None => None,
        Some(v) => match deserialize_at::<Id>(v) {
            Ok(id) => Some(id),
            Err(e) => {
                errors.push(FieldError::new("id", e.reason));
                return String::new();
            }
        },
    };
    match (given, path_id) {
        (Some(Id(body)), Some(path)) if body != path => {
            errors.push(FieldError::new(
                "id",
                format!("`{body}` differs from the id `{path}` in the URL"),
            ));
            body
        }
        (None, Some(path)) => required_id("id", Some(Id(path.to_owned())), errors),
        (given, _) => required_id("id", given, errors),
    }
}

fn take_object(
    record: &mut serde_json::Map<String, serde_json::Value>,
    key: &str,
    errors: &mut Vec<FieldError>,
) -> serde_json::Map<String, serde_json::Value> {
    match record.remove(key) {
        None | Some(serde_json::Value::Null) => serde_json::Map::new(),
        Some(serde_json::Value::Object(map)) => map,
        Some(other) => {
            errors.push(FieldError::new(
                key,
                format!("expected an object, got {}", json_kind(&other)),
            ));
            serde_json::Map::new()
        }
    }
}

fn reject_unknown_keys(
    record: &serde_json::Map<String, serde_json::Value>,
    allowed: &str,
    errors: &mut Vec<FieldError>,
) {
    for key in record.keys().take(MAX_UNKNOWN_KEYS_LISTED) {
        errors.push(FieldError::new(
            shortened(key),
            format!("unknown field; expected {allowed}"),
        ));
    }
    if record.len() > MAX_UNKNOWN_KEYS_LISTED {
        errors.push(FieldError::new(
            "",
            format!(
                "{} more unknown fields; expected {allowed}",
                record.len() - MAX_UNKNOWN_KEYS_LISTED
            ),
        ));
    }
}

/// `name`, cut to [`MAX_NAME_BYTES`] (at a character boundary) for an error message.
fn shortened(name: &str) -> String {
    let mut end = name.len().min(MAX_NAME_BYTES);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    if end == name.len() {
        name.to_owned()
    } else {
        format!("{}…", &name[..end])
    }
}

/// Checks the names of a record's entries under `container` (`fields`, `attributes`,
/// `embeddings`): at most [`MAX_FIELDS`] of them, each name at most [`MAX_NAME_BYTES`]. False
/// (with the errors pushed) when the entries are not to be read one by one.
fn names_within_limits(
    container: &str,
    raw: &serde_json::Map<String, serde_json::Value>,
    errors: &mut Vec<FieldError>,
) -> bool {
    if raw.len() > MAX_FIELDS {
        errors.push(FieldError::new(
            container,
            format!(
                "has {} entries; at most {MAX_FIELDS} are allowed",
                raw.len()
            ),
        ));
        return false;
    }
    let before = errors.len();
    for name in raw.keys().filter(|name| name.len() > MAX_NAME_BYTES) {
        errors.push(FieldError::new(
            format!("{container}.{}", shortened(name)),
            format!(
                "the name is {} bytes long; at most {MAX_NAME_BYTES} are allowed",
                name.len()
            ),
        ));
    }
    errors.len() == before
}

/// Reads the named values of a record under `container` (an item's `fields`, a user's
/// `attributes`), each as `type_of` its name says (`Ok(None)`: inferred; `Err`: refused with
/// that reason), within the size limits. A null value is left out.
fn parse_values(
    container: &str,
    raw: &serde_json::Map<String, serde_json::Value>,
    type_of: impl Fn(&str) -> Result<Option<FieldType>, &'static str>,
    errors: &mut Vec<FieldError>,
) -> BTreeMap<String, FieldValue> {
    let mut values = BTreeMap::new();
    if !names_within_limits(container, raw, errors) {
        return values;
    }
    let mut total_bytes = 0;
    for (name, raw) in raw {
        let path = format!("{container}.{name}");
        let declared = match type_of(name) {
            Ok(declared) => declared,
            Err(reason) => {
                errors.push(FieldError::new(path, reason));
                continue;
            }
        };
        if raw.is_null() {
            continue;
        }
        match FieldValue::from_json(&path, raw, declared) {
            Ok(value) if value.size_bytes() > MAX_VALUE_BYTES => {
                errors.push(too_large(&path, value.size_bytes(), MAX_VALUE_BYTES));
            }
            Ok(value) => {
                total_bytes += value.size_bytes();
                values.insert(name.clone(), value);
            }
            Err(e) => errors.push(e),
        }
    }
    if total_bytes > MAX_RECORD_VALUE_BYTES {
        errors.push(FieldError::new(
            container,
            format!(
                "the values total {total_bytes} bytes; at most {MAX_RECORD_VALUE_BYTES} are allowed"
            ),
        ));
    }
    values
}

/// Validates one item record `{id, fields, embeddings}` against `schema`.
/// `path_id` is the id from the URL, when there is one.
pub fn parse_item(
    value: serde_json::Value,
    schema: &ItemSchema,
    path_id: Option<&str>,
) -> Result<Item, Vec<FieldError>> {
    let mut record = expect_object(value).map_err(|e| vec![e])?;
    let mut errors = Vec::new();
    let id = take_id(&mut record, path_id, &mut errors);
    let raw_fields = take_object(&mut record, "fields", &mut errors);
    let raw_embeddings = take_object(&mut record, "embeddings", &mut errors);
    reject_unknown_keys(&record, "id, fields, embeddings", &mut errors);

    let fields = parse_values(
        "fields",
        &raw_fields,
        |name| match schema.field_type(name) {
            None if !schema.allow_undeclared_fields => Err("is not declared in ItemSchema.Fields"),
            declared => Ok(declared),
        },
        &mut errors,
    );
    let mut item = Item {
        id,
        fields,
        embeddings: Default::default(),
    };
    if !names_within_limits("embeddings", &raw_embeddings, &mut errors) {
        return Err(errors);
    }
    for (name, raw) in raw_embeddings {
        let path = format!("embeddings.{name}");
        match parse_embedding(&path, raw, schema.embeddings.get(&name).copied()) {
            Ok(vector) => {
                item.embeddings.insert(name, vector);
            }
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(item)
    } else {
        Err(errors)
    }
}

fn parse_embedding(
    path: &str,
    raw: serde_json::Value,
    dimension: Option<usize>,
) -> Result<Vec<f32>, FieldError> {
    let Some(dimension) = dimension else {
        return Err(FieldError::new(
            path,
            "is not declared in ItemSchema.Embeddings (declare its dimension there)",
        ));
    };
    let vector: Vec<f32> = deserialize_at(raw).map_err(|e| FieldError::new(path, e.reason))?;
    if vector.len() != dimension {
        return Err(FieldError::new(
            path,
            format!(
                "has {} dimensions; the schema declares {dimension}",
                vector.len()
            ),
        ));
    }
    if vector.iter().any(|x| !x.is_finite()) {
        return Err(FieldError::new(path, "contains a value that is not finite"));
    }
    if direction_norm(&vector).is_none() {
        return Err(FieldError::new(
            path,
            "has no direction (all zeros, or a length too small or too large to normalise); \
             similarity search needs one",
        ));
    }
    Ok(vector)
}

/// Validates one user record `{id, attributes}`; attribute types are inferred.
pub fn parse_user(
    value: serde_json::Value,
    path_id: Option<&str>,
) -> Result<User, Vec<FieldError>> {
    let mut record = expect_object(value).map_err(|e| vec![e])?;
    let mut errors = Vec::new();
    let id = take_id(&mut record, path_id, &mut errors);
    let raw_attributes = take_object(&mut record, "attributes", &mut errors);
    reject_unknown_keys(&record, "id, attributes", &mut errors);
    let attributes = parse_values("attributes", &raw_attributes, |_| Ok(None), &mut errors);
    if errors.is_empty() {
        Ok(User { id, attributes })
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn types() -> EventTypes {
        EventTypes::default()
    }

    #[test]
    fn a_complete_event_is_accepted() {
        let event = parse_event(
            json!({"event_id": "e1", "type": "click", "uid": 7, "item_id": "i1",
                   "timestamp": 1000, "value": 2.5,
                   "context": {"scene": "home", "position": 3, "extra": {"ab": 1}}}),
            &types(),
            99,
        )
        .unwrap();
        assert_eq!(event.uid, "7");
        assert_eq!(event.timestamp, 1000);
        assert_eq!(event.context.position, Some(3));
    }

    #[test]
    fn missing_ids_and_unknown_type_are_each_named() {
        let errors =
            parse_event(json!({"type": "teleport", "item_id": ""}), &types(), 0).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["event_id", "uid", "item_id", "type"]);
        assert!(errors[3].reason.contains("teleport"));
    }

    #[test]
    fn a_wrong_type_names_the_nested_field() {
        let errors = parse_event(
            json!({"event_id": "e", "type": "click", "uid": "u", "item_id": "i",
                   "context": {"position": "third"}}),
            &types(),
            0,
        )
        .unwrap_err();
        assert_eq!(errors[0].field, "context.position");
        assert!(
            errors[0].reason.contains("invalid type"),
            "{}",
            errors[0].reason
        );
    }

    #[test]
    fn timestamps_far_in_the_future_or_negative_are_refused() {
        let at = |timestamp: i64| {
            parse_event(
                json!({"event_id": "e", "type": "click", "uid": "u", "item_id": "i",
                       "timestamp": timestamp}),
                &types(),
                1_000_000,
            )
        };
        assert!(at(1_000_000 + MAX_FUTURE_SKEW_MS).is_ok());
        assert_eq!(
            at(1_000_001 + MAX_FUTURE_SKEW_MS).unwrap_err()[0].field,
            "timestamp"
        );
        assert_eq!(at(-1).unwrap_err()[0].field, "timestamp");
    }

    #[test]
    fn an_unknown_event_field_is_refused() {
        let errors = parse_event(
            json!({"event_id": "e", "type": "click", "uid": "u", "item_id": "i", "colour": 1}),
            &types(),
            0,
        )
        .unwrap_err();
        assert!(errors[0].reason.contains("colour"), "{}", errors[0].reason);
    }

    #[test]
    fn item_fields_follow_the_schema() {
        let mut schema = ItemSchema::default();
        schema
            .fields
            .insert("year".into(), crate::FieldType::Numeric);
        schema.embeddings.insert("v".into(), 2);
        let item = parse_item(
            json!({"id": 5, "fields": {"title": "Dune", "year": 1965, "tags": ["sf"]},
                   "embeddings": {"v": [0.5, 1.0]}}),
            &schema,
            None,
        )
        .unwrap();
        assert_eq!(item.id, "5");
        assert_eq!(item.fields["year"], FieldValue::Numeric(1965.0));
        assert_eq!(item.fields["tags"], FieldValue::Tags(vec!["sf".into()]));

        let errors = parse_item(
            json!({"id": "x", "fields": {"year": "old"}, "embeddings": {"v": [1.0], "w": [1.0]}}),
            &schema,
            None,
        )
        .unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["fields.year", "embeddings.v", "embeddings.w"]);
    }

    #[test]
    fn a_body_id_must_match_the_url() {
        let errors = parse_item(json!({"id": "a"}), &ItemSchema::default(), Some("b")).unwrap_err();
        assert_eq!(errors[0].field, "id");
        let item = parse_item(json!({"fields": {}}), &ItemSchema::default(), Some("b")).unwrap();
        assert_eq!(item.id, "b");
    }

    fn click(extra: serde_json::Value) -> serde_json::Value {
        let mut event = json!({"event_id": "e", "type": "click", "uid": "u", "item_id": "i"});
        event
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        event
    }

    fn refused_fields(errors: Vec<FieldError>) -> Vec<String> {
        errors.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn timestamps_in_seconds_are_refused_as_such() {
        let now = crate::time::now_ms();
        let errors =
            parse_event(click(json!({"timestamp": now / 1000})), &types(), now).unwrap_err();
        assert_eq!(errors[0].field, "timestamp");
        assert!(
            errors[0].reason.contains("send milliseconds"),
            "{}",
            errors[0].reason
        );
        assert!(parse_event(click(json!({"timestamp": now})), &types(), now).is_ok());
        assert!(parse_event(click(json!({"timestamp": 1_000})), &types(), now).is_ok());

        let mut schema = ItemSchema::default();
        schema
            .fields
            .insert("published".into(), FieldType::Timestamp);
        let errors = parse_item(
            json!({"id": "i", "fields": {"published": now / 1000}}),
            &schema,
            None,
        )
        .unwrap_err();
        assert_eq!(refused_fields(errors), ["fields.published"]);
    }

    #[test]
    fn absurd_numbers_are_refused_wherever_they_are_given() {
        for absurd in [1e308, -1e17] {
            let errors = parse_event(click(json!({"value": absurd})), &types(), 0).unwrap_err();
            assert_eq!(refused_fields(errors), ["value"]);
            let errors = parse_item(
                json!({"id": "i", "fields": {"price": absurd}}),
                &ItemSchema::default(),
                None,
            )
            .unwrap_err();
            assert_eq!(refused_fields(errors), ["fields.price"]);
            let errors =
                parse_user(json!({"id": "u", "attributes": {"age": absurd}}), None).unwrap_err();
            assert_eq!(refused_fields(errors), ["attributes.age"]);
        }
        let largest = MAX_NUMBER_MAGNITUDE;
        assert!(parse_event(click(json!({"value": largest})), &types(), 0).is_ok());
    }

    #[test]
    fn oversized_event_text_and_context_are_refused() {
        let long = "x".repeat(MAX_VALUE_BYTES + 1);
        let errors = parse_event(click(json!({"text": long})), &types(), 0).unwrap_err();
        assert_eq!(refused_fields(errors), ["text"]);
        let errors = parse_event(
            click(json!({"context": {"extra": {"blob": "x".repeat(MAX_CONTEXT_BYTES)}}})),
            &types(),
            0,
        )
        .unwrap_err();
        assert_eq!(refused_fields(errors.clone()), ["context"]);
        assert!(errors[0].reason.contains("16384"), "{}", errors[0].reason);
        let fitting = json!({"text": "x".repeat(MAX_VALUE_BYTES), "context": {"scene": "home"}});
        assert!(parse_event(click(fitting), &types(), 0).is_ok());
    }

    #[test]
    fn items_and_users_are_bounded_in_fields_and_bytes() {
        let schema = ItemSchema::default();
        let many: serde_json::Map<String, serde_json::Value> = (0..=MAX_FIELDS)
            .map(|i| (format!("f{i}"), json!(1)))
            .collect();
        let errors = parse_item(json!({"id": "i", "fields": many}), &schema, None).unwrap_err();
        assert_eq!(errors.len(), 1, "one error for the whole map");
        assert_eq!(errors[0].field, "fields");
        let errors = parse_user(json!({"id": "u", "attributes": many}), None).unwrap_err();
        assert_eq!(refused_fields(errors), ["attributes"]);

        let errors = parse_item(
            json!({"id": "i", "fields": {"title": "x".repeat(MAX_VALUE_BYTES + 1),
                                         "tags": vec![""; MAX_VALUE_BYTES + 1]}}),
            &schema,
            None,
        )
        .unwrap_err();
        assert_eq!(refused_fields(errors), ["fields.tags", "fields.title"]);

        let near_limit = "x".repeat(MAX_VALUE_BYTES);
        let heavy: serde_json::Map<String, serde_json::Value> =
            (0..MAX_RECORD_VALUE_BYTES / MAX_VALUE_BYTES + 1)
                .map(|i| (format!("f{i}"), json!(near_limit)))
                .collect();
        let errors = parse_item(json!({"id": "i", "fields": heavy}), &schema, None).unwrap_err();
        assert_eq!(refused_fields(errors), ["fields"]);

        let long_name = "n".repeat(MAX_NAME_BYTES + 1);
        let errors =
            parse_user(json!({"id": "u", "attributes": {long_name: 1}}), None).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].field.starts_with("attributes.nnn"),
            "{}",
            errors[0].field
        );
        assert!(errors[0].field.len() < MAX_NAME_BYTES + 20);
    }

    #[test]
    fn unknown_keys_are_listed_up_to_a_bound() {
        let mut record: serde_json::Map<String, serde_json::Value> =
            (0..1000).map(|i| (format!("k{i:04}"), json!(1))).collect();
        record.insert("id".into(), json!("u"));
        let errors = parse_user(serde_json::Value::Object(record), None).unwrap_err();
        assert_eq!(errors.len(), MAX_UNKNOWN_KEYS_LISTED + 1);
        assert!(
            errors[MAX_UNKNOWN_KEYS_LISTED]
                .reason
                .starts_with("984 more")
        );
    }

    #[test]
    fn embeddings_without_a_direction_are_refused() {
        let mut schema = ItemSchema::default();
        schema.embeddings.insert("v".into(), 3);
        for vector in [
            json!([0.0, 0.0, 0.0]),
            json!([1e-30, 0.0, 0.0]),
            json!([1e30, 1e30, 0.0]),
        ] {
            let errors = parse_item(
                json!({"id": "z", "embeddings": {"v": vector}}),
                &schema,
                None,
            )
            .unwrap_err();
            assert_eq!(refused_fields(errors.clone()), ["embeddings.v"], "{vector}");
            assert!(
                errors[0].reason.contains("no direction"),
                "{}",
                errors[0].reason
            );
        }
        let item = parse_item(
            json!({"id": "z", "embeddings": {"v": [0.0, 0.0, 1e-3]}}),
            &schema,
            None,
        );
        assert!(item.is_ok());
    }

    #[test]
    fn user_attributes_are_inferred() {
        let user = parse_user(
            json!({"id": "u", "attributes": {"age": 30, "country": "NZ"}}),
            None,
        )
        .unwrap();
        assert_eq!(user.attributes["age"], FieldValue::Numeric(30.0));
        let errors =
            parse_user(json!({"id": "u", "attributes": {"x": {"y": 1}}}), None).unwrap_err();
        assert_eq!(errors[0].field, "attributes.x");
    }
}
