//! Spate's streaming runtime.
//!
//! Operators exchange Arrow [`RecordBatch`](arrow::array::RecordBatch)es; DataFusion supplies
//! expressions and aggregate kernels; time is Spate's own. In reading order:
//!
//! - [`message`]: what flows between tasks (data, watermarks, barriers, end).
//! - [`time`]: watermark generation per source partition and the minimum across inputs.
//! - [`operator`]: the operator interface, stateless projection and filter, operator chains.
//! - [`window`]: windowed aggregation (tumble, hop, cumulate, session) with late-event policies.
//! - [`changelog`]: row kinds (`+I`, `-U`, `+U`, `-D`) of updating streams.
//! - [`aggregate`] and [`rank`]: unbounded `GROUP BY`, deduplication and Top-N, which update
//!   their results as a changelog.
//! - [`normalize`]: the last row per key of an upsert stream, turned into a changelog.
//! - [`over`]: OVER aggregations (`ROWS`/`RANGE … PRECEDING`) in event time.
//! - [`lookup`]: lookup joins against dimension tables held in memory.
//! - [`join`]: regular and interval joins of two streams.
//! - [`source`] and [`sink`]: the connector interfaces, with two-phase commit for sinks.
//! - [`exchange`]: forward, rebalance and hash partitioning between stages.
//! - [`checkpoint`]: checkpoint storage with manifests written last.
//! - [`job`]: the dataflow graph and the runtime that runs it with aligned checkpoints.
//! - [`side_output`] and [`metrics`]: dead letters, late events and counters.

#![warn(missing_docs)]

pub mod aggregate;
pub mod changelog;
pub mod checkpoint;
pub mod error;
pub mod exchange;
pub mod job;
pub mod join;
pub mod lookup;
pub mod message;
pub mod metrics;
pub mod normalize;
pub mod operator;
pub mod over;
pub mod rank;
pub mod side_output;
pub mod sink;
pub mod source;
mod state_codec;
pub mod time;
pub mod window;

pub use error::{EngineError, Result};
pub use job::{
    JobConfig, JobControl, JobGraph, JobReport, JobStatus, Link, SourceStage, Stage, run,
};
