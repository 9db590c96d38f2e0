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
    let body = read_body(body, app.config.server_conf.max_body_bytes)?;
    let request = parse_request(&body)?;
    let items = app.recommender.recommend(&request)?;
    Ok(Json(serde_json::json!({
        "code": 200,
        "msg": "success",
        "request_id": request.request_id,
        "experiment_id": "",
        "size": items.len(),
        "items": items,
    })))
}
