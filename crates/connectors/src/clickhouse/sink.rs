//! The ClickHouse sink: rows encoded as RowBinary into a buffer and appended in batches, one
//! `INSERT` per batch.
//!
//! At start the sink reads the table's columns (`DESCRIBE TABLE`) and refuses a table that
//! lacks a column of the job's, or whose type the column's values cannot become, naming the
//! column. Each row is then converted to its columns' exact types as it arrives; a row with a
//! value its column cannot hold goes to the dead letters with the reason, and the others are
//! written.
//!
//! The buffer is flushed when it holds `sink.batch-size` rows, on a write or a watermark once
//! `sink.flush-interval` has passed since the last flush, and at every checkpoint: a complete
//! checkpoint means its rows are in ClickHouse. A flush is one `INSERT` sent as one block, so a
//! failed flush writes nothing; a server out of reach is tried again with growing pauses
//! (`sink.max-retries`), then the job fails and resumes from its last checkpoint. Rows written
//! between that checkpoint and the failure are written again: delivery is at least once.
//! ClickHouse 18.16 drops a repeated insert block only in `Replicated*MergeTree` tables:
//! without `sink.flush-interval` the blocks are cut at `sink.batch-size` rows counted from the
//! last checkpoint, so a replay of input read back in the same order repeats the same blocks,
//! which such a table keeps once. Otherwise a `ReplacingMergeTree` ordered by an event's key
//! makes replays idempotent once parts merge (or in `SELECT … FINAL`).

use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use spate_engine::error::{EngineError, Result};
use spate_engine::message::EventTime;
use spate_engine::metrics::TaskMetrics;
use spate_engine::operator::TaskInfo;
use spate_engine::side_output::{SideOutputKind, SideRecord};
use spate_engine::sink::Sink;

use super::types::{ChType, prepare};
use super::{ClickHouseConfig, ClickHouseError, Client, check_columns};

/// How a ClickHouse sink writes.
#[derive(Debug, Clone)]
pub struct ClickHouseSinkConfig {
    /// The table and how to reach it.
    pub clickhouse: ClickHouseConfig,
    /// The columns written.
    pub schema: SchemaRef,
    /// Flush once this many rows are buffered (`sink.batch-size`).
    pub batch_size: usize,
    /// Flush on a write or a watermark once this long has passed since the last flush
    /// (`sink.flush-interval`); `None` flushes only on checkpoints and `batch_size`.
    pub flush_interval: Option<Duration>,
    /// Tries after the first failed one of a request (`sink.max-retries`).
    pub max_retries: u32,
}

/// A parallel instance of a ClickHouse sink.
pub struct ClickHouseSink {
    config: ClickHouseSinkConfig,
    client: Client,
    /// The names of the columns written.
    columns: Vec<String>,
    /// The ClickHouse type of each column written.
    types: Vec<ChType>,
    /// Rows encoded as RowBinary, not yet sent.
    buffer: Vec<u8>,
    /// Rows in `buffer`.
    rows: usize,
    last_flush: Instant,
    task: TaskInfo,
}

impl ClickHouseSink {
    /// A sink of task `task` writing `config`'s table, whose columns it checks now.
    pub fn new(config: ClickHouseSinkConfig, task: &TaskInfo) -> Result<Self> {
        let error = |e: ClickHouseError| sink_error(&config.clickhouse, e);
        let client = Client::new(config.clickhouse.clone(), config.max_retries).map_err(error)?;
        let described = client.describe().map_err(error)?;
        let types = check_columns(
            &config.clickhouse.qualified_table(),
            &described,
            config.schema.fields(),
        )
        .map_err(error)?;
        Ok(ClickHouseSink {
            columns: config
                .schema
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect(),
            types,
            client,
            buffer: Vec::new(),
            rows: 0,
            last_flush: Instant::now(),
            task: task.clone(),
            config,
        })
    }

    /// Whether `sink.flush-interval` has passed since the last flush.
    fn flush_due(&self) -> bool {
        self.config
            .flush_interval
            .is_some_and(|every| self.last_flush.elapsed() >= every)
    }

    /// Sends the buffered rows as one insert.
    fn flush(&mut self) -> Result<()> {
        self.last_flush = Instant::now();
        if self.rows == 0 {
            return Ok(());
        }
        self.client
            .insert(&self.columns, &self.buffer, self.rows)
            .map_err(|e| sink_error(&self.config.clickhouse, e))?;
        self.buffer.clear();
        self.rows = 0;
        Ok(())
    }

    /// Sends row `row` of `batch` to the dead letters: its column `column` cannot be written.
    fn dead_letter(&self, batch: &RecordBatch, row: usize, column: usize, reason: String) {
        TaskMetrics::add(&self.task.metrics.dead_letters, 1);
        let mut writer = arrow::json::LineDelimitedWriter::new(Vec::new());
        let payload = match writer
            .write(&batch.slice(row, 1))
            .and_then(|()| writer.finish())
        {
            Ok(()) => writer.into_inner(),
            Err(e) => format!("(the row could not be shown as JSON: {e})").into_bytes(),
        };
        self.task.side_outputs.send(SideRecord {
            kind: SideOutputKind::DeadLetter,
            reason: format!("column {}: {reason}", self.columns[column]),
            origin: format!(
                "{} row {row} of a batch of {}",
                self.name(),
                batch.num_rows()
            ),
            payload: payload.trim_ascii_end().to_vec(),
        });
    }
}

fn sink_error(config: &ClickHouseConfig, e: ClickHouseError) -> EngineError {
    EngineError::Sink {
        name: format!("clickhouse {}", config.qualified_table()),
        message: e.to_string(),
    }
}

impl Sink for ClickHouseSink {
    fn name(&self) -> String {
        format!("clickhouse {}", self.config.clickhouse.qualified_table())
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_columns() != self.types.len() {
            return Err(EngineError::plan(format!(
                "the clickhouse sink {} takes {} columns, got {}",
                self.config.clickhouse.qualified_table(),
                self.types.len(),
                batch.num_columns()
            )));
        }
        let prepared = self
            .types
            .iter()
            .zip(batch.columns())
            .map(|(ty, array)| prepare(ty, array))
            .collect::<Result<Vec<_>, _>>()?;
        'rows: for row in 0..batch.num_rows() {
            let start = self.buffer.len();
            for (column, (ty, values)) in self.types.iter().zip(&prepared).enumerate() {
                if let Err(reason) = values.encode(ty, row, &mut self.buffer) {
                    self.buffer.truncate(start);
                    self.dead_letter(batch, row, column, reason);
                    continue 'rows;
                }
            }
            self.rows += 1;
            if self.rows >= self.config.batch_size.max(1) {
                self.flush()?;
            }
        }
        if self.flush_due() {
            self.flush()?;
        }
        Ok(())
    }

    /// Flushes rows that have waited `sink.flush-interval`: watermarks keep arriving while no
    /// rows do, so the last rows of a window's firing do not wait for the next one.
    fn watermark(&mut self, _watermark: EventTime) -> Result<()> {
        if self.rows > 0 && self.flush_due() {
            self.flush()?;
        }
        Ok(())
    }

    fn prepare_commit(&mut self, _checkpoint: u64) -> Result<Vec<u8>> {
        self.flush()?;
        Ok(Vec::new())
    }

    fn commit(&mut self, _checkpoint: u64) -> Result<()> {
        Ok(())
    }

    fn restore(&mut self, _pending: Option<&[u8]>) -> Result<()> {
        // Everything prepared was written before its checkpoint completed.
        self.buffer.clear();
        self.rows = 0;
        Ok(())
    }
}
