//! Reads: fetching batches from a segment into a reusable buffer, and iterating over them.

use std::fmt;
use std::mem;
use std::ops::Range;

use crate::batch::{self, BatchHeader, BatchRecords};
use crate::error::{LogError, Result};
use crate::index::INDEX_INTERVAL_BYTES;
use crate::record::RecordView;
use crate::segment::{Segment, Window};

/// The result of a fetch: whole batches read into one owned buffer, validated, and iterated
/// as [`RecordView`]s that borrow from it (no allocation per record).
///
/// Reuse one value with [`Topic::fetch_into`](crate::Topic::fetch_into) to keep its buffer.
#[derive(Default)]
pub struct FetchedRecords {
    buf: Vec<u8>,
    batches: Vec<Range<usize>>,
    first_offset: u64,
    next_offset: u64,
    high_watermark: u64,
    count: usize,
}

impl FetchedRecords {
    /// An empty result, to fill with [`Topic::fetch_into`](crate::Topic::fetch_into).
    pub fn new() -> Self {
        FetchedRecords::default()
    }

    /// The records, in offset order, starting at the offset asked for.
    pub fn iter(&self) -> Records<'_> {
        Records {
            buf: &self.buf,
            batches: self.batches.iter(),
            current: None,
            first_offset: self.first_offset,
        }
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether no record was fetched (the offset asked for is the end offset).
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The offset to fetch next: one past the last record returned, or the offset asked for
    /// when nothing was returned.
    pub fn next_offset(&self) -> u64 {
        self.next_offset
    }

    /// The partition's end offset (high watermark) when the fetch was made.
    pub fn high_watermark(&self) -> u64 {
        self.high_watermark
    }

    /// Bytes of the batches fetched, as stored in the log.
    pub fn size_bytes(&self) -> usize {
        self.batches.iter().map(ExactSizeIterator::len).sum()
    }

    /// Empties the result for a fetch at `offset` of a partition whose end offset is
    /// `high_watermark`.
    pub(crate) fn reset(&mut self, offset: u64, high_watermark: u64) {
        self.batches.clear();
        self.first_offset = offset;
        self.next_offset = offset;
        self.high_watermark = high_watermark;
        self.count = 0;
    }
}

impl fmt::Debug for FetchedRecords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FetchedRecords")
            .field("records", &self.count)
            .field("batches", &self.batches.len())
            .field("next_offset", &self.next_offset)
            .field("high_watermark", &self.high_watermark)
            .finish()
    }
}

impl<'a> IntoIterator for &'a FetchedRecords {
    type Item = RecordView<'a>;
    type IntoIter = Records<'a>;

    fn into_iter(self) -> Records<'a> {
        self.iter()
    }
}

/// Iterator over the records of a [`FetchedRecords`].
#[derive(Clone)]
pub struct Records<'a> {
    buf: &'a [u8],
    batches: std::slice::Iter<'a, Range<usize>>,
    current: Option<BatchRecords<'a>>,
    first_offset: u64,
}

impl<'a> Iterator for Records<'a> {
    type Item = RecordView<'a>;

    fn next(&mut self) -> Option<RecordView<'a>> {
        loop {
            if let Some(record) = self
                .current
                .as_mut()
                .and_then(|batch| batch.find(|r| r.offset >= self.first_offset))
            {
                return Some(record);
            }
            let range = self.batches.next()?;
            self.current = Some(BatchRecords::new(&self.buf[range.clone()]));
        }
    }
}

/// Fills `out` (already [reset](FetchedRecords::reset) for `offset`) with the validated
/// batches of `segment` from the one holding `offset`, up to `max_bytes` but at least one.
pub(crate) fn read_segment(
    segment: &Segment,
    offset: u64,
    max_bytes: usize,
    out: &mut FetchedRecords,
) -> Result<()> {
    let chunk = max_bytes.max(INDEX_INTERVAL_BYTES as usize);
    let mut window = segment.window(chunk, mem::take(&mut out.buf));
    let result = read_batches(segment, &mut window, offset, max_bytes, &mut out.batches);
    out.buf = window.into_buf();
    let (next_offset, count) = result?;
    out.next_offset = next_offset;
    out.count = count;
    // Batches published after the end offset was read are complete too.
    out.high_watermark = out.high_watermark.max(next_offset);
    Ok(())
}

/// Walks batch headers from the index entry before `offset` to the batch holding it, then
/// reads and validates batches from there. Returns the next offset and the record count.
fn read_batches(
    segment: &Segment,
    window: &mut Window<'_>,
    offset: u64,
    max_bytes: usize,
    batches: &mut Vec<Range<usize>>,
) -> Result<(u64, usize)> {
    let limit = window.limit();
    let (mut pos, mut expected) = segment.seek(offset);
    let first = loop {
        if pos >= limit {
            let reason =
                format!("offset {offset} is missing: the segment ends at offset {expected}");
            return Err(corrupt(segment, pos, expected, reason));
        }
        let header = window
            .header_at(pos)?
            .map_err(|reason| corrupt(segment, pos, expected, reason))?;
        if header.base_offset != expected {
            return Err(corrupt(
                segment,
                pos,
                expected,
                offset_mismatch(&header, expected),
            ));
        }
        if offset < header.next_offset() {
            break header;
        }
        pos += u64::from(header.length);
        expected = header.next_offset();
    };

    let span = (limit - pos).min(max_bytes.max(first.length as usize) as u64) as usize;
    let start = window.load(pos, span)?;
    let bytes = &window.buf()[start..start + span];
    let (mut at, mut count) = (0, 0);
    while let Some(header) = BatchHeader::parse(&bytes[at..]) {
        let end = at + header.length as usize;
        if end > span {
            break;
        }
        let reason = match batch::verify(&bytes[at..end]) {
            Ok(h) if h.base_offset == expected => None,
            Ok(h) => Some(offset_mismatch(&h, expected)),
            Err(reason) => Some(reason),
        };
        if let Some(reason) = reason {
            if batches.is_empty() {
                return Err(corrupt(segment, pos + at as u64, expected, reason));
            }
            break;
        }
        batches.push(start + at..start + end);
        count += (header.next_offset() - offset.max(header.base_offset)) as usize;
        expected = header.next_offset();
        at = end;
    }
    Ok((expected, count))
}

/// The first offset in `segment` whose record has a timestamp at or after `timestamp`.
pub(crate) fn find_timestamp(segment: &Segment, timestamp: i64) -> Result<Option<u64>> {
    let mut window = segment.window(INDEX_INTERVAL_BYTES as usize, Vec::new());
    let (mut pos, mut expected) = segment.seek_time(timestamp, window.limit());
    while pos < window.limit() {
        let header = window
            .header_at(pos)?
            .map_err(|reason| corrupt(segment, pos, expected, reason))?;
        if header.max_timestamp >= timestamp {
            let bytes = window.bytes(pos, header.length as usize)?;
            batch::verify(bytes).map_err(|reason| corrupt(segment, pos, expected, reason))?;
            if let Some(record) = BatchRecords::new(bytes).find(|r| r.timestamp >= timestamp) {
                return Ok(Some(record.offset));
            }
        }
        pos += u64::from(header.length);
        expected = header.next_offset();
    }
    Ok(None)
}

fn offset_mismatch(header: &BatchHeader, expected: u64) -> String {
    format!(
        "batch has base offset {}, expected {expected}",
        header.base_offset
    )
}

fn corrupt(segment: &Segment, position: u64, offset: u64, reason: String) -> LogError {
    LogError::Corrupt {
        file: segment.log_path().to_path_buf(),
        position,
        offset,
        reason,
    }
}
