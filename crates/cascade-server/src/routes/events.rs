//! `POST /api/events`: batched, validated, deduplicated, durable ingestion.
//!
//! Partial-batch policy: by default a batch is all or nothing. If any record is invalid the
//! answer is 400, listing every invalid record by index, field and reason, and no event of
//! the batch is stored. With `?partial=true` the valid records are stored and the invalid
//! ones are listed in the 200 answer. Either way nothing is acknowledged before it is durable.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use cascade_core::time::now_ms;
use cascade_core::validate::parse_event;
use cascade_core::{Event, FieldError};

use crate::app::App;
use crate::batch::{read_body, split_records};
use crate::error::{ApiError, MAX_DETAILS};
use crate::metrics::count_events;

/// The most duplicate ids echoed back.
const MAX_ECHOED_DUPLICATES: usize = 100;

fn partial_requested(query: Option<&str>) -> Result<bool, ApiError> {
    let mut partial = false;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=').unwrap_or((pair, "")) {
            ("partial", "true" | "1" | "") => partial = true,
            ("partial", "false" | "0") => partial = false,
            ("partial", other) => {
                return Err(ApiError::invalid(
                    "invalid query parameter",
                    vec![FieldError::new(
                        "partial",
                        format!("expected true or false, got `{other}`"),
                    )],
                ));
            }
            (name, _) => {
                return Err(ApiError::invalid(
                    "unknown query parameter",
                    vec![FieldError::new(
                        name,
                        "unknown query parameter; expected `partial`",
                    )],
                ));
            }
        }
    }
    Ok(partial)
}

/// Validates every record, then appends the valid ones and waits until they are durable.
pub async fn post_events(
    State(app): State<Arc<App>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let partial = partial_requested(query.as_deref())?;
    let body = read_body(body, app.config().server_conf.max_body_bytes)?;
    let records = split_records(&headers, &body)?;
    let limit = app.config().server_conf.max_batch_records;
    if records.len() > limit {
        return Err(ApiError::status(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "batch has {} records; at most {limit} are accepted (ServerConf.MaxBatchRecords)",
                records.len()
            ),
        ));
    }
    let total = records.len();
    let now = now_ms();
    let mut events: Vec<Event> = Vec::with_capacity(total);
    let mut errors: Vec<FieldError> = Vec::new();
    for (index, record) in records.into_iter().enumerate() {
        match record
            .map_err(|e| vec![e])
            .and_then(|value| parse_event(value, &app.config().event_conf, now))
        {
            Ok(event) => events.push(event),
            Err(field_errors) => errors.extend(field_errors.into_iter().map(|e| e.at(index))),
        }
    }
    let rejected_records = total - events.len();
    if rejected_records > 0 {
        count_events("rejected", rejected_records);
        if !partial {
            return Err(ApiError::invalid(
                format!(
                    "{rejected_records} of {total} records are invalid; no event of this batch was stored"
                ),
                errors,
            ));
        }
    }
    let outcome = app.stores.events.append(events).wait().await?;
    count_events("accepted", outcome.accepted);
    count_events("duplicate", outcome.duplicates.len());
    let mut duplicate_ids = outcome.duplicates.clone();
    duplicate_ids.truncate(MAX_ECHOED_DUPLICATES);
    errors.truncate(MAX_DETAILS);
    Ok(Json(serde_json::json!({
        "code": 200,
        "msg": "ok",
        "accepted": outcome.accepted,
        "duplicates": outcome.duplicates.len(),
        "duplicate_ids": duplicate_ids,
        "rejected": rejected_records,
        "details": errors,
    })))
}
