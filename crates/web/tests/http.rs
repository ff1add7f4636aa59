//! The HTTP API, driven over real sockets: tables, queries as JSON and Arrow, errors, live
//! tables over Server-Sent Events, and what stopping the server closes.

mod common;

use std::io::{BufRead, BufReader};
use std::sync::mpsc;
use std::time::Duration;

use common::{Fixture, metrics, scores};
use serde_json::{Value, json};
use spate_engine::changelog::RowKind;
use spate_store::QueryLimits;
use spate_web::PgAuth;

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// `GET url`: the status, the content type and the body.
async fn get(url: String, accept: Option<&'static str>) -> (u16, String, Vec<u8>) {
    tokio::task::spawn_blocking(move || {
        let mut request = agent().get(&url);
        if let Some(accept) = accept {
            request = request.header("Accept", accept);
        }
        let mut response = request.call().unwrap();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let body = response.body_mut().read_to_vec().unwrap();
        (response.status().as_u16(), content_type, body)
    })
    .await
    .unwrap()
}

/// `POST url` with `body` of `content_type`: the status and the body as JSON.
async fn post(url: String, content_type: &'static str, body: String) -> (u16, Value) {
    tokio::task::spawn_blocking(move || {
        let mut response = agent()
            .post(&url)
            .header("Content-Type", content_type)
            .send(body.as_bytes())
            .unwrap();
        let body = response.body_mut().read_to_vec().unwrap();
        (
            response.status().as_u16(),
            serde_json::from_slice(&body).unwrap(),
        )
    })
    .await
    .unwrap()
}

fn encode(sql: &str) -> String {
    let mut out = String::new();
    for b in sql.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn tables_and_queries_as_json_and_arrow() {
    let fx = Fixture::new();
    fx.commit(
        &fx.metrics,
        &metrics(&[
            (1_700_000_000_000, "/a", 3, Some(1.5)),
            (1_700_000_001_000, "/b", 5, None),
        ]),
    );
    fx.commit(&fx.scores, &scores(&[(RowKind::Insert, "10.0.0.1", 7)]));
    let server = fx.serve(None).await;
    let base = format!("http://{}", server.http_addr().unwrap());

    let (status, content_type, body) = get(format!("{base}/api/tables"), None).await;
    assert_eq!(status, 200);
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let tables: Value = serde_json::from_slice(&body).unwrap();
    let tables = tables.as_array().unwrap();
    assert_eq!(tables.len(), 2);
    let m = tables.iter().find(|t| t["name"] == "metrics").unwrap();
    assert_eq!(m["kind"], "append");
    assert_eq!(m["rows"], 2);
    assert_eq!(m["primary_key"], json!([]));
    assert_eq!(
        m["columns"][2],
        json!({"name": "requests", "type": "Int64", "nullable": false})
    );
    assert_eq!(m["columns"][3]["nullable"], true);
    let s = tables.iter().find(|t| t["name"] == "scores").unwrap();
    assert_eq!(s["kind"], "upsert");
    assert_eq!(s["primary_key"], json!(["ip"]));
    assert_eq!(s["rows"], 1);

    let sql = "SELECT endpoint, requests, latency FROM metrics ORDER BY ts";
    let (status, content_type, body) =
        get(format!("{base}/api/query?sql={}", encode(sql)), None).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(content_type, "application/json");
    let rows: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        rows,
        json!([
            {"endpoint": "/a", "requests": 3, "latency": 1.5},
            {"endpoint": "/b", "requests": 5, "latency": null},
        ])
    );

    // No rows is an empty array.
    let (status, _, body) = get(
        format!(
            "{base}/api/query?sql={}",
            encode("SELECT * FROM metrics WHERE requests > 100")
        ),
        None,
    )
    .await;
    assert_eq!((status, body.as_slice()), (200, b"[]".as_slice()));

    // POST: the SQL as the body, or as JSON.
    let (status, rows) = post(
        format!("{base}/api/query"),
        "text/plain",
        "SELECT sum(requests) AS total FROM metrics".into(),
    )
    .await;
    assert_eq!((status, rows), (200, json!([{"total": 8}])));
    let (status, rows) = post(
        format!("{base}/api/query"),
        "application/json",
        json!({"sql": "SELECT ip, score FROM scores"}).to_string(),
    )
    .await;
    assert_eq!(
        (status, rows),
        (200, json!([{"ip": "10.0.0.1", "score": 7}]))
    );

    // Arrow, by the Accept header or by ?format=arrow; no rows still carries the columns.
    for (url, accept) in [
        (
            format!("{base}/api/query?sql={}", encode(sql)),
            Some("application/vnd.apache.arrow.stream"),
        ),
        (
            format!("{base}/api/query?format=arrow&sql={}", encode(sql)),
            None,
        ),
    ] {
        let (status, content_type, body) = get(url, accept).await;
        assert_eq!(status, 200);
        assert_eq!(content_type, "application/vnd.apache.arrow.stream");
        let reader =
            arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(body), None).unwrap();
        let batches: Vec<_> = reader.map(Result::unwrap).collect();
        let batch = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(
            arrow::util::pretty::pretty_format_batches(&[batch])
                .unwrap()
                .to_string(),
            "+----------+----------+---------+\n\
             | endpoint | requests | latency |\n\
             +----------+----------+---------+\n\
             | /a       | 3        | 1.5     |\n\
             | /b       | 5        |         |\n\
             +----------+----------+---------+"
        );
    }
    let (status, _, body) = get(
        format!(
            "{base}/api/query?format=arrow&sql={}",
            encode("SELECT endpoint FROM metrics WHERE false")
        ),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let reader =
        arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(body), None).unwrap();
    assert_eq!(reader.schema().field(0).name(), "endpoint");
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_are_json_with_the_status_of_their_kind() {
    let fx = Fixture::new();
    let server = fx.serve(None).await;
    let base = format!("http://{}", server.http_addr().unwrap());
    let error = |body: &[u8]| -> String {
        serde_json::from_slice::<Value>(body).unwrap()["error"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let cases = [
        ("SELECT * FROM nope", "no table nope"),
        ("SELEC 1", "SELEC"),
        ("DROP TABLE metrics", "queries only"),
        ("INSERT INTO metrics SELECT * FROM metrics", "queries only"),
    ];
    for (sql, message) in cases {
        let (status, _, body) = get(format!("{base}/api/query?sql={}", encode(sql)), None).await;
        assert_eq!(status, 400, "{sql}");
        assert!(error(&body).contains(message), "{sql}: {}", error(&body));
    }
    let (status, _, body) = get(format!("{base}/api/query"), None).await;
    assert_eq!(status, 400);
    assert!(error(&body).contains("no query"));
    let (status, _, body) = get(format!("{base}/api/query?sql=SELECT%201&format=xml"), None).await;
    assert_eq!(status, 400);
    assert!(error(&body).contains("xml"));
    let (status, _, body) = get(format!("{base}/api/tables/nope/live"), None).await;
    assert_eq!(status, 404);
    assert!(error(&body).contains("no table nope"));

    // Past the time limit: 503; past the memory limit: 422.
    let slow = fx
        .serve_with(
            None,
            PgAuth::Md5,
            QueryLimits {
                timeout: Duration::from_millis(1),
                memory_bytes: 1 << 30,
            },
        )
        .await;
    let heavy = "SELECT count(DISTINCT a.v * 1000000 + b.v) FROM \
                 (SELECT unnest(range(1, 3000)) AS v) a, \
                 (SELECT unnest(range(1, 3000)) AS v) b";
    let (status, _, body) = get(
        format!(
            "http://{}/api/query?sql={}",
            slow.http_addr().unwrap(),
            encode(heavy)
        ),
        None,
    )
    .await;
    assert_eq!(status, 503, "{}", String::from_utf8_lossy(&body));
    assert!(error(&body).contains("time limit"));
    let small = fx
        .serve_with(
            None,
            PgAuth::Md5,
            QueryLimits {
                timeout: Duration::from_secs(60),
                memory_bytes: 1 << 16,
            },
        )
        .await;
    let (status, _, body) = get(
        format!(
            "http://{}/api/query?sql={}",
            small.http_addr().unwrap(),
            encode(heavy)
        ),
        None,
    )
    .await;
    assert_eq!(status, 422, "{}", String::from_utf8_lossy(&body));
    assert!(error(&body).contains("memory limit"));
}

/// Reads Server-Sent Events from `url` on a thread: each `(event, data)` is sent on the
/// channel. The thread ends when the connection does.
fn events(url: String) -> mpsc::Receiver<(String, String)> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let response = agent().get(&url).call().unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let reader = BufReader::new(response.into_body().into_reader());
        let (mut event, mut data) = (String::new(), String::new());
        for line in reader.lines() {
            let Ok(line) = line else { return };
            if let Some(e) = line.strip_prefix("event: ") {
                event = e.to_string();
            } else if let Some(d) = line.strip_prefix("data: ") {
                data.push_str(d);
            } else if line.is_empty()
                && !event.is_empty()
                && tx
                    .send((std::mem::take(&mut event), std::mem::take(&mut data)))
                    .is_err()
            {
                return;
            }
        }
    });
    rx
}

fn next(rx: &mpsc::Receiver<(String, String)>) -> (String, Value) {
    let (event, data) = rx.recv_timeout(Duration::from_secs(30)).expect("an event");
    let data = serde_json::from_str(&data).unwrap_or(Value::String(data));
    (event, data)
}

#[tokio::test(flavor = "multi_thread")]
async fn live_tables_push_each_commit() {
    let fx = Fixture::new();
    fx.commit(&fx.metrics, &metrics(&[(1_000, "/old", 1, None)]));
    let server = fx.serve(None).await;
    let base = format!("http://{}", server.http_addr().unwrap());

    let live = events(format!("{base}/api/tables/metrics/live"));
    assert_eq!(
        next(&live),
        (
            "subscribed".into(),
            json!({"table": "metrics", "kind": "append"})
        )
    );
    fx.commit(&fx.metrics, &metrics(&[(2_000, "/new", 4, Some(0.25))]));
    let (event, rows) = next(&live);
    assert_eq!(event, "rows");
    assert_eq!(
        rows,
        json!([{"ts": "1970-01-01T00:00:02", "endpoint": "/new", "requests": 4, "latency": 0.25}])
    );

    let live = events(format!("{base}/api/tables/scores/live"));
    assert_eq!(next(&live).0, "subscribed");
    fx.commit(
        &fx.scores,
        &scores(&[
            (RowKind::Insert, "10.0.0.1", 1),
            (RowKind::Insert, "10.0.0.2", 2),
        ]),
    );
    assert_eq!(
        next(&live),
        (
            "upsert".into(),
            json!([{"ip": "10.0.0.1", "score": 1}, {"ip": "10.0.0.2", "score": 2}])
        )
    );
    fx.commit(
        &fx.scores,
        &scores(&[
            (RowKind::UpdateBefore, "10.0.0.1", 1),
            (RowKind::UpdateAfter, "10.0.0.1", 9),
            (RowKind::Delete, "10.0.0.2", 2),
        ]),
    );
    assert_eq!(
        next(&live),
        ("upsert".into(), json!([{"ip": "10.0.0.1", "score": 9}]))
    );
    assert_eq!(
        next(&live),
        ("delete".into(), json!([{"ip": "10.0.0.2", "score": 2}]))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_subscriber_that_falls_behind_is_told_to_query_again() {
    let fx = Fixture::new();
    let server = fx.serve(None).await;
    let url = format!(
        "http://{}/api/tables/metrics/live",
        server.http_addr().unwrap()
    );
    // A subscriber that reads nothing until the commits are done: the server's socket
    // buffers fill, and it falls more commits behind than the table keeps for it.
    let (tx, rx) = mpsc::channel::<()>();
    let reader = std::thread::spawn(move || {
        let response = agent().get(&url).call().unwrap();
        let mut reader = BufReader::new(response.into_body().into_reader());
        rx.recv().unwrap();
        let mut kinds = Vec::new();
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap() > 0 {
            if let Some(kind) = line.trim_end().strip_prefix("event: ") {
                kinds.push(kind.to_string());
                if kind == "lagged" {
                    break;
                }
            }
            line.clear();
        }
        kinds
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let endpoint = "x".repeat(20_000);
    for i in 0..1500 {
        fx.commit(&fx.metrics, &metrics(&[(i, &endpoint, i, None)]));
    }
    tx.send(()).unwrap();
    let kinds = tokio::task::spawn_blocking(move || reader.join().unwrap())
        .await
        .unwrap();
    assert_eq!(kinds.first().map(String::as_str), Some("subscribed"));
    assert_eq!(
        kinds.last().map(String::as_str),
        Some("lagged"),
        "{kinds:?}"
    );
    assert!(kinds.len() < 1500, "{}", kinds.len());
}

/// Reads from `stream` until `done` holds for what was read, or the read times out.
fn read_until(stream: &mut std::net::TcpStream, done: impl Fn(&str) -> bool) -> String {
    use std::io::Read;
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    while !done(&text) {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    text
}

/// Whether `stream` reaches its end (the server closed it) within `wait`.
fn closed_within(stream: &mut std::net::TcpStream, wait: Duration) -> bool {
    use std::io::Read;
    stream.set_read_timeout(Some(wait)).unwrap();
    let deadline = std::time::Instant::now() + wait;
    let mut buf = [0u8; 4096];
    while std::time::Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread")]
async fn stopping_the_server_closes_idle_connections_and_live_subscriptions() {
    use sqlx::Connection;
    use std::io::Write;
    let fx = Fixture::new();
    let server = fx.serve(None).await;
    let addr = server.http_addr().unwrap();
    let url = format!("postgres://spate@{}/spate", server.pg_addr().unwrap());
    let mut pg = sqlx::PgConnection::connect(&url).await.unwrap();
    pg.ping().await.unwrap();
    let (mut idle, mut live) = tokio::task::spawn_blocking(move || {
        let open = |request: &str| {
            let mut stream = std::net::TcpStream::connect(addr).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_millis(500)))
                .unwrap();
            stream.write_all(request.as_bytes()).unwrap();
            stream
        };
        // A keep-alive connection, idle after its answer.
        let mut idle = open("GET /api/tables HTTP/1.1\r\nHost: t\r\n\r\n");
        let answer = read_until(&mut idle, |t| t.contains("\"metrics\""));
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        // A live subscription, waiting for commits.
        let mut live = open("GET /api/tables/metrics/live HTTP/1.1\r\nHost: t\r\n\r\n");
        let answer = read_until(&mut live, |t| t.contains("subscribed"));
        assert!(answer.contains("event: subscribed"), "{answer}");
        (idle, live)
    })
    .await
    .unwrap();
    drop(server);
    // A PostgreSQL session ends too (its task is aborted, which takes effect at its next
    // turn).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while matches!(
        tokio::time::timeout(Duration::from_secs(1), pg.ping()).await,
        Ok(Ok(()))
    ) {
        assert!(
            std::time::Instant::now() < deadline,
            "the PostgreSQL session stayed open"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::task::spawn_blocking(move || {
        assert!(
            closed_within(&mut idle, Duration::from_secs(5)),
            "the idle connection stayed open"
        );
        assert!(
            closed_within(&mut live, Duration::from_secs(5)),
            "the live subscription stayed open"
        );
    })
    .await
    .unwrap();
}
