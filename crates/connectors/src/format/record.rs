//! One row per message: the value (or key) formats of message connectors such as Kafka —
//! `json` (one object), `csv` (one line in Flink's layout) and `raw` (the bytes of a single
//! `STRING` or `BYTES` column) — decoded into batches and encoded from them.

use std::sync::Arc;

use arrow::array::{Array, AsArray, BinaryArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, SchemaRef};

use spate_engine::EngineError;

use super::csv::{CsvDecoder, write_csv};
use super::json::{JsonDecoder, Rejected};

/// A message format, by its Flink name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordFormat {
    /// `json`: one JSON object per message.
    Json,
    /// `csv`: one CSV line per message, without the line break.
    Csv,
    /// `raw`: the message is the value of the only column, `STRING` (UTF-8) or `BYTES`.
    Raw,
}

impl RecordFormat {
    /// The format named `name` (`json`, `csv` or `raw`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "json" => Some(RecordFormat::Json),
            "csv" => Some(RecordFormat::Csv),
            "raw" => Some(RecordFormat::Raw),
            _ => None,
        }
    }

    /// Checks that rows of `schema` fit the format: `raw` takes exactly one `STRING` or
    /// `BYTES` column.
    pub fn check(self, schema: &SchemaRef) -> Result<(), String> {
        if self != RecordFormat::Raw {
            return Ok(());
        }
        match schema.fields().as_ref() {
            [field] if matches!(field.data_type(), DataType::Utf8 | DataType::Binary) => Ok(()),
            fields => Err(format!(
                "the raw format takes one STRING or BYTES column, not {}",
                match fields.len() {
                    1 => format!("a column of type {}", fields[0].data_type()),
                    n => format!("{n} columns"),
                }
            )),
        }
    }
}

/// Decodes messages of one [`RecordFormat`] into batches of a fixed schema; a message that
/// does not decode is rejected alone.
#[derive(Debug)]
pub enum RecordDecoder {
    /// JSON objects.
    Json(Box<JsonDecoder>),
    /// CSV lines.
    Csv(CsvDecoder),
    /// Raw bytes into the one column of the schema.
    Raw(SchemaRef),
}

impl RecordDecoder {
    /// A decoder of `format` producing batches of `schema`.
    pub fn new(format: RecordFormat, schema: SchemaRef) -> Result<Self, EngineError> {
        format
            .check(&schema)
            .map_err(|message| EngineError::Source {
                name: "raw format".into(),
                message,
            })?;
        Ok(match format {
            RecordFormat::Json => RecordDecoder::Json(Box::new(JsonDecoder::new(schema)?)),
            RecordFormat::Csv => RecordDecoder::Csv(CsvDecoder::new(schema)),
            RecordFormat::Raw => RecordDecoder::Raw(schema),
        })
    }

    /// Decodes `records` into one batch, returning the records that failed.
    pub fn decode<'a>(
        &mut self,
        records: impl Iterator<Item = &'a [u8]> + Clone,
    ) -> Result<(RecordBatch, Vec<Rejected>), EngineError> {
        match self {
            RecordDecoder::Json(d) => d.decode(records),
            RecordDecoder::Csv(d) => d.decode(records),
            RecordDecoder::Raw(schema) => {
                let mut rejected = Vec::new();
                let column: Arc<dyn Array> = match schema.field(0).data_type() {
                    DataType::Utf8 => {
                        let mut values = Vec::new();
                        for (index, r) in records.enumerate() {
                            match std::str::from_utf8(r) {
                                Ok(s) => values.push(s),
                                Err(e) => rejected.push(Rejected {
                                    index,
                                    reason: format!("not UTF-8: {e}"),
                                }),
                            }
                        }
                        Arc::new(StringArray::from(values))
                    }
                    _ => Arc::new(BinaryArray::from_iter_values(records)),
                };
                Ok((
                    RecordBatch::try_new(schema.clone(), vec![column])?,
                    rejected,
                ))
            }
        }
    }
}

/// The rows of `batch` encoded in `format`, one message each; `None` where a `raw` value is
/// NULL (a Kafka tombstone).
pub fn encode_rows(
    format: RecordFormat,
    batch: &RecordBatch,
) -> Result<Vec<Option<Vec<u8>>>, EngineError> {
    match format {
        RecordFormat::Json => {
            let mut w = arrow::json::LineDelimitedWriter::new(Vec::new());
            w.write(batch)?;
            w.finish()?;
            let text = w.into_inner();
            Ok(text
                .split(|b| *b == b'\n')
                .take(batch.num_rows())
                .map(|row| Some(row.to_vec()))
                .collect())
        }
        RecordFormat::Csv => {
            let mut rows = Vec::with_capacity(batch.num_rows());
            let mut line = String::new();
            for row in 0..batch.num_rows() {
                line.clear();
                write_csv(&batch.slice(row, 1), &mut line)?;
                let trimmed = line.strip_suffix('\n').unwrap_or(&line);
                rows.push(Some(trimmed.as_bytes().to_vec()));
            }
            Ok(rows)
        }
        RecordFormat::Raw => {
            let column = batch.column(0);
            Ok(match column.data_type() {
                DataType::Utf8 => column
                    .as_string::<i32>()
                    .iter()
                    .map(|v| v.map(|s| s.as_bytes().to_vec()))
                    .collect(),
                DataType::Binary => column
                    .as_binary::<i32>()
                    .iter()
                    .map(|v| v.map(<[u8]>::to_vec))
                    .collect(),
                other => {
                    return Err(EngineError::Sink {
                        name: "raw format".into(),
                        message: format!("the raw format takes STRING or BYTES, not {other}"),
                    });
                }
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::Int64Array;
    use arrow::datatypes::{Field, Schema};

    use super::*;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ]))
    }

    fn text(rows: Vec<Option<Vec<u8>>>) -> Vec<String> {
        rows.into_iter()
            .map(|r| String::from_utf8(r.unwrap()).unwrap())
            .collect()
    }

    #[test]
    fn json_and_csv_round_trip_row_by_row() {
        let batch = RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(Int64Array::from(vec![1, 2])),
                Arc::new(StringArray::from(vec![Some("a,\"b\""), None])),
            ],
        )
        .unwrap();
        let json = encode_rows(RecordFormat::Json, &batch).unwrap();
        assert_eq!(
            text(json.clone()),
            vec![r#"{"id":1,"name":"a,\"b\""}"#, r#"{"id":2}"#]
        );
        let csv = encode_rows(RecordFormat::Csv, &batch).unwrap();
        assert_eq!(text(csv.clone()), vec![r#"1,"a,""b""""#, "2,"]);
        for (format, rows) in [(RecordFormat::Json, json), (RecordFormat::Csv, csv)] {
            let mut decoder = RecordDecoder::new(format, schema()).unwrap();
            let records: Vec<Vec<u8>> = rows.into_iter().map(Option::unwrap).collect();
            let (decoded, rejected) = decoder.decode(records.iter().map(Vec::as_slice)).unwrap();
            assert!(rejected.is_empty(), "{format:?}: {rejected:?}");
            assert_eq!(decoded, batch, "{format:?}");
        }
    }

    #[test]
    fn raw_takes_one_string_or_bytes_column() {
        assert!(
            RecordFormat::Raw
                .check(&schema())
                .unwrap_err()
                .contains("2 columns")
        );
        let one = Arc::new(Schema::new(vec![Field::new("line", DataType::Utf8, true)]));
        let mut decoder = RecordDecoder::new(RecordFormat::Raw, one.clone()).unwrap();
        let input: Vec<&[u8]> = vec![b"hello", b"\xff\xfe", b""];
        let (batch, rejected) = decoder.decode(input.into_iter()).unwrap();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(rejected.len(), 1);
        assert_eq!(rejected[0].index, 1);
        assert_eq!(
            encode_rows(RecordFormat::Raw, &batch).unwrap(),
            vec![Some(b"hello".to_vec()), Some(Vec::new())]
        );
        let ints = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, true)]));
        assert!(
            RecordFormat::Raw
                .check(&ints)
                .unwrap_err()
                .contains("Int64")
        );
    }
}
