//! Job scripts through the whole front end.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields, TimeUnit};
use spate_engine::window::WindowKind;
use spate_sql::{ColumnKind, Connector, Position, PrimaryKey, SqlError, parse_script};

const REFERENCE_JOB: &str = "\
CREATE TABLE events (
  ts BIGINT, client_ip STRING, `method` STRING, `path` STRING, status INT,
  latency_ms DOUBLE, bytes_out BIGINT, user_agent STRING,
  event_time AS TO_TIMESTAMP_LTZ(ts, 3),
  WATERMARK FOR event_time AS event_time - INTERVAL '2' SECOND
) WITH ('connector' = 'filesystem', 'path' = '/data/events.jsonl', 'format' = 'json');
CREATE TABLE sink (window_start TIMESTAMP(3), window_end TIMESTAMP(3), client_ip STRING,
  cnt BIGINT, avg_latency DOUBLE, sum_bytes BIGINT, errors BIGINT) WITH ('connector' = 'blackhole');
INSERT INTO sink
SELECT window_start, window_end, client_ip, COUNT(*), AVG(latency_ms), SUM(bytes_out),
       COUNT(*) FILTER (WHERE status >= 400)
FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(event_time), INTERVAL '10' SECOND))
GROUP BY window_start, window_end, client_ip;
";

fn ltz3() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

#[test]
fn reference_job() {
    let script = parse_script(REFERENCE_JOB).unwrap();
    let events = script.catalog.table("events").unwrap();
    let physical: Vec<(&str, DataType)> = events
        .columns
        .iter()
        .filter(|c| c.kind == ColumnKind::Physical)
        .map(|c| (c.name.as_str(), c.data_type.clone().unwrap()))
        .collect();
    assert_eq!(
        physical,
        [
            ("ts", DataType::Int64),
            ("client_ip", DataType::Utf8),
            ("method", DataType::Utf8),
            ("path", DataType::Utf8),
            ("status", DataType::Int32),
            ("latency_ms", DataType::Float64),
            ("bytes_out", DataType::Int64),
            ("user_agent", DataType::Utf8),
        ]
    );
    assert_eq!(events.physical_schema().fields().len(), 8);
    let event_time = events.column("event_time").unwrap();
    let ColumnKind::Computed { text, .. } = &event_time.kind else {
        panic!("event_time is computed: {event_time:?}");
    };
    assert_eq!(text, "TO_TIMESTAMP_LTZ(ts, 3)");
    assert_eq!(event_time.data_type, Some(ltz3()));
    assert_eq!(event_time.at, Position::new(4, 3));
    let watermark = events.watermark.as_ref().unwrap();
    assert_eq!(watermark.rowtime_column, "event_time");
    assert_eq!(watermark.max_out_of_orderness_ms, 2_000);
    assert_eq!(watermark.text, "event_time - INTERVAL '2' SECOND");
    assert_eq!(events.connector, Connector::Filesystem);
    let options: BTreeMap<String, String> = [
        ("connector", "filesystem"),
        ("path", "/data/events.jsonl"),
        ("format", "json"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(events.options, options);

    let sink = script.catalog.table("sink").unwrap();
    assert_eq!(sink.connector, Connector::Blackhole);
    assert_eq!(sink.columns.len(), 7);
    assert_eq!(
        sink.columns[0].data_type,
        Some(DataType::Timestamp(TimeUnit::Millisecond, None))
    );
    assert_eq!(sink.at, Position::new(7, 1));

    assert_eq!(script.inserts.len(), 1);
    let insert = &script.inserts[0];
    assert_eq!(insert.target, "sink");
    assert_eq!(insert.at, Position::new(9, 1));
    assert_eq!(insert.statement_set, None);
    let [window] = insert.query.windows.as_slice() else {
        panic!("one window: {:?}", insert.query.windows);
    };
    assert_eq!(window.kind, WindowKind::Tumble { size_ms: 10_000 });
    assert_eq!(window.table, "events");
    assert_eq!(window.time_column, "event_time");
    assert_eq!(window.placeholder, "__tvf0");
    assert_eq!(window.at, Position::new(12, 6));
    // The rewrite keeps every line and every column after the call.
    let original: Vec<&str> = REFERENCE_JOB.lines().collect();
    let rewritten: Vec<&str> = insert.query.sql.lines().collect();
    assert_eq!(rewritten.len(), 5);
    assert_eq!(rewritten[3].len(), original[11].len());
    assert!(rewritten[3].starts_with("FROM __tvf0 "));
    assert_eq!(rewritten[4], original[12].trim_end_matches(';'));
    let query = insert.query.query.to_string();
    assert!(query.contains("FROM __tvf0 GROUP BY"), "{query}");
    assert!(
        query.contains("COUNT(*) FILTER (WHERE status >= 400)"),
        "{query}"
    );
}

#[test]
fn backquoted_reserved_words() {
    let script = parse_script(
        "CREATE TABLE t (`method` STRING, `path` STRING, `table` INT) WITH ('connector' = 'blackhole');
         CREATE TABLE s (`method` STRING) WITH ('connector' = 'blackhole');
         INSERT INTO s SELECT `method` FROM t WHERE `path` = '/x' AND `table` > 0;",
    )
    .unwrap();
    let names: Vec<&str> = script.catalog.tables[0]
        .columns
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["method", "path", "table"]);
    assert!(
        script.inserts[0]
            .query
            .query
            .to_string()
            .contains("`method`")
    );
}

#[test]
fn statement_sets_settings_views_and_functions() {
    let script = parse_script(
        "SET 'pipeline.name' = 'two; sinks';  -- a comment; with a semicolon
         SET 'parallelism.default' = '2';
         CREATE TABLE src (ts TIMESTAMP(3), k STRING, WATERMARK FOR ts AS ts)
           WITH ('connector' = 'kafka', 'topic' = 'in', 'properties.bootstrap.servers' = 'x:9092',
                 'value.format' = 'json', 'value.json.ignore-parse-errors' = 'true');
         CREATE TABLE a (k STRING) WITH ('connector' = 'blackhole');
         CREATE TABLE b (k STRING) WITH ('connector' = 'blackhole');
         CREATE TEMPORARY VIEW v (key) AS SELECT k FROM src /* ; */ WHERE k <> 'a;b';
         CREATE TEMPORARY SYSTEM FUNCTION my_udf AS 'com.example.MyUdf' LANGUAGE JAVA USING JAR '/x.jar';
         EXECUTE STATEMENT SET BEGIN
           INSERT INTO a SELECT k FROM src;
           INSERT INTO b SELECT key FROM v;
         END;
         BEGIN STATEMENT SET;
           INSERT INTO a SELECT key FROM v;
         END;
         INSERT INTO b SELECT k FROM src;",
    )
    .unwrap();
    assert_eq!(script.settings["pipeline.name"], "two; sinks");
    assert_eq!(script.settings["parallelism.default"], "2");
    let src = script.catalog.table("src").unwrap();
    assert_eq!(src.connector, Connector::Kafka);
    assert_eq!(src.watermark.as_ref().unwrap().max_out_of_orderness_ms, 0);
    let view = script.catalog.view("v").unwrap();
    assert!(view.temporary);
    assert_eq!(view.columns, ["key"]);
    let function = script.catalog.function("my_udf").unwrap();
    assert_eq!(function.class_name, "com.example.MyUdf");
    assert!(function.system && function.temporary);
    assert_eq!(function.jars, ["/x.jar"]);
    let sets: Vec<_> = script
        .inserts
        .iter()
        .map(|i| (i.target.as_str(), i.statement_set))
        .collect();
    assert_eq!(
        sets,
        [("a", Some(0)), ("b", Some(0)), ("a", Some(1)), ("b", None)]
    );
}

#[test]
fn typo_in_line_three_points_at_it() {
    let script = "CREATE TABLE s (x INT) WITH ('connector' = 'blackhole');\n\
                  INSERT INTO s\n\
                  SELEC x FROM s;";
    let err = parse_script(script).unwrap_err();
    assert!(matches!(err, SqlError::Parse { .. }), "{err}");
    assert_eq!(err.at(), Position::new(3, 1), "{err}");
    assert_eq!(err.text(), "SELEC");
    assert!(err.to_string().starts_with("3:1: syntax error"), "{err}");

    let err =
        parse_script("CREATE TABLE s (\n  x INT,\n  y STRNG\n) WITH ('connector' = 'blackhole');")
            .unwrap_err();
    assert!(matches!(err, SqlError::Type { .. }), "{err}");
    assert_eq!(err.at(), Position::new(3, 5));
    assert_eq!(err.text(), "STRNG");
}

#[test]
fn error_after_a_window_call_keeps_its_column() {
    let script = "CREATE TABLE e (ts TIMESTAMP(3), WATERMARK FOR ts AS ts) WITH ('connector' = 'blackhole');\n\
                  CREATE TABLE s (n BIGINT) WITH ('connector' = 'blackhole');\n\
                  INSERT INTO s SELECT COUNT(*) FROM TABLE(TUMBLE(TABLE e, DESCRIPTOR(ts), INTERVAL '1' SECOND)) GROUP BY window_start window_end;";
    let err = parse_script(script).unwrap_err();
    let column = script.lines().nth(2).unwrap().find("window_end").unwrap() + 1;
    assert_eq!(err.at(), Position::new(3, column as u32), "{err}");
}

fn windows_of(from: &str) -> Result<Vec<spate_sql::WindowTvf>, SqlError> {
    let script = format!(
        "CREATE TABLE events (ts TIMESTAMP_LTZ(3), k STRING, pt AS PROCTIME(),
           WATERMARK FOR ts AS ts - INTERVAL '500' MILLISECOND) WITH ('connector' = 'blackhole');
         CREATE TABLE s (n BIGINT) WITH ('connector' = 'blackhole');
         INSERT INTO s SELECT COUNT(*) FROM {from} GROUP BY window_start, window_end;"
    );
    Ok(parse_script(&script)?.inserts.remove(0).query.windows)
}

fn kind_of(from: &str) -> WindowKind {
    let windows = windows_of(from).unwrap();
    assert_eq!(windows.len(), 1);
    windows[0].kind
}

#[test]
fn window_tvfs() {
    assert_eq!(
        kind_of("TABLE(TUMBLE(TABLE events, DESCRIPTOR(ts), INTERVAL '1' MINUTE))"),
        WindowKind::Tumble { size_ms: 60_000 }
    );
    assert_eq!(
        kind_of(
            "TABLE(HOP(TABLE events, DESCRIPTOR(ts), INTERVAL '5' SECOND, INTERVAL '1' MINUTE))"
        ),
        WindowKind::Hop {
            size_ms: 60_000,
            slide_ms: 5_000
        }
    );
    assert_eq!(
        kind_of(
            "TABLE(CUMULATE(TABLE events, DESCRIPTOR(ts), INTERVAL '2' SECOND, INTERVAL '10' SECOND))"
        ),
        WindowKind::Cumulate {
            step_ms: 2_000,
            max_size_ms: 10_000
        }
    );
    let windows = windows_of(
        "TABLE(SESSION(TABLE events PARTITION BY k, DESCRIPTOR(ts), INTERVAL '5' MINUTES))",
    )
    .unwrap();
    assert_eq!(windows[0].kind, WindowKind::Session { gap_ms: 300_000 });
    assert_eq!(windows[0].partition_by, ["k"]);
    let windows = windows_of(
        "TABLE(SESSION(TABLE events PARTITION BY (k, ts), DESCRIPTOR(ts), INTERVAL '30' SECOND))",
    )
    .unwrap();
    assert_eq!(windows[0].partition_by, ["k", "ts"]);
    // Processing time is a time attribute too.
    assert_eq!(
        kind_of("TABLE(TUMBLE(TABLE events, DESCRIPTOR(pt), INTERVAL '1' SECOND))"),
        WindowKind::Tumble { size_ms: 1_000 }
    );
}

#[test]
fn window_tvfs_with_named_arguments() {
    assert_eq!(
        kind_of(
            "TABLE(TUMBLE(DATA => TABLE events, TIMECOL => DESCRIPTOR(ts), SIZE => INTERVAL '10' SECOND))"
        ),
        WindowKind::Tumble { size_ms: 10_000 }
    );
    assert_eq!(
        kind_of(
            "TABLE(HOP(DATA => TABLE events, TIMECOL => DESCRIPTOR(ts), SIZE => INTERVAL '1' MINUTE, SLIDE => INTERVAL '10' SECOND))"
        ),
        WindowKind::Hop {
            size_ms: 60_000,
            slide_ms: 10_000
        }
    );
    assert_eq!(
        kind_of(
            "TABLE(CUMULATE(TABLE events, DESCRIPTOR(ts), STEP => INTERVAL '1' MINUTE, SIZE => INTERVAL '1' HOUR))"
        ),
        WindowKind::Cumulate {
            step_ms: 60_000,
            max_size_ms: 3_600_000
        }
    );
    assert_eq!(
        kind_of(
            "TABLE(SESSION(DATA => TABLE events, TIMECOL => DESCRIPTOR(ts), GAP => INTERVAL '10' SECOND))"
        ),
        WindowKind::Session { gap_ms: 10_000 }
    );
}

#[test]
fn window_tvf_spread_over_lines_keeps_later_lines() {
    let windows = windows_of(
        "TABLE(\n  TUMBLE(\n    TABLE events,\n    DESCRIPTOR(ts),\n    INTERVAL '10' SECOND))",
    )
    .unwrap();
    assert_eq!(windows[0].kind, WindowKind::Tumble { size_ms: 10_000 });
}

#[test]
fn window_tvf_errors() {
    let err =
        windows_of("TABLE(TUMBLE(TABLE events, DESCRIPTOR(k), INTERVAL '1' SECOND))").unwrap_err();
    assert!(matches!(err, SqlError::Invalid { .. }), "{err}");
    let err = windows_of("TABLE(TUMBLE(TABLE events, DESCRIPTOR(ts), 10))").unwrap_err();
    assert!(matches!(err, SqlError::Type { .. }), "{err}");
    let err =
        windows_of("TABLE(TUMBLE(TABLE events, DESCRIPTOR(ts), INTERVAL '1' MONTH))").unwrap_err();
    assert!(matches!(err, SqlError::Unsupported { .. }), "{err}");
    let err = windows_of(
        "TABLE(CUMULATE(TABLE events, DESCRIPTOR(ts), INTERVAL '3' SECOND, INTERVAL '10' SECOND))",
    )
    .unwrap_err();
    assert!(matches!(err, SqlError::Invalid { .. }), "{err}");
    let err = windows_of(
        "TABLE(TUMBLE(TABLE events, DESCRIPTOR(ts), INTERVAL '1' SECOND, INTERVAL '1' SECOND))",
    )
    .unwrap_err();
    assert!(
        matches!(err, SqlError::Unsupported { ref construct, .. } if construct == "a window OFFSET"),
        "{err}"
    );
    let err =
        windows_of("TABLE(TUMBLE(TABLE nope, DESCRIPTOR(ts), INTERVAL '1' SECOND))").unwrap_err();
    assert!(matches!(err, SqlError::Invalid { .. }), "{err}");
    let err =
        windows_of("TABLE(TUMBLE(DATA => TABLE events, DESCRIPTOR(ts), INTERVAL '1' SECOND))")
            .unwrap_err();
    assert!(matches!(err, SqlError::Invalid { .. }), "{err}");
    let err = windows_of("TABLE(TUMBLE(TABLE events, DESCRIPTOR(ts)))").unwrap_err();
    assert!(err.to_string().contains("needs its SIZE argument"), "{err}");
}

#[test]
fn lookup_join_for_system_time_as_of() {
    let script = parse_script(
        "CREATE TABLE orders (id BIGINT, cid BIGINT, pt AS PROCTIME()) WITH ('connector' = 'blackhole');
         CREATE TABLE customers (id BIGINT, name STRING, PRIMARY KEY (id) NOT ENFORCED)
           WITH ('connector' = 'blackhole');
         CREATE TABLE out (id BIGINT, name STRING) WITH ('connector' = 'blackhole');
         INSERT INTO out
         SELECT o.id, c.name FROM orders AS o
         JOIN customers FOR SYSTEM_TIME AS OF o.pt AS c ON o.cid = c.id;",
    )
    .unwrap();
    let lookups = &script.inserts[0].query.lookups;
    assert_eq!(lookups.len(), 1);
    assert_eq!(lookups[0].table, "customers");
    assert_eq!(lookups[0].alias.as_deref(), Some("c"));
    assert_eq!(lookups[0].as_of.to_string(), "o.pt");
}

#[test]
fn primary_keys() {
    let script = parse_script(
        "CREATE TABLE t (a INT, b STRING, c DOUBLE, CONSTRAINT pk PRIMARY KEY (a, b) NOT ENFORCED)
           WITH ('connector' = 'blackhole');
         CREATE TABLE u (a INT PRIMARY KEY NOT ENFORCED, b STRING) WITH ('connector' = 'blackhole');",
    )
    .unwrap();
    let t = script.catalog.table("t").unwrap();
    assert_eq!(
        t.primary_key,
        Some(PrimaryKey {
            name: Some("pk".into()),
            columns: vec!["a".into(), "b".into()]
        })
    );
    assert!(!t.column("a").unwrap().nullable);
    assert!(t.column("c").unwrap().nullable);
    let u = script.catalog.table("u").unwrap();
    assert_eq!(u.primary_key.as_ref().unwrap().columns, ["a"]);

    let err =
        parse_script("CREATE TABLE t (a INT, PRIMARY KEY (a)) WITH ('connector' = 'blackhole');")
            .unwrap_err();
    assert!(err.hint().contains("NOT ENFORCED"), "{err}");
    let err = parse_script(
        "CREATE TABLE t (a INT, PRIMARY KEY (z) NOT ENFORCED) WITH ('connector' = 'blackhole');",
    )
    .unwrap_err();
    assert!(matches!(err, SqlError::Invalid { .. }), "{err}");
}

#[test]
fn metadata_columns() {
    let script = parse_script(
        "CREATE TABLE t (
           v STRING,
           event_time TIMESTAMP_LTZ(3) METADATA FROM 'timestamp',
           `partition` BIGINT METADATA VIRTUAL,
           `offset` BIGINT NOT NULL METADATA FROM 'offset' VIRTUAL
         ) WITH ('connector' = 'kafka', 'topic' = 't', 'format' = 'json');",
    )
    .unwrap();
    let t = &script.catalog.tables[0];
    let kinds: Vec<&ColumnKind> = t.columns.iter().map(|c| &c.kind).collect();
    assert_eq!(
        kinds,
        [
            &ColumnKind::Physical,
            &ColumnKind::Metadata {
                key: Some("timestamp".into()),
                is_virtual: false
            },
            &ColumnKind::Metadata {
                key: None,
                is_virtual: true
            },
            &ColumnKind::Metadata {
                key: Some("offset".into()),
                is_virtual: true
            },
        ]
    );
    assert_eq!(t.columns[1].data_type, Some(ltz3()));
    assert!(!t.columns[3].nullable);
    assert_eq!(t.physical_schema().fields().len(), 1);
}

#[test]
fn flink_types_map_to_arrow() {
    let script = parse_script(
        "CREATE TABLE t (
           a VARCHAR(10), b CHAR(3), c BOOLEAN, d TINYINT, e SMALLINT, f INTEGER, g FLOAT,
           h DECIMAL(12, 2), i DATE, j TIME(3), k TIMESTAMP, l TIMESTAMP(3) WITH LOCAL TIME ZONE,
           m BYTES, n VARBINARY(8), o ARRAY<INT NOT NULL>, p MAP<STRING, BIGINT>,
           q ROW<x INT, y ARRAY<ROW<z STRING>>>, r DECIMAL, s TIMESTAMP_LTZ(6)
         ) WITH ('connector' = 'blackhole');",
    )
    .unwrap();
    let types: Vec<DataType> = script.catalog.tables[0]
        .columns
        .iter()
        .map(|c| c.data_type.clone().unwrap())
        .collect();
    let inner_row = DataType::Struct(Fields::from(vec![Field::new("z", DataType::Utf8, true)]));
    assert_eq!(
        types,
        [
            DataType::Utf8,
            DataType::Utf8,
            DataType::Boolean,
            DataType::Int8,
            DataType::Int16,
            DataType::Int32,
            DataType::Float32,
            DataType::Decimal128(12, 2),
            DataType::Date32,
            DataType::Time32(TimeUnit::Millisecond),
            DataType::Timestamp(TimeUnit::Microsecond, None),
            ltz3(),
            DataType::Binary,
            DataType::Binary,
            DataType::List(Arc::new(Field::new("item", DataType::Int32, false))),
            DataType::Map(
                Arc::new(Field::new(
                    "entries",
                    DataType::Struct(Fields::from(vec![
                        Field::new("key", DataType::Utf8, false),
                        Field::new("value", DataType::Int64, true),
                    ])),
                    false,
                )),
                false,
            ),
            DataType::Struct(Fields::from(vec![
                Field::new("x", DataType::Int32, true),
                Field::new(
                    "y",
                    DataType::List(Arc::new(Field::new("item", inner_row, true))),
                    true
                ),
            ])),
            DataType::Decimal128(10, 0),
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        ]
    );
}

#[test]
fn connector_and_option_errors_point_at_the_option() {
    let err =
        parse_script("CREATE TABLE t (a INT)\nWITH ('connector' = 'fliesystem');").unwrap_err();
    assert!(matches!(err, SqlError::UnknownConnector { .. }), "{err}");
    assert_eq!(err.at(), Position::new(2, 21));
    assert_eq!(err.hint(), "did you mean 'filesystem'?");

    let err = parse_script(
        "CREATE TABLE t (a INT) WITH ('connector' = 'filesystem',\n  'format' = 'json', 'pth' = '/x');",
    )
    .unwrap_err();
    assert!(
        matches!(err, SqlError::UnknownOption { ref text, .. } if text == "pth"),
        "{err}"
    );
    assert_eq!(err.at(), Position::new(2, 22));
    assert_eq!(err.hint(), "did you mean 'path'?");

    let err = parse_script(
        "CREATE TABLE t (a INT) WITH ('connector' = 'filesystem', 'format' = 'json');",
    )
    .unwrap_err();
    assert!(
        matches!(err, SqlError::MissingOption { ref text, .. } if text == "path"),
        "{err}"
    );
}

#[test]
fn unsupported_features_are_named() {
    let script = "CREATE TABLE t (a INT, ts TIMESTAMP(3)) WITH ('connector' = 'blackhole');\n\
                  INSERT INTO t SELECT * FROM t\n  MATCH_RECOGNIZE (PATTERN (A) DEFINE A AS a > 0);";
    let err = parse_script(script).unwrap_err();
    assert!(matches!(err, SqlError::Unsupported { .. }), "{err}");
    assert!(
        err.to_string().contains("MATCH_RECOGNIZE is not supported"),
        "{err}"
    );
    assert_eq!(err.at(), Position::new(3, 3));

    let err =
        parse_script("CREATE TABLE t (a INT) WITH ('connector' = 'blackhole');\nSELECT * FROM t;")
            .unwrap_err();
    assert!(matches!(err, SqlError::Unsupported { .. }), "{err}");
    assert_eq!(err.at(), Position::new(2, 1));

    // Legacy group windows become window TVFs over their table; their auxiliary functions
    // need the window in the GROUP BY.
    let script = parse_script(
        "CREATE TABLE t (k INT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts) WITH ('connector' = 'blackhole');\n\
         INSERT INTO t SELECT k, SESSION_START(ts, INTERVAL '1' SECOND) FROM t GROUP BY k, SESSION(ts, INTERVAL '1' SECOND);",
    )
    .unwrap();
    let window = &script.inserts[0].query.windows[0];
    assert_eq!(window.table, "t");
    assert_eq!(window.time_column, "ts");
    assert_eq!(window.partition_by, ["k"]);
    assert_eq!(window.at, Position::new(2, 83));
    let err = parse_script(
        "CREATE TABLE t (ts TIMESTAMP(3), WATERMARK FOR ts AS ts) WITH ('connector' = 'blackhole');\n\
         INSERT INTO t SELECT TUMBLE_START(ts, INTERVAL '1' SECOND) FROM t;",
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("TUMBLE_START(…) without its group window"),
        "{err}"
    );
    assert_eq!(err.at(), Position::new(2, 22));
    let err = parse_script(
        "CREATE TABLE t (ts TIMESTAMP(3), WATERMARK FOR ts AS ts) WITH ('connector' = 'blackhole');\n\
         INSERT INTO t SELECT HOP_END(ts, INTERVAL '1' SECOND, INTERVAL '2' SECOND) FROM t, t AS u \
         GROUP BY HOP(ts, INTERVAL '1' SECOND, INTERVAL '2' SECOND);",
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("a group window over a join"),
        "{err}"
    );

    let err = parse_script(
        "CREATE TABLE t (ts TIMESTAMP(3), WATERMARK FOR ts AS ts + INTERVAL '1' SECOND) WITH ('connector' = 'blackhole');",
    )
    .unwrap_err();
    assert!(matches!(err, SqlError::Unsupported { .. }), "{err}");
    assert_eq!(err.at(), Position::new(1, 54));
}

#[test]
fn watermark_delays_and_rowtime_types() {
    let delay = |expr: &str| {
        let sql = format!(
            "CREATE TABLE t (ts TIMESTAMP(3), WATERMARK FOR ts AS {expr}) WITH ('connector' = 'blackhole');"
        );
        parse_script(&sql).map(|s| {
            s.catalog.tables[0]
                .watermark
                .clone()
                .unwrap()
                .max_out_of_orderness_ms
        })
    };
    assert_eq!(delay("ts - INTERVAL '2' SECOND"), Ok(2_000));
    assert_eq!(delay("ts - INTERVAL '500' MILLISECOND"), Ok(500));
    assert_eq!(delay("ts - INTERVAL '1' MINUTE"), Ok(60_000));
    assert_eq!(delay("ts"), Ok(0));
    let err = parse_script(
        "CREATE TABLE t (ts BIGINT, WATERMARK FOR ts AS ts) WITH ('connector' = 'blackhole');",
    )
    .unwrap_err();
    assert!(matches!(err, SqlError::Type { .. }), "{err}");
    let err = parse_script(
        "CREATE TABLE t (ts TIMESTAMP(3), WATERMARK FOR other AS other) WITH ('connector' = 'blackhole');",
    )
    .unwrap_err();
    assert!(matches!(err, SqlError::Invalid { .. }), "{err}");
}
