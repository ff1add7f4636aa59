//! Spate's query interfaces over the serving store ([`spate_store::Store`]): what dashboards,
//! `psql` and BI tools connect to while jobs write the tables.
//!
//! - HTTP ([`router`]): `GET /api/tables` lists the tables; `GET|POST /api/query` answers SQL
//!   as JSON rows or an Arrow IPC stream; `GET /api/tables/{name}/live` pushes each commit to
//!   a table as Server-Sent Events; `GET /dashboard/` links the live dashboards of the
//!   shipped jobs' tables (API analytics and vehicle health), whose files are embedded.
//! - PostgreSQL's wire protocol ([`PgOptions`]): simple and extended queries, answered in
//!   text, for the user `spate` with a cleartext or MD5 password.
//! - The job console ([`JobService`]): `/api/jobs` and the page `/console` list, check,
//!   submit, stop and restart the process's jobs; `/dashboard/pipeline` shows their progress.
//! - The fleet model ([`ModelService`]): `/api/model` shows the registry, the drift watch
//!   and the retraining history, and retrains or promotes on request.
//! - `GET /healthz` reports the process's parts ([`Health`]): 200 once every one runs.
//! - [`Server`] binds both and runs them on the current Tokio runtime.
//!
//! Every query runs through [`spate_store::Store::query_with`] within the configured
//! [`spate_store::QueryLimits`]: reads only, with a time and a memory limit.

#![warn(missing_docs)]

mod assets;
mod encode;
mod error;
mod health;
mod http;
mod jobs;
mod models;
mod pg;
mod process;
mod server;

pub use error::WebError;
pub use health::{Health, PartState};
pub use http::router;
pub use jobs::{
    CheckpointView, ExceptionView, JobCheck, JobService, JobServiceError, JobState, JobView,
};
pub use models::{
    CheckView, DecisionView, ModelService, ModelServiceError, ModelView, RetrainingView,
    VersionView,
};
pub use pg::{PgAuth, PgOptions};
pub use process::ProcessView;
pub use server::{Server, ServerConfig};
