//! Readiness for `GET /healthz`: the parts a process runs (jobs, servers, generators), each
//! starting, running or failed, as their owner reports them.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};

use axum::Json;
use axum::http::StatusCode;
use serde_json::{Value, json};

/// Where one part is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartState {
    /// Started, not yet doing its work.
    Starting,
    /// Doing its work.
    Running,
    /// Stopped by an error, with the error.
    Failed(String),
}

/// The parts of a process and their states, shared by their owner (who sets them) and the
/// HTTP server (which reports them). Without parts, the process is ready.
#[derive(Debug, Clone, Default)]
pub struct Health {
    parts: Arc<RwLock<BTreeMap<String, PartState>>>,
}

impl Health {
    /// Sets the state of `part` (added if new).
    pub fn set(&self, part: &str, state: PartState) {
        let mut parts = self.parts.write().unwrap_or_else(PoisonError::into_inner);
        parts.insert(part.to_string(), state);
    }

    /// `200` with `{"ready": true, "parts": {…}}` once every part runs, `503` before (or
    /// after one failed), with each part's state.
    pub(crate) fn report(&self) -> (StatusCode, Json<Value>) {
        let parts = self.parts.read().unwrap_or_else(PoisonError::into_inner);
        let states: serde_json::Map<String, Value> = parts
            .iter()
            .map(|(name, state)| {
                let text = match state {
                    PartState::Starting => "starting".to_string(),
                    PartState::Running => "running".to_string(),
                    PartState::Failed(e) => format!("failed: {e}"),
                };
                (name.clone(), Value::String(text))
            })
            .collect();
        let ready = parts.values().all(|s| *s == PartState::Running);
        let status = match ready {
            true => StatusCode::OK,
            false => StatusCode::SERVICE_UNAVAILABLE,
        };
        (status, Json(json!({"ready": ready, "parts": states})))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_once_every_part_runs_and_not_after_one_fails() {
        let health = Health::default();
        assert_eq!(health.report().0, StatusCode::OK, "no parts: ready");
        health.set("job", PartState::Starting);
        health.set("api", PartState::Running);
        let (status, Json(body)) = health.report();
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["parts"]["job"], "starting");
        health.set("job", PartState::Running);
        assert_eq!(health.report().0, StatusCode::OK);
        health.set("api", PartState::Failed("port taken".into()));
        let (status, Json(body)) = health.report();
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["parts"]["api"], "failed: port taken");
    }
}
