//! The sink that writes a job's rows into a table, exactly once.
//!
//! Each sink instance is a transaction of the table, named by its transactional id. Rows are
//! logged as they arrive (not fsynced, not visible); a checkpoint's `prepare_commit` fsyncs
//! them as prepared for that checkpoint and returns the id and checkpoint as its pending
//! state; `commit` makes them visible. After a failure, `restore` commits what the last
//! complete checkpoint prepared — a no-op if it was committed already, so a replayed commit
//! never duplicates rows — and discards everything the transaction logged after it.

use serde::{Deserialize, Serialize};
use spate_engine::EngineError;
use spate_engine::sink::Sink;

use arrow::array::RecordBatch;

use crate::error::StoreError;
use crate::table::Table;

/// The pending state a sink returns from `prepare_commit`.
#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    txn: String,
    checkpoint: u64,
}

/// A [`Sink`] into a table of the store.
pub struct StoreSink {
    table: Table,
    txn: String,
}

impl StoreSink {
    /// A sink into `table` as the transaction `transactional_id`, which must be the same for
    /// this instance of the job across restarts and different from every other writer of
    /// the table.
    pub fn new(table: Table, transactional_id: impl Into<String>) -> Self {
        StoreSink {
            table,
            txn: transactional_id.into(),
        }
    }

    /// The table written.
    pub fn table(&self) -> &Table {
        &self.table
    }

    fn error(&self, e: StoreError) -> EngineError {
        EngineError::Sink {
            name: self.name(),
            message: e.to_string(),
        }
    }
}

impl Sink for StoreSink {
    fn name(&self) -> String {
        format!("spate-store {}", self.table.name())
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), EngineError> {
        let rows = self.table.conform(batch).map_err(|e| self.error(e))?;
        self.table.write(&self.txn, rows).map_err(|e| self.error(e))
    }

    fn prepare_commit(&mut self, checkpoint: u64) -> Result<Vec<u8>, EngineError> {
        self.table
            .prepare(&self.txn, checkpoint)
            .map_err(|e| self.error(e))?;
        Ok(serde_json::to_vec(&Pending {
            txn: self.txn.clone(),
            checkpoint,
        })
        .expect("the pending state serializes"))
    }

    fn commit(&mut self, checkpoint: u64) -> Result<(), EngineError> {
        self.table
            .commit(&self.txn, checkpoint)
            .map(|_| ())
            .map_err(|e| self.error(e))
    }

    fn restore(&mut self, pending: Option<&[u8]>) -> Result<(), EngineError> {
        let pending = match pending {
            Some(bytes) if !bytes.is_empty() => {
                Some(serde_json::from_slice::<Pending>(bytes).map_err(|e| {
                    EngineError::CorruptState {
                        task: self.name(),
                        reason: e.to_string(),
                    }
                })?)
            }
            _ => None,
        };
        let result = match &pending {
            Some(p) => self
                .table
                .commit(&p.txn, p.checkpoint)
                .and_then(|_| self.table.abort(&p.txn, Some(p.checkpoint)))
                .and_then(|_| match p.txn == self.txn {
                    true => Ok(()),
                    false => self.table.abort(&self.txn, None),
                }),
            None => self.table.abort(&self.txn, None),
        };
        result.map_err(|e| self.error(e))
    }
}
