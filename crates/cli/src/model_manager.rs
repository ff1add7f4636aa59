//! The fleet model's lifecycle in a running process ([`spate_web::ModelService`]): a watch
//! that checks the archive for drift at an interval and retrains when it drifted (the same
//! decision as `spate model retrain`), "Retrain now" and "Promote" from the dashboard, and
//! the registry's versions and decisions for it to show.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use spate_ml::Registry;
use spate_web::{
    CheckView, DecisionView, ModelService, ModelServiceError, ModelView, RetrainingView,
    VersionView,
};

use crate::model_cmd::{RetrainArgs, data_fingerprint};

/// The decisions the dashboard is shown, newest first.
const SHOWN_DECISIONS: usize = 30;

/// The model registry and its drift watch. Clones share them.
#[derive(Debug, Clone)]
pub struct ModelManager {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// What to check and train on (never forced: "Retrain now" forces its own copy).
    args: RetrainArgs,
    every: Duration,
    state: Mutex<State>,
}

/// What the watch has done.
#[derive(Debug, Default)]
struct State {
    last_check: Option<CheckView>,
    retraining: Option<RetrainingView>,
    /// What the archive looked like at the last check that read it.
    checked: Option<Vec<(std::path::PathBuf, u64, SystemTime)>>,
}

impl ModelManager {
    /// Watches `args`' archive for drift every `every`, on a thread of its own, retraining
    /// when it drifted; the thread ends with the process.
    pub fn start(mut args: RetrainArgs, every: Duration) -> ModelManager {
        args.force = false;
        let manager = ModelManager {
            inner: Arc::new(Inner {
                args,
                every,
                state: Mutex::default(),
            }),
        };
        let watch = manager.clone();
        std::thread::Builder::new()
            .name("drift watch".into())
            .spawn(move || {
                loop {
                    let next = Instant::now() + watch.inner.every;
                    while Instant::now() < next {
                        std::thread::sleep(Duration::from_millis(250));
                    }
                    watch.check(false);
                }
            })
            .expect("a thread starts");
        manager
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Checks for drift (retraining if it drifted, or always when `forced`) unless another
    /// check runs; a scheduled check of an archive unchanged since the last is skipped.
    fn check(&self, forced: bool) {
        let seen = data_fingerprint(self.inner.args.from()).ok();
        {
            let mut state = self.lock();
            if state.retraining.is_some() || (!forced && seen.is_some() && state.checked == seen) {
                return;
            }
            state.retraining = Some(RetrainingView {
                started_at_ms: spate_log::now_ms(),
                step: "starting".into(),
                forced,
            });
        }
        let mut args = self.inner.args.clone();
        args.force = forced;
        let progress = |step: &str| {
            if let Some(r) = self.lock().retraining.as_mut() {
                r.step = step.to_string();
            }
        };
        let outcome = crate::model_cmd::retrain(&args, &progress);
        let mut state = self.lock();
        state.retraining = None;
        state.last_check = Some(match outcome {
            Ok(line) => {
                state.checked = seen;
                tracing::info!("model check: {line}");
                CheckView {
                    at_ms: spate_log::now_ms(),
                    action: line["action"].as_str().unwrap_or("?").to_string(),
                    reason: line["reason"].as_str().unwrap_or_default().to_string(),
                    drifted: line["drift"]["drifted"].as_bool(),
                    max_psi: line["drift"]["max_psi"].as_f64(),
                }
            }
            Err(e) => {
                tracing::warn!("model check failed: {e:#}");
                CheckView {
                    at_ms: spate_log::now_ms(),
                    action: "error".into(),
                    reason: format!("{e:#}"),
                    drifted: None,
                    max_psi: None,
                }
            }
        });
    }

    fn registry(&self) -> Result<Registry, ModelServiceError> {
        Registry::open(self.inner.args.registry()).map_err(internal)
    }
}

#[async_trait]
impl ModelService for ModelManager {
    fn status(&self) -> Result<ModelView, ModelServiceError> {
        let registry = self.registry()?;
        let mut versions: Vec<VersionView> = registry
            .list()
            .map_err(internal)?
            .into_iter()
            .map(|meta| VersionView {
                version: meta.version,
                created_at_ms: rfc3339_ms(&meta.created_at),
                f1: meta.holdout.f1,
                precision: meta.holdout.precision,
                recall: meta.holdout.recall,
                threshold: meta.threshold,
                windows: meta.data.rows,
            })
            .collect();
        versions.sort_by_key(|v| std::cmp::Reverse(v.version));
        let mut decisions: Vec<DecisionView> = registry
            .decisions()
            .map_err(internal)?
            .into_iter()
            .rev()
            .take(SHOWN_DECISIONS)
            .map(|d| DecisionView {
                at_ms: rfc3339_ms(&d.time),
                action: d.action,
                version: d.version,
                reason: d.reason,
            })
            .collect();
        decisions.sort_by_key(|d| std::cmp::Reverse(d.at_ms));
        let state = self.lock();
        Ok(ModelView {
            live: registry.live_version().map_err(internal)?,
            versions,
            decisions,
            last_check: state.last_check.clone(),
            retraining: state.retraining.clone(),
            check_every_secs: self.inner.every.as_secs(),
        })
    }

    async fn retrain(&self) -> Result<ModelView, ModelServiceError> {
        if self.lock().retraining.is_some() {
            return Err(ModelServiceError::Conflict(
                "a retraining runs already: wait for it to finish".into(),
            ));
        }
        let manager = self.clone();
        std::thread::Builder::new()
            .name("retraining".into())
            .spawn(move || manager.check(true))
            .map_err(internal)?;
        // The thread marks itself as running at once; wait for it, so the answer shows it.
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.lock().retraining.is_none()
            && self.lock().last_check.is_none()
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.status()
    }

    async fn promote(&self, version: u32) -> Result<ModelView, ModelServiceError> {
        let registry = self.registry()?;
        let known = registry.list().map_err(internal)?;
        if !known.iter().any(|m| m.version == version) {
            return Err(ModelServiceError::NotFound(version));
        }
        registry
            .promote(version, "promoted from the fleet dashboard")
            .map_err(internal)?;
        self.status()
    }
}

fn internal(e: impl std::fmt::Display) -> ModelServiceError {
    ModelServiceError::Internal(e.to_string())
}

/// An RFC 3339 time in milliseconds since the epoch (0 if it does not parse).
fn rfc3339_ms(text: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(text).map_or(0, |t| t.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn run(data: &Path, args: &[&str]) {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        crate::run_command(data, &args).unwrap_or_else(|e| panic!("spate {args:?}: {e:#}"));
    }

    /// The dashboard's "Retrain now" and "Promote" against a registry trained for real, on a
    /// simulated fleet.
    #[test]
    fn retrain_now_and_promote_act_on_a_real_registry() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let path = |name: &str| dir.join(name).display().to_string();
        let (telemetry, labels, models) = (path("t.ndjson"), path("l.ndjson"), path("models"));
        run(
            dir,
            &[
                "simulate",
                "fleet",
                "--vehicles",
                "30",
                "--rate",
                "0.1",
                "--duration",
                "12h",
                "--speedup",
                "max",
                "--faulty",
                "0.5",
                "--fault-onset-within",
                "4h",
                "--fault-progression",
                "2h",
                "--seed",
                "1",
                "--quiet",
                "--sink",
                &format!("file://{telemetry}"),
                "--labels",
                &labels,
            ],
        );
        run(
            dir,
            &[
                "model", "train", "--from", &telemetry, "--labels", &labels, "--out", &models,
            ],
        );
        let args: Vec<String> = [
            "--registry",
            &models,
            "--from",
            &telemetry,
            "--labels",
            &labels,
        ]
        .iter()
        .map(|a| a.to_string())
        .collect();
        let args = crate::parse_args::<RetrainArgs>("model retrain", &args).unwrap();
        // No scheduled check within the test: only "Retrain now" acts.
        let manager = ModelManager::start(args, Duration::from_secs(3600));
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(retrain_and_promote(&manager, &models));
    }

    async fn retrain_and_promote(manager: &ModelManager, models: &str) {
        let view = manager.status().unwrap();
        assert_eq!((view.live, view.versions.len()), (Some(1), 1));
        assert_eq!(view.check_every_secs, 3600);

        // Retrain now: forced (the archive has not drifted from itself), shown while it runs.
        let view = manager.retrain().await.unwrap();
        let started = view.retraining.is_some();
        assert!(started || view.last_check.is_some(), "{view:?}");
        if started {
            let again = manager.retrain().await;
            assert!(
                matches!(again, Err(ModelServiceError::Conflict(_))),
                "{again:?}"
            );
        }
        let deadline = Instant::now() + Duration::from_secs(600);
        let view = loop {
            let view = manager.status().unwrap();
            if view.retraining.is_none() && view.last_check.is_some() {
                break view;
            }
            assert!(Instant::now() < deadline, "the retraining never ended");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let check = view.last_check.clone().unwrap();
        assert!(
            check.action == "promote" || check.action == "reject",
            "{check:?}"
        );
        assert_eq!(check.drifted, Some(false), "{check:?}");
        // The challenger is registered either way; the decision names it.
        assert_eq!(view.versions.len(), 2);
        assert_eq!(view.versions[0].version, 2);
        let decision = &view.decisions[0];
        assert_eq!(
            (decision.action.as_str(), decision.version),
            (check.action.as_str(), 2)
        );
        let live = if check.action == "promote" { 2 } else { 1 };
        assert_eq!(view.live, Some(live));

        // Promote the other one, as the dashboard's button does; the registry follows.
        let other = 3 - live;
        let view = manager.promote(other).await.unwrap();
        assert_eq!(view.live, Some(other));
        assert_eq!(
            Registry::open(models).unwrap().live_version().unwrap(),
            Some(other)
        );
        assert_eq!(view.decisions[0].action, "promote");
        assert!(matches!(
            manager.promote(9).await,
            Err(ModelServiceError::NotFound(9))
        ));
    }
}
