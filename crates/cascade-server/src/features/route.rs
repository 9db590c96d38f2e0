//! `POST /api/features`: named window feature values of one user and a list of items, read
//! from the feature store in one round trip (`read_user_and_items`).
//!
//! ```json
//! {"uid": "u1", "user_features": ["user_clicks_30m"],
//!  "items": ["i1", "i2"], "item_features": ["item_ctr_24h"]}
//! ```
//! answers `{code, msg, uid, user: {name: value}, items: [{item_id, features: {name: value}}]}`;
//! a value is a number, a list (last-N) or `null` when the entity has none (or it expired).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use cascade_core::FieldError;
use cascade_core::config::features::Selector;
use cascade_store::FeatureValue;
use cascade_store::features::read_user_and_items;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::LiveFeatures;
use crate::app::App;
use crate::batch::read_body;
use crate::error::ApiError;

/// The most items one request may ask about.
pub const MAX_ITEMS: usize = 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FeaturesRequest {
    #[serde(default)]
    uid: Option<String>,
    #[serde(default)]
    user_features: Vec<String>,
    #[serde(default)]
    items: Vec<String>,
    #[serde(default)]
    item_features: Vec<String>,
}

fn invalid(errors: Vec<FieldError>) -> ApiError {
    ApiError::invalid("invalid features request", errors)
}

/// Every problem of `request`, each naming its field.
fn check(request: &FeaturesRequest, features: Option<&LiveFeatures>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if request.user_features.is_empty() && request.item_features.is_empty() {
        errors.push(FieldError::new(
            "user_features",
            "ask for at least one feature in user_features or item_features",
        ));
    }
    if !request.user_features.is_empty() && request.uid.as_deref().is_none_or(str::is_empty) {
        errors.push(FieldError::new(
            "uid",
            "required when user_features are asked for",
        ));
    }
    if request.items.len() > MAX_ITEMS {
        errors.push(FieldError::new(
            "items",
            format!("at most {MAX_ITEMS} items, got {}", request.items.len()),
        ));
    }
    let lists = [
        ("user_features", &request.user_features, Selector::User),
        ("item_features", &request.item_features, Selector::Item),
    ];
    for (field, names, key) in lists {
        for (i, name) in names.iter().enumerate() {
            let known = match features {
                Some(features) => features.keyed_by(name, &key).map(drop),
                None => Err("no window feature is declared (WindowFeatureConfs)".into()),
            };
            if let Err(reason) = known {
                errors.push(FieldError::new(format!("{field}[{i}]"), reason));
            }
        }
    }
    errors
}

/// Names → values, `null` where missing.
fn named(names: &[String], values: Vec<Option<FeatureValue>>) -> Map<String, Value> {
    names
        .iter()
        .cloned()
        .zip(values.into_iter().map(|value| serde_json::json!(value)))
        .collect()
}

/// Reads the asked-for features of the user and the items.
pub async fn read_features(
    State(app): State<Arc<App>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = read_body(body, app.config().server_conf.max_body_bytes)?;
    let mut deserializer = serde_json::Deserializer::from_slice(&body);
    let request: FeaturesRequest =
        serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
            let path = error.path().to_string();
            let field = if path == "." { "" } else { path.as_str() };
            invalid(vec![FieldError::new(field, error.into_inner().to_string())])
        })?;
    let errors = check(&request, app.features.as_ref());
    let Some(features) = app.features.as_ref().filter(|_| errors.is_empty()) else {
        return Err(invalid(errors));
    };
    let store = features.store().clone();
    let read = tokio::task::spawn_blocking(move || {
        fn as_strs(list: &[String]) -> Vec<&str> {
            list.iter().map(String::as_str).collect()
        }
        let uid = request.uid.as_deref().unwrap_or_default();
        let found = read_user_and_items(
            &*store,
            uid,
            &as_strs(&request.user_features),
            &as_strs(&request.items),
            &as_strs(&request.item_features),
        );
        (request, found)
    });
    let (request, found) = read
        .await
        .map_err(|e| ApiError::status(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let found = found?;
    let items: Vec<Value> = request
        .items
        .iter()
        .zip(found.items)
        .map(|(item_id, values)| {
            serde_json::json!({"item_id": item_id, "features": named(&request.item_features, values)})
        })
        .collect();
    Ok(Json(serde_json::json!({
        "code": 200,
        "msg": "ok",
        "uid": request.uid,
        "user": named(&request.user_features, found.user),
        "items": items,
    })))
}
