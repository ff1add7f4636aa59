//! Rows as JSON (an array of objects, nulls written out) and as an Arrow IPC stream.

use arrow::array::RecordBatch;
use arrow::datatypes::Schema;
use arrow::error::ArrowError;

/// The rows as a JSON array of objects, one per row, every column present.
pub(crate) fn json_rows(batches: &[RecordBatch]) -> Result<Vec<u8>, ArrowError> {
    let mut writer = arrow_json::WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, arrow_json::writer::JsonArray>(Vec::new());
    for batch in batches {
        writer.write(batch)?;
    }
    writer.finish()?;
    let bytes = writer.into_inner();
    Ok(match bytes.is_empty() {
        true => b"[]".to_vec(),
        false => bytes,
    })
}

/// The rows as an Arrow IPC stream; of `schema` when there are no batches to take it from
/// (an answer without rows still has columns).
pub(crate) fn arrow_stream(
    schema: &Schema,
    batches: &[RecordBatch],
) -> Result<Vec<u8>, ArrowError> {
    let schema = batches.first().map_or(schema, |b| b.schema_ref().as_ref());
    let mut writer = arrow::ipc::writer::StreamWriter::try_new(Vec::new(), schema)?;
    for batch in batches {
        writer.write(batch)?;
    }
    writer.finish()?;
    writer.into_inner()
}
