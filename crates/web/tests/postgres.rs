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
