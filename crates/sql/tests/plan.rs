//! Planning INSERTs into job graphs and running them on in-memory connectors.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use arrow::array::{
    Array, AsArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
};
use arrow::datatypes::{DataType, Float64Type, Int64Type, SchemaRef, TimestampMillisecondType};
use spate_engine::JobConfig;
use spate_engine::operator::TaskInfo;
use spate_engine::sink::{Sink, SinkFactory};
use spate_engine::source::{Source, SourceFactory, SourcePoll};
use spate_sql::{
    ColumnsRead, ConnectorRegistry, ModelDef, PlanOptions, Predictor, SqlError, TableDef,
    parse_script, plan_script,
};

const EVENTS: &str = "\
CREATE TABLE events (
  ts BIGINT, client_ip STRING, status INT, latency_ms DOUBLE, bytes_out BIGINT,
  event_time AS TO_TIMESTAMP_LTZ(ts, 3),
  WATERMARK FOR event_time AS event_time - INTERVAL '2' SECOND
) WITH ('connector' = 'filesystem', 'path' = '/data/events.jsonl', 'format' = 'json');
";

const REFERENCE_SINK: &str = "\
CREATE TABLE sink (window_start TIMESTAMP(3), window_end TIMESTAMP(3), client_ip STRING,
  cnt BIGINT, avg_latency DOUBLE, sum_bytes BIGINT, errors BIGINT) WITH ('connector' = 'blackhole');
";

const REFERENCE_INSERT: &str = "\
INSERT INTO sink
SELECT window_start, window_end, client_ip, COUNT(*), AVG(latency_ms), SUM(bytes_out),
       COUNT(*) FILTER (WHERE status >= 400)
FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(event_time), INTERVAL '10' SECOND))
GROUP BY window_start, window_end, client_ip;
";

/// One access-log event.
#[derive(Debug, Clone)]
struct Event {
    ts: i64,
    client_ip: String,
    status: i32,
    latency_ms: f64,
    bytes_out: i64,
}

/// Events over two partitions, out of order by less than the 2 s watermark delay.
fn events() -> Vec<Vec<Event>> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    (0..2)
        .map(|_| {
            (0..3_000)
                .map(|i| Event {
                    ts: 1_700_000_000_000 + i * 23 + next(1_500) as i64,
                    client_ip: format!("10.0.0.{}", next(7)),
                    status: [200, 200, 201, 404, 500][next(5) as usize],
                    latency_ms: next(10_000) as f64 / 8.0,
                    bytes_out: next(100_000) as i64,
                })
                .collect()
        })
        .collect()
}

fn batch(schema: &SchemaRef, events: &[Event]) -> RecordBatch {
    RecordBatch::try_new(
        Arc::clone(schema),
        vec![
            Arc::new(Int64Array::from_iter_values(events.iter().map(|e| e.ts))),
            Arc::new(StringArray::from_iter_values(
                events.iter().map(|e| e.client_ip.as_str()),
            )),
            Arc::new(Int32Array::from_iter_values(
                events.iter().map(|e| e.status),
            )),
            Arc::new(Float64Array::from_iter_values(
                events.iter().map(|e| e.latency_ms),
            )),
            Arc::new(Int64Array::from_iter_values(
                events.iter().map(|e| e.bytes_out),
            )),
        ],
    )
    .unwrap()
}

/// Reads pre-built batches, partition by partition.
struct MemorySource {
    schema: SchemaRef,
    partitions: Vec<Vec<RecordBatch>>,
    positions: Vec<usize>,
    reported: Vec<bool>,
}

impl Source for MemorySource {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn partitions(&self) -> Vec<String> {
        (0..self.partitions.len())
            .map(|p| format!("mem/{p}"))
            .collect()
    }

    fn poll(&mut self) -> spate_engine::Result<SourcePoll> {
        for p in 0..self.partitions.len() {
            if let Some(batch) = self.partitions[p].get(self.positions[p]) {
                self.positions[p] += 1;
                return Ok(SourcePoll::Batch {
                    partition: p,
                    batch: batch.clone(),
                });
            }
        }
        if let Some(p) = self.reported.iter().position(|r| !r) {
            self.reported[p] = true;
            return Ok(SourcePoll::PartitionFinished(p));
        }
        Ok(SourcePoll::Finished)
    }

    fn snapshot(&mut self, _checkpoint: u64) -> spate_engine::Result<Vec<u8>> {
        Ok(Vec::new())
    }

    fn restore(&mut self, _state: Option<&[u8]>) -> spate_engine::Result<()> {
        Ok(())
    }
}

/// Keeps every batch written.
struct CollectSink(Arc<Mutex<Vec<RecordBatch>>>);

impl Sink for CollectSink {
    fn name(&self) -> String {
        "collect".into()
    }

    fn write(&mut self, batch: &RecordBatch) -> spate_engine::Result<()> {
        self.0.lock().unwrap().push(batch.clone());
        Ok(())
    }

    fn prepare_commit(&mut self, _checkpoint: u64) -> spate_engine::Result<Vec<u8>> {
        Ok(Vec::new())
    }

    fn commit(&mut self, _checkpoint: u64) -> spate_engine::Result<()> {
        Ok(())
    }

    fn restore(&mut self, _pending: Option<&[u8]>) -> spate_engine::Result<()> {
        Ok(())
    }
}

/// A model of slow requests: the score is the latency over 1250 ms, and a request is slow
/// above 1000 ms or when it failed (status ≥ 500).
#[derive(Debug)]
struct SlowRequests;

impl Predictor for SlowRequests {
    fn predict(
        &self,
        inputs: &[arrow::array::ArrayRef],
    ) -> Result<Vec<arrow::array::ArrayRef>, String> {
        let latency = inputs[0].as_primitive::<Float64Type>();
        let status = inputs[1].as_primitive::<arrow::datatypes::Int32Type>();
        let score: Float64Array = latency.iter().map(|l| l.map(|l| l / 1250.0)).collect();
        let slow: arrow::array::BooleanArray = (0..latency.len())
            .map(|i| Some(latency.value(i) > 1000.0 || status.value(i) >= 500))
            .collect();
        Ok(vec![Arc::new(score), Arc::new(slow)])
    }
}

/// In-memory events for every source table, collecting sinks.
struct Registry {
    events: Vec<Vec<Event>>,
    /// Rows per source batch.
    chunk: usize,
    collected: Arc<Mutex<Vec<RecordBatch>>>,
}

impl Registry {
    fn new() -> Self {
        Registry::with_events(events())
    }

    fn with_events(events: Vec<Vec<Event>>) -> Self {
        Registry {
            events,
            chunk: 250,
            collected: Arc::default(),
        }
    }

    fn rows(&self) -> Vec<RecordBatch> {
        self.collected.lock().unwrap().clone()
    }
}

impl ConnectorRegistry for Registry {
    fn source(
        &self,
        table: &TableDef,
        physical_schema: SchemaRef,
        _read: &ColumnsRead,
    ) -> Result<SourceFactory, SqlError> {
        assert_eq!(table.name, "events");
        let partitions: Vec<Vec<RecordBatch>> = self
            .events
            .iter()
            .map(|p| {
                p.chunks(self.chunk)
                    .map(|c| batch(&physical_schema, c))
                    .collect()
            })
            .collect();
        Ok(Arc::new(move |task: &TaskInfo| {
            let mine: Vec<Vec<RecordBatch>> = partitions
                .iter()
                .enumerate()
                .filter(|(p, _)| p % task.parallelism == task.instance)
                .map(|(_, b)| b.clone())
                .collect();
            Ok(Box::new(MemorySource {
                schema: Arc::clone(&physical_schema),
                positions: vec![0; mine.len()],
                reported: vec![false; mine.len()],
                partitions: mine,
            }) as Box<dyn Source>)
        }))
    }

    fn accepts_changes(&self, table: &TableDef) -> bool {
        table.connector == spate_sql::Connector::Blackhole
    }

    fn model(&self, model: &ModelDef) -> Result<Arc<dyn Predictor>, SqlError> {
        assert_eq!(model.option("provider"), Some("test"));
        Ok(Arc::new(SlowRequests))
    }

    fn sink(&self, _table: &TableDef) -> Result<SinkFactory, SqlError> {
        let collected = Arc::clone(&self.collected);
        Ok(Arc::new(move |_: &TaskInfo| {
            Ok(Box::new(CollectSink(Arc::clone(&collected))) as Box<dyn Sink>)
        }))
    }
}

fn run(sql: &str, registry: &Registry, parallelism: usize) -> Vec<RecordBatch> {
    let script = parse_script(sql).unwrap();
    let options = PlanOptions {
        parallelism,
        ..PlanOptions::default()
    };
    let mut graphs = plan_script(&script, registry, &options).unwrap();
    assert_eq!(graphs.len(), 1);
    let graph = graphs.remove(0);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime
        .block_on(spate_engine::run(graph, JobConfig::default()))
        .unwrap();
    registry.rows()
}

fn plan_error(sql: &str) -> SqlError {
    let script = parse_script(sql).unwrap();
    match plan_script(&script, &Registry::new(), &PlanOptions::default()) {
        Ok(_) => panic!("planned: {sql}"),
        Err(e) => e,
    }
}

/// Per (window_start, client_ip): count, latency sum, bytes sum, errors.
type Expected = BTreeMap<(i64, String), (i64, f64, i64, i64)>;

fn brute_force(events: &[Vec<Event>], size: i64, slide: i64) -> Expected {
    let mut out = Expected::new();
    for e in events.iter().flatten() {
        let last = e.ts - e.ts.rem_euclid(slide);
        let mut start = last;
        while start > e.ts - size {
            let entry = out
                .entry((start, e.client_ip.clone()))
                .or_insert((0, 0.0, 0, 0));
            entry.0 += 1;
            entry.1 += e.latency_ms;
            entry.2 += e.bytes_out;
            entry.3 += i64::from(e.status >= 400);
            start -= slide;
        }
    }
    out
}

/// The window rows collected: (start, ip) → (end, cnt, avg, sum, errors).
type Collected = HashMap<(i64, String), (i64, i64, f64, i64, i64)>;

fn window_rows(batches: &[RecordBatch]) -> Collected {
    let mut out = HashMap::new();
    for b in batches {
        assert_eq!(b.num_columns(), 7);
        let start = b.column(0).as_primitive::<TimestampMillisecondType>();
        let end = b.column(1).as_primitive::<TimestampMillisecondType>();
        let ip = b.column(2).as_string::<i32>();
        let cnt = b.column(3).as_primitive::<Int64Type>();
        let avg = b.column(4).as_primitive::<Float64Type>();
        let sum = b.column(5).as_primitive::<Int64Type>();
        let errors = b.column(6).as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            let prev = out.insert(
                (start.value(i), ip.value(i).to_string()),
                (
                    end.value(i),
                    cnt.value(i),
                    avg.value(i),
                    sum.value(i),
                    errors.value(i),
                ),
            );
            assert!(prev.is_none(), "window emitted twice");
        }
    }
    out
}

fn check_windows(batches: &[RecordBatch], expected: &Expected, size: i64) {
    let got = window_rows(batches);
    assert_eq!(got.len(), expected.len(), "number of window rows");
    for ((start, ip), (cnt, latency, bytes, errors)) in expected {
        let (end, c, avg, sum, err) = got
            .get(&(*start, ip.clone()))
            .unwrap_or_else(|| panic!("missing window {start} {ip}"));
        assert_eq!(*end, start + size);
        assert_eq!(c, cnt);
        assert!((avg - latency / *cnt as f64).abs() < 1e-9, "avg {avg}");
        assert_eq!(sum, bytes);
        assert_eq!(err, errors);
    }
}

#[test]
fn reference_job_matches_brute_force() {
    let registry = Registry::new();
    let sql = format!("{EVENTS}{REFERENCE_SINK}{REFERENCE_INSERT}");
    let batches = run(&sql, &registry, 2);
    let schema = batches[0].schema();
    assert_eq!(
        schema.field(0).data_type(),
        &DataType::Timestamp(arrow::datatypes::TimeUnit::Millisecond, None)
    );
    assert_eq!(schema.field(3).name(), "cnt");
    let expected = brute_force(&registry.events, 10_000, 10_000);
    check_windows(&batches, &expected, 10_000);
}

#[test]
fn create_table_as_select_takes_its_columns_from_the_query() {
    let registry = Registry::new();
    let sql = format!(
        "{EVENTS}CREATE TABLE per_client WITH ('connector' = 'blackhole') AS
SELECT window_start, window_end, client_ip AS ip, COUNT(*) AS cnt, AVG(latency_ms) AS avg_latency,
       SUM(bytes_out) AS sum_bytes, COUNT(*) FILTER (WHERE status >= 400) AS errors
FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(event_time), INTERVAL '10' SECOND))
GROUP BY window_start, window_end, client_ip;"
    );
    let script = parse_script(&sql).unwrap();
    assert!(
        script
            .catalog
            .table("per_client")
            .unwrap()
            .columns
            .is_empty()
    );
    assert_eq!(script.inserts[0].target, "per_client");
    let batches = run(&sql, &registry, 2);
    let schema = batches[0].schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(
        names,
        [
            "window_start",
            "window_end",
            "ip",
            "cnt",
            "avg_latency",
            "sum_bytes",
            "errors"
        ]
    );
    let expected = brute_force(&registry.events, 10_000, 10_000);
    check_windows(&batches, &expected, 10_000);
}

#[test]
fn create_table_as_select_errors_point_into_the_query() {
    let sql = format!(
        "{EVENTS}CREATE TABLE t WITH ('connector' = 'blackhole') AS
SELECT client_ip,
       nope FROM events;"
    );
    let err = plan_error(&sql);
    assert!(err.to_string().contains("nope"), "{err}");
    let err = parse_script(&format!(
        "{EVENTS}CREATE TABLE t WITH ('connector' = 'blackhole') AS\nSELECT client_ip FROM events WHERE;"
    ))
    .unwrap_err();
    assert_eq!(err.at().line, 7, "{err}");
}

const SLOW_MODEL: &str = "\
CREATE MODEL slow_requests
INPUT (latency DOUBLE, status INT)
OUTPUT (score DOUBLE, slow BOOLEAN)
WITH ('provider' = 'test');
";

#[test]
fn ml_predict_adds_the_model_outputs_to_each_row() {
    let registry = Registry::new();
    let sql = format!(
        "{EVENTS}{SLOW_MODEL}CREATE TABLE scored (client_ip STRING, latency_ms DOUBLE, status INT,
  score DOUBLE, slow BOOLEAN) WITH ('connector' = 'blackhole');
INSERT INTO scored
SELECT client_ip, latency_ms, status, score, slow
FROM ML_PREDICT(TABLE events, MODEL slow_requests, DESCRIPTOR(latency_ms, status));"
    );
    let batches = run(&sql, &registry, 2);
    let mut rows = 0;
    for b in &batches {
        let latency = b.column(1).as_primitive::<Float64Type>();
        let status = b.column(2).as_primitive::<arrow::datatypes::Int32Type>();
        let score = b.column(3).as_primitive::<Float64Type>();
        let slow = b.column(4).as_boolean();
        for i in 0..b.num_rows() {
            assert!((score.value(i) - latency.value(i) / 1250.0).abs() < 1e-12);
            assert_eq!(
                slow.value(i),
                latency.value(i) > 1000.0 || status.value(i) >= 500
            );
        }
        rows += b.num_rows();
    }
    assert_eq!(rows, 6_000);
}

#[test]
fn ml_predict_scores_the_windows_of_a_view() {
    let registry = Registry::new();
    let sql = format!(
        "{EVENTS}{SLOW_MODEL}CREATE TEMPORARY VIEW per_client AS
SELECT window_start, client_ip, AVG(latency_ms) AS avg_latency, MAX(status) AS worst
FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(event_time), INTERVAL '10' SECOND))
GROUP BY window_start, window_end, client_ip;
CREATE TABLE scored (window_start TIMESTAMP(3), client_ip STRING, avg_latency DOUBLE,
  worst INT, score DOUBLE, slow BOOLEAN) WITH ('connector' = 'blackhole');
INSERT INTO scored
SELECT * FROM ML_PREDICT(TABLE per_client, MODEL slow_requests,
                         DESCRIPTOR(avg_latency, worst));"
    );
    let batches = run(&sql, &registry, 2);
    let expected = brute_force(&registry.events, 10_000, 10_000);
    let mut rows = 0;
    for b in &batches {
        let avg = b.column(2).as_primitive::<Float64Type>();
        let worst = b.column(3).as_primitive::<arrow::datatypes::Int32Type>();
        let score = b.column(4).as_primitive::<Float64Type>();
        let slow = b.column(5).as_boolean();
        for i in 0..b.num_rows() {
            assert!((score.value(i) - avg.value(i) / 1250.0).abs() < 1e-12);
            assert_eq!(
                slow.value(i),
                avg.value(i) > 1000.0 || worst.value(i) >= 500
            );
        }
        rows += b.num_rows();
    }
    assert_eq!(rows, expected.len());
}

#[test]
fn ml_predict_errors_name_the_model_and_columns() {
    let check = |call: &str, wanted: &str| {
        let sql = format!(
            "{EVENTS}{SLOW_MODEL}CREATE TABLE out (ip STRING) WITH ('connector' = 'blackhole');
INSERT INTO out SELECT client_ip FROM {call};"
        );
        let err = match parse_script(&sql) {
            Err(e) => e,
            Ok(script) => match plan_script(&script, &Registry::new(), &PlanOptions::default()) {
                Ok(_) => panic!("planned: {call}"),
                Err(e) => e,
            },
        };
        assert!(err.to_string().contains(wanted), "{call}: {err}");
        assert_eq!(err.at().line, 11, "{call}: {err}");
    };
    check(
        "ML_PREDICT(TABLE events, MODEL nope, DESCRIPTOR(latency_ms, status))",
        "unknown model nope",
    );
    check(
        "ML_PREDICT(TABLE events, MODEL slow_requests, DESCRIPTOR(latency_ms))",
        "takes 2 input column(s), DESCRIPTOR names 1",
    );
    check(
        "ML_PREDICT(TABLE events, MODEL slow_requests, DESCRIPTOR(latency_ms, nope))",
        "events has no column nope",
    );
    check(
        "ML_PREDICT(TABLE events, slow_requests, DESCRIPTOR(latency_ms, status))",
        "MODEL",
    );
}

#[test]
fn hop_window() {
    let registry = Registry::new();
    let sql = format!(
        "{EVENTS}{REFERENCE_SINK}
INSERT INTO sink
SELECT window_start, window_end, client_ip, COUNT(*), AVG(latency_ms), SUM(bytes_out),
       COUNT(*) FILTER (WHERE status >= 400)
FROM TABLE(HOP(TABLE events, DESCRIPTOR(event_time), INTERVAL '5' SECOND, INTERVAL '15' SECOND))
GROUP BY window_start, window_end, client_ip;"
    );
    let batches = run(&sql, &registry, 2);
    let expected = brute_force(&registry.events, 15_000, 5_000);
    check_windows(&batches, &expected, 15_000);
}

#[test]
fn filter_and_projection_without_windows() {
    let registry = Registry::new();
    let sql = format!(
        "{EVENTS}
CREATE TABLE errors (client_ip STRING, status INT, kb DOUBLE, at_ms BIGINT)
  WITH ('connector' = 'blackhole');
INSERT INTO errors
SELECT client_ip, status, bytes_out / 1024.0, ts FROM events WHERE status >= 400 AND latency_ms > 100;"
    );
    let batches = run(&sql, &registry, 1);
    let mut got: Vec<(String, i32, f64, i64)> = Vec::new();
    for b in &batches {
        assert_eq!(b.schema().field(1).data_type(), &DataType::Int32);
        let ip = b.column(0).as_string::<i32>();
        let status = b.column(1).as_primitive::<arrow::datatypes::Int32Type>();
        let kb = b.column(2).as_primitive::<Float64Type>();
        let ts = b.column(3).as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            assert!(!kb.is_null(i));
            got.push((
                ip.value(i).to_string(),
                status.value(i),
                kb.value(i),
                ts.value(i),
            ));
        }
    }
    let mut expected: Vec<(String, i32, f64, i64)> = registry
        .events
        .iter()
        .flatten()
        .filter(|e| e.status >= 400 && e.latency_ms > 100.0)
        .map(|e| {
            (
                e.client_ip.clone(),
                e.status,
                e.bytes_out as f64 / 1024.0,
                e.ts,
            )
        })
        .collect();
    let key = |r: &(String, i32, f64, i64)| (r.3, r.0.clone(), r.1, r.2.to_bits());
    got.sort_by_key(key);
    expected.sort_by_key(key);
    assert!(!expected.is_empty());
    assert_eq!(got.len(), expected.len());
    for (g, e) in got.iter().zip(&expected) {
        assert_eq!((&g.0, g.1, g.3), (&e.0, e.1, e.3));
        // 1024.0 is a DECIMAL, as in Flink: the quotient has 6 decimal places.
        assert!((g.2 - e.2).abs() < 1e-6, "{} against {}", g.2, e.2);
    }
}

#[test]
fn unknown_column_is_named() {
    let err = plan_error(&format!(
        "{EVENTS}{REFERENCE_SINK}
INSERT INTO sink
SELECT window_start, window_end, client_ip, COUNT(*), AVG(latency), SUM(bytes_out),
       COUNT(*) FILTER (WHERE status >= 400)
FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(event_time), INTERVAL '10' SECOND))
GROUP BY window_start, window_end, client_ip;"
    ));
    assert!(matches!(err, SqlError::Invalid { .. }), "{err}");
    assert!(err.to_string().contains("latency"), "{err}");
}

#[test]
fn sink_column_count_mismatch() {
    let err = plan_error(&format!(
        "{EVENTS}{REFERENCE_SINK}
INSERT INTO sink
SELECT window_start, window_end, client_ip, COUNT(*)
FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(event_time), INTERVAL '10' SECOND))
GROUP BY window_start, window_end, client_ip;"
    ));
    let message = err.to_string();
    assert!(message.contains("4 columns"), "{message}");
    assert!(message.contains("has 7"), "{message}");
}

#[test]
fn sink_column_type_mismatch_names_the_column() {
    let err = plan_error(&format!(
        "{EVENTS}
CREATE TABLE out (client_ip INT) WITH ('connector' = 'blackhole');
INSERT INTO out SELECT client_ip FROM events;"
    ));
    assert!(matches!(err, SqlError::Type { .. }), "{err}");
    assert_eq!(err.text(), "client_ip");
}

#[test]
fn unsupported_shapes() {
    let join = plan_error(&format!(
        "{EVENTS}
CREATE TABLE out (client_ip STRING) WITH ('connector' = 'blackhole');
INSERT INTO out SELECT a.client_ip FROM events a JOIN events b ON a.ts < b.ts;"
    ));
    assert!(
        matches!(&join, SqlError::Unsupported { construct, .. } if construct.contains("join")),
        "{join}"
    );
    let over = plan_error(&format!(
        "{EVENTS}
CREATE TABLE out (n BIGINT) WITH ('connector' = 'blackhole');
INSERT INTO out SELECT COUNT(*) OVER (PARTITION BY client_ip ORDER BY latency_ms) FROM events;"
    ));
    assert!(
        matches!(&over, SqlError::Unsupported { construct, .. }
            if construct.contains("OVER window not ordered by one time attribute")),
        "{over}"
    );
    let updating = plan_error(&format!(
        "{EVENTS}
CREATE TABLE out (client_ip STRING, n BIGINT)
  WITH ('connector' = 'filesystem', 'path' = '/tmp/out', 'format' = 'csv');
INSERT INTO out SELECT client_ip, COUNT(*) FROM events GROUP BY client_ip;"
    ));
    assert!(
        matches!(&updating, SqlError::Unsupported { construct, .. } if construct.contains("updating result")),
        "{updating}"
    );
}

/// Applies a changelog (last column the row kind) to a map from the key columns' text to the
/// other columns' text, as an upsert sink would.
fn materialize(batches: &[RecordBatch], key_columns: usize) -> BTreeMap<String, String> {
    let mut state = BTreeMap::new();
    for b in batches {
        let kinds = b
            .column(b.num_columns() - 1)
            .as_primitive::<arrow::datatypes::Int8Type>();
        let text = |c: usize, i: usize| {
            arrow::util::display::array_value_to_string(b.column(c), i).unwrap()
        };
        for i in 0..b.num_rows() {
            let key: Vec<String> = (0..key_columns).map(|c| text(c, i)).collect();
            let value: Vec<String> = (key_columns..b.num_columns() - 1)
                .map(|c| text(c, i))
                .collect();
            let (key, value) = (key.join("|"), value.join("|"));
            match kinds.value(i) {
                0 | 2 => {
                    state.insert(key, value);
                }
                1 | 3 => {
                    assert_eq!(
                        state.remove(&key),
                        Some(value),
                        "retracted a row never added"
                    );
                }
                k => panic!("row kind {k}"),
            }
        }
    }
    state
}

#[test]
fn unbounded_group_by_with_having_updates_its_result() {
    let registry = Registry::new();
    let sql = format!(
        "{EVENTS}
CREATE TABLE out (client_ip STRING, n BIGINT, errors BIGINT) WITH ('connector' = 'blackhole');
INSERT INTO out
SELECT client_ip, COUNT(*), COUNT(*) FILTER (WHERE status >= 400)
FROM events GROUP BY client_ip HAVING COUNT(*) > 10;"
    );
    let batches = run(&sql, &registry, 2);
    let got = materialize(&batches, 1);
    let mut expected: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for e in events().iter().flatten() {
        let entry = expected.entry(e.client_ip.clone()).or_default();
        entry.0 += 1;
        entry.1 += i64::from(e.status >= 400);
    }
    let expected: BTreeMap<String, String> = expected
        .into_iter()
        .filter(|(_, (n, _))| *n > 10)
        .map(|(ip, (n, errors))| (ip, format!("{n}|{errors}")))
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(got, expected);
}

#[test]
fn top_n_per_key_through_a_view_and_a_subquery() {
    let registry = Registry::new();
    let sql = format!(
        "{EVENTS}
CREATE TABLE out (client_ip STRING, ts BIGINT, rn BIGINT) WITH ('connector' = 'blackhole');
CREATE TEMPORARY VIEW slow AS SELECT client_ip, ts, latency_ms FROM events WHERE status < 500;
INSERT INTO out
SELECT client_ip, ts, rn FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY client_ip ORDER BY latency_ms DESC, ts) AS rn
  FROM slow)
WHERE rn <= 3;"
    );
    let batches = run(&sql, &registry, 2);
    // (ip, rn) → ts, applying the changelog.
    let mut state: BTreeMap<(String, String), String> = BTreeMap::new();
    for b in &batches {
        let kinds = b.column(3).as_primitive::<arrow::datatypes::Int8Type>();
        let ip = b.column(0).as_string::<i32>();
        let ts = b.column(1).as_primitive::<Int64Type>();
        let rn = b.column(2).as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            let key = (ip.value(i).to_string(), rn.value(i).to_string());
            match kinds.value(i) {
                0 | 2 => {
                    state.insert(key, ts.value(i).to_string());
                }
                _ => {
                    state.remove(&key);
                }
            }
        }
    }
    let mut by_ip: BTreeMap<String, Vec<(f64, i64)>> = BTreeMap::new();
    for e in events().iter().flatten().filter(|e| e.status < 500) {
        by_ip
            .entry(e.client_ip.clone())
            .or_default()
            .push((e.latency_ms, e.ts));
    }
    let mut expected = BTreeMap::new();
    for (ip, mut rows) in by_ip {
        rows.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        for (n, (_, ts)) in rows.into_iter().take(3).enumerate() {
            expected.insert((ip.clone(), (n + 1).to_string()), ts.to_string());
        }
    }
    assert_eq!(state, expected);
}

#[test]
fn window_top_n_ranks_each_window() {
    let registry = Registry::new();
    let sql = format!(
        "{EVENTS}
CREATE TABLE out (window_start TIMESTAMP(3), client_ip STRING, cnt BIGINT, rn BIGINT)
  WITH ('connector' = 'blackhole');
INSERT INTO out
SELECT window_start, client_ip, cnt, rn FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end ORDER BY cnt DESC, client_ip) AS rn
  FROM (
    SELECT window_start, window_end, client_ip, COUNT(*) AS cnt
    FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(event_time), INTERVAL '10' SECOND))
    GROUP BY window_start, window_end, client_ip))
WHERE rn <= 2;"
    );
    let batches = run(&sql, &registry, 2);
    let mut got = BTreeMap::new();
    for b in &batches {
        assert_eq!(b.num_columns(), 4, "window Top-N is append-only");
        let start = b.column(0).as_primitive::<TimestampMillisecondType>();
        let ip = b.column(1).as_string::<i32>();
        let cnt = b.column(2).as_primitive::<Int64Type>();
        let rn = b.column(3).as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            let prev = got.insert(
                (start.value(i), rn.value(i)),
                (ip.value(i).to_string(), cnt.value(i)),
            );
            assert!(prev.is_none());
        }
    }
    let counts = brute_force(&events(), 10_000, 10_000);
    let mut per_window: BTreeMap<i64, Vec<(i64, String)>> = BTreeMap::new();
    for ((start, ip), (cnt, ..)) in counts {
        per_window.entry(start).or_default().push((cnt, ip));
    }
    let mut expected = BTreeMap::new();
    for (start, mut rows) in per_window {
        rows.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for (n, (cnt, ip)) in rows.into_iter().take(2).enumerate() {
            expected.insert((start, n as i64 + 1), (ip, cnt));
        }
    }
    assert_eq!(got, expected);
}

#[test]
fn session_window_with_where_and_expressions() {
    let event = |ts: i64, ip: &str, status: i32| Event {
        ts: 1_700_000_000_000 + ts,
        client_ip: ip.into(),
        status,
        latency_ms: 1.0,
        bytes_out: 100,
    };
    let registry = Registry::with_events(vec![vec![
        event(0, "a", 200),
        event(500, "b", 200),
        event(1_000, "a", 200),
        event(2_000, "a", 200),
        event(4_000, "a", 500),
        event(6_000, "b", 200),
        event(10_000, "a", 200),
        event(11_000, "a", 200),
    ]]);
    let sql = format!(
        "{EVENTS}
CREATE TABLE sessions (client_ip STRING, window_start TIMESTAMP(3), window_end TIMESTAMP(3),
  n BIGINT, kb DOUBLE) WITH ('connector' = 'blackhole');
INSERT INTO sessions
SELECT client_ip, window_start, window_end, COUNT(*) * 10, SUM(bytes_out) / 1000.0
FROM TABLE(SESSION(TABLE events PARTITION BY client_ip, DESCRIPTOR(event_time), INTERVAL '3' SECOND))
WHERE status < 500
GROUP BY window_start, window_end, client_ip;"
    );
    let batches = run(&sql, &registry, 2);
    let mut got = Vec::new();
    for b in &batches {
        let ip = b.column(0).as_string::<i32>();
        let start = b.column(1).as_primitive::<TimestampMillisecondType>();
        let end = b.column(2).as_primitive::<TimestampMillisecondType>();
        let n = b.column(3).as_primitive::<Int64Type>();
        let kb = b.column(4).as_primitive::<Float64Type>();
        for i in 0..b.num_rows() {
            got.push((
                ip.value(i).to_string(),
                start.value(i) - 1_700_000_000_000,
                end.value(i) - 1_700_000_000_000,
                n.value(i),
                kb.value(i),
            ));
        }
    }
    got.sort_by_key(|r| (r.0.clone(), r.1));
    let expected = vec![
        ("a".to_string(), 0, 5_000, 30, 0.3),
        ("a".to_string(), 10_000, 14_000, 20, 0.2),
        ("b".to_string(), 500, 3_500, 10, 0.1),
        ("b".to_string(), 6_000, 9_000, 10, 0.1),
    ];
    assert_eq!(got.len(), expected.len(), "{got:?}");
    for (g, e) in got.iter().zip(&expected) {
        assert_eq!((&g.0, g.1, g.2, g.3), (&e.0, e.1, e.2, e.3), "{got:?}");
        assert!((g.4 - e.4).abs() < 1e-9, "{got:?}");
    }
}

#[test]
fn late_rows_are_dropped() {
    let event = |ts: i64| Event {
        ts: 1_700_000_000_000 + ts,
        client_ip: "a".into(),
        status: 200,
        latency_ms: 1.0,
        bytes_out: 1,
    };
    // 13 s pushes the watermark to 11 s, closing [0, 10 s): the row at 1 s is late.
    let mut registry = Registry::with_events(vec![vec![event(0), event(13_000), event(1_000)]]);
    registry.chunk = 1;
    let sql = format!("{EVENTS}{REFERENCE_SINK}{REFERENCE_INSERT}");
    let batches = run(&sql, &registry, 1);
    let rows = window_rows(&batches);
    let count = |start: i64| rows[&(1_700_000_000_000 + start, "a".to_string())].1;
    assert_eq!(rows.len(), 2);
    assert_eq!(count(0), 1);
    assert_eq!(count(10_000), 1);
}

#[test]
fn reference_job_plan_shape() {
    let sql =
        format!("SET 'parallelism.default' = '3';\n{EVENTS}{REFERENCE_SINK}{REFERENCE_INSERT}");
    let script = parse_script(&sql).unwrap();
    let options = PlanOptions::from_settings(&script.settings).unwrap();
    let graphs = plan_script(&script, &Registry::new(), &options).unwrap();
    let plan = graphs[0].describe().unwrap();
    assert!(plan.contains("watermark: event_time - 2000 ms"), "{plan}");
    assert!(
        plan.contains("window (parallelism 3), input HASH(client_ip"),
        "{plan}"
    );
    assert!(plan.contains("Tumble { size_ms: 10000 }"), "{plan}");
    assert!(plan.contains("keys=(client_ip)"), "{plan}");
    // Keyed, in one phase by default (AUTO); Flink's TWO_PHASE pre-aggregates in the source's
    // chain and merges after the exchange; without keys, AUTO takes two phases.
    assert!(!plan.contains("LocalWindowAggregate"), "{plan}");
    assert!(plan.contains(" WindowAggregate["), "{plan}");
    let plan_of = |sql: &str| {
        let script = parse_script(sql).unwrap();
        let options = PlanOptions::from_settings(&script.settings).unwrap();
        plan_script(&script, &Registry::new(), &options).unwrap()[0]
            .describe()
            .unwrap()
    };
    let two = plan_of(&format!(
        "SET 'parallelism.default' = '3';\n\
         SET 'table.optimizer.agg-phase-strategy' = 'TWO_PHASE';\n\
         {EVENTS}{REFERENCE_SINK}{REFERENCE_INSERT}"
    ));
    let source_part = &two[..two.find("window (parallelism").unwrap()];
    assert!(source_part.contains("LocalWindowAggregate["), "{two}");
    assert!(two.contains("GlobalWindowAggregate["), "{two}");
    let keyless = plan_of(&format!(
        "SET 'parallelism.default' = '3';\n{EVENTS}\
         CREATE TABLE totals (window_start TIMESTAMP(3), cnt BIGINT)
           WITH ('connector' = 'blackhole');
         INSERT INTO totals SELECT window_start, COUNT(*)
         FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(event_time), INTERVAL '10' SECOND))
         GROUP BY window_start, window_end;"
    ));
    assert!(keyless.contains("LocalWindowAggregate["), "{keyless}");
    assert!(keyless.contains("window (parallelism 1)"), "{keyless}");
    let bad = "SET 'table.optimizer.agg-phase-strategy' = 'THREE_PHASE';\n";
    let err = PlanOptions::from_settings(&parse_script(bad).unwrap().settings).unwrap_err();
    assert!(err.to_string().contains("ONE_PHASE"), "{err}");
}

#[test]
fn cumulate_window() {
    let registry = Registry::new();
    let sql = format!(
        "{EVENTS}
CREATE TABLE totals (window_start TIMESTAMP(3), window_end TIMESTAMP(3), client_ip STRING,
  cnt BIGINT) WITH ('connector' = 'blackhole');
INSERT INTO totals
SELECT window_start, window_end, client_ip, COUNT(*)
FROM TABLE(CUMULATE(TABLE events, DESCRIPTOR(event_time), INTERVAL '5' SECOND, INTERVAL '15' SECOND))
GROUP BY window_start, window_end, client_ip;"
    );
    let batches = run(&sql, &registry, 2);
    let mut expected: BTreeMap<(i64, i64, String), i64> = BTreeMap::new();
    for e in registry.events.iter().flatten() {
        let start = e.ts - e.ts.rem_euclid(15_000);
        for k in 1..=3 {
            let end = start + 5_000 * k;
            if end > e.ts {
                *expected
                    .entry((start, end, e.client_ip.clone()))
                    .or_default() += 1;
            }
        }
    }
    let mut got: BTreeMap<(i64, i64, String), i64> = BTreeMap::new();
    for b in &batches {
        let start = b.column(0).as_primitive::<TimestampMillisecondType>();
        let end = b.column(1).as_primitive::<TimestampMillisecondType>();
        let ip = b.column(2).as_string::<i32>();
        let cnt = b.column(3).as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            let key = (start.value(i), end.value(i), ip.value(i).to_string());
            assert!(got.insert(key, cnt.value(i)).is_none(), "emitted twice");
        }
    }
    assert_eq!(got, expected);
}

#[test]
fn union_all_reads_every_input_and_feeds_an_aggregation() {
    let registry = Registry::new();
    let sql = format!(
        "{EVENTS}
CREATE TABLE out (client_ip STRING, n BIGINT) WITH ('connector' = 'blackhole');
INSERT INTO out
SELECT client_ip, COUNT(*) FROM (
  SELECT client_ip, status FROM events WHERE status >= 500
  UNION ALL
  SELECT client_ip, status FROM events WHERE status < 300
  UNION ALL
  SELECT client_ip, status FROM events WHERE status >= 500
) GROUP BY client_ip;"
    );
    let batches = run(&sql, &registry, 2);
    let got = materialize(&batches, 1);
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    for e in events().iter().flatten() {
        let copies = if e.status >= 500 {
            2
        } else if e.status < 300 {
            1
        } else {
            0
        };
        if copies > 0 {
            *expected.entry(e.client_ip.clone()).or_default() += copies;
        }
    }
    let expected: BTreeMap<String, String> = expected
        .into_iter()
        .map(|(ip, n)| (ip, n.to_string()))
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(got, expected);
}

#[test]
fn window_over_a_view_of_the_table() {
    let registry = Registry::new();
    let sql = format!(
        "{EVENTS}{REFERENCE_SINK}
CREATE TEMPORARY VIEW calls AS
SELECT client_ip AS ip, event_time AS t, latency_ms, bytes_out, status FROM events;
INSERT INTO sink
SELECT window_start, window_end, ip, COUNT(*), AVG(latency_ms), SUM(bytes_out),
       COUNT(*) FILTER (WHERE status >= 400)
FROM TABLE(TUMBLE(TABLE calls, DESCRIPTOR(t), INTERVAL '10' SECOND))
GROUP BY window_start, window_end, ip;"
    );
    let batches = run(&sql, &registry, 2);
    check_windows(&batches, &brute_force(&events(), 10_000, 10_000), 10_000);
}

/// Few events over two partitions, out of order by less than the 2 s watermark delay, for
/// joins (whose output grows with the square of the input).
fn join_events() -> Vec<Vec<Event>> {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    (0..2)
        .map(|_| {
            (0..300)
                .map(|i| Event {
                    ts: 1_700_000_000_000 + i * 97 + next(1_500) as i64,
                    client_ip: format!("10.0.0.{}", next(3)),
                    status: [200, 404, 500][next(3) as usize],
                    latency_ms: 0.0,
                    bytes_out: i,
                })
                .collect()
        })
        .collect()
}

const JOIN_VIEWS: &str = "
CREATE VIEW errors AS SELECT ts, client_ip, event_time FROM events WHERE status = 500;
CREATE VIEW misses AS SELECT ts, client_ip, event_time FROM events WHERE status = 404;
CREATE TABLE pairs (error_ts BIGINT, miss_ts BIGINT, ip STRING) WITH ('connector' = 'blackhole');
";

/// Rows of (BIGINT, BIGINT or NULL, STRING) batches as sorted text.
fn pair_rows(batches: &[RecordBatch]) -> Vec<String> {
    let mut rows = Vec::new();
    for b in batches {
        let a = b.column(0).as_primitive::<Int64Type>();
        let m = b.column(1).as_primitive::<Int64Type>();
        let ip = b.column(2).as_string::<i32>();
        for i in 0..b.num_rows() {
            let miss = if m.is_null(i) {
                "null".to_string()
            } else {
                m.value(i).to_string()
            };
            rows.push(format!("{},{miss},{}", a.value(i), ip.value(i)));
        }
    }
    rows.sort();
    rows
}

/// The pairs of a 500 and a 404 of the same client whose times satisfy `within`; with
/// `outer`, also each 500 without such a 404.
fn expected_pairs(within: impl Fn(i64, i64) -> bool, outer: bool) -> Vec<String> {
    let all: Vec<Event> = join_events().into_iter().flatten().collect();
    let mut rows = Vec::new();
    for e in all.iter().filter(|e| e.status == 500) {
        let mut matched = false;
        for m in all.iter().filter(|m| m.status == 404) {
            if m.client_ip == e.client_ip && within(e.ts, m.ts) {
                matched = true;
                rows.push(format!("{},{},{}", e.ts, m.ts, e.client_ip));
            }
        }
        if outer && !matched {
            rows.push(format!("{},null,{}", e.ts, e.client_ip));
        }
    }
    rows.sort();
    rows
}

#[test]
fn regular_join_of_two_streams_with_a_condition() {
    let registry = Registry::with_events(join_events());
    let sql = format!(
        "{EVENTS}{JOIN_VIEWS}
INSERT INTO pairs
SELECT e.ts, m.ts, e.client_ip FROM errors AS e JOIN misses AS m
  ON e.client_ip = m.client_ip AND e.ts < m.ts + 300;"
    );
    let got = pair_rows(&run(&sql, &registry, 2));
    let expected = expected_pairs(|e, m| e < m + 300, false);
    assert!(expected.len() > 1_000, "{}", expected.len());
    assert_eq!(got, expected);
}

#[test]
fn interval_joins_inner_and_left_outer() {
    for (join, outer) in [("JOIN", false), ("LEFT JOIN", true)] {
        let registry = Registry::with_events(join_events());
        let sql = format!(
            "{EVENTS}{JOIN_VIEWS}
INSERT INTO pairs
SELECT e.ts, m.ts, e.client_ip FROM errors AS e {join} misses AS m
  ON e.client_ip = m.client_ip
  AND e.event_time BETWEEN m.event_time - INTERVAL '1' SECOND AND m.event_time + INTERVAL '0.5' SECOND;"
        );
        let got = pair_rows(&run(&sql, &registry, 2));
        let expected = expected_pairs(|e, m| e >= m - 1_000 && e <= m + 500, outer);
        assert!(expected.len() > 100, "{}", expected.len());
        if outer {
            assert!(expected.iter().any(|r| r.contains("null")));
        }
        assert_eq!(got, expected, "{join}");
    }
}

#[test]
fn interval_join_bounds_from_comparisons_and_the_plan_shows_them() {
    let sql = format!(
        "SET 'parallelism.default' = '2';
{EVENTS}{JOIN_VIEWS}
INSERT INTO pairs
SELECT e.ts, m.ts, e.client_ip FROM errors AS e RIGHT JOIN misses AS m
  ON e.client_ip = m.client_ip AND m.event_time > e.event_time - INTERVAL '2' SECOND
  AND e.event_time + INTERVAL '1' SECOND >= m.event_time AND e.ts <> m.ts;"
    );
    let script = parse_script(&sql).unwrap();
    let options = PlanOptions::from_settings(&script.settings).unwrap();
    let graphs = plan_script(&script, &Registry::new(), &options).unwrap();
    let plan = graphs[0].describe().unwrap();
    // m > e - 2 s and m <= e + 1 s: e - m in [-1000, 1999] ms.
    assert!(
        plan.contains(
            "IntervalJoin[RIGHT OUTER, left.client_ip@1 = right.client_ip@1, \
             left.event_time - right.event_time BETWEEN -1000 ms AND 1999 ms, filter ts@0 != ts@3, \
             watermark delay 1999 ms]"
        ),
        "{plan}"
    );
    assert!(
        plan.contains("join (parallelism 2), input per input (above)"),
        "{plan}"
    );
    assert!(
        plan.contains("=> input 0 of join, HASH(client_ip@1)"),
        "{plan}"
    );
    assert!(
        plan.contains("=> input 1 of join, HASH(client_ip@1)"),
        "{plan}"
    );
    assert!(plan.contains("source: events #2"), "{plan}");

    // `FROM a, b WHERE …` joins on the WHERE; one bound alone leaves a regular join, with
    // the bound as its condition; the TTL comes from SET.
    let sql = format!(
        "SET 'table.exec.state.ttl' = '10 min';
{EVENTS}{JOIN_VIEWS}
INSERT INTO pairs
SELECT e.ts, m.ts, e.client_ip FROM errors AS e, misses AS m
  WHERE e.client_ip = m.client_ip AND m.event_time > e.event_time;"
    );
    let script = parse_script(&sql).unwrap();
    let options = PlanOptions::from_settings(&script.settings).unwrap();
    let graphs = plan_script(&script, &Registry::new(), &options).unwrap();
    let plan = graphs[0].describe().unwrap();
    assert!(
        plan.contains("Join[INNER, left.client_ip@1 = right.client_ip@1, filter event_time@5 > event_time@2, state ttl 600000 ms]"),
        "{plan}"
    );
}

#[test]
fn unsupported_stream_joins_are_refused_with_a_hint() {
    let refused = [
        (
            "SELECT e.ts, m.ts, e.client_ip FROM errors AS e LEFT JOIN misses AS m ON e.client_ip = m.client_ip",
            "LEFT OUTER regular join",
        ),
        (
            "SELECT e.ts, m.ts, e.client_ip FROM errors AS e JOIN misses AS m ON e.ts > m.ts",
            "without an equality",
        ),
        (
            "SELECT e.ts, m.n, e.client_ip FROM errors AS e
             JOIN (SELECT client_ip, COUNT(*) AS n FROM misses GROUP BY client_ip) AS m
             ON e.client_ip = m.client_ip",
            "updating input",
        ),
        (
            "SELECT e.ts, e.ts + 1, e.client_ip FROM errors AS e LEFT SEMI JOIN misses AS m ON e.client_ip = m.client_ip",
            "join",
        ),
    ];
    for (query, construct_part) in refused {
        let err = plan_error(&format!("{EVENTS}{JOIN_VIEWS}INSERT INTO pairs {query};"));
        match &err {
            SqlError::Unsupported {
                construct,
                hint,
                text,
                ..
            } => {
                assert!(construct.contains(construct_part), "{query}: {err}");
                assert!(text.starts_with("errors AS e "), "{query}: {err}");
                assert!(!hint.is_empty());
            }
            other => panic!("{query}: {other}"),
        }
    }
}
