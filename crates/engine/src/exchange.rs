//! How a task's output reaches the next stage's tasks: forward, rebalance, or hash
//! partitioning by key, over bounded channels (which is what gives backpressure).

use std::sync::Arc;

use arrow::array::{RecordBatch, UInt32Array};
use datafusion::common::hash_utils::{RandomState, create_hashes};
use datafusion::physical_expr::PhysicalExpr;
use tokio::sync::mpsc::Sender;

use crate::error::{EngineError, Result};
use crate::message::Message;

/// How rows are distributed from one stage to the next.
#[derive(Debug, Clone)]
pub enum Partitioning {
    /// Instance *i* feeds instance *i* (both stages have the same parallelism).
    Forward,
    /// Batches go round-robin to every instance.
    Rebalance,
    /// Rows go to the instance chosen by the hash of these key expressions.
    Hash(Vec<Arc<dyn PhysicalExpr>>),
}

impl std::fmt::Display for Partitioning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Partitioning::Forward => write!(f, "FORWARD"),
            Partitioning::Rebalance => write!(f, "REBALANCE"),
            Partitioning::Hash(keys) => {
                let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
                write!(f, "HASH({})", keys.join(", "))
            }
        }
    }
}

/// The sending side of an exchange, owned by one task.
pub(crate) struct ExchangeSender {
    kind: Partitioning,
    targets: Vec<Sender<Message>>,
    next: usize,
    hashes: Vec<u64>,
    task: String,
}

const HASH_SEED: RandomState = RandomState::with_seed(0x5ba7e);

impl ExchangeSender {
    /// An exchange from task `task` to `targets`.
    pub(crate) fn new(kind: Partitioning, targets: Vec<Sender<Message>>, task: String) -> Self {
        ExchangeSender {
            kind,
            targets,
            next: 0,
            hashes: Vec::new(),
            task,
        }
    }

    /// An exchange that goes nowhere (the chain ends in a sink).
    pub(crate) fn none(task: String) -> Self {
        ExchangeSender::new(Partitioning::Forward, Vec::new(), task)
    }

    async fn send_to(&self, target: usize, msg: Message) -> Result<()> {
        self.targets[target]
            .send(msg)
            .await
            .map_err(|_| EngineError::Task {
                task: self.task.clone(),
                message: crate::job::protocol::DOWNSTREAM_STOPPED.into(),
            })
    }

    /// Sends a batch according to the partitioning.
    pub(crate) async fn send_batch(&mut self, batch: RecordBatch) -> Result<()> {
        if self.targets.is_empty() || batch.num_rows() == 0 {
            return Ok(());
        }
        match &self.kind {
            Partitioning::Forward | Partitioning::Rebalance if self.targets.len() == 1 => {
                self.send_to(0, Message::Data(batch)).await
            }
            Partitioning::Forward | Partitioning::Rebalance => {
                let t = self.next % self.targets.len();
                self.next += 1;
                self.send_to(t, Message::Data(batch)).await
            }
            Partitioning::Hash(keys) => {
                let n = self.targets.len();
                if n == 1 {
                    return self.send_to(0, Message::Data(batch)).await;
                }
                for (t, part) in split_by_hash(keys, &batch, n, &mut self.hashes)? {
                    self.send_to(t, Message::Data(part)).await?;
                }
                Ok(())
            }
        }
    }

    /// Sends a control message (watermark, barrier, end) to every target.
    pub(crate) async fn broadcast(&mut self, msg: Message) -> Result<()> {
        for t in 0..self.targets.len() {
            self.send_to(t, msg.clone()).await?;
        }
        Ok(())
    }
}

/// Splits `batch` into `n` parts by the hash of the key expressions `keys`: the rows of part
/// `t` (returned only when it has rows) are those whose hash is `t` modulo `n`. Every process
/// of a job hashes alike, so a scale-out job's repartition topics place keys as its exchanges
/// do. `hashes` is scratch space, reused across calls.
pub fn split_by_hash(
    keys: &[Arc<dyn PhysicalExpr>],
    batch: &RecordBatch,
    n: usize,
    hashes: &mut Vec<u64>,
) -> Result<Vec<(usize, RecordBatch)>> {
    let arrays = keys
        .iter()
        .map(|k| k.evaluate(batch)?.into_array(batch.num_rows()))
        .collect::<Result<Vec<_>, _>>()?;
    hashes.clear();
    hashes.resize(batch.num_rows(), 0);
    create_hashes(&arrays, &HASH_SEED, hashes)?;
    let mut parts: Vec<Vec<u32>> = vec![Vec::new(); n];
    for (i, h) in hashes.iter().enumerate() {
        parts[(*h % n as u64) as usize].push(i as u32);
    }
    let mut split = Vec::new();
    for (t, idx) in parts.into_iter().enumerate() {
        if idx.is_empty() {
            continue;
        }
        let part = if idx.len() == batch.num_rows() {
            batch.clone()
        } else {
            arrow::compute::take_record_batch(batch, &UInt32Array::from(idx))?
        };
        split.push((t, part));
    }
    Ok(split)
}
