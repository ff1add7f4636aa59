//! The `print` sink: rows on standard output (or standard error), one line each, as Flink's
//! print connector writes them: `+I[1, foo, 2024-01-01 00:00:10]`.
//!
//! Each line starts with a prefix as in Flink: `id> ` with `print-identifier` = `id`,
//! `id:k> ` with it and a parallelism above 1, `k> ` without it and a parallelism above 1
//! (k counts the sink's instances from 1), nothing otherwise. Values are written as the CSV
//! layout writes them (timestamps `2024-01-01 00:00:10.5`, dates `2024-01-01`), NULL as `NULL`.
//!
//! Rows are printed as they arrive, not at commit: like Flink's, this sink is for watching a
//! job, and printing cannot be taken back anyway. After a recovery, rows after the restored
//! checkpoint are printed again (at least once).

use std::fmt::Write as _;
use std::io::Write as _;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Int64Type};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use spate_engine::EngineError;
use spate_engine::changelog::{self, RowKind};
use spate_engine::operator::TaskInfo;
use spate_engine::sink::Sink;

use crate::format::csv::format_timestamp;

/// Where printed rows go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrintTarget {
    /// Standard output.
    Stdout,
    /// Standard error (`'standard-error' = 'true'`).
    Stderr,
}

/// One instance of the print sink.
#[derive(Debug)]
pub struct PrintSink {
    prefix: String,
    target: PrintTarget,
    text: String,
}

impl PrintSink {
    /// Instance `task.instance` of `task.parallelism`, prefixing lines with `identifier` (as
    /// Flink's `print-identifier`).
    pub fn new(identifier: Option<&str>, target: PrintTarget, task: &TaskInfo) -> Self {
        let subtask = task.instance + 1;
        let prefix = match (identifier, task.parallelism > 1) {
            (Some(id), true) => format!("{id}:{subtask}> "),
            (Some(id), false) => format!("{id}> "),
            (None, true) => format!("{subtask}> "),
            (None, false) => String::new(),
        };
        PrintSink {
            prefix,
            target,
            text: String::new(),
        }
    }
}

/// Appends the rows of `batch` to `out` as Flink prints them, each line starting with
/// `prefix` and the row kind (`+I` for append-only batches; a changelog's own kinds).
pub fn format_rows(batch: &RecordBatch, prefix: &str, out: &mut String) -> Result<(), EngineError> {
    let kinds = changelog::row_kinds(batch)?;
    let batch = &changelog::without_row_kind(batch);
    let options = FormatOptions::default().with_null("NULL");
    // Timestamps are read as integers in their unit and written in Flink's layout.
    let columns = batch
        .columns()
        .iter()
        .map(|col| match col.data_type() {
            DataType::Timestamp(unit, _) => {
                Ok((Some(*unit), arrow::compute::cast(col, &DataType::Int64)?))
            }
            _ => Ok((None, col.clone())),
        })
        .collect::<Result<Vec<_>, EngineError>>()?;
    let formatters = columns
        .iter()
        .map(|(_, col)| ArrayFormatter::try_new(col.as_ref(), &options))
        .collect::<Result<Vec<_>, _>>()?;
    for row in 0..batch.num_rows() {
        out.push_str(prefix);
        let kind = kinds.as_ref().map_or(RowKind::Insert, |k| k[row]);
        out.push_str(kind.short_string());
        out.push('[');
        for (c, (unit, col)) in columns.iter().enumerate() {
            if c > 0 {
                out.push_str(", ");
            }
            match unit {
                Some(unit) if col.is_valid(row) => {
                    format_timestamp(col.as_primitive::<Int64Type>().value(row), *unit, out)
                }
                _ => write!(out, "{}", formatters[c].value(row)).expect("write to String"),
            }
        }
        out.push_str("]\n");
    }
    Ok(())
}

impl Sink for PrintSink {
    fn name(&self) -> String {
        match self.target {
            PrintTarget::Stdout => "print".into(),
            PrintTarget::Stderr => "print (standard error)".into(),
        }
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), EngineError> {
        self.text.clear();
        format_rows(batch, &self.prefix, &mut self.text)?;
        // One write per batch, under the stream's lock, so lines of parallel instances do not
        // interleave.
        let written = match self.target {
            PrintTarget::Stdout => std::io::stdout().lock().write_all(self.text.as_bytes()),
            PrintTarget::Stderr => std::io::stderr().lock().write_all(self.text.as_bytes()),
        };
        written.map_err(|e| EngineError::Sink {
            name: self.name(),
            message: e.to_string(),
        })
    }

    fn prepare_commit(&mut self, _checkpoint: u64) -> Result<Vec<u8>, EngineError> {
        let flushed = match self.target {
            PrintTarget::Stdout => std::io::stdout().flush(),
            PrintTarget::Stderr => std::io::stderr().flush(),
        };
        flushed.map_err(|e| EngineError::Sink {
            name: self.name(),
            message: e.to_string(),
        })?;
        Ok(Vec::new())
    }

    fn commit(&mut self, _checkpoint: u64) -> Result<(), EngineError> {
        Ok(())
    }

    fn restore(&mut self, _pending: Option<&[u8]>) -> Result<(), EngineError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        BooleanArray, Date32Array, Decimal128Array, Float64Array, Int32Array, StringArray,
        TimestampMillisecondArray,
    };
    use arrow::datatypes::{Field, Schema, TimeUnit};

    use super::*;
    use crate::testing::task;

    #[test]
    fn rows_print_like_flink() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int32, true),
            Field::new("name", DataType::Utf8, true),
            Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
            Field::new("ok", DataType::Boolean, true),
            Field::new("x", DataType::Float64, true),
            Field::new("d", DataType::Date32, true),
            Field::new("m", DataType::Decimal128(5, 2), true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int32Array::from(vec![Some(1), None])),
                Arc::new(StringArray::from(vec![Some("foo"), Some("a, b")])),
                Arc::new(TimestampMillisecondArray::from(vec![
                    Some(1_704_067_210_000),
                    Some(1_704_067_210_500),
                ])),
                Arc::new(BooleanArray::from(vec![Some(true), None])),
                Arc::new(Float64Array::from(vec![1.5, -2.0])),
                Arc::new(Date32Array::from(vec![Some(19_723), None])),
                Arc::new(
                    Decimal128Array::from(vec![Some(1250), Some(-5)])
                        .with_precision_and_scale(5, 2)
                        .unwrap(),
                ),
            ],
        )
        .unwrap();
        let mut out = String::new();
        format_rows(&batch, "", &mut out).unwrap();
        assert_eq!(
            out,
            "+I[1, foo, 2024-01-01 00:00:10, true, 1.5, 2024-01-01, 12.50]\n\
             +I[NULL, a, b, 2024-01-01 00:00:10.5, NULL, -2.0, NULL, -0.05]\n"
        );
    }

    #[test]
    fn prefixes_follow_identifier_and_parallelism() {
        let prefix = |id, instance, parallelism| {
            PrintSink::new(id, PrintTarget::Stdout, &task(instance, parallelism)).prefix
        };
        assert_eq!(prefix(Some("out"), 0, 1), "out> ");
        assert_eq!(prefix(Some("out"), 1, 2), "out:2> ");
        assert_eq!(prefix(None, 0, 3), "1> ");
        assert_eq!(prefix(None, 0, 1), "");
    }
}
