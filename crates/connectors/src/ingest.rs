//! Loads an NDJSON file into a log topic: line *i* goes to partition *i* mod P, so an
//! interrupted load resumes exactly where it stopped (each partition's end offset says how
//! many of its lines are in).

use std::fs::File;
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

/// The file is read through a mapped window of this many bytes (grown for longer lines), and
/// each window's lines are appended at once. Small windows keep the pages being copied few:
/// on the VMs measured, writing 4 MiB at a time into the page cache took about 7× longer than
/// writing 256 KiB at a time (`dd` showed the same).
const WINDOW_BYTES: usize = 512 << 10;

/// Map offsets must be multiples of the page size; every page size in use divides this.
const PAGE_BYTES: u64 = 64 << 10;

/// Appends every non-empty line of `path` to `topic`, skipping lines already there.
pub fn ingest_ndjson(
    path: &Path,
    topic: &Topic,
    timestamp_ms: i64,
) -> Result<IngestStats, IngestError> {
    ingest_with_window(path, topic, timestamp_ms, WINDOW_BYTES)
}

fn ingest_with_window(
    path: &Path,
    topic: &Topic,
    timestamp_ms: i64,
    mut window: usize,
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
    let file = File::open(path).map_err(read_err)?;
    let len = file.metadata().map_err(read_err)?.len();
    let mut stats = IngestStats {
        bytes: len,
        ..IngestStats::default()
    };
    let mut line_no = 0u64;
    // The file is mapped a window at a time, so that only a window's pages count towards the
    // process's memory; each window ends after its last complete line.
    let mut pos = 0u64;
    while pos < len {
        let start = pos - pos % PAGE_BYTES;
        let map_len = (len - start).min(window as u64) as usize;
        // SAFETY: the map is only read, and the file is not expected to change while it
        // loads; a concurrent truncation could fault the process, as with any mapped input.
        let map = unsafe {
            memmap2::MmapOptions::new()
                .offset(start)
                .len(map_len)
                .map(&file)
        }
        .map_err(read_err)?;
        // Sequential read-ahead; the advice is only a hint, so failing to give it is harmless.
        let _ = map.advise(memmap2::Advice::Sequential);
        let data = &map[(pos - start) as usize..];
        let at_end = start + map_len as u64 == len;
        let end = match memchr::memrchr(b'\n', data) {
            Some(i) if !at_end => i + 1,
            _ if at_end => data.len(),
            _ => {
                // A line longer than the window: map a larger one.
                window *= 2;
                continue;
            }
        };
        let chunk = &data[..end];
        let mut batches: Vec<Vec<Record<'_>>> = vec![Vec::new(); parts];
        let mut line_start = 0usize;
        let tail = (!chunk.ends_with(b"\n")).then_some(chunk.len());
        for line_end in memchr::memchr_iter(b'\n', chunk).chain(tail) {
            push_line(
                &chunk[line_start..line_end],
                &mut line_no,
                parts,
                &present,
                &mut batches,
                &mut stats,
                timestamp_ms,
            );
            line_start = line_end + 1;
        }
        for (p, batch) in batches.iter().enumerate() {
            if !batch.is_empty() {
                topic.append(p as u32, batch)?;
            }
        }
        pos += end as u64;
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

#[cfg(test)]
mod tests {
    use super::*;
    use spate_log::{FetchedRecords, Log, LogOptions, TopicConfig};

    /// Every record of every partition, in line order (line i is in partition i mod P).
    fn lines(topic: &Topic) -> Vec<String> {
        let parts = topic.partitions();
        let mut per: Vec<Vec<String>> = Vec::new();
        for p in 0..parts {
            let mut values = Vec::new();
            let mut offset = 0;
            while offset < topic.end_offset(p).unwrap() {
                let mut fetched = FetchedRecords::new();
                topic.fetch_into(p, offset, 1 << 20, &mut fetched).unwrap();
                values.extend(
                    fetched
                        .iter()
                        .map(|r| String::from_utf8(r.value.to_vec()).unwrap()),
                );
                offset = fetched.next_offset();
            }
            per.push(values);
        }
        let total: usize = per.iter().map(Vec::len).sum();
        (0..total)
            .map(|i| per[i % parts as usize][i / parts as usize].clone())
            .collect()
    }

    #[test]
    fn lines_across_windows_long_lines_and_a_resumed_load() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path().join("log"), LogOptions::default()).unwrap();
        let topic = log.create_topic("t", TopicConfig::new(3)).unwrap();
        let mut expected = Vec::new();
        let mut text = String::new();
        for i in 0..5_000 {
            // Some lines are longer than the 64 KiB window used below.
            let pad = if i % 1_000 == 7 { 100_000 } else { i % 50 };
            let line = format!("{{\"i\":{i},\"pad\":\"{}\"}}", "x".repeat(pad));
            text.push_str(&line);
            text.push_str(if i % 3 == 0 { "\r\n" } else { "\n" });
            if i % 700 == 0 {
                text.push('\n'); // empty lines are skipped
            }
            expected.push(line);
        }
        text.push_str("{\"last\":true}"); // no final newline
        expected.push("{\"last\":true}".into());
        let path = dir.path().join("in.jsonl");
        // A first, interrupted load took the first 1,000 lines.
        let head: String = text
            .split_inclusive('\n')
            .filter(|l| l.trim() != "")
            .take(1_000)
            .collect();
        std::fs::write(&path, &head).unwrap();
        let first = ingest_with_window(&path, &topic, 1, 64 << 10).unwrap();
        assert_eq!((first.appended, first.skipped), (1_000, 0));
        std::fs::write(&path, &text).unwrap();
        let second = ingest_with_window(&path, &topic, 1, 64 << 10).unwrap();
        assert_eq!((second.appended, second.skipped), (4_001, 1_000));
        assert_eq!(second.bytes, text.len() as u64);
        assert_eq!(lines(&topic), expected);
    }

    #[test]
    fn an_empty_file_loads_nothing_and_a_missing_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path().join("log"), LogOptions::default()).unwrap();
        let topic = log.create_topic("t", TopicConfig::new(1)).unwrap();
        let path = dir.path().join("empty.jsonl");
        std::fs::write(&path, "").unwrap();
        assert_eq!(ingest_ndjson(&path, &topic, 1).unwrap().appended, 0);
        let missing = ingest_ndjson(&dir.path().join("nope.jsonl"), &topic, 1).unwrap_err();
        assert!(missing.to_string().contains("nope.jsonl"), "{missing}");
    }
}
