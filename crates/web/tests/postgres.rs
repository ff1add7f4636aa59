//! The PostgreSQL endpoint, driven by the real `psql` (simple queries, text values) and by
//! sqlx (the extended protocol: described statements, bound parameters, binary values).

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{Fixture, metrics};
use spate_store::QueryLimits;
use spate_web::PgAuth;

const PSQL: &str = "/usr/bin/psql";

/// A row of every type mapped, and a NULL.
const VALUES: &str = "SELECT arrow_cast(1, 'Int8') AS i8, CAST(2 AS SMALLINT) AS i16, \
                  CAST(3 AS INT) AS i32, CAST(4 AS BIGINT) AS i64, CAST(1.5 AS REAL) AS f32, \
                  CAST(2.25 AS DOUBLE) AS f64, 'x' AS s, arrow_cast('y', 'LargeUtf8') AS ls, \
                  true AS b, CAST('2024-01-02' AS DATE) AS d, \
                  CAST('2024-01-02 03:04:05.5' AS TIMESTAMP) AS ts, \
                  arrow_cast(CAST('2024-01-02 03:04:05' AS TIMESTAMP), 'Timestamp(Second, Some(\"UTC\"))') AS tz, \
                  CAST(1.25 AS DECIMAL(10, 2)) AS dec, CAST(NULL AS BIGINT) AS n";

/// Whether psql is installed; says so loudly when it is not.
fn have_psql() -> bool {
    let there = Path::new(PSQL).exists();
    if !there {
        eprintln!("\n\n*** SKIPPED: {PSQL} is not installed: the psql tests did not run ***\n\n");
    }
    there
}

/// Runs `psql -At` against `addr` as `user` with `password`, the SQL on standard input.
async fn psql(addr: std::net::SocketAddr, user: &str, password: &str, sql: &str) -> Output {
    let (user, password, sql) = (user.to_string(), password.to_string(), sql.to_string());
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = Command::new(PSQL)
            .args(["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(addr.ip().to_string())
            .arg("-p")
            .arg(addr.port().to_string())
            .args(["-U", &user, "-d", "spate", "-f", "-"])
            .env("PGPASSWORD", password)
            .env("PGCONNECT_TIMEOUT", "10")
            .env_remove("PGSERVICE")
            .env_remove("PGSSLMODE")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(sql.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap()
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn psql_queries_the_store_with_a_password() {
    if !have_psql() {
        return;
    }
    let fx = Fixture::new();
    fx.commit(
        &fx.metrics,
        &metrics(&[
            (1_700_000_000_000, "/a", 3, Some(1.5)),
            (1_700_000_001_250, "/b", 5, None),
        ]),
    );
    for auth in [PgAuth::Md5, PgAuth::Cleartext] {
        let server = fx
            .serve_with(Some("s3cret"), auth, QueryLimits::default())
            .await;
        let addr = server.pg_addr().unwrap();
        let out = psql(
            addr,
            "spate",
            "s3cret",
            "SELECT endpoint, requests, latency, ts FROM metrics ORDER BY ts;",
        )
        .await;
        assert_eq!(
            stdout(&out),
            "/a|3|1.5|2023-11-14 22:13:20\n/b|5||2023-11-14 22:13:21.25\n",
            "{auth:?}"
        );

        let out = psql(addr, "spate", "wrong", "SELECT 1;").await;
        assert!(!out.status.success(), "{auth:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("password authentication failed for user \"spate\""),
            "{auth:?}: {err}"
        );
        let out = psql(addr, "postgres", "s3cret", "SELECT 1;").await;
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("connect as user \"spate\""), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn psql_gets_types_nulls_session_commands_and_errors() {
    if !have_psql() {
        return;
    }
    let fx = Fixture::new();
    let server = fx.serve(None).await;
    let addr = server.pg_addr().unwrap();
    let out = psql(addr, "spate", "", &format!("{VALUES};\n")).await;
    assert_eq!(
        stdout(&out),
        "1|2|3|4|1.5|2.25|x|y|t|2024-01-02|2024-01-02 03:04:05.5|2024-01-02 03:04:05+00|1.25|\n"
    );

    // What clients send on connecting does not fail.
    let out = psql(
        addr,
        "spate",
        "",
        "SET application_name = 'grafana'; SET extra_float_digits = 3;\n\
         SHOW server_version; SHOW TRANSACTION ISOLATION LEVEL;\n\
         BEGIN; SELECT 1 + 1; COMMIT;\nSELECT version();\n",
    )
    .await;
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[..3], ["16.6", "read committed", "2"], "{text}");
    assert!(!lines[3].is_empty(), "{text}");
    // Errors are PostgreSQL errors with their message.
    let out = psql(addr, "spate", "", "SELECT * FROM nope;\n").await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no table nope"), "{err}");
    let out = psql(addr, "spate", "", "SHOW nonsense;\n").await;
    assert!(String::from_utf8_lossy(&out.stderr).contains("unrecognized configuration parameter"));
    let out = psql(addr, "spate", "", "CREATE TABLE t (a INT);\n").await;
    assert!(String::from_utf8_lossy(&out.stderr).contains("queries only"));
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlx_binds_parameters_through_the_extended_protocol() {
    use sqlx::{Connection, Row};
    let fx = Fixture::new();
    fx.commit(
        &fx.metrics,
        &metrics(&[
            (1_700_000_000_000, "/a", 3, Some(1.5)),
            (1_700_000_001_000, "/b", 5, None),
            (1_700_000_002_000, "it's", 7, Some(2.0)),
        ]),
    );
    let server = fx.serve(Some("pw")).await;
    let url = format!("postgres://spate:pw@{}/spate", server.pg_addr().unwrap());
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let rows = sqlx::query(
        "SELECT endpoint, requests, latency FROM metrics WHERE requests > $1 AND endpoint <> $2 ORDER BY ts",
    )
    .bind(3i64)
    .bind("/b")
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let got: Vec<(String, i64, Option<f64>)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(got, [("it's".to_string(), 7, Some(2.0))]);
    let err = sqlx::query("SELECT * FROM nope")
        .fetch_all(&mut conn)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no table nope"), "{err}");
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM metrics")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(n, 3);
    let wrong = format!("postgres://spate:nope@{}/spate", server.pg_addr().unwrap());
    let err = sqlx::PgConnection::connect(&wrong).await.unwrap_err();
    assert!(
        err.to_string().contains("password authentication failed"),
        "{err}"
    );
}

#[tokio::test]
async fn a_non_loopback_address_needs_a_password() {
    let fx = Fixture::new();
    let err = spate_web::Server::start(
        fx.store.clone(),
        spate_web::ServerConfig {
            pg: Some("0.0.0.0:0".parse().unwrap()),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, spate_web::WebError::PasswordRequired { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("password"));
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlx_describes_types_and_reads_binary_values() {
    use sqlx::{Column, Connection, Row, TypeInfo, ValueRef};
    let fx = Fixture::new();
    let server = fx.serve(None).await;
    let url = format!("postgres://spate@{}/spate", server.pg_addr().unwrap());
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    // sqlx describes the statement, then asks for every column in binary.
    let row = sqlx::query(VALUES).fetch_one(&mut conn).await.unwrap();
    let types: Vec<(String, String)> = row
        .columns()
        .iter()
        .map(|c| (c.name().to_string(), c.type_info().name().to_string()))
        .collect();
    let expected = [
        ("i8", "INT2"),
        ("i16", "INT2"),
        ("i32", "INT4"),
        ("i64", "INT8"),
        ("f32", "FLOAT4"),
        ("f64", "FLOAT8"),
        ("s", "VARCHAR"),
        ("ls", "VARCHAR"),
        ("b", "BOOL"),
        ("d", "DATE"),
        ("ts", "TIMESTAMP"),
        ("tz", "TIMESTAMPTZ"),
        ("dec", "NUMERIC"),
        ("n", "INT8"),
    ];
    assert_eq!(
        types,
        expected
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect::<Vec<_>>()
    );
    assert_eq!(row.get::<i16, _>(0), 1);
    assert_eq!(row.get::<i16, _>(1), 2);
    assert_eq!(row.get::<i32, _>(2), 3);
    assert_eq!(row.get::<i64, _>(3), 4);
    assert_eq!(row.get::<f32, _>(4), 1.5);
    assert_eq!(row.get::<f64, _>(5), 2.25);
    assert_eq!(row.get::<String, _>(6), "x");
    assert_eq!(row.get::<String, _>(7), "y");
    assert!(row.get::<bool, _>(8));
    let raw = |i: usize| row.try_get_raw(i).unwrap().as_bytes().unwrap().to_vec();
    // Days and microseconds since 2000-01-01.
    assert_eq!(raw(9), 8_767i32.to_be_bytes());
    let micros: i64 = (8_767 * 86_400 + 3 * 3_600 + 4 * 60 + 5) * 1_000_000 + 500_000;
    assert_eq!(raw(10), micros.to_be_bytes());
    // numeric 1.25: 2 digits, weight 0, positive, scale 2: 1, 2500.
    let numeric: Vec<u8> = [2i16, 0, 0, 2, 1, 2500]
        .iter()
        .flat_map(|d| d.to_be_bytes())
        .collect();
    assert_eq!(raw(12), numeric);
    assert!(row.try_get_raw(13).unwrap().is_null());
    assert_eq!(row.get::<Option<i64>, _>(13), None);
}

/// `metrics` rows around 2023-11-14 22:13:20 UTC (1_700_000_000 s): two in the minute from
/// 22:13, one in the minute from 22:14, and one before and one after the range
/// [22:13:00, 22:16:00] the Grafana queries below ask for.
fn minutes() -> arrow::array::RecordBatch {
    metrics(&[
        (1_699_999_920_000, "/early", 1, Some(100.0)),
        (1_700_000_000_000, "/a", 3, Some(1.0)),
        (1_700_000_030_000, "/b", 5, Some(3.0)),
        (1_700_000_050_000, "/a", 7, Some(5.0)),
        (1_700_000_190_000, "/late", 9, Some(200.0)),
    ])
}

#[tokio::test(flavor = "multi_thread")]
async fn psql_meta_commands_describe_the_store() {
    if !have_psql() {
        return;
    }
    let fx = Fixture::new();
    fx.commit(&fx.metrics, &minutes());
    let server = fx.serve(None).await;
    let addr = server.pg_addr().unwrap();
    let run = |command: &'static str| psql(addr, "spate", "", command);

    // \dt and \d: the tables, owned by the one user.
    let tables = "public|metrics|table|spate\npublic|scores|table|spate\n";
    assert_eq!(stdout(&run("\\dt\n").await), tables);
    assert_eq!(stdout(&run("\\d\n").await), tables);
    // \d TABLE: each column with its PostgreSQL type and whether it takes NULLs.
    assert_eq!(
        stdout(&run("\\d metrics\n").await),
        "ts|timestamp(3) without time zone||not null|\n\
         endpoint|character varying||not null|\n\
         requests|bigint||not null|\n\
         latency|double precision|||\n"
    );
    assert_eq!(
        stdout(&run("\\d public.scores\n").await),
        "ip|character varying||not null|\nscore|bigint|||\n"
    );
    // \d+: with each column's storage, no options, comments or statistics targets.
    assert_eq!(
        stdout(&run("\\d+ scores\n").await),
        "ip|character varying||not null||extended|||\nscore|bigint||||plain|||\n"
    );
    // \dp: no privileges granted, no policies.
    assert_eq!(
        stdout(&run("\\dp\n").await),
        "public|metrics|table|||\npublic|scores|table|||\n"
    );
    // The catalog describes itself.
    assert_eq!(
        stdout(&run("\\d pg_namespace\n").await),
        "oid|bigint|||\nnspname|character varying|||\nnspowner|bigint|||\nnspacl|text|||\n"
    );
    // Without -q and -t, psql titles the table with its schema (with \d+ its access
    // method), and says when there is no such table.
    let plain = |command: &str| {
        Command::new(PSQL)
            .args(["-X", "-h"])
            .arg(addr.ip().to_string())
            .arg("-p")
            .arg(addr.port().to_string())
            .args(["-U", "spate", "-d", "spate", "-c", command])
            .output()
            .unwrap()
    };
    let text = stdout(&plain("\\d metrics"));
    assert!(text.contains("Table \"public.metrics\""), "{text}");
    assert!(
        text.contains("latency  | double precision               |           |          |"),
        "{text}"
    );
    let text = stdout(&plain("\\d+ pg_am"));
    assert!(text.contains("Table \"pg_catalog.pg_am\""), "{text}");
    assert!(text.ends_with("Access method: heap\n\n"), "{text}");
    let out = plain("\\d nope");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Did not find any relation named \"nope\""),
        "{out:?}"
    );
    // \dn, \l, \dv, \di, \df: the schema, the database, and no views, indexes or functions.
    assert_eq!(stdout(&run("\\dn\n").await), "public|spate\n");
    assert_eq!(stdout(&run("\\l\n").await), "spate|spate|UTF8|C|C||libc|\n");
    for empty in ["\\dv\n", "\\di\n", "\\df\n", "\\dT\n"] {
        assert_eq!(stdout(&run(empty).await), "", "{empty}");
    }
    // With +: sizes on disk (the metrics rows are in the write-ahead log; scores is
    // empty), no descriptions; the one role, a member of nothing.
    let text = stdout(&run("\\dt+\n").await);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with("public|metrics|table|spate|permanent|heap|"),
        "{text}"
    );
    assert!(!lines[0].ends_with("|0 bytes|"), "{text}");
    assert!(
        lines[0].ends_with(" bytes|") || lines[0].ends_with(" kB|"),
        "{text}"
    );
    assert_eq!(
        lines[1],
        "public|scores|table|spate|permanent|heap|0 bytes|"
    );
    assert_eq!(stdout(&run("\\dn+\n").await), "public|spate||\n");
    assert_eq!(
        stdout(&run("\\db\n").await),
        "pg_default|spate|\npg_global|spate|\n"
    );
    let text = stdout(&run("\\l+\n").await);
    assert!(text.starts_with("spate|spate|UTF8|C|C||libc||"), "{text}");
    assert!(text.ends_with("|pg_default|\n"), "{text}");
    assert_eq!(stdout(&run("\\du\n").await), "spate||{}\n");
    // \conninfo is psql's own; the queries it prints with come from the catalog.
    let out = run("\\conninfo\nSELECT current_database(), current_user, current_schema();\n").await;
    let text = stdout(&out);
    assert!(text.contains("as user \"spate\""), "{text}");
    assert!(text.ends_with("spate|spate|public\n"), "{text}");
}

/// The SQL Grafana's PostgreSQL data source sends, as it writes it (grafana/grafana):
/// - the schema, table and column lists of the query builder: `showSchemas`,
///   `showTables` and `getSchema` in
///   public/app/plugins/datasource/grafana-postgresql-datasource/postgresMetaQuery.ts,
///   with its `buildSchemaConstraint` (the schemas of `search_path`);
/// - the version probe of its configuration page (`getVersion`, and
///   `getTimescaleDBVersion` reading `pg_extension`) in the same file;
/// - the macros of pkg/tsdb/grafana-postgresql-datasource/macros.go: `$__timeFilter(ts)`
///   is `ts BETWEEN '<from RFC 3339>' AND '<to>'`, `$__timeGroupAlias(ts, 1m)` is
///   `floor(extract(epoch from ts)/60)*60 AS "time"`, `$__time(ts)` is `ts AS "time"` and
///   `$__timeEpoch(ts)` is `extract(epoch from ts) as "time"`.
mod grafana {
    /// The schemas on the search path (`buildSchemaConstraint`).
    fn in_search_path() -> &'static str {
        "quote_ident(table_schema) IN (
          SELECT
            CASE WHEN trim(s[i]) = '\"$user\"' THEN user ELSE trim(s[i]) END
          FROM
            generate_series(
              array_lower(string_to_array(current_setting('search_path'),','),1),
              array_upper(string_to_array(current_setting('search_path'),','),1)
            ) as i,
            string_to_array(current_setting('search_path'),',') s
          )"
    }

    pub fn version() -> &'static str {
        "SELECT current_setting('server_version_num')::int/100 as version"
    }

    pub fn timescaledb_version() -> &'static str {
        "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"
    }

    pub fn schemas() -> &'static str {
        "SELECT schema_name AS \"name\"
    FROM information_schema.schemata
    WHERE schema_name NOT IN ('information_schema',
                              'pg_catalog',
                              'pg_toast',
                              '_timescaledb_cache',
                              '_timescaledb_catalog',
                              '_timescaledb_internal',
                              '_timescaledb_config',
                              'timescaledb_information',
                              'timescaledb_experimental')
    ORDER BY schema_name"
    }

    pub fn tables(schema: Option<&str>) -> String {
        if let Some(schema) = schema {
            return format!(
                "SELECT quote_ident(table_name) AS \"table\"
      FROM information_schema.tables
      WHERE quote_ident(table_schema) = '{}'
      ORDER BY 1",
                schema.replace('\'', "''")
            );
        }
        format!(
            "SELECT
    CASE WHEN {c}
      THEN quote_ident(table_name)
      ELSE quote_ident(table_schema) || '.' || quote_ident(table_name)
    END AS \"table\"
    FROM information_schema.tables
    WHERE quote_ident(table_schema) NOT IN ('information_schema',
                             'pg_catalog',
                             '_timescaledb_cache',
                             '_timescaledb_catalog',
                             '_timescaledb_internal',
                             '_timescaledb_config',
                             'timescaledb_information',
                             'timescaledb_experimental')
    ORDER BY CASE WHEN {c} THEN 0 ELSE 1 END, 1",
            c = in_search_path()
        )
    }

    pub fn columns(table: &str) -> String {
        let table = format!("'{}'", table.replace('\'', "''"));
        format!(
            "SELECT quote_ident(column_name) AS \"column\", data_type AS \"type\"
    FROM information_schema.columns
    WHERE
      CASE WHEN array_length(parse_ident({table}),1) = 2
        THEN quote_ident(table_schema) = (parse_ident({table}))[1]
          AND quote_ident(table_name) = (parse_ident({table}))[2]
        ELSE quote_ident(table_name) = {table}
          AND {c}
      END",
            c = in_search_path()
        )
    }

    /// `$__timeFilter(column)` for the range [from, to].
    pub fn time_filter(column: &str, from: &str, to: &str) -> String {
        format!("{column} BETWEEN '{from}' AND '{to}'")
    }

    /// `$__timeGroupAlias(column, interval)`, the interval in seconds.
    pub fn time_group_alias(column: &str, seconds: u64) -> String {
        format!("floor(extract(epoch from {column})/{seconds})*{seconds} AS \"time\"")
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn grafana_lists_tables_and_columns_and_groups_by_time() {
    use sqlx::{Column, Connection, Row, TypeInfo};
    let fx = Fixture::new();
    fx.commit(&fx.metrics, &minutes());
    let server = fx.serve(Some("pw")).await;
    let url = format!("postgres://spate:pw@{}/spate", server.pg_addr().unwrap());
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    // The health check.
    conn.ping().await.unwrap();
    let texts = async |conn: &mut sqlx::PgConnection, sql: &str| -> Vec<Vec<String>> {
        // The SQL is Grafana's, with the test's names and times in it.
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .iter()
            .map(|r| (0..r.len()).map(|i| r.get::<String, _>(i)).collect())
            .collect()
    };

    // The configuration page's probes: version 16, no TimescaleDB.
    let row = sqlx::query(grafana::version())
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(row.columns()[0].name(), "version");
    let version = row
        .try_get::<i64, _>(0)
        .or_else(|_| row.try_get::<i32, _>(0).map(i64::from))
        .unwrap();
    assert_eq!(version, 1600);
    assert!(
        texts(&mut conn, grafana::timescaledb_version())
            .await
            .is_empty()
    );

    // The query builder's lists: schemas, tables (unqualified: public is on the search
    // path), columns with their PostgreSQL types.
    assert_eq!(texts(&mut conn, grafana::schemas()).await, [["public"]]);
    let tables = [["metrics"], ["scores"]];
    assert_eq!(texts(&mut conn, &grafana::tables(None)).await, tables);
    assert_eq!(
        texts(&mut conn, &grafana::tables(Some("public"))).await,
        tables
    );
    let columns = [
        ["ts", "timestamp without time zone"],
        ["endpoint", "character varying"],
        ["requests", "bigint"],
        ["latency", "double precision"],
    ];
    assert_eq!(
        texts(&mut conn, &grafana::columns("metrics")).await,
        columns
    );
    assert_eq!(
        texts(&mut conn, &grafana::columns("public.metrics")).await,
        columns
    );
    assert!(texts(&mut conn, &grafana::columns("nope")).await.is_empty());

    // A time series: $__timeGroupAlias(ts, 1m) and $__timeFilter(ts) over
    // [22:13:00, 22:16:00]: the minutes from 22:13 and 22:14, as epoch seconds (float8).
    let filter = grafana::time_filter("ts", "2023-11-14T22:13:00Z", "2023-11-14T22:16:00Z");
    let sql = format!(
        "SELECT {}, avg(latency) AS \"latency\" FROM metrics WHERE {filter} GROUP BY 1 ORDER BY 1",
        grafana::time_group_alias("ts", 60)
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
        .fetch_all(&mut conn)
        .await
        .unwrap();
    let types: Vec<&str> = rows[0]
        .columns()
        .iter()
        .map(|c| c.type_info().name())
        .collect();
    assert_eq!(types, ["FLOAT8", "FLOAT8"]);
    let points: Vec<(f64, f64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(points, [(1_699_999_980.0, 2.0), (1_700_000_040.0, 5.0)]);

    // $__time(ts) keeps the timestamp; $__timeEpoch(ts) is epoch seconds.
    let sql = format!("SELECT ts AS \"time\", requests FROM metrics WHERE {filter} ORDER BY 1");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(rows[0].columns()[0].type_info().name(), "TIMESTAMP");
    assert_eq!(rows.len(), 3);
    let sql = format!(
        "SELECT extract(epoch from ts) as \"time\", requests FROM metrics WHERE {filter} ORDER BY 1"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
        .fetch_all(&mut conn)
        .await
        .unwrap();
    let epochs: Vec<f64> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(epochs, [1_700_000_000.0, 1_700_000_030.0, 1_700_000_050.0]);
}
