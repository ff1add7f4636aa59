//! NDJSON decoding into Arrow batches: a one-pass fast path for flat objects, arrow-json's
//! tape decoder for everything else, and a per-record fallback so that one malformed record is
//! dead-lettered instead of failing its whole batch.

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow_json::ReaderBuilder;
use arrow_json::reader::Decoder;

use spate_engine::EngineError;

use super::flat_json::FlatJsonDecoder;

/// Rows per decoded chunk; larger inputs are decoded in several chunks and concatenated.
const BATCH_ROWS: usize = 8192;

/// A record that could not be decoded, with the reason.
#[derive(Debug, Clone)]
pub struct Rejected {
    /// Position of the record in the input given to [`JsonDecoder::decode`].
    pub index: usize,
    /// Why it was rejected.
    pub reason: String,
}

/// Decodes JSON objects, one per record, into batches of a fixed schema. Fields not in the
/// schema are ignored; a missing field is NULL; a value of the wrong type rejects the record.
pub struct JsonDecoder {
    schema: SchemaRef,
    decoder: Decoder,
    /// The one-pass decoder for flat objects, where the schema allows it.
    fast: Option<FlatJsonDecoder>,
}

impl std::fmt::Debug for JsonDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonDecoder")
            .field("schema", &self.schema)
            .finish()
    }
}

impl JsonDecoder {
    /// A decoder producing batches of `schema`.
    pub fn new(schema: SchemaRef) -> Result<Self, EngineError> {
        let decoder = Self::build(&schema)?;
        let fast = FlatJsonDecoder::new(schema.clone());
        Ok(JsonDecoder {
            schema,
            decoder,
            fast,
        })
    }

    fn build(schema: &SchemaRef) -> Result<Decoder, EngineError> {
        Ok(ReaderBuilder::new(schema.clone())
            .with_batch_size(BATCH_ROWS)
            .build_decoder()?)
    }

    /// The output schema.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Decodes `records` into one batch, returning the records that failed.
    pub fn decode<'a>(
        &mut self,
        records: impl Iterator<Item = &'a [u8]> + Clone,
    ) -> Result<(RecordBatch, Vec<Rejected>), EngineError> {
        if let Some(fast) = &mut self.fast
            && let Some(batch) = fast.decode(records.clone(), BATCH_ROWS)
        {
            return Ok((batch, Vec::new()));
        }
        match self.decode_all(records.clone()) {
            Ok(batch) => Ok((batch, Vec::new())),
            Err(_) => {
                // Find the culprits one record at a time.
                self.decoder = Self::build(&self.schema)?;
                let mut good = Vec::new();
                let mut rejected = Vec::new();
                for (index, r) in records.enumerate() {
                    match self.decode_one(r) {
                        Ok(b) => good.push(b),
                        Err(reason) => {
                            self.decoder = Self::build(&self.schema)?;
                            rejected.push(Rejected { index, reason });
                        }
                    }
                }
                let batch = arrow::compute::concat_batches(&self.schema, &good)?;
                Ok((batch, rejected))
            }
        }
    }

    /// The fast path: every record straight into the tape decoder, no copying.
    fn decode_all<'a>(
        &mut self,
        records: impl Iterator<Item = &'a [u8]>,
    ) -> Result<RecordBatch, arrow::error::ArrowError> {
        let mut chunks = Vec::new();
        for record in records {
            let before = self.decoder.len();
            let mut flushed = 0;
            let mut at = 0;
            while at < record.len() {
                at += self.decoder.decode(&record[at..])?;
                if at < record.len() {
                    // The decoder is full: take what it has and go on.
                    if let Some(b) = self.decoder.flush()? {
                        flushed += b.num_rows();
                        chunks.push(b);
                    }
                }
            }
            // Each record must hold exactly one complete JSON value.
            if self.decoder.has_partial_record() || self.decoder.len() + flushed != before + 1 {
                return Err(arrow::error::ArrowError::JsonError(
                    "a record is not exactly one JSON value".into(),
                ));
            }
        }
        chunks.extend(self.decoder.flush()?);
        match chunks.len() {
            0 => Ok(RecordBatch::new_empty(self.schema.clone())),
            1 => Ok(chunks.pop().expect("one chunk")),
            _ => arrow::compute::concat_batches(&self.schema, &chunks),
        }
    }

    fn decode_one(&mut self, record: &[u8]) -> Result<RecordBatch, String> {
        let text = std::str::from_utf8(record).map_err(|e| format!("not UTF-8: {e}"))?;
        let trimmed = text.trim();
        if !trimmed.starts_with('{') {
            return Err("not a JSON object".into());
        }
        self.decoder.decode(trimmed.as_bytes()).map_err(clean)?;
        let batch = self.decoder.flush().map_err(clean)?;
        match batch {
            Some(b) if b.num_rows() == 1 => Ok(b),
            Some(b) => Err(format!("expected one JSON object, found {}", b.num_rows())),
            None => Err("incomplete JSON object".into()),
        }
    }
}

fn clean(e: arrow::error::ArrowError) -> String {
    match e {
        arrow::error::ArrowError::JsonError(m) | arrow::error::ArrowError::ParseError(m) => m,
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{AsArray, Int64Array};
    use arrow::datatypes::{DataType, Field, Int32Type, Schema};

    use super::*;

    #[test]
    fn malformed_and_mistyped_records_are_rejected_alone() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("ts", DataType::Int64, true),
            Field::new("status", DataType::Int32, true),
        ]));
        let mut d = JsonDecoder::new(schema).unwrap();
        let input: Vec<&[u8]> = vec![
            br#"{"ts":1,"status":200,"extra":"x"}"#,
            br#"{"ts":2,"status":"#,
            br#"{"ts":3,"status":"oops"}"#,
            br#"{"ts":4,"status":404}"#,
        ];
        let (batch, rejected) = d.decode(input.iter().copied()).unwrap();
        assert_eq!(batch.num_rows(), 2);
        let ts = batch
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert_eq!(ts.values(), &[1, 4]);
        assert_eq!(batch.column(1).as_primitive::<Int32Type>().value(1), 404);
        let idx: Vec<usize> = rejected.iter().map(|r| r.index).collect();
        assert_eq!(idx, vec![1, 2]);
        assert!(!rejected[1].reason.is_empty());
        // Records are never joined: a record cut short is rejected even if the next one
        // would complete it, and a record holding two objects is rejected too.
        let split: Vec<&[u8]> = vec![
            br#"{"ts":6,"#,
            br#""status":1}"#,
            br#"{"ts":7}{"ts":8}"#,
            br#"{"ts":9}"#,
        ];
        let (b, r) = d.decode(split.iter().copied()).unwrap();
        assert_eq!(b.num_rows(), 1);
        assert_eq!(r.iter().map(|r| r.index).collect::<Vec<_>>(), vec![0, 1, 2]);
        // The decoder keeps working afterwards.
        let (b, r) = d.decode([&br#"{"ts":5}"#[..]].into_iter()).unwrap();
        assert_eq!((b.num_rows(), r.len()), (1, 0));
    }
}
