//! Arrow IPC encoding of batches and schemas, as the write-ahead log and the table files keep
//! them.

use std::io::Cursor;

use arrow::array::RecordBatch;
use arrow::datatypes::Schema;
use arrow::error::ArrowError;
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;

/// `batch` as an Arrow IPC stream (its schema, then the batch).
pub(crate) fn encode_batch(batch: &RecordBatch) -> Result<Vec<u8>, ArrowError> {
    let mut out = Vec::with_capacity(batch.get_array_memory_size() + 512);
    let mut writer = StreamWriter::try_new(&mut out, batch.schema_ref())?;
    writer.write(batch)?;
    writer.finish()?;
    drop(writer);
    Ok(out)
}

/// The batch of an IPC stream written by [`encode_batch`].
pub(crate) fn decode_batch(bytes: &[u8]) -> Result<RecordBatch, ArrowError> {
    let mut reader = StreamReader::try_new(Cursor::new(bytes), None)?;
    match reader.next() {
        Some(batch) => batch,
        None => Err(ArrowError::IpcError("the stream holds no batch".into())),
    }
}

/// `schema` as an IPC stream without batches.
pub(crate) fn encode_schema(schema: &Schema) -> Result<Vec<u8>, ArrowError> {
    let mut out = Vec::new();
    let mut writer = StreamWriter::try_new(&mut out, schema)?;
    writer.finish()?;
    drop(writer);
    Ok(out)
}

/// The schema of an IPC stream written by [`encode_schema`].
pub(crate) fn decode_schema(bytes: &[u8]) -> Result<Schema, ArrowError> {
    let reader = StreamReader::try_new(Cursor::new(bytes), None)?;
    Ok(reader.schema().as_ref().clone())
}
