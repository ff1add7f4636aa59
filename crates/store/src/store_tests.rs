//! Tests of the store through its public API.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use arrow::array::{Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::util::pretty::pretty_format_batches;
use spate_engine::changelog::{RowKind, row_kind_array, with_row_kind};
use spate_engine::sink::Sink;

use crate::{
    MaintenancePolicy, QueryLimits, Retention, Store, StoreError, StoreOptions, StoreSink,
    TableConfig,
};

fn metrics_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(
            "window_start",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ),
        Field::new("endpoint", DataType::Utf8, false),
        Field::new("requests", DataType::Int64, false),
    ]))
}

fn metrics(rows: &[(i64, &str, i64)]) -> RecordBatch {
    RecordBatch::try_new(
        metrics_schema(),
        vec![
            Arc::new(TimestampMillisecondArray::from_iter_values(
                rows.iter().map(|r| r.0),
            )),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.2))),
        ],
    )
    .unwrap()
}

fn scores_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("client_ip", DataType::Utf8, false),
        Field::new("score", DataType::Int64, true),
    ]))
}

/// A changelog batch of the scores table.
fn scores(rows: &[(RowKind, &str, i64)]) -> RecordBatch {
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

/// Options without the background thread, so tests decide when maintenance runs.
fn manual() -> StoreOptions {
    StoreOptions {
        maintenance: MaintenancePolicy {
            interval: None,
            ..MaintenancePolicy::default()
        },
        ..StoreOptions::default()
    }
}

fn open(dir: &std::path::Path) -> Store {
    Store::open_with(dir, manual()).unwrap()
}

async fn query(store: &Store, sql: &str) -> String {
    pretty_format_batches(&store.sql(sql).await.unwrap())
        .unwrap()
        .to_string()
}

/// Writes `batch` through a sink and commits it as checkpoint `checkpoint`.
fn commit(sink: &mut StoreSink, batch: &RecordBatch, checkpoint: u64) {
    sink.write(batch).unwrap();
    sink.prepare_commit(checkpoint).unwrap();
    sink.commit(checkpoint).unwrap();
}

#[tokio::test]
async fn appended_rows_are_visible_once_committed() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let table = store
        .create_table(TableConfig::append("m", metrics_schema()))
        .unwrap();
    let mut sink = StoreSink::new(table, "job.0");
    sink.write(&metrics(&[(1_000, "/a", 1), (2_000, "/b", 2)]))
        .unwrap();
    assert_eq!(
        query(&store, "SELECT count(*) AS n FROM m")
            .await
            .lines()
            .nth(3),
        Some("| 0 |")
    );
    sink.prepare_commit(1).unwrap();
    assert_eq!(
        query(&store, "SELECT count(*) AS n FROM m")
            .await
            .lines()
            .nth(3),
        Some("| 0 |")
    );
    sink.commit(1).unwrap();
    let out = query(
        &store,
        "SELECT endpoint, requests FROM m ORDER BY window_start",
    )
    .await;
    assert_eq!(
        out,
        "+----------+----------+\n\
         | endpoint | requests |\n\
         +----------+----------+\n\
         | /a       | 1        |\n\
         | /b       | 2        |\n\
         +----------+----------+"
    );
}

#[tokio::test]
async fn upsert_tables_keep_the_latest_row_per_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let table = store
        .create_table(TableConfig::upsert(
            "scores",
            scores_schema(),
            &["client_ip"],
        ))
        .unwrap();
    let mut sink = StoreSink::new(table.clone(), "job.0");
    commit(
        &mut sink,
        &scores(&[
            (RowKind::Insert, "10.0.0.1", 5),
            (RowKind::Insert, "10.0.0.2", 7),
            (RowKind::Insert, "10.0.0.3", 1),
            // The last change of a key in a batch wins.
            (RowKind::UpdateBefore, "10.0.0.3", 1),
            (RowKind::UpdateAfter, "10.0.0.3", 4),
        ]),
        1,
    );
    commit(
        &mut sink,
        &scores(&[
            (RowKind::UpdateBefore, "10.0.0.1", 5),
            (RowKind::UpdateAfter, "10.0.0.1", 9),
            (RowKind::Delete, "10.0.0.2", 7),
            (RowKind::Insert, "10.0.0.4", 2),
        ]),
        2,
    );
    let expected = "+-----------+-------+\n\
                    | client_ip | score |\n\
                    +-----------+-------+\n\
                    | 10.0.0.1  | 9     |\n\
                    | 10.0.0.3  | 4     |\n\
                    | 10.0.0.4  | 2     |\n\
                    +-----------+-------+";
    let sql = "SELECT client_ip, score FROM scores ORDER BY client_ip";
    assert_eq!(query(&store, sql).await, expected);
    // A plain (append-only) batch upserts too.
    let plain = RecordBatch::try_new(
        scores_schema(),
        vec![
            Arc::new(StringArray::from(vec!["10.0.0.4"])),
            Arc::new(Int64Array::from(vec![3])),
        ],
    )
    .unwrap();
    commit(&mut sink, &plain, 3);
    let out = query(
        &store,
        "SELECT score FROM scores WHERE client_ip = '10.0.0.4'",
    )
    .await;
    assert!(out.contains("| 3     |"), "{out}");
    assert_eq!(table.stats().memory_rows, 3);
}

#[tokio::test]
async fn an_append_table_refuses_updates() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let table = store
        .create_table(TableConfig::append("s", scores_schema()))
        .unwrap();
    let mut sink = StoreSink::new(table, "job.0");
    let err = sink
        .write(&scores(&[(RowKind::Delete, "10.0.0.1", 1)]))
        .unwrap_err();
    assert!(err.to_string().contains("inserts only"), "{err}");
    // Inserts in a changelog are fine.
    sink.write(&scores(&[(RowKind::Insert, "10.0.0.1", 1)]))
        .unwrap();
}

#[tokio::test]
async fn committed_rows_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let sql = "SELECT * FROM m ORDER BY window_start";
    let keyed_sql = "SELECT * FROM scores ORDER BY client_ip";
    let (before, keyed_before) = {
        let store = open(dir.path());
        let m = store
            .create_table(TableConfig::append("m", metrics_schema()))
            .unwrap();
        let s = store
            .create_table(TableConfig::upsert(
                "scores",
                scores_schema(),
                &["client_ip"],
            ))
            .unwrap();
        let mut sink = StoreSink::new(m, "job.0");
        commit(
            &mut sink,
            &metrics(&[(1_000, "/a", 1), (2_000, "/b", 2)]),
            1,
        );
        commit(&mut sink, &metrics(&[(3_000, "/c", 3)]), 2);
        let mut keyed = StoreSink::new(s, "job.1");
        commit(
            &mut keyed,
            &scores(&[(RowKind::Insert, "a", 1), (RowKind::Insert, "b", 2)]),
            1,
        );
        commit(&mut keyed, &scores(&[(RowKind::Delete, "a", 1)]), 2);
        (query(&store, sql).await, query(&store, keyed_sql).await)
    };
    assert!(
        before.contains("/c") && keyed_before.contains("| b "),
        "{before}"
    );
    let store = open(dir.path());
    assert_eq!(query(&store, sql).await, before);
    assert_eq!(query(&store, keyed_sql).await, keyed_before);
    assert_eq!(store.table_names(), ["m", "scores"]);
}

#[tokio::test]
async fn an_unfinished_checkpoint_is_discarded_and_a_replayed_commit_is_not_duplicated() {
    let dir = tempfile::tempdir().unwrap();
    let config = TableConfig::append("m", metrics_schema());
    let (state_1, state_2) = {
        let store = open(dir.path());
        let mut sink = StoreSink::new(store.create_table(config.clone()).unwrap(), "job.0");
        sink.write(&metrics(&[(1_000, "/a", 1)])).unwrap();
        let state_1 = sink.prepare_commit(1).unwrap();
        sink.commit(1).unwrap();
        sink.write(&metrics(&[(2_000, "/b", 2)])).unwrap();
        // Prepared (durable) but the checkpoint never completes before the crash.
        let state_2 = sink.prepare_commit(2).unwrap();
        sink.write(&metrics(&[(3_000, "/c", 3)])).unwrap();
        (state_1, state_2)
    };
    let count = "SELECT endpoint FROM m ORDER BY endpoint";
    {
        // Recovery from checkpoint 1: its commit is replayed, what came after is discarded.
        let store = open(dir.path());
        let out = query(&store, count).await;
        assert!(
            out.contains("/a") && !out.contains("/b") && !out.contains("/c"),
            "{out}"
        );
        let mut sink = StoreSink::new(store.table("m").unwrap(), "job.0");
        sink.restore(Some(&state_1)).unwrap();
        let out = query(&store, count).await;
        assert_eq!(out.matches("/a").count(), 1, "{out}");
        assert!(!out.contains("/b"), "{out}");
    }
    // After that recovery, the discarded checkpoint 2 is gone for good, even on restart.
    let store = open(dir.path());
    let mut sink = StoreSink::new(store.table("m").unwrap(), "job.0");
    sink.restore(Some(&state_2)).unwrap();
    let out = query(&store, count).await;
    assert_eq!(out.matches("/a").count(), 1, "{out}");
    assert!(!out.contains("/b") && !out.contains("/c"), "{out}");
}

#[tokio::test]
async fn a_recovery_commits_a_prepared_checkpoint_once() {
    let dir = tempfile::tempdir().unwrap();
    let state = {
        let store = open(dir.path());
        let table = store
            .create_table(TableConfig::append("m", metrics_schema()))
            .unwrap();
        let mut sink = StoreSink::new(table, "job.0");
        sink.write(&metrics(&[(1_000, "/a", 1)])).unwrap();
        // The checkpoint completes, but the process dies before the sink's commit.
        sink.prepare_commit(1).unwrap()
    };
    let store = open(dir.path());
    let mut sink = StoreSink::new(store.table("m").unwrap(), "job.0");
    sink.restore(Some(&state)).unwrap();
    // The engine may notify the commit again; it changes nothing.
    sink.commit(1).unwrap();
    sink.restore(Some(&state)).unwrap();
    let out = query(&store, "SELECT endpoint FROM m").await;
    assert_eq!(out.matches("/a").count(), 1, "{out}");
}

#[tokio::test]
async fn retention_drops_old_rows() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let now = crate::table::now_ms();
    let hour = 3_600_000;
    let table = store
        .create_table(
            TableConfig::append("m", metrics_schema()).with_retention(Retention {
                max_age: Duration::from_secs(24 * 3600),
                time_column: Some("window_start".into()),
            }),
        )
        .unwrap();
    let mut sink = StoreSink::new(table.clone(), "job.0");
    commit(
        &mut sink,
        &metrics(&[(now - 48 * hour, "/old", 1), (now - hour, "/new", 2)]),
        1,
    );
    commit(&mut sink, &metrics(&[(now - 30 * hour, "/older", 3)]), 2);
    // Queries never see expired rows, even before maintenance drops them.
    let out = query(&store, "SELECT endpoint FROM m").await;
    assert!(out.contains("/new") && !out.contains("/old"), "{out}");
    assert_eq!(table.stats().memory_rows, 3);
    let report = table.maintain(&manual().maintenance).unwrap();
    assert_eq!(report.expired.rows, 2);
    assert_eq!(table.stats().memory_rows, 1);
    let out = query(&store, "SELECT endpoint FROM m").await;
    assert!(out.contains("/new") && !out.contains("/old"), "{out}");
}

#[tokio::test]
async fn retention_by_ingest_time_drops_whole_commits() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let table = store
        .create_table(
            TableConfig::upsert("scores", scores_schema(), &["client_ip"]).with_retention(
                Retention {
                    max_age: Duration::from_millis(300),
                    time_column: None,
                },
            ),
        )
        .unwrap();
    let mut sink = StoreSink::new(table.clone(), "job.0");
    commit(&mut sink, &scores(&[(RowKind::Insert, "a", 1)]), 1);
    std::thread::sleep(Duration::from_millis(400));
    commit(&mut sink, &scores(&[(RowKind::Insert, "b", 2)]), 2);
    let report = table.maintain(&manual().maintenance).unwrap();
    assert_eq!(report.expired.rows, 1);
    let out = query(&store, "SELECT client_ip FROM scores").await;
    assert!(out.contains("| b ") && !out.contains("| a "), "{out}");
}

#[tokio::test]
async fn compaction_and_flushing_keep_query_results() {
    let dir = tempfile::tempdir().unwrap();
    let queries = [
        "SELECT * FROM m ORDER BY window_start, endpoint",
        "SELECT endpoint, sum(requests) AS r FROM m WHERE window_start >= TIMESTAMP '1970-01-01 00:00:30' GROUP BY endpoint ORDER BY endpoint",
        "SELECT count(*) FROM m WHERE window_start < TIMESTAMP '1970-01-01 00:00:10'",
    ];
    let store = open(dir.path());
    let table = store
        .create_table(TableConfig::append("m", metrics_schema()))
        .unwrap();
    let mut sink = StoreSink::new(table.clone(), "job.0");
    for checkpoint in 1..=20u64 {
        let t = checkpoint as i64 * 5_000;
        commit(
            &mut sink,
            &metrics(&[(t, "/a", checkpoint as i64), (t, "/b", 1)]),
            checkpoint,
        );
    }
    let mut before = Vec::new();
    for sql in queries {
        before.push(query(&store, sql).await);
    }
    let policy = MaintenancePolicy {
        interval: None,
        merge_below_rows: 16,
        merge_target_rows: 8,
        ..MaintenancePolicy::default()
    };
    let report = table.maintain(&policy).unwrap();
    assert!(report.merged_batches > 0, "{report:?}");
    assert!(table.stats().memory_batches < 20);
    for (sql, expected) in queries.iter().zip(&before) {
        assert_eq!(&query(&store, sql).await, expected, "{sql} after merging");
    }
    // Half the rows to Parquet (memory limit below their size), then the rest.
    let bytes = table.stats().memory_bytes;
    let flushing = MaintenancePolicy {
        memory_limit_bytes: bytes / 2,
        ..policy.clone()
    };
    assert!(table.maintain(&flushing).unwrap().flushed);
    let stats = table.stats();
    assert!(
        stats.files == 1 && stats.file_rows > 0 && stats.memory_rows > 0,
        "{stats:?}"
    );
    for (sql, expected) in queries.iter().zip(&before) {
        assert_eq!(&query(&store, sql).await, expected, "{sql} half flushed");
    }
    // Rows committed after a flush go to the new log.
    commit(&mut sink, &metrics(&[(200_000, "/z", 1)]), 21);
    assert!(table.flush().unwrap());
    assert_eq!(table.stats().memory_rows, 0);
    assert_eq!(table.stats().files, 2);
    let after: Vec<String> = {
        let mut out = Vec::new();
        for sql in queries {
            out.push(query(&store, sql).await);
        }
        out
    };
    assert!(after[0].contains("/z"));
    drop((sink, table, store));
    let store = open(dir.path());
    for (sql, expected) in queries.iter().zip(&after) {
        assert_eq!(&query(&store, sql).await, expected, "{sql} after a restart");
    }
}

#[tokio::test]
async fn an_upsert_state_file_keeps_query_results() {
    let dir = tempfile::tempdir().unwrap();
    let sql = "SELECT client_ip, score FROM scores ORDER BY client_ip";
    let before = {
        let store = open(dir.path());
        let table = store
            .create_table(TableConfig::upsert(
                "scores",
                scores_schema(),
                &["client_ip"],
            ))
            .unwrap();
        let mut sink = StoreSink::new(table.clone(), "job.0");
        commit(
            &mut sink,
            &scores(&[(RowKind::Insert, "a", 1), (RowKind::Insert, "b", 2)]),
            1,
        );
        assert!(table.flush().unwrap());
        commit(
            &mut sink,
            &scores(&[(RowKind::Delete, "a", 1), (RowKind::Insert, "c", 3)]),
            2,
        );
        // Prepared, not committed: a later recovery commits it.
        sink.write(&scores(&[(RowKind::Insert, "d", 4)])).unwrap();
        sink.prepare_commit(3).unwrap();
        assert!(table.flush().unwrap());
        assert_eq!(table.stats().files, 1);
        query(&store, sql).await
    };
    assert!(before.contains("| b ") && before.contains("| c ") && !before.contains("| a "));
    let store = open(dir.path());
    assert_eq!(query(&store, sql).await, before);
    let mut sink = StoreSink::new(store.table("scores").unwrap(), "job.0");
    sink.restore(Some(br#"{"txn":"job.0","checkpoint":3}"#))
        .unwrap();
    assert!(query(&store, sql).await.contains("| d "));
}

#[tokio::test]
async fn a_torn_log_tail_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        let table = store
            .create_table(TableConfig::append("m", metrics_schema()))
            .unwrap();
        commit(
            &mut StoreSink::new(table, "job.0"),
            &metrics(&[(1_000, "/a", 1)]),
            1,
        );
    }
    let wal = dir.path().join("tables/m/wal-000000.log");
    let mut bytes = std::fs::read(&wal).unwrap();
    let len = bytes.len();
    bytes.extend_from_slice(&[200, 0, 0, 0, 1, 2, 3, 4, 5]);
    std::fs::write(&wal, &bytes).unwrap();
    let store = open(dir.path());
    assert!(query(&store, "SELECT * FROM m").await.contains("/a"));
    assert_eq!(std::fs::metadata(&wal).unwrap().len() as usize, len);
}

#[tokio::test]
async fn bad_queries_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .create_table(TableConfig::append("m", metrics_schema()))
        .unwrap();
    match store.sql("SELECT * FROM nope").await {
        Err(StoreError::NoSuchTable { name, known }) => {
            assert_eq!(name, "nope");
            assert_eq!(known, ["m"]);
        }
        other => panic!("{other:?}"),
    }
    let err = store.sql("SELEC * FROM m").await.unwrap_err();
    assert!(matches!(err, StoreError::Query(_)), "{err:?}");
    assert!(err.to_string().contains("SELEC"), "{err}");
    let err = store.sql("SELECT missing FROM m").await.unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
    let err = store.sql("CREATE TABLE x (a INT)").await.unwrap_err();
    assert!(err.to_string().contains("queries only"), "{err}");
    assert!(matches!(
        store.table("nope"),
        Err(StoreError::NoSuchTable { .. })
    ));
}

#[tokio::test]
async fn conflicting_definitions_and_a_second_writer_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .create_table(TableConfig::append("m", metrics_schema()))
        .unwrap();
    let err = store
        .create_table(TableConfig::append("m", scores_schema()))
        .unwrap_err();
    assert!(err.to_string().contains("differs"), "{err}");
    assert!(matches!(
        Store::open_with(dir.path(), manual()),
        Err(StoreError::Locked { .. })
    ));
    let reader = Store::open_read_only(dir.path(), manual()).unwrap();
    assert_eq!(reader.table_names(), ["m"]);
    assert!(matches!(
        reader.create_table(TableConfig::append("x", metrics_schema())),
        Err(StoreError::ReadOnly { .. })
    ));
    let err = store
        .create_table(TableConfig::append("bad name", metrics_schema()))
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidTable { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_past_its_time_limit_fails_without_stopping_ingest() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let table = store
        .create_table(TableConfig::append("m", metrics_schema()))
        .unwrap();
    let rows: Vec<(i64, String, i64)> = (0..20_000).map(|i| (i, format!("/{i}"), i)).collect();
    let refs: Vec<(i64, &str, i64)> = rows.iter().map(|r| (r.0, r.1.as_str(), r.2)).collect();
    commit(
        &mut StoreSink::new(table.clone(), "seed"),
        &metrics(&refs),
        1,
    );

    let stop = Arc::new(AtomicBool::new(false));
    let ingest = {
        let (table, stop) = (table.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut sink = StoreSink::new(table, "job.0");
            let mut checkpoint = 0u64;
            while !stop.load(Ordering::Relaxed) {
                checkpoint += 1;
                commit(
                    &mut sink,
                    &metrics(&[(checkpoint as i64, "/live", 1)]),
                    checkpoint,
                );
            }
            checkpoint
        })
    };
    // 400M pairs: far longer than the limit.
    let limits = QueryLimits {
        timeout: Duration::from_millis(200),
        ..QueryLimits::default()
    };
    let started = Instant::now();
    let err = store
        .sql_with(
            "SELECT count(*) FROM m a, m b WHERE a.requests + b.requests = -1",
            limits,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Timeout { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    let before = table.stats().memory_rows;
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.store(true, Ordering::Relaxed);
    let commits = ingest.join().unwrap();
    assert!(commits > 10, "{commits} commits");
    assert!(table.stats().memory_rows > before);
    let out = query(
        &store,
        "SELECT count(*) AS n FROM m WHERE endpoint = '/live'",
    )
    .await;
    assert!(
        out.contains(&format!("| {commits} ")),
        "{out} after {commits}"
    );
}

#[tokio::test]
async fn a_query_past_its_memory_limit_fails() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let table = store
        .create_table(TableConfig::append("m", metrics_schema()))
        .unwrap();
    let rows: Vec<(i64, String, i64)> = (0..50_000).map(|i| (i, format!("/{i}"), i)).collect();
    let refs: Vec<(i64, &str, i64)> = rows.iter().map(|r| (r.0, r.1.as_str(), r.2)).collect();
    commit(&mut StoreSink::new(table, "seed"), &metrics(&refs), 1);
    let limits = QueryLimits {
        memory_bytes: 64 * 1024,
        ..QueryLimits::default()
    };
    let err = store
        .sql_with(
            "SELECT endpoint, count(*) FROM m GROUP BY endpoint ORDER BY endpoint",
            limits,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::MemoryLimit { .. }), "{err:?}");
    // The same query within the default limits runs.
    assert_eq!(
        store
            .sql("SELECT endpoint, count(*) FROM m GROUP BY endpoint")
            .await
            .unwrap()
            .iter()
            .map(RecordBatch::num_rows)
            .sum::<usize>(),
        50_000
    );
}

#[tokio::test]
async fn subscribers_receive_each_commit() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .create_table(TableConfig::upsert(
            "scores",
            scores_schema(),
            &["client_ip"],
        ))
        .unwrap();
    let mut changes = store.subscribe("scores").unwrap();
    let mut sink = StoreSink::new(store.table("scores").unwrap(), "job.0");
    sink.write(&scores(&[(RowKind::Insert, "a", 1)])).unwrap();
    sink.prepare_commit(1).unwrap();
    assert!(changes.try_recv().is_err(), "nothing is committed yet");
    sink.commit(1).unwrap();
    let change = changes.recv().await.unwrap();
    assert_eq!(change.table, "scores");
    assert_eq!(
        change.rows.iter().map(RecordBatch::num_rows).sum::<usize>(),
        1
    );
    // A replayed commit announces nothing.
    sink.commit(1).unwrap();
    assert!(changes.try_recv().is_err());
}

#[tokio::test]
async fn a_query_is_described_without_running_and_answers_its_columns_without_rows() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let table = store
        .create_table(TableConfig::append("m", metrics_schema()))
        .unwrap();
    let limits = QueryLimits::default();
    let sql = "SELECT endpoint, requests * 2 AS doubled FROM m";
    let schema = store.describe(sql, limits).await.unwrap();
    let columns: Vec<_> = schema
        .fields()
        .iter()
        .map(|f| (f.name().as_str(), f.data_type().clone()))
        .collect();
    assert_eq!(
        columns,
        [("endpoint", DataType::Utf8), ("doubled", DataType::Int64)]
    );
    let empty = store.query_with(sql, limits).await.unwrap();
    assert_eq!(empty.schema, schema);
    assert_eq!(empty.batches.iter().map(|b| b.num_rows()).sum::<usize>(), 0);
    commit(
        &mut StoreSink::new(table, "job.0"),
        &metrics(&[(1_000, "/a", 3)]),
        1,
    );
    let full = store.query_with(sql, limits).await.unwrap();
    assert_eq!(full.batches.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
    let err = store
        .describe("SELECT * FROM nope", limits)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NoSuchTable { .. }), "{err:?}");
    let err = store.describe("DROP TABLE m", limits).await.unwrap_err();
    assert!(err.to_string().contains("queries only"), "{err}");
}

#[tokio::test]
async fn a_read_only_store_sees_later_commits_and_tables_once_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let table = store
        .create_table(TableConfig::append("m", metrics_schema()))
        .unwrap();
    let mut sink = StoreSink::new(table, "job.0");
    commit(&mut sink, &metrics(&[(1_000, "/a", 1)]), 1);
    let reader = Store::open_read_only(dir.path(), manual()).unwrap();
    commit(&mut sink, &metrics(&[(2_000, "/b", 2)]), 2);
    store
        .create_table(TableConfig::upsert("s", scores_schema(), &["client_ip"]))
        .unwrap();
    let count = "SELECT count(*) AS n FROM m";
    assert_eq!(query(&reader, count).await.lines().nth(3), Some("| 1 |"));
    assert_eq!(reader.table_names(), ["m"]);
    reader.reload().unwrap();
    assert_eq!(query(&reader, count).await.lines().nth(3), Some("| 2 |"));
    assert_eq!(reader.table_names(), ["m", "s"]);
    // A clone is the same store: it sees the reload.
    let clone = reader.clone();
    commit(&mut sink, &metrics(&[(3_000, "/c", 3)]), 3);
    reader.reload().unwrap();
    assert_eq!(query(&clone, count).await.lines().nth(3), Some("| 3 |"));
    // The writer is always current: a reload changes nothing.
    store.reload().unwrap();
    assert_eq!(query(&store, count).await.lines().nth(3), Some("| 3 |"));
}
