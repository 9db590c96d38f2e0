//! `GET /api/items/{id}/similar`: the items nearest to an item by one of its embeddings (for
//! an item with text but no vector yet, by the vector of its text, computed on the spot).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use cascade_core::{FieldError, Item};

use crate::app::App;
use crate::error::ApiError;

/// The most neighbours one request may ask for.
const MAX_SIZE: usize = 500;

/// `?size=N&embedding=NAME` (size 1–500, default 10; the embedding may be left out when the
/// schema declares exactly one).
pub async fn similar(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (mut size, mut embedding) = (10usize, None::<String>);
    for pair in query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "size" => {
                size = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_SIZE).contains(n))
                    .ok_or_else(|| {
                        bad(
                            "size",
                            format!("must be a number from 1 to {MAX_SIZE}, got `{value}`"),
                        )
                    })?
            }
            "embedding" => embedding = Some(value.to_string()),
            other => {
                return Err(bad(
                    other,
                    "unknown query parameter; expected size or embedding".into(),
                ));
            }
        }
    }
    let embedding = match embedding {
        Some(name) => name,
        None if app.vectors.len() == 1 => app.vectors.keys().next().cloned().unwrap_or_default(),
        None => {
            let names: Vec<&str> = app.vectors.keys().map(String::as_str).collect();
            return Err(bad(
                "embedding",
                format!("is required; declared embeddings: {}", names.join(", ")),
            ));
        }
    };
    let index = app.vectors.get(&embedding).ok_or_else(|| {
        bad(
            "embedding",
            format!("`{embedding}` is not declared in ItemSchema.Embeddings"),
        )
    })?;
    let mut item = app
        .stores
        .items
        .get_item(&id)?
        .ok_or_else(|| ApiError::not_found(format!("item `{id}`")))?;
    if !item.embeddings.contains_key(&embedding) {
        item = embedded_now(&app, item, &embedding).await?;
    }
    let hits = index
        .similar(&item, size, 64)
        .map_err(|e| ApiError::status(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let items: Vec<serde_json::Value> = hits
        .into_iter()
        .map(|hit| serde_json::json!({"item_id": hit.item_id, "score": hit.score}))
        .collect();
    Ok(Json(
        serde_json::json!({"code": 200, "msg": "success", "size": items.len(), "items": items}),
    ))
}

/// `item` with its `embedding` vector computed now, when the text encoder fills that embedding
/// and the item has text: an item the background pass has not reached yet (or whose encoding
/// failed at write time) answers from its text like any other. The vector is not stored: the
/// background pass stores it. Without text or encoder, a 400 says the item has no vector.
async fn embedded_now(app: &App, mut item: Item, embedding: &str) -> Result<Item, ApiError> {
    let Some(embedder) = app
        .embedder
        .clone()
        .filter(|embedder| embedder.embedding() == embedding && embedder.needs_vector(&item))
    else {
        return Err(bad(
            "embedding",
            format!("item `{}` has no `{embedding}` vector", item.id),
        ));
    };
    let internal = |error: String| ApiError::status(StatusCode::INTERNAL_SERVER_ERROR, error);
    tokio::task::spawn_blocking(move || {
        embedder.fill(std::slice::from_mut(&mut item)).map(|_| item)
    })
    .await
    .map_err(|error| internal(error.to_string()))?
    .map_err(|error| internal(error.to_string()))
}

fn bad(field: &str, reason: String) -> ApiError {
    ApiError::invalid(
        "invalid similar-items request",
        vec![FieldError::new(field, reason)],
    )
}
