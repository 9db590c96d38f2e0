//! One consumed record: decoding it into an event, or the reason it goes to the dead letters.

use cascade_core::time::TimestampMs;
use cascade_core::validate::parse_event;
use cascade_core::{Event, EventTypes};

/// The dead-letter header that says why the record could not be processed.
pub const REASON_HEADER: &str = "cascade-dlq-reason";
/// The dead-letter header naming the topic the record was consumed from.
pub const TOPIC_HEADER: &str = "cascade-dlq-topic";
/// The dead-letter header naming the partition the record was consumed from.
pub const PARTITION_HEADER: &str = "cascade-dlq-partition";
/// The dead-letter header with the record's offset in its partition.
pub const OFFSET_HEADER: &str = "cascade-dlq-offset";

/// Decodes a record's payload: one event as JSON, validated as `POST /api/events` validates
/// it (`parse_event`; a missing timestamp becomes `now`). The error is the reason, in words.
pub fn decode_event(
    payload: Option<&[u8]>,
    types: &EventTypes,
    now: TimestampMs,
) -> Result<Event, String> {
    let payload = payload.ok_or_else(|| "the record has no payload".to_string())?;
    let value: serde_json::Value =
        serde_json::from_slice(payload).map_err(|e| format!("the payload is not JSON: {e}"))?;
    if !value.is_object() {
        return Err("the payload must be one event, a JSON object".into());
    }
    parse_event(value, types, now).map_err(|errors| {
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    })
}

/// A record that could not be processed, on its way to the dead-letter topic.
pub(crate) struct DeadLetter {
    pub(crate) key: Option<Vec<u8>>,
    pub(crate) payload: Option<Vec<u8>>,
    pub(crate) reason: String,
    pub(crate) partition: i32,
    pub(crate) offset: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_and_invalid_payloads() {
        let types = EventTypes::default();
        let ok = br#"{"event_id":"e1","type":"click","uid":"u","item_id":"i","timestamp":5}"#;
        let event = decode_event(Some(ok), &types, 10).unwrap();
        assert_eq!((event.event_id.as_str(), event.timestamp), ("e1", 5));
        let reason = decode_event(Some(b"{nope"), &types, 10).unwrap_err();
        assert!(reason.starts_with("the payload is not JSON"), "{reason}");
        let reason = decode_event(Some(b"[1]"), &types, 10).unwrap_err();
        assert!(reason.contains("JSON object"), "{reason}");
        let reason = decode_event(
            Some(br#"{"event_id":"e","type":"bogus","uid":"u","item_id":"i"}"#),
            &types,
            10,
        )
        .unwrap_err();
        assert!(reason.contains("field `type`"), "{reason}");
        assert_eq!(
            decode_event(None, &types, 10).unwrap_err(),
            "the record has no payload"
        );
    }
}
