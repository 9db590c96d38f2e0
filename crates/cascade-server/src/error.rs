//! API errors: JSON `{code, msg, details}` with the HTTP status as `code`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cascade_core::FieldError;
use cascade_store::StoreError;

/// The most field errors listed in one response.
pub const MAX_DETAILS: usize = 1000;

/// An error answered to the caller.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A one-line summary.
    pub msg: String,
    /// What exactly is wrong, per record and field.
    pub details: Vec<FieldError>,
}

impl ApiError {
    /// A 400 with field details.
    pub fn invalid(msg: impl Into<String>, mut details: Vec<FieldError>) -> Self {
        details.truncate(MAX_DETAILS);
        Self {
            status: StatusCode::BAD_REQUEST,
            msg: msg.into(),
            details,
        }
    }

    /// An error with a status and a message only.
    pub fn status(status: StatusCode, msg: impl Into<String>) -> Self {
        Self {
            status,
            msg: msg.into(),
            details: Vec::new(),
        }
    }

    /// A 404 naming what was not found.
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::status(StatusCode::NOT_FOUND, format!("{} not found", what.into()))
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        tracing::error!(%error, "storage failure");
        let status = match error {
            StoreError::Closed | StoreError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::status(status, error.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "code": self.status.as_u16(),
            "msg": self.msg,
            "details": self.details,
        });
        (self.status, axum::Json(body)).into_response()
    }
}
