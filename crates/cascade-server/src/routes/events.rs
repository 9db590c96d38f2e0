//! `POST /api/events`: batched, validated, deduplicated, durable ingestion.
//!
//! Partial-batch policy: by default a batch is all or nothing. If any record is invalid the
//! answer is 400, listing every invalid record by index, field and reason, and no event of
//! the batch is stored. With `?partial=true` the valid records are stored and the invalid
//! ones are listed in the 200 answer. Either way nothing is acknowledged before it is durable.
//!
//! In distributed mode (`KafkaConf`) the valid records are also published to the shared
//! topic, all of them, even those this replica's log already held: a batch sent again after a
//! failed publish must reach the other replicas. The answer is 200 only once the append is
//! durable and the broker acknowledged every record; a failed publish is a 503 (the events
//! are in this replica's log; sending the batch again publishes them, and every log drops
//! the events it already holds).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use cascade_core::time::now_ms;
use cascade_core::validate::parse_event;
use cascade_core::{Event, FieldError};
use cascade_store::AppendOutcome;

use crate::app::App;
use crate::batch::{read_body, split_records};
use crate::distributed::Distributed;
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

/// Appends `events` to the log and publishes them to the shared topic at the same time;
/// resolves once both succeeded. A failed append is the answer whatever the publish did (an
/// event that reached the topic comes back to this log through the source).
async fn append_and_publish(
    app: &App,
    distributed: &Distributed,
    events: Vec<Event>,
) -> Result<AppendOutcome, ApiError> {
    let appended = app.stores.events.append(events.clone()).wait();
    let (appended, published) = tokio::join!(appended, distributed.publish(&events));
    let outcome = appended?;
    published.map_err(|error| {
        ApiError::status(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the {} events are stored in this replica's event log, but publishing them to \
                 Kafka topic `{}` failed, so other replicas do not see them: {error}; send the \
                 batch again (events already stored are dropped by event_id)",
                events.len(),
                distributed.topic()
            ),
        )
    })?;
    Ok(outcome)
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
    let config = app.config();
    let batch = split_records(&headers, &body, config.server_conf.max_batch_records)?;
    let total = batch.len();
    let now = now_ms();
    let mut events: Vec<Event> = Vec::with_capacity(total);
    let mut errors: Vec<FieldError> = Vec::new();
    batch.for_each(|index, record| {
        match record
            .map_err(|e| vec![e])
            .and_then(|value| parse_event(value, &config.event_conf, now))
        {
            Ok(event) => events.push(event),
            Err(field_errors) if errors.len() < MAX_DETAILS => {
                errors.extend(field_errors.into_iter().map(|e| e.at(index)))
            }
            Err(_) => {}
        }
    })?;
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
    let outcome = match &app.distributed {
        Some(distributed) => append_and_publish(&app, distributed, events).await?,
        None => app.stores.events.append(events).wait().await?,
    };
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
