//! The `blackhole` sink: accepts and discards rows, for benchmarks (as Flink's).

use arrow::array::RecordBatch;
use spate_engine::EngineError;
use spate_engine::sink::Sink;

/// Discards everything written to it.
#[derive(Debug, Default)]
pub struct BlackholeSink;

impl Sink for BlackholeSink {
    fn name(&self) -> String {
        "blackhole".into()
    }

    fn write(&mut self, _batch: &RecordBatch) -> Result<(), EngineError> {
        Ok(())
    }

    fn prepare_commit(&mut self, _checkpoint: u64) -> Result<Vec<u8>, EngineError> {
        Ok(Vec::new())
    }

    fn commit(&mut self, _checkpoint: u64) -> Result<(), EngineError> {
        Ok(())
    }

    fn restore(&mut self, _pending: Option<&[u8]>) -> Result<(), EngineError> {
        Ok(())
    }
}
