//! What the planner tells sources a query reads of their tables ([`ColumnsRead`]): columns
//! and ROW fields a query never uses may be left NULL, and nothing a query uses may be.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arrow::datatypes::SchemaRef;
use spate_engine::operator::TaskInfo;
use spate_engine::sink::{Sink, SinkFactory};
use spate_engine::source::{Source, SourceFactory};
use spate_sql::{
    ColumnsRead, ConnectorRegistry, PlanOptions, SqlError, TableDef, parse_script, plan_script,
};

/// Two tables with a ROW column (`t`'s time a computed column over one of its fields), a
/// view over `t`, and a sink.
const TABLES: &str = "\
CREATE TABLE t (
  kind INT,
  bid ROW<price BIGINT, url VARCHAR, `dateTime` TIMESTAMP(3)>,
  other VARCHAR,
  ts AS bid.`dateTime`,
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
) WITH ('connector' = 'datagen');
CREATE TABLE u (kind INT, bid ROW<price BIGINT, url VARCHAR, `dateTime` TIMESTAMP(3)>)
  WITH ('connector' = 'datagen');
CREATE VIEW v AS SELECT t.bid.price AS price, t.bid.url AS url, kind, ts FROM t;
CREATE TABLE out_rows (a BIGINT, b VARCHAR) WITH ('connector' = 'blackhole');
CREATE TABLE out_kinds (kind INT, bid ROW<price BIGINT, url VARCHAR, `dateTime` TIMESTAMP(3)>)
  WITH ('connector' = 'blackhole');
";

/// Records what each source is told its query reads; plans only.
#[derive(Default)]
struct Recorder {
    reads: Mutex<HashMap<String, ColumnsRead>>,
}

impl ConnectorRegistry for Recorder {
    fn source(
        &self,
        table: &TableDef,
        _physical_schema: SchemaRef,
        read: &ColumnsRead,
    ) -> Result<SourceFactory, SqlError> {
        self.reads
            .lock()
            .unwrap()
            .insert(table.name.clone(), read.clone());
        Ok(Arc::new(
            |_: &TaskInfo| -> spate_engine::Result<Box<dyn Source>> {
                panic!("the test only plans")
            },
        ))
    }

    fn sink(&self, _table: &TableDef) -> Result<SinkFactory, SqlError> {
        Ok(Arc::new(
            |_: &TaskInfo| -> spate_engine::Result<Box<dyn Sink>> { panic!("the test only plans") },
        ))
    }
}

/// What `insert` reads of each table.
fn planned_reads(insert: &str) -> HashMap<String, ColumnsRead> {
    let script = parse_script(&format!("{TABLES}{insert}")).unwrap();
    let recorder = Recorder::default();
    plan_script(&script, &recorder, &PlanOptions::default()).unwrap();
    recorder.reads.into_inner().unwrap()
}

#[test]
fn a_field_access_reads_that_field_only() {
    let reads =
        planned_reads("INSERT INTO out_rows SELECT t.bid.price, other FROM t WHERE kind = 2;");
    let t = &reads["t"];
    assert!(t.field("bid", "price") && !t.field("bid", "url"));
    assert!(t.column("kind") && t.column("other"));
    // The computed time's input is read whatever the query.
    assert!(t.field("bid", "dateTime"));
}

#[test]
fn a_view_column_the_query_does_not_select_is_not_read() {
    let reads = planned_reads("INSERT INTO out_rows SELECT price, CAST(kind AS VARCHAR) FROM v;");
    let t = &reads["t"];
    assert!(t.field("bid", "price") && !t.field("bid", "url"));
    assert!(t.column("kind") && !t.column("other"));
}

#[test]
fn a_row_column_selected_whole_reads_every_field() {
    let reads =
        planned_reads("INSERT INTO out_kinds SELECT kind, bid FROM t WHERE t.bid.price > 0;");
    assert!(reads["t"].field("bid", "url"));
    let reads = planned_reads(
        "INSERT INTO out_kinds SELECT kind, bid FROM (SELECT * FROM t WHERE t.bid.price > 0);",
    );
    assert!(reads["t"].field("bid", "url"));
    // Rows passed on as they are, with no expression naming their columns.
    let reads = planned_reads("INSERT INTO out_kinds SELECT * FROM u;");
    assert!(reads["u"].field("bid", "url") && reads["u"].column("kind"));
}

#[test]
fn every_input_of_a_union_is_read_as_it_is_passed_on() {
    let reads = planned_reads(
        "INSERT INTO out_kinds SELECT kind, bid FROM t UNION ALL SELECT kind, bid FROM u;",
    );
    assert!(reads["t"].field("bid", "url") && reads["u"].field("bid", "url"));
    assert!(!reads["t"].column("other"));
}

#[test]
fn a_join_reads_its_keys_and_what_it_passes_on() {
    let reads = planned_reads(
        "INSERT INTO out_rows SELECT u.bid.price, t.other \
         FROM t JOIN u ON t.kind = u.kind AND t.bid.price = u.bid.price;",
    );
    let (t, u) = (&reads["t"], &reads["u"]);
    assert!(t.column("kind") && u.column("kind") && t.column("other"));
    assert!(t.field("bid", "price") && !t.field("bid", "url"));
    assert!(u.field("bid", "price") && !u.field("bid", "url"));
}

#[test]
fn a_window_over_a_view_reads_of_the_view_what_the_query_reads_of_the_window() {
    let reads = planned_reads(
        "INSERT INTO out_rows SELECT MAX(price), CAST(window_start AS VARCHAR) \
         FROM TABLE(TUMBLE(TABLE v, DESCRIPTOR(ts), INTERVAL '10' SECOND)) \
         GROUP BY window_start, window_end;",
    );
    let t = &reads["t"];
    assert!(t.field("bid", "price") && t.field("bid", "dateTime"));
    assert!(!t.field("bid", "url") && !t.column("kind") && !t.column("other"));
}
