//! Untrusted JSON in, validated records out; every error names the field and the reason.

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use crate::error::FieldError;
use crate::event::{Event, EventContext, EventTypes};
use crate::item::{FieldValue, Item, ItemSchema, json_kind};
use crate::time::TimestampMs;
use crate::user::User;

/// The longest id (event, user or item) accepted, in bytes.
pub const MAX_ID_BYTES: usize = 256;

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
    if !value.is_finite() {
        errors.push(FieldError::new("value", "must be a finite number"));
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
        _ => {}
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
    for key in record.keys() {
        errors.push(FieldError::new(
            key.as_str(),
            format!("unknown field; expected {allowed}"),
        ));
    }
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

    let mut item = Item {
        id,
        fields: Default::default(),
        embeddings: Default::default(),
    };
    for (name, raw) in &raw_fields {
        let path = format!("fields.{name}");
        let declared = schema.field_type(name);
        if declared.is_none() && !schema.allow_undeclared_fields {
            errors.push(FieldError::new(
                path,
                "is not declared in ItemSchema.Fields",
            ));
            continue;
        }
        if raw.is_null() {
            continue;
        }
        match FieldValue::from_json(&path, raw, declared) {
            Ok(value) => {
                item.fields.insert(name.clone(), value);
            }
            Err(e) => errors.push(e),
        }
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
    let mut user = User {
        id,
        attributes: Default::default(),
    };
    for (name, raw) in &raw_attributes {
        if raw.is_null() {
            continue;
        }
        match FieldValue::from_json(&format!("attributes.{name}"), raw, None) {
            Ok(value) => {
                user.attributes.insert(name.clone(), value);
            }
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(user)
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
