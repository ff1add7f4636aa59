//! The HTTP API over the store: tables, queries and live tables.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use spate_store::{QueryLimits, Store};
use tokio::sync::watch;

use crate::health::Health;
use crate::jobs::JobService;
use crate::models::ModelService;
use crate::process::ProcessStats;

mod dashboard;
mod error;
mod jobs;
mod live;
mod models;
mod query;
mod tables;

/// What the handlers share.
#[derive(Debug, Clone)]
struct AppState {
    store: Store,
    limits: QueryLimits,
    health: Health,
    jobs: Option<Arc<dyn JobService>>,
    models: Option<Arc<dyn ModelService>>,
    process: ProcessStats,
    /// Closed when the server stops: live subscriptions end then.
    closed: watch::Receiver<()>,
}

/// The HTTP API over `store`, each query within `limits`:
///
/// - `GET /healthz`: `health`'s report, 200 once every part of the process runs, else 503.
/// - `GET /api/tables`: the tables, with their columns, types, primary key and row counts.
/// - `GET /api/query?sql=…` and `POST /api/query` (the SQL as the body, or JSON
///   `{"sql": …}`): the answer as a JSON array of row objects, or as an Arrow IPC stream
///   with `Accept: application/vnd.apache.arrow.stream` or `?format=arrow`. Errors are
///   JSON `{"error": …}`: 400 for a query that cannot be planned or names a missing
///   table, 503 past the time limit, 422 past the memory limit.
/// - `GET /api/tables/{name}/live`: Server-Sent Events, one per commit to the table (see
///   the `live` module).
/// - `GET /dashboard/`, `/dashboard/api` and `/dashboard/fleet`: live dashboards over the
///   shipped jobs' tables, built from the embedded files under `/dashboard/assets/`;
///   `/dashboard/pipeline`: each job's rates, lags, checkpoints and failures, and the
///   process's CPU and memory.
/// - `/api/jobs…` and `GET /console`: the job console over `jobs` (see the `jobs` module);
///   `GET /api/process`: the process's CPU and memory.
/// - `/api/model…`: the fleet model's registry over `models` (see the `models` module).
///
/// Live subscriptions end when `closed`'s sender is dropped.
pub fn router(
    store: Store,
    limits: QueryLimits,
    health: Health,
    jobs: Option<Arc<dyn JobService>>,
    models: Option<Arc<dyn ModelService>>,
    closed: watch::Receiver<()>,
) -> Router {
    Router::new()
        .route(
            "/healthz",
            get(|State(state): State<AppState>| async move { state.health.report() }),
        )
        .route("/api/tables", get(tables::list))
        .route("/api/query", get(query::get).post(query::post))
        .route("/api/tables/{name}/live", get(live::subscribe))
        .merge(dashboard::routes())
        .merge(jobs::routes())
        .merge(models::routes())
        .with_state(AppState {
            store,
            limits,
            health,
            jobs,
            models,
            process: ProcessStats::default(),
            closed,
        })
}
