//! Liveness, readiness and metrics.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use crate::app::App;
use crate::error::ApiError;

/// `GET /health`: the process is up.
pub async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({"code": 200, "msg": "ok"}))
}

/// `GET /ready`: the storage takes writes, and the event log has been replayed and the derived
/// state computed from it, so recommendations are complete.
pub async fn ready(State(app): State<Arc<App>>) -> Result<Json<serde_json::Value>, ApiError> {
    if let Err(error) = app.stores.events.writable() {
        Err(ApiError::status(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("storage cannot write: {error}"),
        ))
    } else if app.is_ready() {
        Ok(Json(serde_json::json!({"code": 200, "msg": "ready"})))
    } else if app.is_replayed() {
        Err(ApiError::status(
            StatusCode::SERVICE_UNAVAILABLE,
            "computing the rankings and neighbour lists from the replayed events",
        ))
    } else {
        let applied = *app.stream.applied().borrow();
        Err(ApiError::status(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "replaying the event log: {applied} of {} events",
                app.startup_events
            ),
        ))
    }
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics() -> String {
    let handle = crate::metrics::prometheus();
    handle.run_upkeep();
    handle.render()
}
