//! Splitting a request body into JSON records: a JSON array, a single object, or NDJSON.
//!
//! The records are counted before any is parsed, so a body of more records than the batch
//! limit is refused at the cost of one pass over its bytes, building nothing; the records of
//! a batch within the limit are then parsed one at a time, each handed on and dropped before
//! the next is read.

use std::fmt;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use cascade_core::FieldError;
use serde::de::{Deserializer, IgnoredAny, SeqAccess, Visitor};

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

/// How a batch body holds its records.
enum Shape {
    /// A JSON array, one record per element.
    Array,
    /// One JSON object, parsed already.
    Single(serde_json::Value),
    /// One record per non-blank line.
    Ndjson,
}

/// A batch body whose records are counted and not yet parsed.
pub struct Batch<'a> {
    body: &'a [u8],
    shape: Shape,
    len: usize,
}

impl Batch<'_> {
    /// How many records the batch holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the batch holds no record.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Parses the records in order, handing each with its index to `take`; one record's
    /// JSON is dropped before the next is parsed.
    pub fn for_each(self, mut take: impl FnMut(usize, Record)) -> Result<(), ApiError> {
        match self.shape {
            Shape::Single(record) => take(0, Ok(record)),
            Shape::Ndjson => {
                for (index, (line_index, line)) in ndjson_lines(self.body).enumerate() {
                    let record = serde_json::from_slice(line).map_err(|error| {
                        FieldError::new(
                            "",
                            format!("malformed JSON on line {}: {error}", line_index + 1),
                        )
                    });
                    take(index, record);
                }
            }
            Shape::Array => {
                let mut deserializer = serde_json::Deserializer::from_slice(self.body);
                deserializer
                    .deserialize_seq(EachElement(&mut take))
                    .map_err(malformed)?;
            }
        }
        Ok(())
    }
}

/// Splits a body into records and counts them, refusing more than `max_records` with 413
/// before any record is parsed. NDJSON (by content type, or when the body is not one JSON
/// document) has one record per non-empty line, so one malformed line is that record's
/// error; a malformed JSON document is an error for the whole request.
pub fn split_records<'a>(
    headers: &HeaderMap,
    body: &'a [u8],
    max_records: usize,
) -> Result<Batch<'a>, ApiError> {
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
    let (shape, len) = if declared_ndjson {
        (Shape::Ndjson, ndjson_lines(body).count())
    } else if first == Some(b'[') {
        let len = serde_json::from_slice::<ElementCount>(body)
            .map_err(malformed)?
            .0;
        (Shape::Array, len)
    } else {
        match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(record @ serde_json::Value::Object(_)) => (Shape::Single(record), 1),
            Ok(other) => {
                return Err(ApiError::status(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "expected a JSON array of records, an object or NDJSON, got {}",
                        cascade_core::item::json_kind(&other)
                    ),
                ));
            }
            Err(error) if !error.is_syntax() && !error.is_data() => return Err(malformed(error)),
            Err(_) => (Shape::Ndjson, ndjson_lines(body).count()),
        }
    };
    if len > max_records {
        return Err(ApiError::status(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "batch has {len} records; at most {max_records} are accepted \
                 (ServerConf.MaxBatchRecords)"
            ),
        ));
    }
    Ok(Batch { body, shape, len })
}

fn malformed(error: serde_json::Error) -> ApiError {
    ApiError::status(StatusCode::BAD_REQUEST, format!("malformed JSON: {error}"))
}

/// The non-blank lines of an NDJSON body, with their 0-based line numbers.
fn ndjson_lines(body: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    body.split(|&b| b == b'\n')
        .enumerate()
        .filter(|(_, line)| line.iter().any(|b| !b.is_ascii_whitespace()))
}

/// The number of elements of a JSON array, read without building any of them.
struct ElementCount(usize);

impl<'de> serde::Deserialize<'de> for ElementCount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Counting;
        impl<'de> Visitor<'de> for Counting {
            type Value = ElementCount;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON array of records")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ElementCount, A::Error> {
                let mut count = 0;
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    count += 1;
                }
                Ok(ElementCount(count))
            }
        }
        deserializer.deserialize_seq(Counting)
    }
}

/// Hands each element of a JSON array, with its index, to a function as it is parsed.
struct EachElement<'f, F>(&'f mut F);

impl<'de, F: FnMut(usize, Record)> Visitor<'de> for EachElement<'_, F> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON array of records")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        while let Some(record) = seq.next_element()? {
            (self.0)(index, Ok(record));
            index += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(content_type: &str, body: &str, limit: usize) -> Result<Vec<Record>, ApiError> {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, content_type.parse().unwrap());
        let batch = split_records(&headers, body.as_bytes(), limit)?;
        let mut records = Vec::new();
        batch.for_each(|index, record| {
            assert_eq!(index, records.len());
            records.push(record);
        })?;
        Ok(records)
    }

    #[test]
    fn arrays_objects_and_ndjson() {
        let records = split("application/json", r#"[{"a":1},{"a":2}]"#, 10).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].as_ref().unwrap()["a"], 2);
        assert_eq!(
            split("application/json", r#"{"a":1}"#, 10).unwrap().len(),
            1
        );
        assert!(split("application/json", "[]", 10).unwrap().is_empty());
        let records = split("application/json", "{\"a\":1}\n\n{\"a\":2}\n", 10).unwrap();
        assert_eq!(records.len(), 2);
        let records = split("application/x-ndjson", "{\"a\":1}\n{oops\n", 10).unwrap();
        assert!(records[0].is_ok());
        assert!(records[1].as_ref().unwrap_err().reason.contains("line 2"));
    }

    #[test]
    fn malformed_arrays_and_scalars_are_refused() {
        assert!(split("application/json", "[{\"a\":1},", 10).is_err());
        assert!(split("application/json", "[1] [2]", 10).is_err());
        assert!(split("application/json", "42", 10).is_err());
        assert!(split("application/json", "  ", 10).is_err());
    }

    /// The 413 of a batch over the limit, which must come from counting alone: `split_records`
    /// answers before a [`Batch`] exists, and only [`Batch::for_each`] parses.
    fn refused_by_count(content_type: &str, body: &[u8], limit: usize) -> String {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, content_type.parse().unwrap());
        match split_records(&headers, body, limit) {
            Err(error) => {
                assert_eq!(error.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", error.msg);
                error.msg
            }
            Ok(batch) => panic!(
                "a batch of {} records passed a limit of {limit}",
                batch.len()
            ),
        }
    }

    #[test]
    fn a_batch_over_the_limit_is_refused_before_any_record_is_parsed() {
        let limit = 1000;
        let garbage = "x\n".repeat(100_000);
        for content_type in ["application/x-ndjson", "application/json", "text/plain"] {
            let msg = refused_by_count(content_type, garbage.as_bytes(), limit);
            assert!(msg.contains("100000 records"), "{msg}");
            assert!(msg.contains("ServerConf.MaxBatchRecords"), "{msg}");
        }
        let array = format!("[{}1]", "1,".repeat(100_000));
        let msg = refused_by_count("application/json", array.as_bytes(), limit);
        assert!(msg.contains("100001 records"), "{msg}");

        let within = "x\n".repeat(limit);
        let records = split("application/x-ndjson", &within, limit).unwrap();
        assert_eq!(records.len(), limit);
        assert!(
            records.iter().all(Result::is_err),
            "each line is its record's error"
        );
    }
}
