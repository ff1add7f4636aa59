//! The write-ahead log of a table: checksummed records that a table replays on open.
//!
//! A record is `[length u32][crc32c u32][kind u8][payload]` (little-endian; the length and
//! checksum cover kind and payload). Reading stops at the first record that is cut short or
//! fails its checksum: a crash mid-append leaves a torn tail, which a writer truncates.
//!
//! The records follow the two-phase commit of sinks: a transaction's `Write`s are rows not yet
//! visible; `Prepare` assigns the rows written since the last `Prepare` to a checkpoint;
//! `Commit` makes the rows prepared for checkpoints up to `upto` visible; `Abort` discards
//! rows prepared after a checkpoint (or all) and rows not yet prepared. `Data` rows are
//! visible at once: they are what a log rewrite carries over.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;

use crate::codec;
use crate::error::{Result, StoreError, io};

/// One record of the log.
#[derive(Debug, Clone)]
pub(crate) enum Record {
    /// Rows of transaction `txn`, not visible yet.
    Write { txn: String, batch: RecordBatch },
    /// The rows `txn` wrote since its last prepare belong to `checkpoint`.
    Prepare { txn: String, checkpoint: u64 },
    /// The rows `txn` prepared for checkpoints up to `upto` become visible, committed at
    /// `at_ms` (their ingest time).
    Commit { txn: String, upto: u64, at_ms: i64 },
    /// `txn` discards its rows prepared after checkpoint `after` (all with `None`) and its
    /// rows not yet prepared.
    Abort { txn: String, after: Option<u64> },
    /// Committed rows, carried over by a log rewrite, ingested at `ingest_ms`.
    Data { ingest_ms: i64, batch: RecordBatch },
}

const WRITE: u8 = 1;
const PREPARE: u8 = 2;
const COMMIT: u8 = 3;
const ABORT: u8 = 4;
const DATA: u8 = 5;
const HEADER: usize = 8;

impl Record {
    fn encode(&self) -> Result<Vec<u8>> {
        let mut body = Vec::new();
        let put_txn = |body: &mut Vec<u8>, txn: &str| {
            body.extend_from_slice(&(txn.len() as u16).to_le_bytes());
            body.extend_from_slice(txn.as_bytes());
        };
        match self {
            Record::Write { txn, batch } => {
                body.push(WRITE);
                put_txn(&mut body, txn);
                body.extend_from_slice(&codec::encode_batch(batch)?);
            }
            Record::Prepare { txn, checkpoint } => {
                body.push(PREPARE);
                put_txn(&mut body, txn);
                body.extend_from_slice(&checkpoint.to_le_bytes());
            }
            Record::Commit { txn, upto, at_ms } => {
                body.push(COMMIT);
                put_txn(&mut body, txn);
                body.extend_from_slice(&upto.to_le_bytes());
                body.extend_from_slice(&at_ms.to_le_bytes());
            }
            Record::Abort { txn, after } => {
                body.push(ABORT);
                put_txn(&mut body, txn);
                body.push(u8::from(after.is_some()));
                body.extend_from_slice(&after.unwrap_or(0).to_le_bytes());
            }
            Record::Data { ingest_ms, batch } => {
                body.push(DATA);
                body.extend_from_slice(&ingest_ms.to_le_bytes());
                body.extend_from_slice(&codec::encode_batch(batch)?);
            }
        }
        let mut frame = Vec::with_capacity(HEADER + body.len());
        frame.extend_from_slice(&(body.len() as u32).to_le_bytes());
        frame.extend_from_slice(&crc32c::crc32c(&body).to_le_bytes());
        frame.extend_from_slice(&body);
        Ok(frame)
    }

    fn decode(body: &[u8]) -> Result<Record, String> {
        let mut at = 1;
        let take = |at: &mut usize, n: usize| -> Result<&[u8], String> {
            let bytes = body.get(*at..*at + n).ok_or("record cut short")?;
            *at += n;
            Ok(bytes)
        };
        let u64_at = |at: &mut usize| -> Result<u64, String> {
            Ok(u64::from_le_bytes(
                take(at, 8)?.try_into().expect("8 bytes"),
            ))
        };
        let txn_at = |at: &mut usize| -> Result<String, String> {
            let len = u16::from_le_bytes(take(at, 2)?.try_into().expect("2 bytes")) as usize;
            String::from_utf8(take(at, len)?.to_vec()).map_err(|e| e.to_string())
        };
        let batch = |bytes: &[u8]| codec::decode_batch(bytes).map_err(|e| e.to_string());
        Ok(match body.first() {
            Some(&WRITE) => {
                let txn = txn_at(&mut at)?;
                Record::Write {
                    txn,
                    batch: batch(&body[at..])?,
                }
            }
            Some(&PREPARE) => Record::Prepare {
                txn: txn_at(&mut at)?,
                checkpoint: u64_at(&mut at)?,
            },
            Some(&COMMIT) => Record::Commit {
                txn: txn_at(&mut at)?,
                upto: u64_at(&mut at)?,
                at_ms: u64_at(&mut at)? as i64,
            },
            Some(&ABORT) => {
                let txn = txn_at(&mut at)?;
                let some = take(&mut at, 1)?[0] == 1;
                let after = u64_at(&mut at)?;
                Record::Abort {
                    txn,
                    after: some.then_some(after),
                }
            }
            Some(&DATA) => {
                let ingest_ms = u64_at(&mut at)? as i64;
                Record::Data {
                    ingest_ms,
                    batch: batch(&body[at..])?,
                }
            }
            other => return Err(format!("unknown record kind {other:?}")),
        })
    }
}

/// The path of the log of generation `generation` in the table directory `dir`.
pub(crate) fn path(dir: &Path, generation: u64) -> PathBuf {
    dir.join(format!("wal-{generation:06}.log"))
}

/// The records of a log, and how many of its bytes hold whole records.
pub(crate) struct Replay {
    pub records: Vec<Record>,
    pub valid_len: u64,
    pub file_len: u64,
}

/// Reads the records of the log at `path` (none if it does not exist), up to a torn tail.
/// A record whose checksum holds but whose content does not decode is corruption, not a torn
/// tail, and is an error.
pub(crate) fn read(path: &Path) -> Result<Replay> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io(path)(e)),
    };
    let mut records = Vec::new();
    let mut at = 0usize;
    while at + HEADER <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().expect("4 bytes"));
        let Some(body) = bytes.get(at + HEADER..at + HEADER + len) else {
            break;
        };
        if crc32c::crc32c(body) != crc {
            break;
        }
        records.push(Record::decode(body).map_err(|reason| StoreError::Corrupt {
            path: path.to_path_buf(),
            reason: format!("record at byte {at}: {reason}"),
        })?);
        at += HEADER + len;
    }
    Ok(Replay {
        records,
        valid_len: at as u64,
        file_len: bytes.len() as u64,
    })
}

/// Appends records to a log.
pub(crate) struct WalWriter {
    file: File,
    path: PathBuf,
    bytes: u64,
}

impl WalWriter {
    /// Opens the log at `path` for appending after its first `valid_len` bytes (a torn tail
    /// beyond them is cut off).
    pub fn open(path: &Path, valid_len: u64) -> Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .write(true)
            .truncate(false)
            .open(path)
            .map_err(io(path))?;
        if file.metadata().map_err(io(path))?.len() != valid_len {
            file.set_len(valid_len).map_err(io(path))?;
            file.sync_all().map_err(io(path))?;
        }
        let mut writer = WalWriter {
            file,
            path: path.to_path_buf(),
            bytes: valid_len,
        };
        use std::io::Seek as _;
        writer
            .file
            .seek(std::io::SeekFrom::Start(valid_len))
            .map_err(io(path))?;
        writer.bytes = valid_len;
        Ok(writer)
    }

    /// Appends `record` (not yet durable: see [`WalWriter::sync`]).
    pub fn append(&mut self, record: &Record) -> Result<()> {
        let frame = record.encode()?;
        self.file.write_all(&frame).map_err(io(&self.path))?;
        self.bytes += frame.len() as u64;
        Ok(())
    }

    /// Makes every appended record durable.
    pub fn sync(&mut self) -> Result<()> {
        self.file.sync_data().map_err(io(&self.path))
    }

    /// The log's size in bytes.
    pub fn len(&self) -> u64 {
        self.bytes
    }
}
