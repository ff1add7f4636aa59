//! Checkpoint storage: each checkpoint's task states and, written last, its manifest, through
//! `object_store` (a local directory now; S3-compatible stores work the same way).

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use crate::error::{EngineError, Result};

/// The manifest of a complete checkpoint. Its presence is what makes a checkpoint complete.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// Layout version of checkpoints.
    pub format: u32,
    /// The job's name.
    pub job: String,
    /// Fingerprint of the job's dataflow; a different job refuses this checkpoint.
    pub fingerprint: String,
    /// The checkpoint id.
    pub checkpoint_id: u64,
    /// Whether the job had finished (bounded input exhausted) at this checkpoint.
    pub finished: bool,
    /// When the checkpoint completed, in milliseconds since the epoch.
    pub completed_at_ms: i64,
    /// The task states, by task name.
    pub tasks: Vec<TaskStateEntry>,
}

/// Where one task's state is stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskStateEntry {
    /// The task's name.
    pub task: String,
    /// Object path of the state, relative to the checkpoint directory.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
}

const FORMAT: u32 = 1;
const MANIFEST: &str = "_MANIFEST.json";

/// A checkpoint directory.
#[derive(Debug, Clone)]
pub struct CheckpointStore {
    store: Arc<dyn ObjectStore>,
    location: String,
}

impl CheckpointStore {
    /// Checkpoints in the local directory `dir` (created if missing).
    pub fn local(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|source| EngineError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let store = LocalFileSystem::new_with_prefix(dir)?;
        Ok(CheckpointStore {
            store: Arc::new(store),
            location: dir.display().to_string(),
        })
    }

    /// Checkpoints in any object store.
    pub fn new(store: Arc<dyn ObjectStore>, location: impl Into<String>) -> Self {
        CheckpointStore {
            store,
            location: location.into(),
        }
    }

    /// Where the checkpoints are, for messages.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The newest complete checkpoint, after checking that it belongs to this job.
    pub async fn latest(&self, fingerprint: &str) -> Result<Option<Manifest>> {
        let mut newest: Option<u64> = None;
        let listed: Vec<_> = self.store.list(None).try_collect().await?;
        for meta in listed {
            let parts: Vec<_> = meta.location.parts().collect();
            if parts.len() == 2
                && parts[1].as_ref() == MANIFEST
                && let Some(id) = parts[0]
                    .as_ref()
                    .strip_prefix("chk-")
                    .and_then(|s| s.parse().ok())
            {
                newest = Some(newest.map_or(id, |n: u64| n.max(id)));
            }
        }
        let Some(id) = newest else { return Ok(None) };
        let path = ObjectPath::from(format!("chk-{id}/{MANIFEST}"));
        let bytes = self.store.get(&path).await?.bytes().await?;
        let manifest: Manifest =
            serde_json::from_slice(&bytes).map_err(|e| EngineError::CorruptState {
                task: format!("{}/{path}", self.location),
                reason: e.to_string(),
            })?;
        if manifest.format != FORMAT || manifest.fingerprint != fingerprint {
            return Err(EngineError::IncompatibleCheckpoint {
                dir: self.location.clone(),
                expected: fingerprint.to_string(),
                found: format!(
                    "{} (job {:?}, format {})",
                    manifest.fingerprint, manifest.job, manifest.format
                ),
            });
        }
        Ok(Some(manifest))
    }

    /// Reads one task's state from a complete checkpoint.
    pub async fn task_state(&self, manifest: &Manifest, task: &str) -> Result<Option<Bytes>> {
        let Some(entry) = manifest.tasks.iter().find(|t| t.task == task) else {
            return Ok(None);
        };
        let path = ObjectPath::from(format!("chk-{}/{}", manifest.checkpoint_id, entry.path));
        let bytes = self.store.get(&path).await?.bytes().await?;
        if bytes.len() as u64 != entry.bytes {
            return Err(EngineError::CorruptState {
                task: task.to_string(),
                reason: format!(
                    "{path}: {} bytes, the manifest says {}",
                    bytes.len(),
                    entry.bytes
                ),
            });
        }
        Ok(Some(bytes))
    }

    /// Writes a checkpoint: every task state, then the manifest. Older checkpoints beyond the
    /// two newest are deleted afterwards.
    pub async fn write(
        &self,
        job: &str,
        fingerprint: &str,
        checkpoint_id: u64,
        finished: bool,
        states: Vec<(String, Vec<u8>)>,
    ) -> Result<Manifest> {
        let mut tasks = Vec::with_capacity(states.len());
        for (task, state) in states {
            let file = format!("{}.state", task.replace(['[', ']', '/'], "_"));
            let path = ObjectPath::from(format!("chk-{checkpoint_id}/{file}"));
            tasks.push(TaskStateEntry {
                task,
                path: file,
                bytes: state.len() as u64,
            });
            self.store.put(&path, PutPayload::from(state)).await?;
        }
        let manifest = Manifest {
            format: FORMAT,
            job: job.to_string(),
            fingerprint: fingerprint.to_string(),
            checkpoint_id,
            finished,
            completed_at_ms: now_ms(),
            tasks,
        };
        let json = serde_json::to_vec_pretty(&manifest).expect("manifest serializes");
        let path = ObjectPath::from(format!("chk-{checkpoint_id}/{MANIFEST}"));
        self.store.put(&path, PutPayload::from(json)).await?;
        self.prune(checkpoint_id).await?;
        Ok(manifest)
    }

    /// Deletes checkpoints older than the previous one, and incomplete ones below `newest`.
    async fn prune(&self, newest: u64) -> Result<()> {
        let listed: Vec<_> = self.store.list(None).try_collect().await?;
        for meta in listed {
            let first = meta.location.parts().next();
            let id = first
                .as_ref()
                .and_then(|p| p.as_ref().strip_prefix("chk-"))
                .and_then(|s| s.parse::<u64>().ok());
            if id.is_some_and(|id| id + 1 < newest) {
                self.store.delete(&meta.location).await?;
            }
        }
        Ok(())
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}
