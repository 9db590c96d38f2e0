//! `POST /api/recommend` (and its alias `/api/rec/feed`), in the shape PAI-Rec clients use.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use cascade_core::config::references::IMPRESSION;
use cascade_core::time::now_ms;
use cascade_core::validate::Id;
use cascade_core::{Event, EventContext, FieldError, RequestContext};
use cascade_pipeline::Outcome;
use serde::Deserialize;

use crate::app::App;
use crate::batch::read_body;
use crate::error::ApiError;

/// The most items one request may ask for.
pub const MAX_SIZE: usize = 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecommendRequest {
    uid: Id,
    #[serde(default)]
    scene_id: Option<String>,
    #[serde(default)]
    size: Option<usize>,
    #[serde(default)]
    features: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    item_id: Option<Id>,
    #[serde(default)]
    debug: bool,
}

fn parse_request(body: &[u8]) -> Result<RequestContext, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let request: RecommendRequest =
        serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
            let path = error.path().to_string();
            let field = if path == "." { String::new() } else { path };
            ApiError::invalid(
                "invalid recommend request",
                vec![FieldError::new(field, error.into_inner().to_string())],
            )
        })?;
    let size = request.size.unwrap_or(10);
    if size == 0 || size > MAX_SIZE {
        return Err(ApiError::invalid(
            "invalid recommend request",
            vec![FieldError::new(
                "size",
                format!("must be between 1 and {MAX_SIZE}, got {size}"),
            )],
        ));
    }
    if request.uid.0.is_empty() {
        return Err(ApiError::invalid(
            "invalid recommend request",
            vec![FieldError::new("uid", "must not be empty")],
        ));
    }
    Ok(RequestContext {
        request_id: uuid::Uuid::new_v4().to_string(),
        uid: request.uid.0,
        scene_id: request.scene_id.unwrap_or_else(|| "default".into()),
        size,
        item_id: request.item_id.map(|id| id.0),
        features: request.features,
        debug: request.debug,
        ..RequestContext::default()
    })
}

/// Recommends up to `size` items for `uid`.
pub async fn recommend(
    State(app): State<Arc<App>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let body = read_body(body, app.config().server_conf.max_body_bytes)?;
    let request = parse_request(&body)?;
    let request_id = request.request_id.clone();
    let (uid, scene) = (request.uid.clone(), request.scene_id.clone());
    let started = std::time::Instant::now();
    let logged_request = app.feature_log.as_ref().map(|_| request.clone());
    let outcome = app.engine().recommend(request).await.map_err(|error| {
        ApiError::invalid(
            "invalid recommend request",
            vec![FieldError::new("scene_id", error.to_string())],
        )
    })?;
    metrics::histogram!("cascade_recommend_duration_seconds")
        .record(started.elapsed().as_secs_f64());
    if app.config().engine_conf.log_impressions && !outcome.items.is_empty() {
        log_impressions(&app, &request_id, &uid, &scene, &outcome);
    }
    if let (Some(logger), Some(request)) = (&app.feature_log, &logged_request) {
        crate::feature_log::log_shown(&app, logger, request, &outcome, now_ms());
    }
    let mut answer = serde_json::json!({
        "code": 200,
        "msg": "success",
        "request_id": request_id,
        "experiment_id": outcome.experiment_id,
        "size": outcome.items.len(),
        "items": outcome.items,
    });
    if let Some(reason) = outcome.degraded {
        metrics::counter!("cascade_recommend_degraded_total").increment(1);
        answer["degraded"] = serde_json::Value::from(reason);
        answer["degraded_reasons"] = serde_json::Value::from(outcome.degraded_reasons);
    }
    if let Some(trace) = outcome.trace {
        answer["trace"] = serde_json::to_value(trace).unwrap_or_default();
    }
    Ok(Json(answer))
}

/// Appends one `impression` event per returned item (id `<request_id>:<position>`), without
/// holding up the response; a failed append is logged and counted.
fn log_impressions(app: &App, request_id: &str, uid: &str, scene: &str, outcome: &Outcome) {
    let now = now_ms();
    let events = outcome
        .items
        .iter()
        .enumerate()
        .map(|(position, candidate)| Event {
            event_id: format!("{request_id}:{position}"),
            event_type: IMPRESSION.to_string(),
            uid: uid.to_string(),
            item_id: candidate.item_id.clone(),
            timestamp: now,
            value: 1.0,
            context: EventContext {
                scene: Some(scene.to_string()),
                request_id: Some(request_id.to_string()),
                position: Some(position as u32),
                experiment_id: (!outcome.experiment_id.is_empty())
                    .then(|| outcome.experiment_id.clone()),
                ..EventContext::default()
            },
            text: None,
        })
        .collect();
    let ticket = app.stores.events.append(events);
    tokio::spawn(async move {
        if let Err(error) = ticket.wait().await {
            metrics::counter!("cascade_impression_log_failures_total").increment(1);
            tracing::warn!(%error, "impressions were not logged");
        }
    });
}
