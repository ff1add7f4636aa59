//! A window TVF read as a table rather than aggregated (`SELECT … FROM TABLE(TUMBLE(…))`, the
//! inputs of Flink's window join): each row once per window that holds it, with the window's
//! `window_start`, `window_end` and `window_time` (its end less 1 ms) appended.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, TimestampMillisecondArray, UInt32Array};
use arrow::compute::take;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use super::{WindowKind, rowtime_values};
use crate::error::{EngineError, Result};
use crate::operator::{Operator, Output};

/// Assigns rows to their windows.
#[derive(Debug, Clone)]
pub struct WindowAssigner {
    kind: WindowKind,
    rowtime_column: usize,
    schema: SchemaRef,
}

impl WindowAssigner {
    /// Windows of `kind` over the rowtime column `rowtime_column` of rows of `input`.
    /// Session windows are refused: a row's session is not known when the row arrives.
    pub fn new(kind: WindowKind, rowtime_column: usize, input: &Schema) -> Result<Self> {
        if matches!(kind, WindowKind::Session { .. }) {
            return Err(EngineError::plan(
                "a SESSION window TVF must be aggregated: a row's session is known only once it closes",
            ));
        }
        kind.validate().map_err(EngineError::plan)?;
        let mut fields: Vec<Field> = input.fields().iter().map(|f| f.as_ref().clone()).collect();
        for name in ["window_start", "window_end", "window_time"] {
            fields.push(Field::new(
                name,
                DataType::Timestamp(TimeUnit::Millisecond, None),
                false,
            ));
        }
        Ok(WindowAssigner {
            kind,
            rowtime_column,
            schema: Arc::new(Schema::new(fields)),
        })
    }

    /// The rows' schema: the input's columns, then the three window columns.
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }
}

impl Operator for WindowAssigner {
    fn name(&self) -> String {
        format!(
            "WindowAssign[{:?}, rowtime={}]",
            self.kind,
            self.schema.field(self.rowtime_column).name()
        )
    }

    fn process_batch(&mut self, batch: RecordBatch, out: &mut Output) -> Result<()> {
        let times = rowtime_values(&batch, self.rowtime_column)?;
        let mut rows = Vec::with_capacity(times.len());
        let mut starts = Vec::with_capacity(times.len());
        let mut ends = Vec::with_capacity(times.len());
        for (row, &t) in times.iter().enumerate() {
            for end in self.kind.window_ends(self.kind.slice_start(t)) {
                let start = self.kind.window_start(end);
                // A HOP or CUMULATE window covering the slice also covers `t`.
                debug_assert!(start <= t && t < end);
                rows.push(row as u32);
                starts.push(start);
                ends.push(end);
            }
        }
        let indices = UInt32Array::from(rows);
        let mut columns: Vec<ArrayRef> = batch
            .columns()
            .iter()
            .map(|c| take(c.as_ref(), &indices, None))
            .collect::<std::result::Result<_, _>>()?;
        let times: Vec<i64> = ends.iter().map(|e| e - 1).collect();
        for values in [starts, ends, times] {
            columns.push(Arc::new(TimestampMillisecondArray::from(values)));
        }
        out.data(RecordBatch::try_new(Arc::clone(&self.schema), columns)?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{AsArray, Int64Array};
    use arrow::datatypes::TimestampMillisecondType;

    use super::*;

    fn assign(kind: WindowKind, times: &[i64]) -> Vec<(i64, i64, i64)> {
        let input = Schema::new(vec![Field::new("ts", DataType::Int64, false)]);
        let mut op = WindowAssigner::new(kind, 0, &input).unwrap();
        let batch = RecordBatch::try_new(
            Arc::new(input),
            vec![Arc::new(Int64Array::from(times.to_vec()))],
        )
        .unwrap();
        let mut out = Output::default();
        op.process_batch(batch, &mut out).unwrap();
        let mut rows = Vec::new();
        for item in out.take() {
            let crate::operator::Emitted::Data(b) = item else {
                continue;
            };
            let ts = b.column(0).as_primitive::<arrow::datatypes::Int64Type>();
            let start = b.column(1).as_primitive::<TimestampMillisecondType>();
            let end = b.column(2).as_primitive::<TimestampMillisecondType>();
            let time = b.column(3).as_primitive::<TimestampMillisecondType>();
            for i in 0..b.num_rows() {
                assert_eq!(time.value(i), end.value(i) - 1);
                rows.push((ts.value(i), start.value(i), end.value(i)));
            }
        }
        rows
    }

    #[test]
    fn each_row_once_per_window_that_holds_it() {
        assert_eq!(
            assign(WindowKind::Tumble { size_ms: 10 }, &[0, 9, 10, -1]),
            [(0, 0, 10), (9, 0, 10), (10, 10, 20), (-1, -10, 0)]
        );
        assert_eq!(
            assign(
                WindowKind::Hop {
                    size_ms: 10,
                    slide_ms: 5
                },
                &[7]
            ),
            [(7, 0, 10), (7, 5, 15)]
        );
        assert_eq!(
            assign(
                WindowKind::Cumulate {
                    step_ms: 5,
                    max_size_ms: 15
                },
                &[7]
            ),
            [(7, 0, 10), (7, 0, 15)]
        );
        assert!(
            WindowAssigner::new(
                WindowKind::Session { gap_ms: 5 },
                0,
                &Schema::new(vec![Field::new("ts", DataType::Int64, false)])
            )
            .is_err()
        );
    }
}
