//! Spate's embedded serving store, the part an HSAP store (Hologres) plays: jobs write result
//! tables into it at a high rate through an exactly-once [`StoreSink`], and dashboards query
//! them with DataFusion SQL at the same time ([`Store::sql`]).
//!
//! - A table is append-only, or an upsert table that keeps the latest row per primary key
//!   ([`TableConfig`]).
//! - Writes are logged to a per-table write-ahead log and fsynced when a checkpoint prepares
//!   them; a commit makes them visible; replays after a recovery are idempotent
//!   ([`wal`](crate::wal) records, [`StoreSink`]).
//! - Queries read an immutable snapshot: recent rows as in-memory Arrow batches (skipped by
//!   column statistics when filters rule them out), older rows in Parquet files
//!   ([`SnapshotTable`]). Reads never block writes and writes never wait on reads.
//! - Upsert tables are materialized on write (a keyed index over batches with live-row
//!   masks), so a query reads plain batches of the latest rows, with no merge at read time.
//! - A background thread drops rows past retention, merges small batches and flushes memory
//!   to Parquet ([`MaintenancePolicy`]).
//! - Each commit is announced to subscribers ([`Table::subscribe`]).

#![warn(missing_docs)]

mod codec;
mod config;
mod error;
mod files;
mod fsutil;
mod keyed;
mod maintenance;
mod manifest;
mod provider;
mod query;
mod retention;
mod sink;
mod snapshot;
mod store;
mod table;
mod wal;

#[cfg(test)]
mod store_tests;

pub use config::{Retention, TableConfig, valid_name};
pub use error::{Result, StoreError};
pub use maintenance::{MaintenancePolicy, MaintenanceReport};
pub use manifest::FileMeta;
pub use provider::SnapshotTable;
pub use query::{QueryLimits, QueryOutput};
pub use retention::Expired;
pub use sink::StoreSink;
pub use snapshot::{MemBatch, Snapshot};
pub use store::{Store, StoreOptions};
pub use table::{Table, TableChange, TableStats};
