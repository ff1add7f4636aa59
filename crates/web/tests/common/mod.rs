//! A store with tables to serve, and the servers on loopback ports of the system's choosing.

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use spate_engine::changelog::{RowKind, row_kind_array, with_row_kind};
use spate_store::{QueryLimits, Store, Table, TableConfig};
use spate_web::{PgAuth, PgOptions, Server, ServerConfig};

/// `metrics (ts TIMESTAMP(3), endpoint STRING, requests BIGINT, latency DOUBLE NULL)`.
pub fn metrics_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ),
        Field::new("endpoint", DataType::Utf8, false),
        Field::new("requests", DataType::Int64, false),
        Field::new("latency", DataType::Float64, true),
    ]))
}

pub fn metrics(rows: &[(i64, &str, i64, Option<f64>)]) -> RecordBatch {
    RecordBatch::try_new(
        metrics_schema(),
        vec![
            Arc::new(TimestampMillisecondArray::from_iter_values(
                rows.iter().map(|r| r.0),
            )),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.2))),
            Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.3))),
        ],
    )
    .unwrap()
}

/// `scores (ip STRING, score BIGINT, PRIMARY KEY (ip))`.
pub fn scores_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("ip", DataType::Utf8, false),
        Field::new("score", DataType::Int64, true),
    ]))
}

/// A changelog of the scores table.
pub fn scores(rows: &[(RowKind, &str, i64)]) -> RecordBatch {
    RecordBatch::try_new(
        with_row_kind(&scores_schema()),
        vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.2))),
            row_kind_array(rows.iter().map(|r| r.0)),
        ],
    )
    .unwrap()
}

/// A store in a temporary directory with the tables `metrics` (append) and `scores`
/// (upsert).
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub store: Store,
    pub metrics: Table,
    pub scores: Table,
    checkpoint: AtomicU64,
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("store")).unwrap();
        let metrics = store
            .create_table(TableConfig::append("metrics", metrics_schema()))
            .unwrap();
        let scores = store
            .create_table(TableConfig::upsert("scores", scores_schema(), &["ip"]))
            .unwrap();
        Fixture {
            dir,
            store,
            metrics,
            scores,
            checkpoint: AtomicU64::new(0),
        }
    }

    /// Writes `batch` to `table` and commits it, as a job's checkpoint does.
    pub fn commit(&self, table: &Table, batch: &RecordBatch) {
        let checkpoint = self.checkpoint.fetch_add(1, Ordering::SeqCst) + 1;
        table.write("test", table.conform(batch).unwrap()).unwrap();
        table.prepare("test", checkpoint).unwrap();
        assert!(table.commit("test", checkpoint).unwrap() > 0);
    }

    /// Serves the store over HTTP and PostgreSQL on loopback, with `password` (MD5).
    pub async fn serve(&self, password: Option<&str>) -> Server {
        self.serve_with(password, PgAuth::Md5, QueryLimits::default())
            .await
    }

    pub async fn serve_with(
        &self,
        password: Option<&str>,
        auth: PgAuth,
        limits: QueryLimits,
    ) -> Server {
        Server::start(
            self.store.clone(),
            ServerConfig {
                http: Some("127.0.0.1:0".parse().unwrap()),
                pg: Some("127.0.0.1:0".parse().unwrap()),
                pg_options: PgOptions {
                    password: password.map(String::from),
                    auth,
                },
                limits,
                ..ServerConfig::default()
            },
        )
        .await
        .unwrap()
    }
}
