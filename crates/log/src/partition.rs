//! A partition: its ordered segments, and either its writer (appends, rolls, retention) or,
//! when opened read-only, a follower that picks up what another process writes.
//!
//! The end offset (high watermark) and log start offset are published atomically after the
//! data they cover, so fetches running concurrently with appends only see complete batches.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Instant;

use tracing::{debug, info, warn};

use crate::batch;
use crate::config::{FsyncPolicy, TopicConfig};
use crate::error::{IoContext, LogError, Result};
use crate::fetch::{self, FetchedRecords};
use crate::fsutil::{now_ms, sync_dir};
use crate::record::Record;
use crate::retention::{self, SegmentStats};
use crate::segment::{self, Segment, Tail};

/// Pending index entries are written to the index file once this many bytes accumulate.
const INDEX_WRITE_BYTES: usize = 4096;

/// Offsets given to an appended batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendResult {
    /// Offset of the first record.
    pub base_offset: u64,
    /// Offset of the last record.
    pub last_offset: u64,
}

/// A snapshot of one partition's extent on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionInfo {
    /// The partition number.
    pub partition: u32,
    /// Log start offset: the first offset still retained.
    pub start_offset: u64,
    /// End offset (high watermark): the offset the next record will get.
    pub end_offset: u64,
    /// Number of segment files.
    pub segments: usize,
    /// Bytes of all segment files.
    pub bytes: u64,
}

pub(crate) struct Partition {
    topic: String,
    id: u32,
    dir: PathBuf,
    config: TopicConfig,
    segments: RwLock<BTreeMap<u64, Arc<Segment>>>,
    start: AtomicU64,
    end: AtomicU64,
    access: Access,
}

enum Access {
    /// This handle owns the partition's writes.
    Writer(Mutex<Writer>),
    /// Read-only: the tail of the last known segment, to follow another process's writes.
    Follower(Mutex<Tail>),
}

/// State of the appending side, behind the partition's writer mutex.
struct Writer {
    active: Arc<Segment>,
    tail: Tail,
    index_file: File,
    pending_index: Vec<u8>,
    buf: Vec<u8>,
    fsync: FsyncPolicy,
    last_sync: Instant,
    unsynced: bool,
}

impl Writer {
    fn new(active: Arc<Segment>, tail: Tail, fsync: FsyncPolicy) -> Result<Writer> {
        Ok(Writer {
            index_file: active.open_index_for_append()?,
            active,
            tail,
            pending_index: Vec::new(),
            buf: Vec::new(),
            fsync,
            last_sync: Instant::now(),
            unsynced: false,
        })
    }

    fn write_index(&mut self) -> Result<()> {
        if !self.pending_index.is_empty() {
            self.index_file
                .write_all(&self.pending_index)
                .at(self.active.index_path())?;
            self.pending_index.clear();
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<()> {
        self.write_index()?;
        self.active.sync()?;
        self.index_file.sync_data().at(self.active.index_path())?;
        self.last_sync = Instant::now();
        self.unsynced = false;
        Ok(())
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        let result = if self.unsynced && self.fsync != FsyncPolicy::Never {
            self.sync()
        } else {
            self.write_index()
        };
        if let Err(e) = result {
            warn!("closing partition writer: {e}");
        }
    }
}

impl Partition {
    /// Opens the partition in `dir`: loads closed segments, validates the last one (a writer
    /// truncates its torn tail), and creates the first segment if a writer finds none.
    pub fn open(
        dir: PathBuf,
        topic: &str,
        id: u32,
        config: &TopicConfig,
        writable: bool,
    ) -> Result<Partition> {
        let bases = list_segments(&dir, writable)?;
        let mut segments = BTreeMap::new();
        let mut last = None;
        for (i, &base) in bases.iter().enumerate() {
            let segment = Arc::new(Segment::open(&dir, base, writable)?);
            match bases.get(i + 1) {
                Some(&next) => segment.load_closed(next, writable)?,
                None => last = Some((segment.clone(), segment.load_last(writable)?)),
            }
            segments.insert(base, segment);
        }
        let access = match (writable, last) {
            (true, Some((segment, tail))) => {
                Access::Writer(Mutex::new(Writer::new(segment, tail, config.fsync)?))
            }
            (true, None) => {
                let segment = Arc::new(Segment::create(&dir, 0)?);
                segments.insert(0, segment.clone());
                Access::Writer(Mutex::new(Writer::new(
                    segment,
                    Tail::new(0),
                    config.fsync,
                )?))
            }
            (false, last) => {
                Access::Follower(Mutex::new(last.map_or(Tail::new(0), |(_, tail)| tail)))
            }
        };
        let start = segments.keys().next().copied().unwrap_or(0);
        let end = segments.values().next_back().map_or(0, |s| s.next_offset());
        Ok(Partition {
            topic: topic.to_string(),
            id,
            dir,
            config: config.clone(),
            segments: RwLock::new(segments),
            start: AtomicU64::new(start),
            end: AtomicU64::new(end),
            access,
        })
    }

    /// Appends `records` as one batch with a single write; rolls the segment first if the batch
    /// would overflow it.
    pub fn append(&self, records: &[Record<'_>]) -> Result<AppendResult> {
        let Access::Writer(writer) = &self.access else {
            return Err(LogError::ReadOnly("append"));
        };
        let mut guard = lock(writer);
        let w = &mut *guard;
        let base_offset = w.tail.next_offset;
        let header = batch::encode(&mut w.buf, base_offset, records)?;
        let full = w.tail.position > 0
            && w.tail.position + u64::from(header.length) > self.config.segment_bytes;
        let offsets_overflow = header.next_offset() - w.active.base_offset() > u64::from(u32::MAX);
        if full || offsets_overflow {
            self.roll(w)?;
        }
        if let Some(entry) = w.active.append(&mut w.tail, &w.buf, &header)? {
            entry.encode(&mut w.pending_index);
            if w.pending_index.len() >= INDEX_WRITE_BYTES {
                w.write_index()?;
            }
        }
        w.unsynced = true;
        match w.fsync {
            FsyncPolicy::EveryBatch => w.sync()?,
            FsyncPolicy::Interval(every) if w.last_sync.elapsed() >= every => w.sync()?,
            _ => {}
        }
        // Published after the fsync the policy asks for: with `batch`, readers in this process
        // never see a record a machine crash could still take back.
        w.active.publish_tail(&w.tail);
        self.end.store(w.tail.next_offset, Ordering::Release);
        Ok(AppendResult {
            base_offset,
            last_offset: header.next_offset() - 1,
        })
    }

    /// Closes the active segment and starts a new one at the end offset, then applies retention.
    fn roll(&self, w: &mut Writer) -> Result<()> {
        if self.config.fsync == FsyncPolicy::Never {
            w.write_index()?;
        } else {
            w.sync()?;
        }
        let base = w.tail.next_offset;
        let segment = Arc::new(Segment::create(&self.dir, base)?);
        if self.config.fsync != FsyncPolicy::Never {
            sync_dir(&self.dir)?;
        }
        w.index_file = segment.open_index_for_append()?;
        w.tail = Tail::new(base);
        w.active = segment.clone();
        self.segments
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(base, segment);
        debug!(topic = %self.topic, partition = self.id, base, "rolled to a new segment");
        if let Err(e) = self.apply_retention(now_ms()) {
            warn!(topic = %self.topic, partition = self.id, "retention after roll failed: {e}");
        }
        Ok(())
    }

    /// Fills `out` with records from `offset` on, up to about `max_bytes` (at least one batch).
    pub fn fetch_into(
        &self,
        offset: u64,
        max_bytes: usize,
        out: &mut FetchedRecords,
    ) -> Result<()> {
        if offset >= self.end.load(Ordering::Acquire) {
            self.refresh()?;
        }
        let end = self.end.load(Ordering::Acquire);
        let start = self.start.load(Ordering::Acquire);
        out.reset(offset, end);
        if offset < start || offset > end {
            return Err(self.out_of_range(offset));
        }
        if offset == end {
            return Ok(());
        }
        let segment = self
            .segments
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .range(..=offset)
            .next_back()
            .map(|(_, s)| s.clone());
        match segment {
            Some(segment) => fetch::read_segment(&segment, offset, max_bytes, out),
            None => Err(self.out_of_range(offset)),
        }
    }

    fn out_of_range(&self, requested: u64) -> LogError {
        LogError::OffsetOutOfRange {
            requested,
            start: self.start.load(Ordering::Acquire),
            end: self.end.load(Ordering::Acquire),
        }
    }

    /// The log start offset.
    pub fn start_offset(&self) -> Result<u64> {
        self.refresh()?;
        Ok(self.start.load(Ordering::Acquire))
    }

    /// The end offset (high watermark).
    pub fn end_offset(&self) -> Result<u64> {
        self.refresh()?;
        Ok(self.end.load(Ordering::Acquire))
    }

    /// The first offset whose record has a timestamp at or after `timestamp`.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<u64>> {
        self.refresh()?;
        for segment in self.snapshot() {
            if segment.max_timestamp() >= timestamp
                && let Some(offset) = fetch::find_timestamp(&segment, timestamp)?
            {
                return Ok(Some(offset));
            }
        }
        Ok(None)
    }

    /// Offsets, segment count and size.
    pub fn info(&self) -> Result<PartitionInfo> {
        self.refresh()?;
        let segments = self.snapshot();
        Ok(PartitionInfo {
            partition: self.id,
            start_offset: self.start.load(Ordering::Acquire),
            end_offset: self.end.load(Ordering::Acquire),
            segments: segments.len(),
            bytes: segments.iter().map(|s| s.len()).sum(),
        })
    }

    /// Writes pending index entries and fsyncs the active segment (no-op when read-only).
    pub fn flush(&self) -> Result<()> {
        match &self.access {
            Access::Writer(writer) => lock(writer).sync(),
            Access::Follower(_) => Ok(()),
        }
    }

    /// Deletes the oldest closed segments that retention allows; returns how many.
    pub fn enforce_retention(&self, now_ms: i64) -> Result<usize> {
        let Access::Writer(writer) = &self.access else {
            return Err(LogError::ReadOnly("enforce retention"));
        };
        let _writer = lock(writer);
        self.apply_retention(now_ms)
    }

    /// Retention, with the writer lock held by the caller.
    fn apply_retention(&self, now_ms: i64) -> Result<usize> {
        let segments = self.snapshot();
        let Some((_active, closed)) = segments.split_last() else {
            return Ok(0);
        };
        let stats: Vec<SegmentStats> = closed
            .iter()
            .map(|s| SegmentStats {
                bytes: s.len(),
                max_timestamp: s.max_timestamp(),
            })
            .collect();
        let total = segments.iter().map(|s| s.len()).sum();
        let count = retention::segments_to_delete(&stats, total, &self.config, now_ms);
        if count == 0 {
            return Ok(0);
        }
        let new_start = segments[count].base_offset();
        {
            let mut map = self
                .segments
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            for segment in &segments[..count] {
                map.remove(&segment.base_offset());
            }
            self.start.store(new_start, Ordering::Release);
        }
        for segment in &segments[..count] {
            segment.delete_files()?;
        }
        info!(
            topic = %self.topic,
            partition = self.id,
            segments = count,
            start_offset = new_start,
            "retention deleted old segments"
        );
        Ok(count)
    }

    /// For a read-only handle, picks up segments and batches written by another process since
    /// the last look, and forgets segments deleted by its retention.
    fn refresh(&self) -> Result<()> {
        let Access::Follower(tail) = &self.access else {
            return Ok(());
        };
        let mut tail = lock(tail);
        let bases = list_segments(&self.dir, false)?;
        let known = self.snapshot();
        let last_known = known.last();
        let new: Vec<u64> = bases
            .iter()
            .copied()
            .filter(|&b| last_known.is_none_or(|s| b > s.base_offset()))
            .collect();
        match (last_known, new.first()) {
            (Some(segment), Some(&next)) => segment.load_closed(next, false)?,
            (Some(segment), None) => segment.follow(&mut tail)?,
            (None, _) => {}
        }
        let mut opened = Vec::with_capacity(new.len());
        for (i, &base) in new.iter().enumerate() {
            let segment = Arc::new(Segment::open(&self.dir, base, false)?);
            match new.get(i + 1) {
                Some(&next) => segment.load_closed(next, false)?,
                None => *tail = segment.load_last(false)?,
            }
            opened.push(segment);
        }
        let mut map = self
            .segments
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        map.retain(|base, _| bases.binary_search(base).is_ok());
        map.extend(opened.into_iter().map(|s| (s.base_offset(), s)));
        if let (Some(first), Some(last)) = (map.values().next(), map.values().next_back()) {
            self.start.store(first.base_offset(), Ordering::Release);
            self.end.store(last.next_offset(), Ordering::Release);
        }
        Ok(())
    }

    /// The current segments, oldest first.
    fn snapshot(&self) -> Vec<Arc<Segment>> {
        self.segments
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }
}

/// Base offsets of the segments in `dir`, ascending. A writer also removes index files left
/// without their log file (by a crash during retention).
fn list_segments(dir: &Path, writable: bool) -> Result<Vec<u64>> {
    let mut bases = Vec::new();
    let mut indexes = Vec::new();
    for entry in fs::read_dir(dir).at(dir)? {
        let name = entry.at(dir)?.file_name();
        let name = name.to_string_lossy();
        if let Some(base) = segment::parse_log_name(&name) {
            bases.push(base);
        } else if let Some(stem) = name.strip_suffix(".index") {
            indexes.push(stem.to_string());
        }
    }
    bases.sort_unstable();
    if writable {
        for stem in indexes {
            let orphan = stem.parse().is_ok_and(|b| bases.binary_search(&b).is_err());
            if orphan {
                let path = dir.join(format!("{stem}.index"));
                fs::remove_file(&path).at(&path)?;
            }
        }
    }
    Ok(bases)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
