//! The fleet model's REST API, over the process's [`ModelService`]:
//!
//! - `GET /api/model`: the live version, the versions, the decisions, the last drift check
//!   and any retraining in progress ([`crate::ModelView`]).
//! - `POST /api/model/retrain`: retrains on the archive now (409 while one runs).
//! - `POST /api/model/promote/{version}`: makes the version live.
//!
//! A process without a registry answers 404 with the reason.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::AppState;
use super::error::ApiError;
use crate::models::{ModelService, ModelServiceError};

/// The routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/model", get(status))
        .route("/api/model/retrain", post(retrain))
        .route("/api/model/promote/{version}", post(promote))
}

impl From<ModelServiceError> for ApiError {
    fn from(e: ModelServiceError) -> Self {
        let status = match &e {
            ModelServiceError::NotFound(_) => StatusCode::NOT_FOUND,
            ModelServiceError::Conflict(_) => StatusCode::CONFLICT,
            ModelServiceError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError {
            status,
            message: e.to_string(),
        }
    }
}

/// The process's model registry, or 404 when it keeps none.
fn service(state: &AppState) -> Result<&Arc<dyn ModelService>, ApiError> {
    state.models.as_ref().ok_or_else(|| ApiError {
        status: StatusCode::NOT_FOUND,
        message: "this process keeps no model registry: `spate demo` serves the fleet model's"
            .into(),
    })
}

async fn status(State(state): State<AppState>) -> Result<Response, ApiError> {
    Ok(Json(service(&state)?.status()?).into_response())
}

async fn retrain(State(state): State<AppState>) -> Result<Response, ApiError> {
    let view = service(&state)?.retrain().await?;
    Ok((StatusCode::ACCEPTED, Json(view)).into_response())
}

async fn promote(
    State(state): State<AppState>,
    Path(version): Path<u32>,
) -> Result<Response, ApiError> {
    Ok(Json(service(&state)?.promote(version).await?).into_response())
}
