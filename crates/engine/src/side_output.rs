//! Side outputs: where malformed input (dead letters) and late events go, so that nothing is
//! lost silently.

use std::fmt;
use std::sync::Arc;

/// Which side output a record is meant for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SideOutputKind {
    /// Input that could not be decoded or did not fit the schema.
    DeadLetter,
    /// Events that arrived after their window had fired.
    Late,
}

/// One record sent to a side output.
#[derive(Debug, Clone)]
pub struct SideRecord {
    /// Which output.
    pub kind: SideOutputKind,
    /// Why the record was set aside.
    pub reason: String,
    /// Where it came from, e.g. `topic events partition 1 offset 42`.
    pub origin: String,
    /// The record itself (the raw input for dead letters, a JSON row for late events).
    pub payload: Vec<u8>,
}

/// A destination for side records, provided by the connectors.
pub trait SideOutputSink: Send + Sync + fmt::Debug {
    /// Stores one record. Errors are reported by the implementation; side outputs never stop
    /// the job.
    fn send(&self, record: SideRecord);
}

/// The side outputs of a job, shared by its tasks.
#[derive(Debug, Clone, Default)]
pub struct SideOutputs {
    sink: Option<Arc<dyn SideOutputSink>>,
}

impl SideOutputs {
    /// Side outputs written to `sink`.
    pub fn new(sink: Arc<dyn SideOutputSink>) -> Self {
        SideOutputs { sink: Some(sink) }
    }

    /// Whether records sent here are kept (rather than only counted).
    pub fn is_connected(&self) -> bool {
        self.sink.is_some()
    }

    /// Sends a record, if a sink is connected.
    pub fn send(&self, record: SideRecord) {
        if let Some(s) = &self.sink {
            s.send(record);
        }
    }
}
