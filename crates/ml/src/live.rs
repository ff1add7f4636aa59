//! The live model of a registry, kept current while a job or a server uses it: a promotion
//! is picked up within [`RELOAD_INTERVAL`], between two calls, so no call waits on a load or
//! sees a half-loaded model. A promoted version that fails to load (corrupt files, another
//! feature schema) is refused, logged, and the running version stays.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::error::{MlError, Result};
use crate::registry::{LoadedModel, Registry};

/// How often the registry's `LIVE` file is looked at.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// A registry's live model, reloaded when another version is promoted.
#[derive(Debug)]
pub struct LiveModel {
    registry: Registry,
    features: Vec<String>,
    current: RwLock<Arc<LoadedModel>>,
    /// When `LIVE` was last looked at, and the version it named then (refused or not).
    checked: Mutex<(Instant, u32)>,
}

impl LiveModel {
    /// The live model of the registry at `dir`, which must take `features` in this order.
    pub fn open(dir: impl Into<PathBuf>, features: &[String]) -> Result<LiveModel> {
        let registry = Registry::open(dir)?;
        let model = registry.live()?.ok_or_else(|| MlError::NoLiveModel {
            registry: registry.dir().to_path_buf(),
        })?;
        model.check_schema(features)?;
        let version = model.meta.version;
        Ok(LiveModel {
            registry,
            features: features.to_vec(),
            current: RwLock::new(Arc::new(model)),
            checked: Mutex::new((Instant::now(), version)),
        })
    }

    /// The model to use now; looks for a newly promoted version at most once a
    /// [`RELOAD_INTERVAL`].
    pub fn current(&self) -> Arc<LoadedModel> {
        self.reload_if_promoted(RELOAD_INTERVAL);
        Arc::clone(
            &self
                .current
                .read()
                .expect("the live model lock is never poisoned"),
        )
    }

    /// Looks for a newly promoted version now, whatever the interval; returns the version in
    /// use afterwards.
    pub fn refresh(&self) -> u32 {
        self.reload_if_promoted(Duration::ZERO);
        self.current
            .read()
            .expect("the live model lock is never poisoned")
            .meta
            .version
    }

    fn reload_if_promoted(&self, interval: Duration) {
        let mut checked = self
            .checked
            .lock()
            .expect("the live model lock is never poisoned");
        if checked.0.elapsed() < interval {
            return;
        }
        checked.0 = Instant::now();
        let version = match self.registry.live_version() {
            Ok(Some(version)) => version,
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(%error, "cannot read the live version; keeping the current model");
                return;
            }
        };
        if version == checked.1 {
            return;
        }
        checked.1 = version;
        let loaded = self
            .registry
            .load(version)
            .and_then(|m| m.check_schema(&self.features).map(|()| m));
        match loaded {
            Ok(model) => {
                tracing::info!(version, "swapped in the newly promoted model");
                *self
                    .current
                    .write()
                    .expect("the live model lock is never poisoned") = Arc::new(model);
            }
            Err(error) => {
                tracing::error!(version, %error, "refused the promoted model; keeping the current one");
            }
        }
    }
}
