//! The checkpoint: how far each file (by [`Fingerprint`]) has been shipped.
//!
//! It is one JSON file, replaced atomically: written to `<name>.tmp`, fsynced, renamed over
//! the old one, and the directory fsynced. A crash leaves either the old or the new file,
//! never a torn one. The collector writes it only after the sink has confirmed everything
//! before those offsets, so a restart re-reads at most what was in flight (delivered again,
//! with the same idempotency keys) and never skips a line.
//!
//! ```json
//! {"version":1,"files":[{"fingerprint":"9f2c41d0a8e3b7c5","offset":52311,"line":214,
//!   "path":"/var/log/api/access.log","seen_ms":1717171717171}]}
//! ```

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{CollectorError, Result};
use crate::fingerprint::Fingerprint;

const VERSION: u32 = 1;

/// How far one file has been shipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileOffset {
    /// The file's identity.
    pub fingerprint: Fingerprint,
    /// The offset of the first byte not yet shipped (always the start of a line).
    pub offset: u64,
    /// The number of the line starting at `offset` (1-based).
    pub line: u64,
    /// Where the file was last seen (for people; files are matched by fingerprint).
    pub path: String,
    /// When the file was last seen by a scan, in milliseconds since the epoch.
    pub seen_ms: i64,
}

#[derive(Serialize, Deserialize)]
struct CheckpointFile {
    version: u32,
    files: Vec<FileOffset>,
}

/// The checkpoint file and its contents.
#[derive(Debug)]
pub struct Checkpoint {
    path: PathBuf,
    files: BTreeMap<Fingerprint, FileOffset>,
    existed: bool,
}

impl Checkpoint {
    /// Reads the checkpoint at `path`, or starts an empty one if there is none. A file that
    /// exists but cannot be read is an error: starting over would ship everything again.
    pub fn open(path: &Path) -> Result<Self> {
        let invalid = |message: String| CollectorError::Checkpoint {
            path: path.to_path_buf(),
            message,
        };
        let (files, existed) = match fs::read(path) {
            Ok(bytes) => {
                let file: CheckpointFile =
                    serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
                if file.version != VERSION {
                    return Err(invalid(format!(
                        "version {} (this collector reads version {VERSION})",
                        file.version
                    )));
                }
                let files = file.files.into_iter().map(|f| (f.fingerprint, f)).collect();
                (files, true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (BTreeMap::new(), false),
            Err(e) => return Err(CollectorError::io(path, e)),
        };
        Ok(Checkpoint {
            path: path.to_path_buf(),
            files,
            existed,
        })
    }

    /// Whether a checkpoint file was there when opened (the collector ran before).
    pub fn existed(&self) -> bool {
        self.existed
    }

    /// The checkpoint file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every file's offset.
    pub fn files(&self) -> impl Iterator<Item = &FileOffset> {
        self.files.values()
    }

    /// The offset of `fingerprint`, if known.
    pub fn get(&self, fingerprint: Fingerprint) -> Option<&FileOffset> {
        self.files.get(&fingerprint)
    }

    /// Records that `offset.fingerprint` has been shipped up to `offset.offset`.
    pub fn set(&mut self, offset: FileOffset) {
        self.files.insert(offset.fingerprint, offset);
    }

    /// Records that `fingerprint` was seen by a scan at `now_ms`.
    pub fn touch(&mut self, fingerprint: Fingerprint, now_ms: i64) {
        if let Some(file) = self.files.get_mut(&fingerprint) {
            file.seen_ms = file.seen_ms.max(now_ms);
        }
    }

    /// Forgets files not seen since `before_ms`; returns how many.
    pub fn forget_unseen_since(&mut self, before_ms: i64) -> usize {
        let before = self.files.len();
        self.files.retain(|_, f| f.seen_ms >= before_ms);
        before - self.files.len()
    }

    /// Writes the checkpoint atomically (temporary file, fsync, rename, fsync directory).
    pub fn save(&mut self) -> Result<()> {
        let file = CheckpointFile {
            version: VERSION,
            files: self.files.values().cloned().collect(),
        };
        let bytes = serde_json::to_vec(&file).expect("checkpoint serializes");
        let dir = match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&dir).map_err(|e| CollectorError::io(&dir, e))?;
        let mut tmp_name = self.path.file_name().unwrap_or_default().to_os_string();
        tmp_name.push(".tmp");
        let tmp = dir.join(tmp_name);
        let write = || -> std::io::Result<()> {
            let mut out = File::create(&tmp)?;
            out.write_all(&bytes)?;
            out.sync_all()
        };
        write().map_err(|e| CollectorError::io(&tmp, e))?;
        fs::rename(&tmp, &self.path).map_err(|e| CollectorError::io(&self.path, e))?;
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| CollectorError::io(&dir, e))?;
        self.existed = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offset(fp: u64, offset: u64, seen_ms: i64) -> FileOffset {
        FileOffset {
            fingerprint: Fingerprint(fp),
            offset,
            line: offset / 10 + 1,
            path: format!("/logs/{fp}.log"),
            seen_ms,
        }
    }

    #[test]
    fn saves_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/collect.checkpoint.json");
        let mut checkpoint = Checkpoint::open(&path).unwrap();
        assert!(!checkpoint.existed());
        checkpoint.set(offset(1, 100, 5));
        checkpoint.set(offset(2, 200, 50));
        checkpoint.save().unwrap();
        checkpoint.set(offset(1, 150, 60));
        checkpoint.save().unwrap();
        assert!(!dir.path().join("sub/collect.checkpoint.json.tmp").exists());

        let mut again = Checkpoint::open(&path).unwrap();
        assert!(again.existed());
        assert_eq!(again.get(Fingerprint(1)), Some(&offset(1, 150, 60)));
        assert_eq!(again.files().count(), 2);
        again.touch(Fingerprint(2), 70);
        assert_eq!(again.forget_unseen_since(65), 1);
        assert_eq!(again.get(Fingerprint(2)).unwrap().seen_ms, 70);
    }

    #[test]
    fn a_damaged_checkpoint_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        fs::write(&path, b"{\"version\":1,\"files\":[{\"finger").unwrap();
        let error = Checkpoint::open(&path).unwrap_err().to_string();
        assert!(error.contains("c.json"), "{error}");
        fs::write(&path, b"{\"version\":9,\"files\":[]}").unwrap();
        assert!(Checkpoint::open(&path).is_err());
    }
}
