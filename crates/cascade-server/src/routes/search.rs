//! `POST /api/search`: BM25 text, nearest vectors, or both fused (reciprocal-rank or weighted
//! score), with an item filter and excluded ids; with a `uid`, the hits are also ranked by
//! their similarity to the user's recent items and that ranking is fused in. When the text
//! encoder is on, a text query is also embedded and searched as a vector (semantic search).

use std::collections::HashSet;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use cascade_core::FieldError;
use cascade_core::expr::Expr;
use cascade_retrieval::ItemVectors;
use cascade_retrieval::hybrid::{Fusion, RankedList, fuse};
use serde::Deserialize;

use crate::app::App;
use crate::batch::read_body;
use crate::error::ApiError;

/// The most results one request may ask for.
const MAX_SIZE: usize = 500;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchRequest {
    #[serde(default)]
    query: Option<String>,
    #[serde(default)]
    vector: Option<Vec<f32>>,
    #[serde(default)]
    embedding: Option<String>,
    #[serde(default)]
    size: Option<usize>,
    #[serde(default)]
    fusion: Option<String>,
    #[serde(default)]
    text_weight: Option<f64>,
    #[serde(default)]
    filter: Option<String>,
    #[serde(default)]
    exclude_ids: Vec<String>,
    #[serde(default)]
    uid: Option<String>,
    #[serde(default)]
    personal_weight: Option<f64>,
    #[serde(default)]
    semantic: Option<bool>,
}

/// How many of the user's recent items make their profile.
const PROFILE_ITEMS: usize = 20;

fn bad(field: &str, reason: impl Into<String>) -> ApiError {
    ApiError::invalid(
        "invalid search request",
        vec![FieldError::new(field, reason)],
    )
}

fn internal(error: impl std::fmt::Display) -> ApiError {
    ApiError::status(StatusCode::INTERNAL_SERVER_ERROR, error.to_string())
}

/// Searches the catalogue.
pub async fn search(
    State(app): State<Arc<App>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let body = read_body(body, app.config().server_conf.max_body_bytes)?;
    let mut deserializer = serde_json::Deserializer::from_slice(&body);
    let request: SearchRequest =
        serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
            let path = error.path().to_string();
            bad(
                if path == "." { "" } else { &path },
                error.into_inner().to_string(),
            )
        })?;
    let size = request.size.unwrap_or(10);
    if !(1..=MAX_SIZE).contains(&size) {
        return Err(bad(
            "size",
            format!("must be between 1 and {MAX_SIZE}, got {size}"),
        ));
    }
    let query = request
        .query
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty());
    if query.is_none() && request.vector.is_none() {
        return Err(bad("query", "give a text `query`, a `vector`, or both"));
    }
    let fusion = match request.fusion.as_deref() {
        None | Some("rrf") => Fusion::ReciprocalRank { k: 60.0 },
        Some("weighted") => Fusion::WeightedScore,
        Some(other) => {
            return Err(bad(
                "fusion",
                format!("`{other}` is neither rrf nor weighted"),
            ));
        }
    };
    let text_weight = request.text_weight.unwrap_or(0.5);
    if !(0.0..=1.0).contains(&text_weight) {
        return Err(bad("text_weight", "must lie in [0, 1]"));
    }
    let personal_weight = request.personal_weight.unwrap_or(0.3);
    if !(0.0..=1.0).contains(&personal_weight) {
        return Err(bad("personal_weight", "must lie in [0, 1]"));
    }
    let filter = request
        .filter
        .as_deref()
        .map(Expr::parse)
        .transpose()
        .map_err(|reason| bad("filter", reason))?;

    let engine = app.engine();
    let excluded: HashSet<&str> = request.exclude_ids.iter().map(String::as_str).collect();
    // Only items still in the catalogue that pass the filter; deleted items never come back.
    let allow = |id: &str| {
        !excluded.contains(id)
            && engine.item(id).is_some_and(|item| {
                filter.as_ref().is_none_or(|f| {
                    f.eval(&|name| cascade_pipeline::entry::field_value(&item, name))
                        .is_true()
                })
            })
    };
    let depth = size * 3;
    let mut lists = Vec::new();
    if let Some(query) = query {
        let text = app.text.as_ref().ok_or_else(|| {
            bad(
                "query",
                "no item field is searchable (SearchConf.Fields or text fields in ItemSchema)",
            )
        })?;
        let hits = text
            .search(query, depth, &|id| !allow(id))
            .map_err(internal)?;
        lists.push(RankedList {
            name: "text",
            weight: text_weight,
            hits: hits
                .into_iter()
                .map(|h| (h.item_id, f64::from(h.score)))
                .collect(),
        });
    }
    let vector_query = match (&request.vector, query) {
        (Some(vector), _) => Some((vector.clone(), request.embedding.clone())),
        (None, Some(text)) => semantic_query(&app, text, request.semantic)
            .await?
            .map(|(vector, embedding)| (vector, Some(embedding))),
        (None, None) => None,
    };
    if let Some((vector, embedding)) = &vector_query {
        let index = vector_index(&app, embedding.as_deref(), "vector")?;
        let hits = index
            .nearest(vector, depth, 64.max(depth), allow)
            .map_err(|e| bad("vector", e.to_string()))?;
        lists.push(RankedList {
            name: "vector",
            weight: 1.0 - text_weight,
            hits: hits
                .into_iter()
                .map(|h| (h.item_id, f64::from(h.score)))
                .collect(),
        });
    }
    if let Some(uid) = &request.uid {
        let index = vector_index(&app, request.embedding.as_deref(), "uid")?;
        if let Some(profile) = index.profile(&app.interactions.recent(uid, PROFILE_ITEMS)) {
            let found: HashSet<&str> = lists
                .iter()
                .flat_map(|list| list.hits.iter().map(|(id, _)| id.as_str()))
                .collect();
            lists.push(RankedList {
                name: "personal",
                weight: personal_weight,
                hits: index
                    .rank(&profile, found.iter().copied())
                    .into_iter()
                    .map(|(id, score)| (id, f64::from(score)))
                    .collect(),
            });
        }
    }
    let items: Vec<serde_json::Value> = fuse(&lists, fusion, size)
        .into_iter()
        .map(|hit| {
            let mut item = serde_json::json!({"item_id": hit.item_id, "score": hit.score});
            for (signal, score) in hit.signals {
                item[format!("{signal}_score")] = serde_json::Value::from(score);
            }
            item
        })
        .collect();
    Ok(Json(
        serde_json::json!({"code": 200, "msg": "success", "size": items.len(), "items": items}),
    ))
}

/// The ANN index of `embedding`, or of the only declared embedding when none is named;
/// `field` is the request field that needs it.
fn vector_index<'a>(
    app: &'a App,
    embedding: Option<&str>,
    field: &str,
) -> Result<&'a Arc<ItemVectors>, ApiError> {
    let name = match (embedding, app.vectors.len()) {
        (Some(name), _) => name,
        (None, 1) => app.vectors.keys().next().map_or("", String::as_str),
        (None, 0) => {
            return Err(bad(
                field,
                "needs an item embedding; ItemSchema.Embeddings declares none",
            ));
        }
        (None, _) => {
            return Err(bad(
                "embedding",
                format!("is required with `{field}` unless the schema declares exactly one"),
            ));
        }
    };
    app.vectors.get(name).ok_or_else(|| {
        bad(
            "embedding",
            format!("`{name}` is not declared in ItemSchema.Embeddings"),
        )
    })
}

/// The text query embedded by the text encoder, with the embedding it belongs to: by default
/// whenever the encoder is on; `semantic: false` turns it off, `semantic: true` requires it.
async fn semantic_query(
    app: &Arc<App>,
    text: &str,
    semantic: Option<bool>,
) -> Result<Option<(Vec<f32>, String)>, ApiError> {
    let Some(embedder) = app.embedder.clone() else {
        return match semantic {
            Some(true) => Err(bad(
                "semantic",
                "the text encoder is off (TextEncoderConf unset or the model is not installed: \
                 run scripts/install-model.sh)",
            )),
            _ => Ok(None),
        };
    };
    if semantic == Some(false) {
        return Ok(None);
    }
    let text = text.to_string();
    let embedding = embedder.embedding().to_string();
    let vector = tokio::task::spawn_blocking(move || embedder.query(&text))
        .await
        .map_err(internal)?
        .map_err(internal)?;
    Ok(Some((vector, embedding)))
}
