//! Windowed aggregation in event time: window kinds, grouped state, and the operators; and
//! window assignment for a window TVF read without aggregating.

mod assign;
mod kind;
mod local;
mod session;
mod sliced;
mod state;

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, SchemaRef, TimeUnit, TimestampMillisecondType};

pub use assign::WindowAssigner;
pub use kind::WindowKind;
pub use local::LocalWindowAggregate;
pub use session::SessionWindowAggregate;
pub use sliced::SlicedWindowAggregate;
pub use state::{AggregateSpec, Aggregation, EvaluatedRows, GroupedState, StateBatch};

use crate::error::{EngineError, Result};
use crate::operator::{Operator, TaskInfo};

/// What happens to an event that arrives after its window has fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatePolicy {
    /// Drop it and count it.
    Drop,
    /// Count it and send it to the job's late-events side output.
    SideOutput,
    /// Keep windows open this much longer and fire them again with the late rows (an updated
    /// result, for sinks with a primary key); later than that, drop and count.
    Allow {
        /// Allowed lateness in milliseconds.
        lateness_ms: i64,
    },
}

/// Everything a windowed aggregation needs.
#[derive(Debug, Clone)]
pub struct WindowConfig {
    /// The window.
    pub kind: WindowKind,
    /// Index of the rowtime column (TIMESTAMP(3) or BIGINT milliseconds) in the input.
    pub rowtime_column: usize,
    /// Grouping keys and aggregates.
    pub aggregation: Aggregation,
    /// Late-event policy.
    pub late: LatePolicy,
    /// Emit partial results of open windows this often, if set.
    pub early_fire: Option<Duration>,
}

impl WindowConfig {
    /// The output schema: `window_start`, `window_end`, the keys, then the aggregates.
    pub fn output_schema(&self) -> SchemaRef {
        sliced::window_output_schema(&self.aggregation)
    }

    /// A one-line description for plans.
    pub fn describe(&self) -> String {
        let keys: Vec<_> = self
            .aggregation
            .key_fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let aggs: Vec<_> = self
            .aggregation
            .aggregate_fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        format!(
            "WindowAggregate[{:?}, keys=({}), aggs=({}), late={:?}{}]",
            self.kind,
            keys.join(", "),
            aggs.join(", "),
            self.late,
            sliced::describe_early_fire(self.early_fire)
        )
    }

    /// Whether the aggregation can run in two phases, a [`LocalWindowAggregate`] before the
    /// exchange and [`SlicedWindowAggregate::global`] after it: sliced windows without early
    /// firing (session windows merge as rows arrive, and early results need every row).
    pub fn two_phase_capable(&self) -> bool {
        !matches!(self.kind, WindowKind::Session { .. }) && self.early_fire.is_none()
    }

    /// Builds the operator for this window kind.
    pub fn build(&self, task: &TaskInfo) -> Result<Box<dyn Operator>> {
        self.kind.validate().map_err(EngineError::Plan)?;
        Ok(match self.kind {
            WindowKind::Session { .. } => {
                Box::new(SessionWindowAggregate::new(self.clone(), task.clone())?)
            }
            _ => Box::new(SlicedWindowAggregate::new(self.clone(), task.clone())?),
        })
    }
}

/// Handles late rows by the job's policy: counts them, and with [`LatePolicy::SideOutput`]
/// sends each as a JSON object to the late-events side output.
pub(crate) fn handle_late_rows(
    task: &TaskInfo,
    policy: LatePolicy,
    rows: &RecordBatch,
    reason: &str,
) -> Result<()> {
    crate::metrics::TaskMetrics::add(&task.metrics.late_events, rows.num_rows() as u64);
    if policy != LatePolicy::SideOutput || !task.side_outputs.is_connected() {
        return Ok(());
    }
    let mut writer = arrow::json::LineDelimitedWriter::new(Vec::new());
    writer.write(rows)?;
    writer.finish()?;
    for line in writer
        .into_inner()
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
    {
        task.side_outputs.send(crate::side_output::SideRecord {
            kind: crate::side_output::SideOutputKind::Late,
            reason: reason.to_string(),
            origin: task.name.clone(),
            payload: line.to_vec(),
        });
    }
    Ok(())
}

/// Reads the rowtime column of a batch as milliseconds.
pub(crate) fn rowtime_values(batch: &RecordBatch, column: usize) -> Result<Arc<[i64]>> {
    let col = batch.column(column);
    if col.null_count() > 0 {
        return Err(EngineError::plan(format!(
            "rowtime column {} has NULLs",
            batch.schema().field(column).name()
        )));
    }
    let values: Arc<[i64]> = match col.data_type() {
        DataType::Timestamp(TimeUnit::Millisecond, _) => col
            .as_primitive::<TimestampMillisecondType>()
            .values()
            .iter()
            .copied()
            .collect(),
        DataType::Int64 => col
            .as_primitive::<arrow::datatypes::Int64Type>()
            .values()
            .iter()
            .copied()
            .collect(),
        other => {
            return Err(EngineError::plan(format!(
                "rowtime column {} is {other}, expected TIMESTAMP(3) or BIGINT milliseconds",
                batch.schema().field(column).name()
            )));
        }
    };
    Ok(values)
}
