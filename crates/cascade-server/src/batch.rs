//! Splitting a request body into JSON records: a JSON array, a single object, or NDJSON.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use cascade_core::FieldError;

use crate::error::ApiError;

/// The body of a batch request, or the reason it could not be read (too large, cut off).
pub fn read_body(body: Result<Bytes, BytesRejection>, limit: usize) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        let status = rejection.status();
        let msg = if status == StatusCode::PAYLOAD_TOO_LARGE {
            format!(
                "request body is larger than the limit of {limit} bytes (ServerConf.MaxBodyBytes)"
            )
        } else {
            format!("cannot read request body: {}", rejection.body_text())
        };
        ApiError::status(status, msg)
    })
}

/// A record of the batch: parsed JSON, or the reason its text is not JSON.
pub type Record = Result<serde_json::Value, FieldError>;

/// Splits a body into records. NDJSON (by content type, or when the body is not one JSON
/// document) yields one record per non-empty line, so one malformed line is that record's
/// error; a malformed JSON document is an error for the whole request.
pub fn split_records(headers: &HeaderMap, body: &[u8]) -> Result<Vec<Record>, ApiError> {
    let declared_ndjson = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.contains("ndjson") || t.contains("jsonl"));
    let first = body.iter().find(|b| !b.is_ascii_whitespace()).copied();
    if first.is_none() {
        return Err(ApiError::status(
            StatusCode::BAD_REQUEST,
            "request body is empty",
        ));
    }
    if !declared_ndjson {
        match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(serde_json::Value::Array(records)) => {
                return Ok(records.into_iter().map(Ok).collect());
            }
            Ok(record @ serde_json::Value::Object(_)) => return Ok(vec![Ok(record)]),
            Ok(other) => {
                return Err(ApiError::status(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "expected a JSON array of records, an object or NDJSON, got {}",
                        cascade_core::item::json_kind(&other)
                    ),
                ));
            }
            Err(error) if first == Some(b'[') || !error.is_syntax() && !error.is_data() => {
                return Err(ApiError::status(
                    StatusCode::BAD_REQUEST,
                    format!("malformed JSON: {error}"),
                ));
            }
            Err(_) => {}
        }
    }
    Ok(ndjson_records(body))
}

fn ndjson_records(body: &[u8]) -> Vec<Record> {
    body.split(|&b| b == b'\n')
        .enumerate()
        .filter(|(_, line)| line.iter().any(|b| !b.is_ascii_whitespace()))
        .map(|(line_index, line)| {
            serde_json::from_slice(line).map_err(|error| {
                FieldError::new(
                    "",
                    format!("malformed JSON on line {}: {error}", line_index + 1),
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(content_type: &str, body: &str) -> Result<Vec<Record>, ApiError> {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, content_type.parse().unwrap());
        split_records(&headers, body.as_bytes())
    }

    #[test]
    fn arrays_objects_and_ndjson() {
        assert_eq!(
            split("application/json", r#"[{"a":1},{"a":2}]"#)
                .unwrap()
                .len(),
            2
        );
        assert_eq!(split("application/json", r#"{"a":1}"#).unwrap().len(), 1);
        let records = split("application/json", "{\"a\":1}\n\n{\"a\":2}\n").unwrap();
        assert_eq!(records.len(), 2);
        let records = split("application/x-ndjson", "{\"a\":1}\n{oops\n").unwrap();
        assert!(records[0].is_ok());
        assert!(records[1].as_ref().unwrap_err().reason.contains("line 2"));
    }

    #[test]
    fn malformed_arrays_and_scalars_are_refused() {
        assert!(split("application/json", "[{\"a\":1},").is_err());
        assert!(split("application/json", "42").is_err());
        assert!(split("application/json", "  ").is_err());
    }
}
