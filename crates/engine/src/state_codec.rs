//! A small length-prefixed binary layout for operator state in checkpoints.

use std::io::Cursor;

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use arrow::datatypes::SchemaRef;
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;

use crate::error::{EngineError, Result};

/// Writes state fields in order.
#[derive(Debug, Default)]
pub struct StateWriter {
    buf: Vec<u8>,
}

impl StateWriter {
    /// An empty writer.
    pub fn new() -> Self {
        StateWriter::default()
    }

    /// Appends a signed integer.
    pub fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// Appends an unsigned integer.
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// Appends a length-prefixed byte string.
    pub fn bytes(&mut self, v: &[u8]) {
        self.u64(v.len() as u64);
        self.buf.extend_from_slice(v);
    }

    /// Appends rows, as an Arrow IPC stream.
    pub fn batch(&mut self, batch: &RecordBatch) -> Result<()> {
        let mut bytes = Vec::new();
        let mut writer = StreamWriter::try_new(&mut bytes, batch.schema_ref())?;
        writer.write(batch)?;
        writer.finish()?;
        drop(writer);
        self.bytes(&bytes);
        Ok(())
    }

    /// The encoded state.
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// Reads state fields in the order they were written.
#[derive(Debug)]
pub struct StateReader<'a> {
    buf: &'a [u8],
    owner: &'a str,
}

impl<'a> StateReader<'a> {
    /// Reads `buf`, naming `owner` in errors.
    pub fn new(buf: &'a [u8], owner: &'a str) -> Self {
        StateReader { buf, owner }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.buf.len() < n {
            return Err(EngineError::CorruptState {
                task: self.owner.to_string(),
                reason: format!(
                    "state ends early: wanted {n} more bytes, {} left",
                    self.buf.len()
                ),
            });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    /// Reads a signed integer.
    pub fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    /// Reads an unsigned integer.
    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    /// Reads a length-prefixed byte string.
    pub fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.u64()? as usize;
        self.take(n)
    }

    /// Reads rows written by [`StateWriter::batch`], which must have `schema`.
    pub fn batch(&mut self, schema: &SchemaRef) -> Result<RecordBatch> {
        let bytes = self.bytes()?;
        let corrupt = |reason: String| EngineError::CorruptState {
            task: self.owner.to_string(),
            reason,
        };
        let reader =
            StreamReader::try_new(Cursor::new(bytes), None).map_err(|e| corrupt(e.to_string()))?;
        if reader.schema().fields() != schema.fields() {
            return Err(corrupt(format!(
                "stored rows have schema {:?}, the job expects {schema:?}",
                reader.schema()
            )));
        }
        let batches = reader.collect::<Result<Vec<_>, _>>()?;
        Ok(concat_batches(schema, &batches)?)
    }
}
