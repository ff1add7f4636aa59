//! A table's manifest: which log generation is current and which Parquet files hold its
//! flushed rows. It is replaced atomically, so it is the commit point of a flush.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Result, StoreError, io};
use crate::fsutil;

/// A Parquet file of a table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileMeta {
    /// Its name in the table's directory.
    pub name: String,
    /// Its rows.
    pub rows: u64,
    /// The earliest ingest time of its rows (epoch ms).
    pub min_ingest_ms: i64,
    /// The latest ingest time of its rows (epoch ms).
    pub max_ingest_ms: i64,
    /// The latest value of the retention column (epoch ms), if the table has one.
    pub max_time_ms: Option<i64>,
}

/// The manifest of a table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Manifest {
    /// The current log is `wal-<generation>.log`.
    pub generation: u64,
    /// The number of the next Parquet file.
    pub next_file: u64,
    /// The flushed rows: of an append table, files of rows; of an upsert table, at most one
    /// file with the whole state as of the flush.
    pub files: Vec<FileMeta>,
}

const FILE: &str = "manifest.json";

impl Manifest {
    /// The manifest in `dir` (an empty one for a new table).
    pub fn load(dir: &Path) -> Result<Manifest> {
        let path = dir.join(FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
                path,
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest::default()),
            Err(e) => Err(io(path)(e)),
        }
    }

    /// Replaces the manifest in `dir`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self).expect("the manifest serializes");
        fsutil::write_atomic(&dir.join(FILE), &json)
    }
}
