//! Spate's connectors, shaped as sources → (engine) → sinks:
//!
//! - [`format`]: NDJSON decoding into Arrow and Flink's CSV layout.
//! - [`log_source`]: the embedded log as a source, with startup and bounded modes.
//! - [`blackhole`]: the sink that discards rows, for benchmarks.
//! - [`file_source`]: NDJSON files read once, as a bounded source.
//! - [`file_sink`]: part files in a directory, committed exactly once with checkpoints.
//! - [`side_output`]: dead letters and late events kept in log topics.
//! - [`ingest`]: loading an NDJSON file into a log topic, resumably.

#![warn(missing_docs)]

pub mod blackhole;
pub mod file_sink;
pub mod file_source;
pub mod format;
pub mod ingest;
pub mod log_source;
pub mod side_output;
