//! `GET/PUT /api/admin/config`: read the configuration in force, or replace it. A config
//! that fails validation is refused (400, naming each key path) and the running one stays.
//! Secrets are shown as `<redacted>`; a config sent back with `<redacted>` in their place
//! keeps the running secrets.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use cascade_core::FieldError;
use cascade_core::config::{CascadeConfig, ConfigError};

use crate::app::{App, AppError};
use crate::batch::read_body;
use crate::error::ApiError;

/// The configuration in force, as JSON, its secrets redacted.
pub async fn get_config(State(app): State<Arc<App>>) -> Json<serde_json::Value> {
    Json(serde_json::to_value(app.config().redacted()).unwrap_or_default())
}

/// Replaces the configuration (JSON with comments) without a restart.
pub async fn put_config(
    State(app): State<Arc<App>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let body = read_body(body, app.config().server_conf.max_body_bytes)?;
    let text = String::from_utf8_lossy(&body);
    let config = CascadeConfig::parse_replacing(&text, &app.config()).map_err(refused)?;
    let reloader = app.clone();
    tokio::task::spawn_blocking(move || reloader.reload(config))
        .await
        .map_err(|e| {
            ApiError::status(axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        })?
        .map_err(|error| match error {
            AppError::Config(error) => refused(error),
            AppError::Store(error) => ApiError::from(error),
            AppError::Index(reason) | AppError::Kafka(reason) => {
                ApiError::status(axum::http::StatusCode::INTERNAL_SERVER_ERROR, reason)
            }
        })?;
    Ok(Json(
        serde_json::json!({"code": 200, "msg": "config reloaded"}),
    ))
}

/// A refused config as a 400 whose details name each key path.
pub fn refused(error: ConfigError) -> ApiError {
    let details = match &error {
        ConfigError::Rejected(issues) => issues
            .iter()
            .map(|issue| FieldError::new(issue.path.clone(), issue.reason.clone()))
            .collect(),
        ConfigError::Invalid { path, reason } => {
            vec![FieldError::new(path.clone(), reason.clone())]
        }
        ConfigError::Read { .. } => Vec::new(),
    };
    ApiError::invalid("config refused; the running config stays", details)
}
