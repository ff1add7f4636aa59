//! The collector: a reading thread (tail → parse → enrich → batch) and the shipping thread
//! (sink → checkpoint), joined by a bounded channel.
//!
//! ```text
//!  files ─▶ Tailer ─▶ LineProcessor ─▶ Batch ══ channel (max_inflight_batches) ══▶ Sink
//!                                                                                   │ flush
//!                                                                          Checkpoint ◀┘
//! ```
//!
//! - **Backpressure**: the channel holds at most `max_inflight_batches` batches of about
//!   `batch_bytes` each; when the sink is slow the reading thread blocks on it and stops
//!   reading files, so memory stays bounded however far behind the sink is.
//! - **At least once**: every `commit_interval` the sink is flushed and only then are the
//!   offsets of the batches it took written to the checkpoint. A crash at any point restarts
//!   from offsets whose lines are all stored; lines after them are read and sent again with
//!   the same idempotency keys.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use crate::batch::{Batch, LineProcessor, LinesFrom, file_field};
use crate::checkpoint::{Checkpoint, FileOffset};
use crate::config::Config;
use crate::error::{CollectorError, Result};
use crate::fingerprint::Fingerprint;
use crate::sink::Sink;
use crate::tail::{StartPosition, Tailer};

/// How long the reading thread sleeps when no file has anything new.
const IDLE_POLL: Duration = Duration::from_millis(50);

/// When [`Collector::run`] returns.
#[derive(Debug, Clone, Copy)]
pub enum RunUntil<'a> {
    /// When the flag is set (by a signal handler): what was read is shipped and
    /// checkpointed first.
    Stopped(&'a AtomicBool),
    /// When every file has been read to its last complete line (for benchmarks and one-off
    /// loads), then shipped and checkpointed.
    CaughtUp,
}

/// Counters of a running collector, readable from other threads.
#[derive(Debug, Default)]
pub struct Stats {
    /// Bytes of input read.
    pub input_bytes: AtomicU64,
    /// Lines read.
    pub lines: AtomicU64,
    /// Events handed to the sink.
    pub events: AtomicU64,
    /// Lines sent to the dead letters.
    pub dead_letters: AtomicU64,
    /// Checkpoints written.
    pub commits: AtomicU64,
}

/// A snapshot of [`Stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// Bytes of input read.
    pub input_bytes: u64,
    /// Lines read.
    pub lines: u64,
    /// Events handed to the sink.
    pub events: u64,
    /// Lines sent to the dead letters.
    pub dead_letters: u64,
    /// Checkpoints written.
    pub commits: u64,
}

impl Stats {
    /// The current values.
    pub fn summary(&self) -> Summary {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Summary {
            input_bytes: get(&self.input_bytes),
            lines: get(&self.lines),
            events: get(&self.events),
            dead_letters: get(&self.dead_letters),
            commits: get(&self.commits),
        }
    }
}

/// How the collector runs (from [`crate::Config`]).
#[derive(Debug, Clone)]
pub struct CollectorOptions {
    /// How often the sink is flushed and offsets checkpointed.
    pub commit_interval: Duration,
    /// How often the globs are listed again.
    pub scan_interval: Duration,
    /// Encoded event bytes per batch.
    pub batch_bytes: usize,
    /// Batches waiting for the sink at most.
    pub max_inflight_batches: usize,
    /// Checkpoint entries of files not seen for this long are forgotten.
    pub forget_after: Duration,
}

/// A collector ready to run.
pub struct Collector {
    tailer: Tailer,
    processor: LineProcessor,
    checkpoint: Checkpoint,
    sink: Box<dyn Sink>,
    options: CollectorOptions,
    stats: Arc<Stats>,
}

impl Collector {
    /// A collector reading with `tailer` (whose start positions come from `checkpoint`),
    /// parsing with `processor` and writing to `sink`.
    pub fn new(
        tailer: Tailer,
        processor: LineProcessor,
        checkpoint: Checkpoint,
        sink: Box<dyn Sink>,
        options: CollectorOptions,
    ) -> Self {
        Collector {
            tailer,
            processor,
            checkpoint,
            sink,
            options,
            stats: Arc::default(),
        }
    }

    /// The collector `config` describes, writing to `sink` (see [`crate::sink::open`]), with
    /// its checkpoint under `data_dir` unless configured.
    pub fn from_config(config: &Config, data_dir: &Path, sink: Box<dyn Sink>) -> Result<Self> {
        let checkpoint = Checkpoint::open(&config.checkpoint_path(data_dir))?;
        let tailer = Tailer::new(
            config.file_sets()?,
            config.tail_options(),
            Self::start_positions(&checkpoint),
            !checkpoint.existed(),
        )?;
        let options = CollectorOptions {
            commit_interval: config.commit_interval,
            scan_interval: config.scan_interval,
            batch_bytes: config.batch_bytes,
            max_inflight_batches: config.max_inflight_batches,
            forget_after: config.forget_after,
        };
        Ok(Collector::new(
            tailer,
            config.line_processor()?,
            checkpoint,
            sink,
            options,
        ))
    }

    /// The start positions a tailer should resume from, per `checkpoint`.
    pub fn start_positions(checkpoint: &Checkpoint) -> Vec<StartPosition> {
        checkpoint
            .files()
            .map(|f| StartPosition {
                fingerprint: f.fingerprint,
                offset: f.offset,
                line: f.line,
                path: f.path.clone().into(),
            })
            .collect()
    }

    /// The counters, shared.
    pub fn stats(&self) -> Arc<Stats> {
        Arc::clone(&self.stats)
    }

    /// Runs until `until`; returns the counters. An error of the sink or the files stops
    /// it without checkpointing what was not confirmed.
    pub fn run(self, until: RunUntil<'_>) -> Result<(Summary, LineProcessor)> {
        let Collector {
            tailer,
            processor,
            mut checkpoint,
            mut sink,
            options,
            stats,
        } = self;
        info!("collecting into {}", sink.describe());
        let (sender, receiver) = sync_channel::<Batch>(options.max_inflight_batches);
        // Shipped batches go back to the reader emptied, so their buffers are not grown
        // from nothing (and their pages faulted in) again for every batch.
        let (recycle, recycled) = sync_channel::<Batch>(options.max_inflight_batches + 1);
        let failed = AtomicBool::new(false);
        let reader_options = options.clone();
        let reader_stats = Arc::clone(&stats);
        std::thread::scope(|scope| {
            let reading = std::thread::Builder::new()
                .name("collect-read".into())
                .spawn_scoped(scope, || {
                    let mut reader = Reader {
                        tailer,
                        processor,
                        sender,
                        recycled,
                        options: reader_options,
                        stats: reader_stats,
                        file_fields: HashMap::new(),
                    };
                    let result = reader.run(until, &failed);
                    (result, reader.processor)
                })
                .map_err(|e| CollectorError::Stopped(format!("starting the reader: {e}")))?;
            let shipped = ship(
                receiver,
                &recycle,
                sink.as_mut(),
                &mut checkpoint,
                &options,
                &stats,
            );
            if shipped.is_err() {
                failed.store(true, Ordering::Relaxed);
            }
            let (read, processor) = reading
                .join()
                .map_err(|_| CollectorError::Stopped("the reading thread panicked".into()))?;
            shipped?;
            read?;
            Ok((stats.summary(), processor))
        })
    }
}

/// The reading thread.
struct Reader {
    tailer: Tailer,
    processor: LineProcessor,
    sender: SyncSender<Batch>,
    /// Batches the shipping thread is done with.
    recycled: Receiver<Batch>,
    options: CollectorOptions,
    stats: Arc<Stats>,
    /// `"log_file":"…"` and the path's text per stream.
    file_fields: HashMap<Fingerprint, (std::path::PathBuf, String, Box<[u8]>)>,
}

impl Reader {
    fn run(&mut self, until: RunUntil<'_>, failed: &AtomicBool) -> Result<()> {
        let stopped = || {
            failed.load(Ordering::Relaxed)
                || matches!(until, RunUntil::Stopped(flag) if flag.load(Ordering::Relaxed))
        };
        let mut batch = Batch::default();
        let mut last_scan: Option<Instant> = None;
        // Whether a scan came after the last chunk read (to know the files are caught up).
        let mut scanned_since_data = false;
        while !stopped() {
            if last_scan.is_none_or(|t| t.elapsed() >= self.options.scan_interval) {
                let report = self.tailer.scan()?;
                debug!("scan: {report:?}");
                batch.seen = Some((report.seen, spate_log::now_ms()));
                last_scan = Some(Instant::now());
                scanned_since_data = true;
            }
            let mut read_any = false;
            while let Some(chunk) = self.tailer.read()? {
                read_any = true;
                scanned_since_data = false;
                let fingerprint = chunk.fingerprint;
                let (path_text, file_field) = {
                    let entry = self.file_fields.entry(fingerprint).or_default();
                    if entry.0 != chunk.path {
                        entry.0 = chunk.path.to_path_buf();
                        entry.1 = chunk.path.to_string_lossy().into_owned();
                        entry.2 = file_field(&entry.1);
                    }
                    (&entry.1, &entry.2)
                };
                let from = LinesFrom {
                    fingerprint,
                    file: path_text,
                    file_field,
                    offset: chunk.offset,
                    line: chunk.line,
                };
                let before = (batch.records.len(), batch.dead_letters.len(), batch.lines);
                if chunk.oversized {
                    self.processor.oversized(chunk.data, from, &mut batch);
                } else {
                    let now = spate_log::now_ms();
                    self.processor
                        .process(chunk.source, chunk.data, from, now, &mut batch);
                }
                self.stats
                    .input_bytes
                    .fetch_add(chunk.data.len() as u64, Ordering::Relaxed);
                let lines = batch.lines - before.2 + u64::from(chunk.oversized);
                self.stats.lines.fetch_add(lines, Ordering::Relaxed);
                self.stats
                    .events
                    .fetch_add((batch.records.len() - before.0) as u64, Ordering::Relaxed);
                self.stats.dead_letters.fetch_add(
                    (batch.dead_letters.len() - before.1) as u64,
                    Ordering::Relaxed,
                );
                batch.set_progress(FileOffset {
                    fingerprint,
                    offset: chunk.end_offset,
                    line: chunk.end_line,
                    path: path_text.clone(),
                    seen_ms: spate_log::now_ms(),
                });
                if batch.events.len() >= self.options.batch_bytes {
                    self.send(&mut batch)?;
                }
                if stopped() || last_scan.is_some_and(|t| t.elapsed() >= self.options.scan_interval)
                {
                    break;
                }
            }
            if !batch.is_empty() {
                self.send(&mut batch)?;
            }
            if !read_any {
                if matches!(until, RunUntil::CaughtUp)
                    && scanned_since_data
                    && self.tailer.caught_up()
                {
                    break;
                }
                if matches!(until, RunUntil::CaughtUp) {
                    // Scan again before deciding the files are all read.
                    last_scan = None;
                } else {
                    std::thread::sleep(IDLE_POLL);
                }
            }
        }
        if !batch.is_empty() {
            self.send(&mut batch)?;
        }
        Ok(())
    }

    /// Hands `batch` to the shipping thread, waiting while the channel is full, and leaves
    /// an empty one (a recycled one when there is one) in its place.
    fn send(&self, batch: &mut Batch) -> Result<()> {
        let next = self.recycled.try_recv().unwrap_or_default();
        self.sender
            .send(std::mem::replace(batch, next))
            .map_err(|_| CollectorError::Stopped("the shipping thread stopped".into()))
    }
}

/// The shipping loop: writes batches to the sink, and on every commit interval flushes it
/// and checkpoints the offsets of what it took. Written batches go back through `recycle`.
fn ship(
    receiver: Receiver<Batch>,
    recycle: &SyncSender<Batch>,
    sink: &mut dyn Sink,
    checkpoint: &mut Checkpoint,
    options: &CollectorOptions,
    stats: &Stats,
) -> Result<()> {
    let mut pending: Vec<FileOffset> = Vec::new();
    let mut seen: Option<(Vec<Fingerprint>, i64)> = None;
    let mut last_commit = Instant::now();
    let mut unflushed = false;
    let mut commit = |pending: &mut Vec<FileOffset>,
                      seen: &mut Option<(Vec<Fingerprint>, i64)>,
                      sink: &mut dyn Sink|
     -> Result<()> {
        sink.flush()?;
        for offset in pending.drain(..) {
            checkpoint.set(offset);
        }
        if let Some((fingerprints, now_ms)) = seen.take() {
            for fp in fingerprints {
                checkpoint.touch(fp, now_ms);
            }
            let forget_before = now_ms - options.forget_after.as_millis() as i64;
            let forgotten = checkpoint.forget_unseen_since(forget_before);
            if forgotten > 0 {
                info!(
                    "forgot {forgotten} files not seen for {:?}",
                    options.forget_after
                );
            }
        }
        checkpoint.save()?;
        stats.commits.fetch_add(1, Ordering::Relaxed);
        Ok(())
    };
    loop {
        let wait = options
            .commit_interval
            .saturating_sub(last_commit.elapsed());
        match receiver.recv_timeout(wait) {
            Ok(mut batch) => {
                sink.write(&batch)?;
                unflushed = true;
                for offset in batch.progress.drain(..) {
                    match pending
                        .iter_mut()
                        .find(|p| p.fingerprint == offset.fingerprint)
                    {
                        Some(p) => *p = offset,
                        None => pending.push(offset),
                    }
                }
                if batch.seen.is_some() {
                    seen = batch.seen.take();
                }
                for dead in batch.dead_letters.iter().take(3) {
                    warn!("dead letter {dead}");
                }
                batch.clear();
                // Full, or the reader is gone: the batch is simply dropped.
                let _ = recycle.try_send(batch);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if last_commit.elapsed() >= options.commit_interval {
            if unflushed || !pending.is_empty() || seen.is_some() {
                commit(&mut pending, &mut seen, sink)?;
                unflushed = false;
            }
            last_commit = Instant::now();
        }
    }
    if unflushed || !pending.is_empty() || seen.is_some() {
        commit(&mut pending, &mut seen, sink)?;
    }
    Ok(())
}
