//! The operator interface, the stateless operators (projection and filter through DataFusion
//! physical expressions), and the chain that runs operators back to back inside one task.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{BooleanArray, RecordBatch};
use arrow::datatypes::SchemaRef;
use datafusion::physical_expr::PhysicalExpr;

use crate::error::{EngineError, Result};
use crate::message::EventTime;
use crate::metrics::TaskMetrics;
use crate::side_output::SideOutputs;

/// What an operator instance knows about where it runs.
#[derive(Debug, Clone)]
pub struct TaskInfo {
    /// The task's name, unique within the job (e.g. `window[1]`).
    pub name: String,
    /// This instance's index among the stage's instances.
    pub instance: usize,
    /// How many instances the stage has.
    pub parallelism: usize,
    /// Where dead letters and late events go.
    pub side_outputs: SideOutputs,
    /// Counters of this task.
    pub metrics: Arc<TaskMetrics>,
}

/// What an operator emits while processing one input.
#[derive(Debug, Default)]
pub struct Output {
    items: Vec<Emitted>,
}

/// One thing an operator emitted.
#[derive(Debug)]
pub enum Emitted {
    /// Rows.
    Data(RecordBatch),
    /// Event-time progress.
    Watermark(EventTime),
}

impl Output {
    /// Emits rows (empty batches are skipped).
    pub fn data(&mut self, batch: RecordBatch) {
        if batch.num_rows() > 0 {
            self.items.push(Emitted::Data(batch));
        }
    }

    /// Emits a watermark.
    pub fn watermark(&mut self, wm: EventTime) {
        self.items.push(Emitted::Watermark(wm));
    }

    fn drain(&mut self) -> std::vec::Drain<'_, Emitted> {
        self.items.drain(..)
    }
}

/// A step of a dataflow. Operators are synchronous and CPU-bound; the task that runs them does
/// the waiting.
pub trait Operator: Send {
    /// The operator's name as shown in plans and errors.
    fn name(&self) -> String;

    /// Processes a batch of rows.
    fn process_batch(&mut self, batch: RecordBatch, out: &mut Output) -> Result<()>;

    /// Processes a batch of rows that arrived on input `input` of the operator heading a
    /// stage fed by several inputs (the two sides of a join). One-input operators take every
    /// batch of input 0 through [`Operator::process_batch`] and refuse others.
    fn process_batch_from(
        &mut self,
        input: usize,
        batch: RecordBatch,
        out: &mut Output,
    ) -> Result<()> {
        if input != 0 {
            return Err(EngineError::plan(format!(
                "{} has one input but got rows on input {input}",
                self.name()
            )));
        }
        self.process_batch(batch, out)
    }

    /// Processes event-time progress; the default forwards it.
    fn process_watermark(&mut self, wm: EventTime, out: &mut Output) -> Result<()> {
        out.watermark(wm);
        Ok(())
    }

    /// Called when every input of the task has gone idle (Flink's `IDLE` watermark status:
    /// no rows for the source's idle timeout); an input turning active again sends rows or a
    /// watermark. The default ignores it; a sink may tell its readers.
    fn input_idle(&mut self) -> Result<()> {
        Ok(())
    }

    /// How often [`Operator::on_tick`] should run, if at all.
    fn tick_interval(&self) -> Option<Duration> {
        None
    }

    /// Runs on the processing-time timer, e.g. for early firing.
    fn on_tick(&mut self, _out: &mut Output) -> Result<()> {
        Ok(())
    }

    /// Returns the operator's state for checkpoint `checkpoint`.
    fn snapshot(&mut self, _checkpoint: u64) -> Result<Vec<u8>> {
        Ok(Vec::new())
    }

    /// Restores state written by [`Operator::snapshot`]; `None` means a fresh start.
    fn restore(&mut self, _state: Option<&[u8]>) -> Result<()> {
        Ok(())
    }

    /// Called once checkpoint `checkpoint` is complete and durable.
    fn checkpoint_complete(&mut self, _checkpoint: u64) -> Result<()> {
        Ok(())
    }

    /// Called when every input is exhausted, after the final watermark.
    fn finish(&mut self, _out: &mut Output) -> Result<()> {
        Ok(())
    }
}

/// Builds one operator instance per task of a stage.
pub type OperatorFactory = Arc<dyn Fn(&TaskInfo) -> Result<Box<dyn Operator>> + Send + Sync>;

/// Computes new columns from expressions: `SELECT expr AS name, …`.
#[derive(Debug)]
pub struct Projection {
    exprs: Vec<Arc<dyn PhysicalExpr>>,
    schema: SchemaRef,
}

impl Projection {
    /// A projection producing `schema`, one expression per field.
    pub fn new(exprs: Vec<Arc<dyn PhysicalExpr>>, schema: SchemaRef) -> Result<Self> {
        if exprs.len() != schema.fields().len() {
            return Err(EngineError::plan(
                "projection needs one expression per output field",
            ));
        }
        Ok(Projection { exprs, schema })
    }

    /// The schema of the projected rows.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Whether the projection gives back rows of `input` unchanged: every column, in order,
    /// under the same name and type.
    pub fn is_identity(&self, input: &arrow::datatypes::Schema) -> bool {
        self.exprs.len() == input.fields().len()
            && self.schema.fields() == input.fields()
            && self.exprs.iter().enumerate().all(|(i, e)| {
                e.downcast_ref::<datafusion::physical_expr::expressions::Column>()
                    .is_some_and(|c| c.index() == i)
            })
    }

    /// Applies the projection to a batch.
    pub fn apply(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let columns = self
            .exprs
            .iter()
            .map(|e| e.evaluate(batch)?.into_array(batch.num_rows()))
            .collect::<Result<Vec<_>, _>>()?;
        let options =
            arrow::array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
        Ok(RecordBatch::try_new_with_options(
            Arc::clone(&self.schema),
            columns,
            &options,
        )?)
    }
}

impl Operator for Projection {
    fn name(&self) -> String {
        let cols: Vec<_> = self
            .schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        format!("Project[{}]", cols.join(", "))
    }

    fn process_batch(&mut self, batch: RecordBatch, out: &mut Output) -> Result<()> {
        out.data(self.apply(&batch)?);
        Ok(())
    }
}

/// Keeps the rows for which a predicate is true: `WHERE predicate`.
#[derive(Debug)]
pub struct Filter {
    predicate: Arc<dyn PhysicalExpr>,
}

impl Filter {
    /// A filter on `predicate`, which must evaluate to BOOLEAN.
    pub fn new(predicate: Arc<dyn PhysicalExpr>) -> Self {
        Filter { predicate }
    }
}

impl Operator for Filter {
    fn name(&self) -> String {
        format!("Filter[{}]", self.predicate)
    }

    fn process_batch(&mut self, batch: RecordBatch, out: &mut Output) -> Result<()> {
        let mask = self
            .predicate
            .evaluate(&batch)?
            .into_array(batch.num_rows())?;
        let mask = mask
            .as_any()
            .downcast_ref::<BooleanArray>()
            .ok_or_else(|| {
                EngineError::plan(format!("filter {} is not BOOLEAN", self.predicate))
            })?;
        out.data(arrow::compute::filter_record_batch(&batch, mask)?);
        Ok(())
    }
}

/// Operators run back to back in one task, each feeding the next without a channel.
pub struct Chain {
    operators: Vec<Box<dyn Operator>>,
    buffers: Vec<Output>,
}

impl Chain {
    /// Chains `operators` in order.
    pub fn new(operators: Vec<Box<dyn Operator>>) -> Self {
        let buffers = operators.iter().map(|_| Output::default()).collect();
        Chain { operators, buffers }
    }

    /// The operators' names, in order.
    pub fn names(&self) -> Vec<String> {
        self.operators.iter().map(|o| o.name()).collect()
    }

    /// The shortest tick interval of any operator in the chain.
    pub fn tick_interval(&self) -> Option<Duration> {
        self.operators
            .iter()
            .filter_map(|o| o.tick_interval())
            .min()
    }

    /// Pushes a batch through the chain; what falls out of the last operator lands in `out`.
    pub fn push_batch(&mut self, batch: RecordBatch, out: &mut Output) -> Result<()> {
        self.run_from(0, Emitted::Data(batch), out)
    }

    /// Pushes a batch that arrived on input `input` of the chain's first operator (a join's
    /// second side is input 1); the rest of the chain sees the first operator's output.
    pub fn push_batch_from(
        &mut self,
        input: usize,
        batch: RecordBatch,
        out: &mut Output,
    ) -> Result<()> {
        let Some(first) = self.operators.first_mut() else {
            out.items.push(Emitted::Data(batch));
            return Ok(());
        };
        let mut buf = std::mem::take(&mut self.buffers[0]);
        first.process_batch_from(input, batch, &mut buf)?;
        self.forward(1, &mut buf, out)?;
        self.buffers[0] = buf;
        Ok(())
    }

    /// Pushes a watermark through the chain.
    pub fn push_watermark(&mut self, wm: EventTime, out: &mut Output) -> Result<()> {
        self.run_from(0, Emitted::Watermark(wm), out)
    }

    /// Tells every operator of the chain that its input has gone idle.
    pub fn push_idle(&mut self) -> Result<()> {
        self.operators
            .iter_mut()
            .try_for_each(|operator| operator.input_idle())
    }

    /// Runs the processing-time timer of every operator.
    pub fn tick(&mut self, out: &mut Output) -> Result<()> {
        for i in 0..self.operators.len() {
            let mut buf = std::mem::take(&mut self.buffers[i]);
            self.operators[i].on_tick(&mut buf)?;
            self.forward(i + 1, &mut buf, out)?;
            self.buffers[i] = buf;
        }
        Ok(())
    }

    /// Finishes every operator in order, flushing what each emits downstream.
    pub fn finish(&mut self, out: &mut Output) -> Result<()> {
        for i in 0..self.operators.len() {
            let mut buf = std::mem::take(&mut self.buffers[i]);
            self.operators[i].finish(&mut buf)?;
            self.forward(i + 1, &mut buf, out)?;
            self.buffers[i] = buf;
        }
        Ok(())
    }

    /// Snapshots every operator's state, in order.
    pub fn snapshot(&mut self, checkpoint: u64) -> Result<Vec<Vec<u8>>> {
        self.operators
            .iter_mut()
            .map(|o| o.snapshot(checkpoint))
            .collect()
    }

    /// Restores every operator's state; `states` must come from [`Chain::snapshot`].
    pub fn restore(&mut self, states: Option<&[Vec<u8>]>) -> Result<()> {
        if let Some(s) = states
            && s.len() != self.operators.len()
        {
            return Err(EngineError::CorruptState {
                task: self.names().join(" -> "),
                reason: format!(
                    "{} operator states for {} operators",
                    s.len(),
                    self.operators.len()
                ),
            });
        }
        for (i, op) in self.operators.iter_mut().enumerate() {
            op.restore(states.map(|s| s[i].as_slice()))?;
        }
        Ok(())
    }

    /// Tells every operator that a checkpoint is complete.
    pub fn checkpoint_complete(&mut self, checkpoint: u64) -> Result<()> {
        for op in &mut self.operators {
            op.checkpoint_complete(checkpoint)?;
        }
        Ok(())
    }

    fn run_from(&mut self, start: usize, item: Emitted, out: &mut Output) -> Result<()> {
        if start == self.operators.len() {
            out.items.push(item);
            return Ok(());
        }
        let mut buf = std::mem::take(&mut self.buffers[start]);
        match item {
            Emitted::Data(b) => self.operators[start].process_batch(b, &mut buf)?,
            Emitted::Watermark(w) => self.operators[start].process_watermark(w, &mut buf)?,
        }
        self.forward(start + 1, &mut buf, out)?;
        self.buffers[start] = buf;
        Ok(())
    }

    fn forward(&mut self, next: usize, buf: &mut Output, out: &mut Output) -> Result<()> {
        for item in buf.drain() {
            self.run_from(next, item, out)?;
        }
        Ok(())
    }
}

impl Output {
    /// Takes everything emitted so far.
    pub fn take(&mut self) -> Vec<Emitted> {
        std::mem::take(&mut self.items)
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{AsArray, Int64Array};
    use arrow::datatypes::{DataType, Field, Int64Type, Schema};
    use datafusion::common::ScalarValue;
    use datafusion::logical_expr::Operator as BinaryOp;
    use datafusion::physical_expr::expressions::{binary, col, lit};

    use super::*;

    #[test]
    fn filter_then_projection_through_a_chain() {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from(vec![1, 5, 10, 20]))],
        )
        .unwrap();
        let x = col("x", &schema).unwrap();
        let keep = binary(
            x.clone(),
            BinaryOp::Gt,
            lit(ScalarValue::Int64(Some(4))),
            &schema,
        )
        .unwrap();
        let doubled = binary(
            x,
            BinaryOp::Multiply,
            lit(ScalarValue::Int64(Some(2))),
            &schema,
        )
        .unwrap();
        let out_schema = Arc::new(Schema::new(vec![Field::new("y", DataType::Int64, false)]));
        let mut chain = Chain::new(vec![
            Box::new(Filter::new(keep)),
            Box::new(Projection::new(vec![doubled], out_schema).unwrap()),
        ]);
        let mut out = Output::default();
        chain.push_batch(batch, &mut out).unwrap();
        chain.push_watermark(7, &mut out).unwrap();
        let items = out.take();
        assert_eq!(items.len(), 2);
        match &items[0] {
            Emitted::Data(b) => {
                assert_eq!(b.schema().field(0).name(), "y");
                assert_eq!(
                    b.column(0).as_primitive::<Int64Type>().values(),
                    &[10, 20, 40]
                );
            }
            other => panic!("expected rows, got {other:?}"),
        }
        assert!(matches!(items[1], Emitted::Watermark(7)));
        assert_eq!(chain.names(), vec!["Filter[x@0 > 4]", "Project[y]"]);
    }
}
