//! `spate collect parse`: files parsed once, events printed as NDJSON, with the collector's
//! parsers and enrichments (and the same `event_id`s, since a file's fingerprint and offsets
//! do not depend on how it is read).

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use memchr::memrchr;

use crate::batch::{Batch, LineProcessor, LinesFrom, file_field};
use crate::error::{CollectorError, Result};
use crate::fingerprint::{self, Fingerprint};

/// Bytes read at once.
const READ_BYTES: usize = 256 * 1024;

/// Counts of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParseSummary {
    /// Lines parsed into events.
    pub parsed: u64,
    /// Lines sent to the dead letters.
    pub dead_lettered: u64,
}

/// Parses every line of `path` with the parser of source 0 of `processor`, writing events
/// (one JSON object a line) to `events` and dead letters (`file:line: reason`) to
/// `dead_letters`. A last line without a newline is parsed too: the file is taken as
/// finished. `fingerprint_bytes` must be the collector's, for the same `event_id`s.
pub fn parse_file(
    path: &Path,
    processor: &mut LineProcessor,
    fingerprint_bytes: usize,
    events: &mut dyn Write,
    dead_letters: &mut dyn Write,
) -> Result<ParseSummary> {
    let io = |e: std::io::Error| CollectorError::io(path, e);
    let mut file = File::open(path).map_err(io)?;
    let name = path.to_string_lossy();
    let field = file_field(&name);
    let mut summary = ParseSummary::default();
    let mut buf = vec![0; READ_BYTES];
    let mut filled = 0;
    let mut offset = 0u64;
    let mut line = 1u64;
    let mut fingerprint: Option<Fingerprint> = None;
    let mut batch = Batch::default();
    loop {
        if filled == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        let n = file.read(&mut buf[filled..]).map_err(io)?;
        filled += n;
        let finished = n == 0;
        let fp = match fingerprint {
            Some(fp) => fp,
            None => {
                let found = fingerprint::of_prefix(&buf[..filled], fingerprint_bytes);
                match found {
                    Some(fp) => *fingerprint.insert(fp),
                    // A short file of one line without a newline.
                    None if finished => {
                        fingerprint::of_prefix(&[&buf[..filled], b"\n"].concat(), fingerprint_bytes)
                            .unwrap_or(Fingerprint(0))
                    }
                    None => continue,
                }
            }
        };
        let end = if finished {
            filled
        } else {
            match memrchr(b'\n', &buf[..filled]) {
                Some(last) => last + 1,
                None => continue,
            }
        };
        let from = LinesFrom {
            fingerprint: fp,
            file: &name,
            file_field: &field,
            offset,
            line,
        };
        processor.process(0, &buf[..end], from, spate_log::now_ms(), &mut batch);
        for record in &batch.records {
            events.write_all(batch.value(record)).map_err(io)?;
            events.write_all(b"\n").map_err(io)?;
        }
        for dead in &batch.dead_letters {
            writeln!(dead_letters, "{dead}").map_err(io)?;
        }
        summary.parsed += batch.records.len() as u64;
        summary.dead_lettered += batch.dead_letters.len() as u64;
        line += batch.lines;
        offset += end as u64;
        batch = Batch::default();
        buf.copy_within(end..filled, 0);
        filled -= end;
        if finished {
            return Ok(summary);
        }
    }
}
