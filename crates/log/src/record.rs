//! Records: the type appended, the view read back, and their encoding inside a batch.
//!
//! A record is encoded as unsigned LEB128 varints and raw bytes:
//!
//! ```text
//! length           varint   bytes of the record after this field
//! timestamp_delta  varint   zigzag(timestamp - batch first_timestamp)
//! offset_delta     varint   offset - batch base_offset (0, 1, 2, … within the batch)
//! key_tag          varint   0 for no key, else key length + 1
//! key              bytes
//! value_length     varint
//! value            bytes
//! ```

/// A record to append: timestamp (epoch milliseconds), optional key, value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// Event time in milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// The key; it also picks the partition (see [`partition_for_key`](crate::partition_for_key)).
    pub key: Option<&'a [u8]>,
    /// The payload.
    pub value: &'a [u8],
}

impl<'a> Record<'a> {
    /// A keyless record.
    pub fn new(timestamp: i64, value: &'a [u8]) -> Self {
        Record {
            timestamp,
            key: None,
            value,
        }
    }

    /// The same record with a key.
    pub fn with_key(self, key: &'a [u8]) -> Self {
        Record {
            key: Some(key),
            ..self
        }
    }
}

/// A record read back from the log, borrowing from the [`FetchedRecords`](crate::FetchedRecords)
/// buffer it was fetched into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordView<'a> {
    /// The record's offset in its partition.
    pub offset: u64,
    /// Event time in milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// The key, if any.
    pub key: Option<&'a [u8]>,
    /// The payload.
    pub value: &'a [u8],
}

/// A record decoded from a batch, relative to the batch header.
pub(crate) struct Decoded<'a> {
    pub offset_delta: u64,
    pub timestamp_delta: i64,
    pub key: Option<&'a [u8]>,
    pub value: &'a [u8],
}

/// Appends `record` to `buf`.
pub(crate) fn encode(
    buf: &mut Vec<u8>,
    record: &Record<'_>,
    offset_delta: u32,
    first_timestamp: i64,
) {
    let timestamp = zigzag(record.timestamp.wrapping_sub(first_timestamp));
    let offset_delta = u64::from(offset_delta);
    let key_len = record.key.map_or(0, <[u8]>::len);
    let key_tag = record.key.map_or(0, |k| k.len() as u64 + 1);
    let value_len = record.value.len() as u64;
    let length = uvarint_len(timestamp)
        + uvarint_len(offset_delta)
        + uvarint_len(key_tag)
        + key_len
        + uvarint_len(value_len)
        + record.value.len();
    put_uvarint(buf, length as u64);
    put_uvarint(buf, timestamp);
    put_uvarint(buf, offset_delta);
    put_uvarint(buf, key_tag);
    if let Some(key) = record.key {
        buf.extend_from_slice(key);
    }
    put_uvarint(buf, value_len);
    buf.extend_from_slice(record.value);
}

/// Decodes the record at `*pos` and advances `*pos` past it; `None` if it is malformed or does
/// not fit in `buf`.
pub(crate) fn decode<'a>(buf: &'a [u8], pos: &mut usize) -> Option<Decoded<'a>> {
    let length = usize::try_from(get_uvarint(buf, pos)?).ok()?;
    let end = pos.checked_add(length).filter(|&end| end <= buf.len())?;
    let record = &buf[..end];
    let timestamp_delta = unzigzag(get_uvarint(record, pos)?);
    let offset_delta = get_uvarint(record, pos)?;
    let key = match get_uvarint(record, pos)? {
        0 => None,
        tag => Some(take(record, pos, tag - 1)?),
    };
    let value_len = get_uvarint(record, pos)?;
    let value = take(record, pos, value_len)?;
    (*pos == end).then_some(Decoded {
        offset_delta,
        timestamp_delta,
        key,
        value,
    })
}

fn take<'a>(buf: &'a [u8], pos: &mut usize, len: u64) -> Option<&'a [u8]> {
    let len = usize::try_from(len).ok()?;
    let bytes = buf.get(*pos..pos.checked_add(len)?)?;
    *pos += len;
    Some(bytes)
}

fn put_uvarint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push(v as u8 | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn uvarint_len(v: u64) -> usize {
    (70 - (v | 1).leading_zeros() as usize) / 7
}

fn get_uvarint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(*pos)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return (shift < 63 || byte <= 1).then_some(value);
        }
    }
    None
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    (v >> 1) as i64 ^ -((v & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_report_their_length() {
        for v in [
            0,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut buf = Vec::new();
            put_uvarint(&mut buf, v);
            assert_eq!(buf.len(), uvarint_len(v), "{v}");
            let mut pos = 0;
            assert_eq!(get_uvarint(&buf, &mut pos), Some(v));
            assert_eq!(pos, buf.len());
        }
        for v in [0, 1, -1, 63, -64, i64::MAX, i64::MIN] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        let mut pos = 0;
        assert_eq!(get_uvarint(&[0x80; 11], &mut pos), None);
    }

    #[test]
    fn records_round_trip_and_truncation_is_detected() {
        let mut buf = Vec::new();
        encode(&mut buf, &Record::new(5, b"v1").with_key(b"k"), 0, 10);
        encode(&mut buf, &Record::new(i64::MIN, b""), 1, 10);
        let mut pos = 0;
        let a = decode(&buf, &mut pos).unwrap();
        assert_eq!((a.offset_delta, a.timestamp_delta), (0, -5));
        assert_eq!((a.key, a.value), (Some(&b"k"[..]), &b"v1"[..]));
        let b = decode(&buf, &mut pos).unwrap();
        assert_eq!(b.timestamp_delta.wrapping_add(10), i64::MIN);
        assert_eq!((b.key, b.value), (None, &b""[..]));
        assert_eq!(pos, buf.len());
        let truncated = &buf[..buf.len() - 1];
        let mut pos = 0;
        assert!(decode(truncated, &mut pos).is_some());
        assert!(decode(truncated, &mut pos).is_none());
    }
}
