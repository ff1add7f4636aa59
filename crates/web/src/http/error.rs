//! Errors as HTTP responses: a status and JSON `{"error": "…"}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use spate_store::StoreError;

/// An error answer.
#[derive(Debug)]
pub(super) struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    /// A 400 Bad Request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    /// A 500 Internal Server Error.
    pub fn internal(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let status = match &e {
            StoreError::Query(_) | StoreError::NoSuchTable { .. } | StoreError::ReadOnly { .. } => {
                StatusCode::BAD_REQUEST
            }
            StoreError::Timeout { .. } => StatusCode::SERVICE_UNAVAILABLE,
            StoreError::MemoryLimit { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            StoreError::Io { .. }
            | StoreError::Corrupt { .. }
            | StoreError::Locked { .. }
            | StoreError::InvalidTable { .. }
            | StoreError::BadRows { .. }
            | StoreError::Arrow(_)
            | StoreError::Parquet(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError {
            status,
            message: e.to_string(),
        }
    }
}

impl From<arrow::error::ArrowError> for ApiError {
    fn from(e: arrow::error::ArrowError) -> Self {
        ApiError::internal(format!("cannot encode the rows: {e}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(serde_json::json!({ "error": self.message }));
        (self.status, body).into_response()
    }
}
