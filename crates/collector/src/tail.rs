//! Tailing: which files to read (globs), which of them are the same file (fingerprints), and
//! reading them in chunks of whole lines.
//!
//! A *stream* is a file's content as identified by its [`Fingerprint`], with the offset and
//! line number reached; at any time at most one open file (inode) is its *reader*. A
//! [`Tailer::scan`] lists the globs and matches what it finds to streams:
//!
//! - **new file** (a new inode with a first line): a new stream, read from the start (or from
//!   its end on the collector's very first start with `read_from = "end"`);
//! - **rename-and-create**: the renamed file keeps its inode, and its reader keeps reading it
//!   through the open descriptor, under its new name or outside the globs (then until it has
//!   not grown for `rotate_wait` after its end); the new file is a new stream;
//! - **copytruncate**: the copy has the same first line, hence the same stream; when the
//!   original is truncated (smaller than the offset reached, or its first line changed), the
//!   copy becomes the reader and the rest is read from it at the same offset, while the
//!   truncated file becomes a new stream. Lines written between the copy and the truncation
//!   are lost, as with every copytruncate; the copy must match the globs;
//! - **truncation** without a copy: the file is read again from the start as a new stream;
//! - **deletion**: the open descriptor is read to its end, as for a rename.
//!
//! After every read the reader's first line is checked again, so a truncation racing a read
//! never ships bytes from the middle of the new content: that chunk is dropped and read again
//! from the copy.
//!
//! [`Tailer::read`] returns the next chunk of whole lines, taking the streams in turn so that
//! many files progress together. A line is read only once it ends with a newline. A line
//! longer than `max_line_bytes` is returned cut ([`Chunk::oversized`]) and the rest of it is
//! skipped.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use memchr::{memchr, memchr_iter, memrchr};
use tracing::{debug, info, warn};

use crate::error::{CollectorError, Result};
use crate::fingerprint::{self, Fingerprint};

/// Which files one source reads.
#[derive(Debug, Clone)]
pub struct FileSet {
    /// Glob patterns of the files to read.
    pub include: Vec<String>,
    /// Glob patterns of files to leave out (such as `*.gz`).
    pub exclude: Vec<glob::Pattern>,
}

/// How the tailer reads.
#[derive(Debug, Clone)]
pub struct TailOptions {
    /// Bytes hashed at most for a fingerprint.
    pub fingerprint_bytes: usize,
    /// Bytes read at once from a file.
    pub read_bytes: usize,
    /// Longest line kept whole.
    pub max_line_bytes: usize,
    /// How long a file renamed out of the globs or deleted is kept open after it stopped
    /// growing at its end.
    pub rotate_wait: Duration,
    /// Start files found at the very first start at their end rather than their start.
    pub start_at_end: bool,
}

impl Default for TailOptions {
    fn default() -> Self {
        TailOptions {
            fingerprint_bytes: 1024,
            read_bytes: 256 * 1024,
            max_line_bytes: 1024 * 1024,
            rotate_wait: Duration::from_secs(10),
            start_at_end: false,
        }
    }
}

/// Where a stream starts when the tailer is created (from the checkpoint).
#[derive(Debug, Clone)]
pub struct StartPosition {
    /// The stream.
    pub fingerprint: Fingerprint,
    /// First byte not yet shipped.
    pub offset: u64,
    /// Number of the line at `offset`.
    pub line: u64,
    /// Where it was last seen.
    pub path: PathBuf,
}

/// An open file found by a scan.
#[derive(Debug)]
struct Watched {
    path: PathBuf,
    file: File,
    source: usize,
    fingerprint: Option<Fingerprint>,
    in_globs: bool,
    size: u64,
    last_growth: Instant,
}

/// A file's content and how far it has been read.
#[derive(Debug)]
struct Stream {
    source: usize,
    offset: u64,
    line: u64,
    path: PathBuf,
    reader: Option<FileKey>,
    /// The rest of an oversized line is being skipped.
    skipping: bool,
    /// The reader has no complete line left to read.
    at_end: bool,
    /// The reader's size when it was last found to have nothing more to read.
    end_size: Option<u64>,
}

type FileKey = (u64, u64);

/// A piece of a file: whole lines, or the cut start of an oversized line.
#[derive(Debug)]
pub struct Chunk<'a> {
    /// The stream.
    pub fingerprint: Fingerprint,
    /// The source whose globs found the file.
    pub source: usize,
    /// Where the file is (or was last seen).
    pub path: &'a Path,
    /// Offset of `data[0]` in the file.
    pub offset: u64,
    /// Number of the first line in `data`.
    pub line: u64,
    /// The bytes: whole lines with their newlines; empty when only the rest of an oversized
    /// line was skipped.
    pub data: &'a [u8],
    /// `data` is the first `max_line_bytes` of a longer line, without a newline.
    pub oversized: bool,
    /// Offset after this chunk (where reading goes on).
    pub end_offset: u64,
    /// Number of the line at `end_offset`.
    pub end_line: u64,
}

/// What a scan found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ScanReport {
    /// Files matching the globs.
    pub files: usize,
    /// Streams that have a file to read.
    pub readable: usize,
    /// Fingerprints of the files seen.
    pub seen: Vec<Fingerprint>,
}

/// Follows the files of some [`FileSet`]s.
#[derive(Debug)]
pub struct Tailer {
    sources: Vec<FileSet>,
    options: TailOptions,
    files: HashMap<FileKey, Watched>,
    streams: HashMap<Fingerprint, Stream>,
    /// Streams in reading order, and where the next read starts.
    order: Vec<Fingerprint>,
    next: usize,
    buf: Vec<u8>,
    fingerprint_buf: Vec<u8>,
    first_scan_at_end: bool,
}

impl Tailer {
    /// A tailer of `sources`, resuming the streams of `start`. `first_start` says no
    /// checkpoint existed, so [`TailOptions::start_at_end`] applies to the first scan.
    pub fn new(
        sources: Vec<FileSet>,
        options: TailOptions,
        start: impl IntoIterator<Item = StartPosition>,
        first_start: bool,
    ) -> Result<Self> {
        for set in &sources {
            for pattern in &set.include {
                glob::Pattern::new(pattern)
                    .map_err(|e| CollectorError::Config(format!("glob {pattern:?}: {e}")))?;
            }
        }
        if options.read_bytes == 0 || options.max_line_bytes < options.read_bytes {
            return Err(CollectorError::Config(
                "read_bytes must be at least 1 and at most max_line_bytes".into(),
            ));
        }
        let streams = start
            .into_iter()
            .map(|s| {
                let stream = Stream {
                    source: usize::MAX,
                    offset: s.offset,
                    line: s.line,
                    path: s.path,
                    reader: None,
                    skipping: false,
                    at_end: false,
                    end_size: None,
                };
                (s.fingerprint, stream)
            })
            .collect();
        Ok(Tailer {
            buf: vec![0; options.read_bytes],
            first_scan_at_end: first_start && options.start_at_end,
            sources,
            options,
            files: HashMap::new(),
            streams,
            order: Vec::new(),
            next: 0,
            fingerprint_buf: Vec::new(),
        })
    }

    /// Lists the globs and matches the files to streams (see the module documentation).
    pub fn scan(&mut self) -> Result<ScanReport> {
        let now = Instant::now();
        for watched in self.files.values_mut() {
            watched.in_globs = false;
        }
        let mut report = ScanReport::default();
        for (source, set) in self.sources.iter().enumerate() {
            for pattern in &set.include {
                let paths = glob::glob(pattern)
                    .map_err(|e| CollectorError::Config(format!("glob {pattern:?}: {e}")))?;
                for path in paths.flatten() {
                    if set.exclude.iter().any(|p| p.matches_path(&path)) {
                        continue;
                    }
                    let Ok(meta) = fs::metadata(&path) else {
                        continue; // gone since it was listed
                    };
                    if !meta.is_file() {
                        continue;
                    }
                    let key = (meta.dev(), meta.ino());
                    if let Some(watched) = self.files.get_mut(&key) {
                        if !watched.in_globs {
                            report.files += 1;
                        }
                        watched.in_globs = true;
                        watched.path = path;
                        continue;
                    }
                    let Ok(file) = File::open(&path) else {
                        continue;
                    };
                    debug!("found {}", path.display());
                    report.files += 1;
                    self.files.insert(
                        key,
                        Watched {
                            path,
                            file,
                            source,
                            fingerprint: None,
                            in_globs: true,
                            size: 0,
                            last_growth: now,
                        },
                    );
                }
            }
        }
        self.update_files(now)?;
        self.adopt();
        let at_end = std::mem::take(&mut self.first_scan_at_end);
        if at_end {
            self.skip_to_ends()?;
        }
        self.order = self
            .streams
            .iter()
            .filter(|(_, s)| s.reader.is_some())
            .map(|(fp, _)| *fp)
            .collect();
        self.order.sort();
        report.readable = self.order.len();
        report.seen = self.files.values().filter_map(|w| w.fingerprint).collect();
        report.seen.sort();
        report.seen.dedup();
        Ok(report)
    }

    /// Sizes, fingerprints and truncations of the watched files; drops files that left the
    /// globs and are no longer needed.
    fn update_files(&mut self, now: Instant) -> Result<()> {
        let mut gone = Vec::new();
        for (key, watched) in &mut self.files {
            let size = match watched.file.metadata() {
                Ok(meta) => meta.len(),
                Err(e) => return Err(CollectorError::io(&watched.path, e)),
            };
            if size != watched.size {
                watched.size = size;
                watched.last_growth = now;
            }
            let reading = watched
                .fingerprint
                .and_then(|fp| self.streams.get(&fp))
                .is_some_and(|s| s.reader == Some(*key));
            if let (true, Some(fp)) = (reading, watched.fingerprint) {
                let stream = self.streams.get_mut(&fp).expect("reading");
                let current = fingerprint::of_file(
                    &watched.file,
                    self.options.fingerprint_bytes,
                    &mut self.fingerprint_buf,
                )
                .map_err(|e| CollectorError::io(&watched.path, e))?;
                if size < stream.offset || current != Some(fp) {
                    info!(
                        "{} was truncated (offset {} reached, {} bytes now)",
                        watched.path.display(),
                        stream.offset,
                        size
                    );
                    stream.reader = None;
                    watched.fingerprint = None;
                } else if !watched.in_globs
                    && stream.end_size == Some(size)
                    && now.duration_since(watched.last_growth) >= self.options.rotate_wait
                {
                    info!(
                        "closing {} (rotated or deleted, read to its end)",
                        watched.path.display()
                    );
                    stream.reader = None;
                    gone.push(*key);
                    continue;
                }
            } else if !watched.in_globs {
                gone.push(*key);
                continue;
            }
            if watched.fingerprint.is_none() {
                watched.fingerprint = fingerprint::of_file(
                    &watched.file,
                    self.options.fingerprint_bytes,
                    &mut self.fingerprint_buf,
                )
                .map_err(|e| CollectorError::io(&watched.path, e))?;
                if let Some(fp) = watched.fingerprint {
                    self.streams.entry(fp).or_insert_with(|| Stream {
                        source: watched.source,
                        offset: 0,
                        line: 1,
                        path: watched.path.clone(),
                        reader: None,
                        skipping: false,
                        at_end: false,
                        end_size: None,
                    });
                }
            }
        }
        for key in gone {
            self.files.remove(&key);
        }
        Ok(())
    }

    /// Gives every stream without a reader a file with its fingerprint, preferring one in
    /// the globs and at least as long as the offset reached. When every such file is
    /// shorter, the content was truncated and rewritten with the same first line: it is
    /// read again from the start.
    fn adopt(&mut self) {
        let mut candidates: HashMap<Fingerprint, Vec<(FileKey, u64, bool)>> = HashMap::new();
        for (key, watched) in &self.files {
            if let Some(fp) = watched.fingerprint {
                candidates
                    .entry(fp)
                    .or_default()
                    .push((*key, watched.size, watched.in_globs));
            }
        }
        for (fp, mut files) in candidates {
            let stream = self
                .streams
                .get_mut(&fp)
                .expect("fingerprinted files have streams");
            if stream.reader.is_some() {
                continue;
            }
            files.sort_by_key(|&(key, size, in_globs)| (!in_globs, u64::MAX - size, key));
            let (key, size, _) = files[0];
            if size < stream.offset {
                warn!(
                    "{} has the first line of a file read up to offset {} but only {size} \
                     bytes: reading it from the start",
                    self.files[&key].path.display(),
                    stream.offset
                );
                stream.offset = 0;
                stream.line = 1;
            }
            let watched = &self.files[&key];
            stream.reader = Some(key);
            stream.path = watched.path.clone();
            stream.source = watched.source;
            stream.at_end = false;
            stream.end_size = None;
            stream.skipping = false;
            debug!(
                "reading {} from offset {}",
                watched.path.display(),
                stream.offset
            );
        }
    }

    /// Moves new streams (offset 0) to the end of their last complete line.
    fn skip_to_ends(&mut self) -> Result<()> {
        for stream in self.streams.values_mut() {
            let Some(key) = stream.reader else { continue };
            if stream.offset != 0 {
                continue;
            }
            let watched = &self.files[&key];
            let mut lines = 0;
            let mut offset = 0;
            loop {
                let n = watched
                    .file
                    .read_at(&mut self.buf, offset)
                    .map_err(|e| CollectorError::io(&watched.path, e))?;
                let Some(last) = memrchr(b'\n', &self.buf[..n]) else {
                    break;
                };
                lines += memchr_iter(b'\n', &self.buf[..=last]).count() as u64;
                offset += last as u64 + 1;
                if n < self.buf.len() {
                    break;
                }
            }
            info!(
                "{}: starting at its end (offset {offset}, line {})",
                watched.path.display(),
                lines + 1
            );
            stream.offset = offset;
            stream.line = lines + 1;
        }
        Ok(())
    }

    /// The next chunk of some stream, taking the streams in turn; `None` when no stream has
    /// a complete line to read.
    pub fn read(&mut self) -> Result<Option<Chunk<'_>>> {
        for _ in 0..self.order.len() {
            let index = self.next % self.order.len();
            self.next = index + 1;
            let fp = self.order[index];
            if let Some(len) = self.read_stream(fp)? {
                return Ok(Some(self.chunk(fp, len)));
            }
        }
        Ok(None)
    }

    /// Reads the next piece of `fp` into the buffer and advances the stream; `Some` with the
    /// number of bytes to hand out (possibly 0 after skipping), or `None` if there is nothing.
    fn read_stream(&mut self, fp: Fingerprint) -> Result<Option<usize>> {
        let stream = self.streams.get_mut(&fp).expect("ordered streams exist");
        let Some(key) = stream.reader else {
            return Ok(None);
        };
        let Some(watched) = self.files.get(&key) else {
            stream.reader = None;
            return Ok(None);
        };
        let io_err = |e: io::Error| CollectorError::io(&watched.path, e);
        let mut want = self.options.read_bytes;
        let n = loop {
            if self.buf.len() < want {
                self.buf.resize(want, 0);
            }
            let n =
                read_full(&watched.file, &mut self.buf[..want], stream.offset).map_err(io_err)?;
            // A line longer than a read: read more at once, up to the line limit.
            if n == want
                && !stream.skipping
                && want < self.options.max_line_bytes
                && memchr(b'\n', &self.buf[..n]).is_none()
            {
                want = (want * 2).min(self.options.max_line_bytes);
                continue;
            }
            break n;
        };
        if n == 0 {
            stream.at_end = true;
            stream.end_size = Some(stream.offset);
            return Ok(None);
        }
        // The file must still be the one being read: otherwise it was truncated (and maybe
        // written again) and these bytes may not be the stream's.
        let current = fingerprint::of_file(
            &watched.file,
            self.options.fingerprint_bytes,
            &mut self.fingerprint_buf,
        )
        .map_err(io_err)?;
        if current != Some(fp) {
            info!(
                "{} changed under its reader: truncated",
                watched.path.display()
            );
            stream.reader = None;
            if let Some(w) = self.files.get_mut(&key) {
                w.fingerprint = None;
            }
            return Ok(None);
        }
        let data = &self.buf[..n];
        if stream.skipping {
            let skipped = match memchr(b'\n', data) {
                Some(newline) => {
                    stream.skipping = false;
                    stream.line += 1;
                    newline + 1
                }
                None => n,
            };
            stream.offset += skipped as u64;
            // An empty chunk, so that the skipped bytes count as read.
            return Ok(Some(0));
        }
        match memrchr(b'\n', data) {
            Some(last) => {
                stream.at_end = false;
                stream.end_size = None;
                Ok(Some(last + 1))
            }
            None if n >= self.options.max_line_bytes => Ok(Some(n)),
            None => {
                // Only the start of a line so far.
                stream.at_end = true;
                stream.end_size = Some(stream.offset + n as u64);
                Ok(None)
            }
        }
    }

    /// The chunk of `len` bytes just read for `fp`; advances the stream past it.
    fn chunk(&mut self, fp: Fingerprint, len: usize) -> Chunk<'_> {
        let stream = self.streams.get_mut(&fp).expect("stream read");
        let data = &self.buf[..len];
        let (offset, line) = (stream.offset, stream.line);
        let oversized = len > 0 && data[len - 1] != b'\n';
        if oversized {
            warn!(
                "{}: line {line} is longer than {} bytes; the rest of it is skipped",
                stream.path.display(),
                self.options.max_line_bytes
            );
            stream.skipping = true;
            stream.offset += len as u64;
        } else if len > 0 {
            stream.offset += len as u64;
            stream.line += memchr_iter(b'\n', data).count() as u64;
        }
        Chunk {
            fingerprint: fp,
            source: stream.source,
            path: &stream.path,
            offset: if len == 0 { stream.offset } else { offset },
            line: if len == 0 { stream.line } else { line },
            data,
            oversized,
            end_offset: stream.offset,
            end_line: stream.line,
        }
    }

    /// Whether every stream with a file has been read to its last complete line, as of the
    /// last reads.
    pub fn caught_up(&self) -> bool {
        self.order.iter().all(|fp| {
            self.streams
                .get(fp)
                .is_none_or(|s| s.reader.is_none() || s.at_end)
        })
    }

    /// Files watched and streams known.
    pub fn counts(&self) -> (usize, usize) {
        (self.files.len(), self.streams.len())
    }
}

/// Reads into `buf` from `offset` until it is full or the file ends.
fn read_full(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read_at(&mut buf[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
