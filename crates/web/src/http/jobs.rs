//! The job console's REST API, over the process's [`JobService`]:
//!
//! - `GET /api/jobs`: `{"jobs": [JobView…], "process": ProcessView, "now_ms": …}` (the
//!   server's clock, which the pages measure ages against).
//! - `POST /api/jobs/validate` with `{"sql": …}`: `{"inserts": n, "plan": …}`, or 400 with
//!   the error's line and column.
//! - `POST /api/jobs` with `{"name": …, "sql": …}`: 201 and the job, which runs.
//! - `GET /api/jobs/{id}`: the job.
//! - `POST /api/jobs/{id}/stop`: stops it with a final checkpoint; answers once stopped.
//! - `POST /api/jobs/{id}/restart`: runs it again from its latest checkpoint.
//!
//! A process without jobs (`spate serve` without `--jobs`) answers 404 with the reason.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::error::ApiError;
use crate::jobs::{JobService, JobServiceError};
use crate::process::ProcessView;

/// The routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/jobs", get(list).post(submit))
        .route("/api/jobs/validate", post(validate))
        .route("/api/jobs/{id}", get(one))
        .route("/api/jobs/{id}/stop", post(stop))
        .route("/api/jobs/{id}/restart", post(restart))
        .route("/api/process", get(process))
}

/// A submitted job.
#[derive(Debug, Deserialize)]
struct Submit {
    name: String,
    sql: String,
}

/// SQL to check.
#[derive(Debug, Deserialize)]
struct Check {
    sql: String,
}

impl From<JobServiceError> for ApiError {
    fn from(e: JobServiceError) -> Self {
        let status = match &e {
            JobServiceError::NotFound(_) => StatusCode::NOT_FOUND,
            JobServiceError::Invalid(_) => StatusCode::BAD_REQUEST,
            JobServiceError::Conflict(_) => StatusCode::CONFLICT,
            JobServiceError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError {
            status,
            message: e.to_string(),
        }
    }
}

/// The process's jobs, or 404 when it runs none.
fn service(state: &AppState) -> Result<&Arc<dyn JobService>, ApiError> {
    state.jobs.as_ref().ok_or_else(|| ApiError {
        status: StatusCode::NOT_FOUND,
        message: "this process runs no jobs: the job console is served by `spate demo` and \
                  `spate serve --jobs`"
            .into(),
    })
}

async fn list(State(state): State<AppState>) -> Result<Response, ApiError> {
    let jobs = service(&state)?.list();
    // The server's clock, against which the pages measure uptimes and ages.
    let now_ms = chrono::Utc::now().timestamp_millis();
    let answer = json!({"jobs": jobs, "process": state.process.sample(), "now_ms": now_ms});
    Ok(Json(answer).into_response())
}

async fn one(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let job = service(&state)?
        .list()
        .into_iter()
        .find(|j| j.id == id)
        .ok_or(JobServiceError::NotFound(id))?;
    Ok(Json(job).into_response())
}

async fn validate(
    State(state): State<AppState>,
    Json(check): Json<Check>,
) -> Result<Response, ApiError> {
    let checked = service(&state)?.check(check.sql).await?;
    Ok(Json(checked).into_response())
}

async fn submit(
    State(state): State<AppState>,
    Json(job): Json<Submit>,
) -> Result<Response, ApiError> {
    let view = service(&state)?.submit(job.name, job.sql).await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

async fn stop(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    Ok(Json(service(&state)?.stop(&id).await?).into_response())
}

async fn restart(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(service(&state)?.restart(&id).await?).into_response())
}

/// `GET /api/process`: this process's CPU and memory.
async fn process(State(state): State<AppState>) -> Json<ProcessView> {
    Json(state.process.sample())
}
