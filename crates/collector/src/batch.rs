//! From lines to a [`Batch`]: each line is parsed, enriched and given its file, offset and
//! idempotency key; a malformed one becomes a [`DeadLetter`]. A batch is what the reading
//! thread hands to the sink, with how far each file got.

use std::fmt;
use std::ops::Range;

use memchr::{memchr, memchr_iter};

use crate::checkpoint::FileOffset;
use crate::enrich::Enricher;
use crate::event::{EventBuf, FieldsWriter};
use crate::fingerprint::{EventId, Fingerprint};
use crate::parse::{ParseError, Parser};

/// Bytes of a malformed line kept in its dead letter.
pub const DEAD_LETTER_TEXT_BYTES: usize = 4096;

/// One event in a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    /// Where its JSON is in [`Batch::events`].
    pub value: Range<usize>,
    /// Its idempotency key, also the record key.
    pub id: EventId,
    /// Its time (the line's own, else when it was read), in milliseconds since the epoch.
    pub timestamp_ms: i64,
}

/// A line that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The file it was read from.
    pub file: String,
    /// Its line number (1-based).
    pub line: u64,
    /// Its byte offset.
    pub offset: u64,
    /// Its idempotency key.
    pub id: EventId,
    /// Why it was refused.
    pub reason: String,
    /// The line (lossy UTF-8, at most [`DEAD_LETTER_TEXT_BYTES`]).
    pub text: String,
}

impl DeadLetter {
    /// The dead letter as one JSON object: `file`, `line`, `offset`, `event_id`, `reason`,
    /// `text`.
    pub fn to_json(&self) -> Vec<u8> {
        let mut fields = FieldsWriter::default();
        fields
            .str("file", &self.file)
            .uint("line", self.line)
            .uint("offset", self.offset)
            .str("event_id", &self.id.to_string())
            .str("reason", &self.reason)
            .str("text", &self.text);
        let fields = fields.finish();
        let mut out = Vec::with_capacity(fields.len() + 2);
        out.push(b'{');
        out.extend_from_slice(&fields);
        out.push(b'}');
        out
    }
}

impl fmt::Display for DeadLetter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.reason)
    }
}

/// Events and dead letters read together, and how far their files got.
#[derive(Debug, Default)]
pub struct Batch {
    /// The events' JSON, back to back.
    pub events: EventBuf,
    /// The events.
    pub records: Vec<EventRecord>,
    /// The malformed lines.
    pub dead_letters: Vec<DeadLetter>,
    /// Where each file read into this batch got (one entry per file, the last).
    pub progress: Vec<FileOffset>,
    /// Files seen by a scan since the previous batch, and when.
    pub seen: Option<(Vec<Fingerprint>, i64)>,
    /// Bytes of input read.
    pub input_bytes: u64,
    /// Lines read.
    pub lines: u64,
}

impl Batch {
    /// The JSON of `record`.
    pub fn value(&self, record: &EventRecord) -> &[u8] {
        &self.events.as_bytes()[record.value.clone()]
    }

    /// Whether the batch carries nothing at all.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
            && self.dead_letters.is_empty()
            && self.progress.is_empty()
            && self.seen.is_none()
    }

    /// Empties the batch, keeping the memory of its buffers for the next one.
    pub fn clear(&mut self) {
        self.events.clear();
        self.records.clear();
        self.dead_letters.clear();
        self.progress.clear();
        self.seen = None;
        self.input_bytes = 0;
        self.lines = 0;
    }

    /// Records that a file got to `offset`.
    pub fn set_progress(&mut self, offset: FileOffset) {
        match self
            .progress
            .iter_mut()
            .find(|p| p.fingerprint == offset.fingerprint)
        {
            Some(existing) => *existing = offset,
            None => self.progress.push(offset),
        }
    }
}

/// Where some lines come from.
#[derive(Debug, Clone, Copy)]
pub struct LinesFrom<'a> {
    /// The file's fingerprint.
    pub fingerprint: Fingerprint,
    /// The file's path, for dead letters.
    pub file: &'a str,
    /// The pre-encoded `"log_file":"…"` field.
    pub file_field: &'a [u8],
    /// Offset of the first line.
    pub offset: u64,
    /// Number of the first line.
    pub line: u64,
}

/// The encoded `"log_file":"…"` field of `path`.
pub fn file_field(path: &str) -> Box<[u8]> {
    let mut fields = FieldsWriter::default();
    fields.str("log_file", path);
    fields.finish()
}

/// Parses and enriches lines into batches: one parser per source, shared enrichments.
#[derive(Debug)]
pub struct LineProcessor {
    parsers: Vec<Parser>,
    enricher: Enricher,
}

impl LineProcessor {
    /// A processor with `parsers` (by source index) and `enricher`.
    pub fn new(parsers: Vec<Parser>, enricher: Enricher) -> Self {
        LineProcessor { parsers, enricher }
    }

    /// The enrichments (for their statistics).
    pub fn enricher(&self) -> &Enricher {
        &self.enricher
    }

    /// Adds every line of `data` (whole lines, each ending with a newline, except possibly
    /// the last when `data` is the end of a finished file) as an event or a dead letter of
    /// `batch`, with the parser of `source`. `now_ms` is the time of events without their own.
    pub fn process(
        &mut self,
        source: usize,
        data: &[u8],
        from: LinesFrom<'_>,
        now_ms: i64,
        batch: &mut Batch,
    ) {
        if self.parsers[source].address_leads() {
            self.enricher.look_ahead(first_words(data));
        }
        let mut start = 0;
        let mut line = from.line;
        let mut newlines = memchr_iter(b'\n', data);
        while start < data.len() {
            let end = newlines.next().unwrap_or(data.len());
            let offset = from.offset + start as u64;
            self.process_line(source, &data[start..end], line, offset, from, now_ms, batch);
            start = end + 1;
            line += 1;
        }
        batch.lines += line - from.line;
        batch.input_bytes += data.len() as u64;
    }

    #[allow(clippy::too_many_arguments)]
    fn process_line(
        &mut self,
        source: usize,
        text: &[u8],
        line: u64,
        offset: u64,
        from: LinesFrom<'_>,
        now_ms: i64,
        batch: &mut Batch,
    ) {
        let id = EventId {
            fingerprint: from.fingerprint,
            offset,
        };
        let out = &mut batch.events;
        out.begin();
        match self.parsers[source].parse(text, out) {
            Ok(parsed) => {
                self.enricher.enrich(&parsed, out);
                out.fields(from.file_field);
                out.uint_field("log_offset", offset);
                let mut key = [0; 40];
                out.plain_str_field("event_id", id.write(&mut key));
                let value = out.end();
                batch.records.push(EventRecord {
                    value,
                    id,
                    timestamp_ms: parsed.timestamp_ms.unwrap_or(now_ms),
                });
            }
            Err(error) => {
                out.rollback();
                batch
                    .dead_letters
                    .push(dead_letter(text, error, line, offset, id, from.file));
            }
        }
    }

    /// Adds the cut start of a line longer than the limit as a dead letter.
    pub fn oversized(&self, data: &[u8], from: LinesFrom<'_>, batch: &mut Batch) {
        let id = EventId {
            fingerprint: from.fingerprint,
            offset: from.offset,
        };
        let error = ParseError::TooLong(data.len());
        batch.dead_letters.push(dead_letter(
            data,
            error,
            from.line,
            from.offset,
            id,
            from.file,
        ));
        batch.input_bytes += data.len() as u64;
    }
}

/// The first word of each line of `data`: the client address in the Common Log Format.
fn first_words(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= data.len() {
            return None;
        }
        let line = &data[start..];
        let end = memchr(b'\n', line).unwrap_or(line.len());
        start += end + 1;
        let line = &line[..end];
        Some(memchr(b' ', line).map_or(line, |space| &line[..space]))
    })
}

fn dead_letter(
    text: &[u8],
    error: ParseError,
    line: u64,
    offset: u64,
    id: EventId,
    file: &str,
) -> DeadLetter {
    let text = &text[..text.len().min(DEAD_LETTER_TEXT_BYTES)];
    DeadLetter {
        file: file.to_string(),
        line,
        offset,
        id,
        reason: error.to_string(),
        text: String::from_utf8_lossy(text).into_owned(),
    }
}
