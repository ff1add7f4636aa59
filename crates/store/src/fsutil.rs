//! Durable file operations: atomic replacement and directory fsync.

use std::fs::File;
use std::io::Write as _;
use std::path::Path;

use crate::error::{Result, io};

/// Replaces `path` with `bytes`: written to a temporary file, fsynced, renamed over `path`,
/// and the directory fsynced, so a reader sees the old or the new content, never a mix.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = File::create(&tmp).map_err(io(&tmp))?;
    file.write_all(bytes).map_err(io(&tmp))?;
    file.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Fsyncs a directory, making the creation, renaming and removal of its entries durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}
