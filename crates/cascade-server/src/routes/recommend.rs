//! `POST /api/recommend` (and its alias `/api/rec/feed`), in the shape PAI-Rec clients use.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use cascade_core::validate::Id;
use cascade_core::{FieldError, RequestContext};
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
    let started = std::time::Instant::now();
    let outcome = app.engine().recommend(request).await.map_err(|error| {
        ApiError::invalid("invalid recommend request", vec![FieldError::new("scene_id", error.to_string())])
    })?;
    metrics::histogram!("cascade_recommend_duration_seconds").record(started.elapsed().as_secs_f64());
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
    }
    if let Some(trace) = outcome.trace {
        answer["trace"] = serde_json::to_value(trace).unwrap_or_default();
    }
    Ok(Json(answer))
}
