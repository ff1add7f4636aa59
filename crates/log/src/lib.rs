//! # spate-log: Spate's embedded durable log
//!
//! The default transport between Spate's sources, jobs and sinks, in place of Kafka, on one
//! machine: topics of N partitions, append-only segment files, offsets, consumer groups and
//! retention, with an API shaped like Kafka's so a Kafka connector can sit behind the same
//! traits.
//!
//! ```text
//! <root>/<topic>/topic.json                      topic configuration
//! <root>/<topic>/writer.lock                     flock held by the topic's single writer
//! <root>/<topic>/<partition>/<base:020>.log      record batches
//! <root>/<topic>/<partition>/<base:020>.index    sparse offset + time index
//! <root>/__consumer_offsets/<group>.json         committed offsets of a consumer group
//! ```
//!
//! - **Writing**: [`Topic::append`] encodes a slice of [`Record`]s as one checksummed batch
//!   (see the `batch` format below) and writes it with one positioned write; [`Producer`]
//!   buffers records per partition. Segments roll at `segment_bytes`; [`FsyncPolicy`] says when
//!   data is fsynced. One writer per topic across processes, enforced with a lock file.
//! - **Reading**: [`Topic::fetch`] reads whole batches from any offset with positioned reads
//!   (no mmap) into one buffer, validates their checksums and iterates [`RecordView`]s that
//!   borrow from it. Readers run concurrently with the writer in the same process (they see
//!   only published, complete batches) and from other processes through a read-only
//!   [`Log`] ([`LogOptions::read_only`]), which follows the files as they grow.
//! - **Crash safety**: on open, a writer validates the last segment and truncates a torn or
//!   corrupt tail; a corrupt batch followed by valid ones is kept and reported as
//!   [`LogError::Corrupt`] when read, never served.
//! - **Retention** by size and age deletes whole closed segments and moves the log start
//!   offset ([`Topic::enforce_retention`]).
//! - **Consumer groups** commit offsets per partition ([`Log::commit`], [`Log::committed`]).
//!
//! Batch format (little-endian): a 37-byte header — base offset `u64`, batch length `u32`,
//! CRC32C `u32` over every other byte of the batch, magic `u8` = 1, record count `u32`, first
//! and max timestamp `i64` — then the records, each a varint length followed by varint
//! timestamp delta, offset delta, key (length + 1, 0 for none) and value length, and the bytes.

#![warn(missing_docs)]

// Shared foundations.
mod error;
mod fsutil;
// Configuration and naming rules.
mod config;
// The on-disk format, bottom up. Records and their varint encoding.
mod record;
// Record batches.
mod batch;
// Sparse offset and time index.
mod index;
// Segment files, their validation and recovery.
mod segment;
// Reading batches out of a segment.
mod fetch;
// Which old segments to delete.
mod retention;
// A partition: segments plus its writer or follower.
mod partition;
// Kafka-compatible key hashing.
mod partitioner;
// A topic: config, partitions, writer lock.
mod topic;
// The log handle: root directory, topic lifecycle.
mod log;
// Consumer group offsets.
mod groups;
// Batching producer.
mod producer;

pub use config::{DEFAULT_SEGMENT_BYTES, FsyncPolicy, LogOptions, MAX_SEGMENT_BYTES, TopicConfig};
pub use error::{LogError, Result};
pub use fetch::{FetchedRecords, Records};
pub use fsutil::now_ms;
pub use groups::{GroupOffsets, PartitionLag};
pub use log::Log;
pub use partition::{AppendResult, PartitionInfo};
pub use partitioner::{kafka_murmur2, partition_for_key};
pub use producer::{DEFAULT_BATCH_BYTES, Producer};
pub use record::{Record, RecordView};
pub use topic::Topic;
