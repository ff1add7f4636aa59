//! Loads an NDJSON file into a log topic: line *i* goes to partition *i* mod P, so an
//! interrupted load resumes exactly where it stopped (each partition's end offset says how
//! many of its lines are in).

use std::fs::File;
use std::io::Read;
use std::path::Path;

use spate_log::{LogError, Record, Topic};

/// What an ingest did.
#[derive(Debug, Clone, Copy, Default)]
pub struct IngestStats {
    /// Lines appended by this call.
    pub appended: u64,
    /// Lines found already in the topic (from an interrupted earlier load).
    pub skipped: u64,
    /// Bytes read from the file.
    pub bytes: u64,
}

/// Errors of an ingest.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Reading the file failed.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// Appending to the log failed.
    #[error(transparent)]
    Log(#[from] LogError),
}

/// Appends every non-empty line of `path` to `topic`, skipping lines already there.
pub fn ingest_ndjson(
    path: &Path,
    topic: &Topic,
    timestamp_ms: i64,
) -> Result<IngestStats, IngestError> {
    let parts = topic.partitions() as usize;
    let mut present = Vec::with_capacity(parts);
    for p in 0..parts as u32 {
        present.push(topic.end_offset(p)? - topic.start_offset(p)?.min(topic.end_offset(p)?));
    }
    let read_err = |e| IngestError::Read {
        path: path.display().to_string(),
        source: e,
    };
    let mut file = File::open(path).map_err(read_err)?;
    let mut stats = IngestStats::default();
    let mut buf = vec![0u8; 8 << 20];
    let mut filled = 0usize;
    let mut line_no = 0u64;
    loop {
        let n = file.read(&mut buf[filled..]).map_err(read_err)?;
        stats.bytes += n as u64;
        filled += n;
        let eof = n == 0;
        let data = &buf[..filled];
        let consumed;
        {
            let mut batches: Vec<Vec<Record<'_>>> = vec![Vec::new(); parts];
            let mut start = 0usize;
            // Every complete line, and at the end of the file the last one without a newline.
            let tail = (eof && !data.is_empty()).then_some(data.len());
            for end in memchr::memchr_iter(b'\n', data).chain(tail) {
                push_line(
                    &data[start..end],
                    &mut line_no,
                    parts,
                    &present,
                    &mut batches,
                    &mut stats,
                    timestamp_ms,
                );
                start = end + 1;
            }
            consumed = start.min(data.len());
            for (p, batch) in batches.iter().enumerate() {
                if !batch.is_empty() {
                    topic.append(p as u32, batch)?;
                }
            }
        }
        buf.copy_within(consumed..filled, 0);
        filled -= consumed;
        if eof {
            break;
        }
        if filled == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
    }
    topic.flush()?;
    Ok(stats)
}

fn push_line<'a>(
    line: &'a [u8],
    line_no: &mut u64,
    parts: usize,
    present: &[u64],
    batches: &mut [Vec<Record<'a>>],
    stats: &mut IngestStats,
    timestamp_ms: i64,
) {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.is_empty() {
        return;
    }
    let p = (*line_no % parts as u64) as usize;
    let nth_in_partition = *line_no / parts as u64;
    *line_no += 1;
    if nth_in_partition < present[p] {
        stats.skipped += 1;
        return;
    }
    batches[p].push(Record::new(timestamp_ms, line));
    stats.appended += 1;
}
