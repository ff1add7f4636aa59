//! Record batches: the unit of appends, of checksums and of reads.
//!
//! A batch is a 37-byte header followed by its records (see [`record`](crate::record)); all
//! integers are little-endian:
//!
//! ```text
//! 0   base_offset      u64  offset of the first record
//! 8   length           u32  bytes of the whole batch, header included
//! 12  crc              u32  CRC32C of bytes [0, 12) then [16, length): every byte but itself
//! 16  magic            u8   format version, 1
//! 17  record_count     u32  at least 1; offsets are base_offset .. base_offset + record_count
//! 21  first_timestamp  i64  timestamp of the first record, base of the timestamp deltas
//! 29  max_timestamp    i64  largest timestamp in the batch
//! 37  records
//! ```

use crate::error::{LogError, Result};
use crate::record::{self, Record, RecordView};

/// Bytes of the batch header.
pub(crate) const HEADER_LEN: usize = 37;

/// Current format version.
const MAGIC: u8 = 1;

/// Largest batch accepted (1 GiB), so that batch lengths and segment positions fit in 32 bits.
pub(crate) const MAX_BATCH_BYTES: usize = 1 << 30;

/// The fixed fields of a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BatchHeader {
    pub base_offset: u64,
    pub length: u32,
    pub magic: u8,
    pub record_count: u32,
    pub first_timestamp: i64,
    pub max_timestamp: i64,
}

impl BatchHeader {
    /// Reads the header fields (not the checksum) from the start of `bytes`, or `None` if
    /// `bytes` is shorter than a header.
    pub fn parse(bytes: &[u8]) -> Option<BatchHeader> {
        let h: &[u8; HEADER_LEN] = bytes.get(..HEADER_LEN)?.try_into().ok()?;
        let u32_at = |i: usize| u32::from_le_bytes(h[i..i + 4].try_into().unwrap());
        let u64_at = |i: usize| u64::from_le_bytes(h[i..i + 8].try_into().unwrap());
        Some(BatchHeader {
            base_offset: u64_at(0),
            length: u32_at(8),
            magic: h[16],
            record_count: u32_at(17),
            first_timestamp: u64_at(21) as i64,
            max_timestamp: u64_at(29) as i64,
        })
    }

    /// Checks the framing fields that can be checked without the body, so that `length` can be
    /// trusted to skip over the batch.
    pub fn check_framing(&self) -> Result<(), String> {
        if self.magic != MAGIC {
            return Err(format!("unknown format version {}", self.magic));
        }
        if (self.length as usize) < HEADER_LEN || self.length as usize > MAX_BATCH_BYTES {
            return Err(format!("impossible batch length {}", self.length));
        }
        if self.record_count == 0 {
            return Err("batch claims no records".into());
        }
        Ok(())
    }

    /// Offset after the last record of the batch.
    pub fn next_offset(&self) -> u64 {
        self.base_offset + u64::from(self.record_count)
    }
}

/// Encodes `records` as one batch starting at `base_offset` into `buf` (cleared first).
pub(crate) fn encode(
    buf: &mut Vec<u8>,
    base_offset: u64,
    records: &[Record<'_>],
) -> Result<BatchHeader> {
    let record_count = u32::try_from(records.len())
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| {
            LogError::InvalidArgument(format!(
                "a batch needs 1 to {} records, got {}",
                u32::MAX,
                records.len()
            ))
        })?;
    let payload: usize = records
        .iter()
        .map(|r| r.value.len() + r.key.map_or(0, <[u8]>::len) + 12)
        .sum();
    buf.clear();
    buf.reserve(HEADER_LEN + payload);
    buf.resize(HEADER_LEN, 0);
    let first_timestamp = records[0].timestamp;
    let mut max_timestamp = first_timestamp;
    for (delta, record) in (0..).zip(records) {
        max_timestamp = max_timestamp.max(record.timestamp);
        record::encode(buf, record, delta, first_timestamp);
    }
    if buf.len() > MAX_BATCH_BYTES {
        return Err(LogError::InvalidArgument(format!(
            "batch of {} bytes exceeds the maximum of {MAX_BATCH_BYTES}",
            buf.len()
        )));
    }
    let header = BatchHeader {
        base_offset,
        length: buf.len() as u32,
        magic: MAGIC,
        record_count,
        first_timestamp,
        max_timestamp,
    };
    buf[0..8].copy_from_slice(&base_offset.to_le_bytes());
    buf[8..12].copy_from_slice(&header.length.to_le_bytes());
    buf[16] = MAGIC;
    buf[17..21].copy_from_slice(&record_count.to_le_bytes());
    buf[21..29].copy_from_slice(&first_timestamp.to_le_bytes());
    buf[29..37].copy_from_slice(&max_timestamp.to_le_bytes());
    let crc = checksum(buf);
    buf[12..16].copy_from_slice(&crc.to_le_bytes());
    Ok(header)
}

/// Validates a whole batch (`bytes` is exactly one batch): framing, checksum, and the framing
/// and offset deltas of every record. Returns its header, or why it is corrupt.
pub(crate) fn verify(bytes: &[u8]) -> Result<BatchHeader, String> {
    let header = BatchHeader::parse(bytes).ok_or("truncated batch header")?;
    header.check_framing()?;
    if header.length as usize != bytes.len() {
        return Err(format!(
            "batch length {} does not match the {} bytes available",
            header.length,
            bytes.len()
        ));
    }
    let stored = u32::from_le_bytes(bytes[12..16].try_into().unwrap());
    let computed = checksum(bytes);
    if stored != computed {
        return Err(format!(
            "checksum mismatch: stored {stored:#010x}, computed {computed:#010x}"
        ));
    }
    let mut pos = HEADER_LEN;
    for expected in 0..u64::from(header.record_count) {
        match record::decode(bytes, &mut pos) {
            Some(r) if r.offset_delta == expected => {}
            Some(r) => {
                return Err(format!(
                    "record {expected} has offset delta {}",
                    r.offset_delta
                ));
            }
            None => return Err(format!("record {expected} is malformed")),
        }
    }
    if pos != bytes.len() {
        return Err(format!(
            "{} trailing bytes after the records",
            bytes.len() - pos
        ));
    }
    Ok(header)
}

/// CRC32C of every byte of the batch except the checksum field itself.
fn checksum(batch: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&batch[..12]), &batch[16..])
}

/// Iterates over the records of a batch that passed [`verify`].
#[derive(Clone)]
pub(crate) struct BatchRecords<'a> {
    bytes: &'a [u8],
    pos: usize,
    base_offset: u64,
    first_timestamp: i64,
}

impl<'a> BatchRecords<'a> {
    /// The records of the verified batch `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        let header = BatchHeader::parse(bytes);
        BatchRecords {
            bytes,
            pos: HEADER_LEN,
            base_offset: header.map_or(0, |h| h.base_offset),
            first_timestamp: header.map_or(0, |h| h.first_timestamp),
        }
    }
}

impl<'a> Iterator for BatchRecords<'a> {
    type Item = RecordView<'a>;

    fn next(&mut self) -> Option<RecordView<'a>> {
        let r = record::decode(self.bytes, &mut self.pos)?;
        Some(RecordView {
            offset: self.base_offset + r.offset_delta,
            timestamp: self.first_timestamp.wrapping_add(r.timestamp_delta),
            key: r.key,
            value: r.value,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (Vec<u8>, BatchHeader) {
        let records = [
            Record::new(100, b"first").with_key(b"a"),
            Record::new(90, b"second"),
            Record::new(120, b"third").with_key(b""),
        ];
        let mut buf = Vec::new();
        let header = encode(&mut buf, 42, &records).unwrap();
        (buf, header)
    }

    #[test]
    fn encode_then_verify_and_iterate() {
        let (buf, header) = sample();
        assert_eq!(verify(&buf).unwrap(), header);
        assert_eq!(header.next_offset(), 45);
        assert_eq!((header.first_timestamp, header.max_timestamp), (100, 120));
        let records: Vec<_> = BatchRecords::new(&buf).collect();
        assert_eq!(records.len(), 3);
        assert_eq!(records[1].offset, 43);
        assert_eq!(records[1].timestamp, 90);
        assert_eq!(records[0].key, Some(&b"a"[..]));
        assert_eq!(records[2].key, Some(&b""[..]));
        assert_eq!(records[2].value, b"third");
    }

    #[test]
    fn every_flipped_byte_is_detected() {
        let (buf, _) = sample();
        for i in 0..buf.len() {
            let mut bad = buf.clone();
            bad[i] ^= 0x20;
            assert!(verify(&bad).is_err(), "flip at byte {i} went unnoticed");
        }
        assert!(verify(&buf[..buf.len() - 1]).is_err());
    }

    #[test]
    fn empty_batches_are_refused() {
        assert!(matches!(
            encode(&mut Vec::new(), 0, &[]),
            Err(LogError::InvalidArgument(_))
        ));
    }
}
