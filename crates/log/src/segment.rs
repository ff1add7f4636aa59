//! Segments: one `<base_offset:020>.log` file of consecutive batches and its `.index`.
//!
//! A segment publishes how far it holds complete, validated batches (`len`) with release
//! ordering, after the bytes are written; readers never look past it.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};

use tracing::{debug, warn};

use crate::batch::{self, BatchHeader, HEADER_LEN};
use crate::error::{IoContext, Result};
use crate::index::{self, INDEX_INTERVAL_BYTES, IndexEntry};

/// Bytes read at a time when scanning a segment.
const SCAN_CHUNK: usize = 1024 * 1024;

/// File name of the segment starting at `base_offset`, with extension `ext` (`log`, `index`).
pub(crate) fn file_name(base_offset: u64, ext: &str) -> String {
    format!("{base_offset:020}.{ext}")
}

/// The base offset of a `.log` file name.
pub(crate) fn parse_log_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".log")?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// Where the valid data of a segment ends, and the state of its index builder.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tail {
    /// Bytes of valid batches.
    pub position: u64,
    /// Offset of the next batch.
    pub next_offset: u64,
    /// Largest timestamp so far.
    pub max_timestamp: i64,
    bytes_since_entry: u64,
}

impl Tail {
    /// The tail of an empty segment.
    pub fn new(base_offset: u64) -> Tail {
        Tail {
            position: 0,
            next_offset: base_offset,
            max_timestamp: i64::MIN,
            bytes_since_entry: 0,
        }
    }

    fn at_entry(base_offset: u64, entry: &IndexEntry) -> Tail {
        Tail {
            position: u64::from(entry.position),
            next_offset: base_offset + u64::from(entry.relative_offset),
            max_timestamp: entry.max_timestamp,
            bytes_since_entry: 0,
        }
    }

    /// Moves past the batch `header` (which starts at `self.position`), returning the index
    /// entry to add for it, if one is due.
    pub fn advance(&mut self, header: &BatchHeader, base_offset: u64) -> Option<IndexEntry> {
        self.max_timestamp = self.max_timestamp.max(header.max_timestamp);
        let entry = (self.bytes_since_entry >= INDEX_INTERVAL_BYTES).then(|| IndexEntry {
            relative_offset: (header.base_offset - base_offset) as u32,
            position: self.position as u32,
            max_timestamp: self.max_timestamp,
        });
        if entry.is_some() {
            self.bytes_since_entry = 0;
        }
        self.bytes_since_entry += u64::from(header.length);
        self.position += u64::from(header.length);
        self.next_offset = header.next_offset();
        entry
    }

    /// Moves past a corrupt batch of `length` bytes that is followed by a valid batch at
    /// `next_offset`; the next batch gets an index entry so that reads can reach it.
    fn skip_corrupt(&mut self, length: u64, next_offset: u64) {
        self.position += length;
        self.next_offset = next_offset;
        self.bytes_since_entry = INDEX_INTERVAL_BYTES;
    }
}

/// How a scan ended.
pub(crate) enum ScanEnd {
    /// All bytes up to the limit are valid batches.
    Clean,
    /// The bytes at `position` are not a valid batch, and no valid batch follows them.
    Invalid { position: u64, reason: String },
}

/// A buffer of bytes read from a file with positioned reads, in chunks.
pub(crate) struct Window<'a> {
    file: &'a File,
    path: &'a Path,
    limit: u64,
    chunk: usize,
    buf: Vec<u8>,
    start: u64,
    filled: usize,
}

impl<'a> Window<'a> {
    /// Makes bytes `[pos, pos + n)` available, reading at least `chunk` bytes (but nothing at or
    /// past `limit`) when they are not buffered yet, and returns where they start in the buffer.
    /// The caller ensures `pos + n <= limit`.
    pub fn load(&mut self, pos: u64, n: usize) -> Result<usize> {
        if pos >= self.start && pos + n as u64 <= self.start + self.filled as u64 {
            return Ok((pos - self.start) as usize);
        }
        let want = n.max(self.chunk).min((self.limit - pos) as usize);
        if self.buf.len() < want {
            self.buf.resize(want, 0);
        }
        self.file
            .read_exact_at(&mut self.buf[..want], pos)
            .at(self.path)?;
        self.start = pos;
        self.filled = want;
        Ok(0)
    }

    /// The bytes `[pos, pos + n)`, see [`Window::load`].
    pub fn bytes(&mut self, pos: u64, n: usize) -> Result<&[u8]> {
        let i = self.load(pos, n)?;
        Ok(&self.buf[i..i + n])
    }

    /// The buffer, for reuse or to keep what was read.
    pub fn into_buf(self) -> Vec<u8> {
        self.buf
    }

    /// The whole buffer.
    pub fn buf(&self) -> &[u8] {
        &self.buf
    }

    /// How far the window may read.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// The framing-checked header of the batch at `pos`, or why there is no batch there.
    /// The batch is known to end at or before `limit`.
    pub fn header_at(&mut self, pos: u64) -> Result<Result<BatchHeader, String>> {
        let left = self.limit.saturating_sub(pos);
        if left < HEADER_LEN as u64 {
            return Ok(Err(format!("truncated batch header ({left} bytes)")));
        }
        let header = BatchHeader::parse(self.bytes(pos, HEADER_LEN)?).expect("header length");
        if let Err(reason) = header.check_framing() {
            return Ok(Err(reason));
        }
        if u64::from(header.length) > left {
            return Ok(Err(format!(
                "batch of {} bytes is cut short at {left} bytes",
                header.length
            )));
        }
        Ok(Ok(header))
    }

    /// Reads and fully validates the batch at `pos`.
    fn batch_at(&mut self, pos: u64) -> Result<Result<BatchHeader, String>> {
        let header = match self.header_at(pos)? {
            Ok(header) => header,
            Err(reason) => return Ok(Err(reason)),
        };
        Ok(batch::verify(self.bytes(pos, header.length as usize)?))
    }
}

/// One segment of a partition.
pub(crate) struct Segment {
    base_offset: u64,
    log_path: PathBuf,
    index_path: PathBuf,
    file: File,
    len: AtomicU64,
    next_offset: AtomicU64,
    max_timestamp: AtomicI64,
    index: RwLock<Vec<IndexEntry>>,
}

impl Segment {
    /// Creates the files of a new, empty segment for writing. (A file left at that name by an
    /// interrupted roll can only hold offsets that were never published: it is emptied.)
    pub fn create(dir: &Path, base_offset: u64) -> Result<Segment> {
        let segment = Segment::new(dir, base_offset, |path| {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(path)
        })?;
        File::create(&segment.index_path).at(&segment.index_path)?;
        Ok(segment)
    }

    /// Opens the `.log` file of an existing segment; nothing is loaded or validated yet.
    pub fn open(dir: &Path, base_offset: u64, writable: bool) -> Result<Segment> {
        Segment::new(dir, base_offset, |path| {
            OpenOptions::new().read(true).write(writable).open(path)
        })
    }

    fn new(
        dir: &Path,
        base_offset: u64,
        open: impl Fn(&Path) -> io::Result<File>,
    ) -> Result<Segment> {
        let log_path = dir.join(file_name(base_offset, "log"));
        let file = open(&log_path).at(&log_path)?;
        Ok(Segment {
            base_offset,
            index_path: dir.join(file_name(base_offset, "index")),
            log_path,
            file,
            len: AtomicU64::new(0),
            next_offset: AtomicU64::new(base_offset),
            max_timestamp: AtomicI64::new(i64::MIN),
            index: RwLock::new(Vec::new()),
        })
    }

    /// Loads a segment that is followed by the one starting at `next_base`: its index (rebuilt
    /// if it looks wrong) and its largest timestamp, from the batches after the last entry.
    pub fn load_closed(&self, next_base: u64, writable: bool) -> Result<()> {
        let file_len = self.file_len()?;
        let mut entries = index::load(&self.index_path)?;
        let rebuild = !index::is_consistent(&entries, file_len);
        if rebuild {
            warn!(index = %self.index_path.display(), "inconsistent index, rebuilding it");
            entries.clear();
        }
        let mut tail = entries.last().map_or(Tail::new(self.base_offset), |e| {
            Tail::at_entry(self.base_offset, e)
        });
        *self.index.write().unwrap_or_else(PoisonError::into_inner) = entries;
        if let ScanEnd::Invalid { position, reason } = self.extend(&mut tail, file_len)? {
            warn!(
                file = %self.log_path.display(),
                position,
                "closed segment has an invalid batch ({reason}); reads of it will fail"
            );
        }
        if rebuild && writable {
            index::store(
                &self.index_path,
                &self.index.read().unwrap_or_else(PoisonError::into_inner),
            )?;
        }
        self.publish(file_len, next_base, tail.max_timestamp);
        Ok(())
    }

    /// Loads the last segment of a partition by validating all of it. A writer truncates an
    /// invalid tail (a torn or corrupt last batch) and rewrites the index; a reader stops there.
    pub fn load_last(&self, writable: bool) -> Result<Tail> {
        let mut tail = Tail::new(self.base_offset);
        let end = self.extend(&mut tail, self.file_len()?)?;
        if let ScanEnd::Invalid { position, reason } = end {
            if writable {
                warn!(
                    file = %self.log_path.display(),
                    position,
                    "truncating torn or corrupt tail: {reason}"
                );
                self.file.set_len(position).at(&self.log_path)?;
                self.file.sync_all().at(&self.log_path)?;
            } else {
                debug!(file = %self.log_path.display(), position, "stopping at incomplete batch: {reason}");
            }
        }
        if writable {
            index::store(
                &self.index_path,
                &self.index.read().unwrap_or_else(PoisonError::into_inner),
            )?;
        }
        Ok(tail)
    }

    /// Picks up batches written (by another process) since `tail`, up to the current file size.
    pub fn follow(&self, tail: &mut Tail) -> Result<()> {
        self.extend(tail, self.file_len()?).map(drop)
    }

    /// Validates batches from `tail` to `limit`, adds their index entries and publishes them.
    /// A corrupt batch followed by a valid one is passed over (reads of it fail); the scan stops
    /// at the first invalid bytes that are not followed by a valid batch.
    fn extend(&self, tail: &mut Tail, limit: u64) -> Result<ScanEnd> {
        let mut window = Window {
            file: &self.file,
            path: &self.log_path,
            limit,
            chunk: SCAN_CHUNK,
            buf: Vec::new(),
            start: 0,
            filled: 0,
        };
        let mut entries = Vec::new();
        let mut end = ScanEnd::Clean;
        while tail.position < limit {
            let pos = tail.position;
            let reason = match window.batch_at(pos)? {
                Ok(header) if header.base_offset == tail.next_offset => {
                    entries.extend(tail.advance(&header, self.base_offset));
                    continue;
                }
                Ok(header) => format!(
                    "batch has base offset {}, expected {}",
                    header.base_offset, tail.next_offset
                ),
                Err(reason) => reason,
            };
            match self.resume_after(&mut window, pos, tail.next_offset)? {
                Some((length, next_offset)) => {
                    warn!(
                        file = %self.log_path.display(),
                        position = pos,
                        offset = tail.next_offset,
                        "corrupt batch in the middle of the segment ({reason}); reads of it will fail"
                    );
                    tail.skip_corrupt(length, next_offset);
                }
                None => {
                    end = ScanEnd::Invalid {
                        position: pos,
                        reason,
                    };
                    break;
                }
            }
        }
        self.index
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(entries);
        self.publish(tail.position, tail.next_offset, tail.max_timestamp);
        Ok(end)
    }

    /// If the invalid batch at `pos` has a trustworthy length and is followed by a valid batch
    /// of later offsets, returns that length and the offset the valid batch starts at.
    fn resume_after(
        &self,
        window: &mut Window<'_>,
        pos: u64,
        expected: u64,
    ) -> Result<Option<(u64, u64)>> {
        let Ok(header) = window.header_at(pos)? else {
            return Ok(None);
        };
        let next_pos = pos + u64::from(header.length);
        if next_pos >= window.limit {
            return Ok(None);
        }
        Ok(window.batch_at(next_pos)?.ok().and_then(|next| {
            let plausible = next.base_offset > expected
                && next.next_offset() - self.base_offset <= u64::from(u32::MAX);
            plausible.then_some((u64::from(header.length), next.base_offset))
        }))
    }

    /// Writes one encoded batch at `tail`, unpublished until [`Segment::publish_tail`] (the
    /// writer fsyncs in between when its policy asks). Returns the index entry added for it,
    /// if one was due.
    pub fn append(
        &self,
        tail: &mut Tail,
        batch: &[u8],
        header: &BatchHeader,
    ) -> Result<Option<IndexEntry>> {
        if let Err(e) = self.file.write_all_at(batch, tail.position) {
            // Best effort: leave no partial batch behind for readers in other processes.
            if let Err(truncate) = self.file.set_len(tail.position) {
                warn!(file = %self.log_path.display(), "cannot undo a failed write: {truncate}");
            }
            return Err(e).at(&self.log_path);
        }
        let entry = tail.advance(header, self.base_offset);
        if let Some(entry) = entry {
            self.index
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .push(entry);
        }
        Ok(entry)
    }

    /// Makes the batches written up to `tail` visible to readers.
    pub fn publish_tail(&self, tail: &Tail) {
        self.publish(tail.position, tail.next_offset, tail.max_timestamp);
    }

    fn publish(&self, len: u64, next_offset: u64, max_timestamp: i64) {
        self.max_timestamp.store(max_timestamp, Ordering::Relaxed);
        self.next_offset.store(next_offset, Ordering::Relaxed);
        self.len.store(len, Ordering::Release);
    }

    /// A reader over the published bytes of the segment.
    pub fn window(&self, chunk: usize, buf: Vec<u8>) -> Window<'_> {
        Window {
            file: &self.file,
            path: &self.log_path,
            limit: self.len(),
            chunk,
            buf,
            start: 0,
            filled: 0,
        }
    }

    /// Where a read for `offset` should start: a batch position and the offset of that batch.
    pub fn seek(&self, offset: u64) -> (u64, u64) {
        let entries = self.index.read().unwrap_or_else(PoisonError::into_inner);
        index::lookup(&entries, offset - self.base_offset).map_or((0, self.base_offset), |e| {
            (
                u64::from(e.position),
                self.base_offset + u64::from(e.relative_offset),
            )
        })
    }

    /// Where a search for the first record at or after `timestamp` should start, as
    /// [`Segment::seek`], among batches before position `limit`.
    pub fn seek_time(&self, timestamp: i64, limit: u64) -> (u64, u64) {
        let entries = self.index.read().unwrap_or_else(PoisonError::into_inner);
        index::lookup_time(&entries, timestamp, limit).map_or((0, self.base_offset), |e| {
            (
                u64::from(e.position),
                self.base_offset + u64::from(e.relative_offset),
            )
        })
    }

    /// Opens the index file to append entries to it.
    pub fn open_index_for_append(&self) -> Result<File> {
        OpenOptions::new()
            .append(true)
            .open(&self.index_path)
            .at(&self.index_path)
    }

    /// Fsyncs the log file.
    pub fn sync(&self) -> Result<()> {
        self.file.sync_data().at(&self.log_path)
    }

    /// Removes the segment's files (open handles keep working until dropped).
    pub fn delete_files(&self) -> Result<()> {
        fs::remove_file(&self.log_path).at(&self.log_path)?;
        match fs::remove_file(&self.index_path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e).at(&self.index_path),
            _ => Ok(()),
        }
    }

    fn file_len(&self) -> Result<u64> {
        Ok(self.file.metadata().at(&self.log_path)?.len())
    }

    /// Offset of the first batch.
    pub fn base_offset(&self) -> u64 {
        self.base_offset
    }

    /// Bytes of published batches.
    pub fn len(&self) -> u64 {
        self.len.load(Ordering::Acquire)
    }

    /// Offset after the last published batch.
    pub fn next_offset(&self) -> u64 {
        self.next_offset.load(Ordering::Relaxed)
    }

    /// Largest timestamp of the published batches (`i64::MIN` when empty).
    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp.load(Ordering::Relaxed)
    }

    /// Path of the `.log` file.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Path of the `.index` file.
    pub fn index_path(&self) -> &Path {
        &self.index_path
    }
}
