//! `spate sql`: Flink's reference job, unchanged but for its paths, runs on Spate and gives the
//! same result as the hand-built benchmark job; errors point at file:line:column.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::Command;

use common::committed_rows;

const SPATE: &str = env!("CARGO_BIN_EXE_spate");

fn reference_sql(input: &Path, output: &Path) -> String {
    format!(
        "-- the job of ../shared/bench/flink/flink_job.py
CREATE TABLE events (
  ts          BIGINT,
  client_ip   STRING,
  `method`    STRING,
  `path`      STRING,
  status      INT,
  latency_ms  DOUBLE,
  bytes_out   BIGINT,
  user_agent  STRING,
  event_time AS TO_TIMESTAMP_LTZ(ts, 3),
  WATERMARK FOR event_time AS event_time - INTERVAL '2' SECOND
) WITH (
  'connector' = 'filesystem',
  'path' = '{}',
  'format' = 'json'
);
CREATE TABLE sink (
  window_start TIMESTAMP(3), window_end TIMESTAMP(3), client_ip STRING,
  cnt BIGINT, avg_latency DOUBLE, sum_bytes BIGINT, errors BIGINT
) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');
INSERT INTO sink
SELECT window_start, window_end, client_ip,
       COUNT(*), AVG(latency_ms), SUM(bytes_out),
       COUNT(*) FILTER (WHERE status >= 400)
FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(event_time), INTERVAL '10' SECOND))
GROUP BY window_start, window_end, client_ip;
",
        input.display(),
        output.display()
    )
}

#[test]
fn the_flink_reference_job_runs_unchanged_and_matches_the_benchmark_job() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("events.jsonl");
    let mut f = std::fs::File::create(&input).unwrap();
    let mut s: u64 = 7;
    for i in 0..30_000i64 {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        let late = if s.is_multiple_of(5) {
            (s >> 9) as i64 % 2000
        } else {
            0
        };
        writeln!(
            f,
            r#"{{"ts":{},"client_ip":"10.0.0.{}","method":"GET","path":"/","status":{},"latency_ms":{},"bytes_out":{},"user_agent":"x"}}"#,
            1_704_067_200_000 + i * 2 - late,
            (s >> 20) % 50,
            [200, 404, 500, 201][(s >> 30) as usize % 4],
            (s >> 40) % 1000,
            (s >> 12) % 9999
        )
        .unwrap();
    }
    drop(f);
    let job = tmp.path().join("job.sql");
    let sql_out = tmp.path().join("sql-out");
    std::fs::write(&job, reference_sql(&input, &sql_out)).unwrap();
    let data = tmp.path().join("data");
    let run = |args: &[&str]| {
        Command::new(SPATE)
            .arg("--data-dir")
            .arg(&data)
            .args(args)
            .output()
            .unwrap()
    };
    let job_arg = job.to_str().unwrap();
    let validate = run(&["sql", "validate", job_arg]);
    assert!(
        validate.status.success(),
        "{}",
        String::from_utf8_lossy(&validate.stderr)
    );
    let explain = run(&["sql", "explain", job_arg]);
    let plan = String::from_utf8_lossy(&explain.stdout);
    assert!(plan.contains("watermark: event_time - 2000 ms"), "{plan}");
    assert!(plan.contains("Tumble { size_ms: 10000 }"), "{plan}");
    assert!(plan.contains("HASH(client_ip"), "{plan}");
    let out = run(&["sql", "run", job_arg, "--parallelism", "2"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let bench_out = tmp.path().join("bench-out");
    let bench = Command::new(SPATE)
        .args(["bench", "window", "--input"])
        .arg(&input)
        .arg("--output")
        .arg(&bench_out)
        .output()
        .unwrap();
    assert!(bench.status.success());
    let (a, b) = (committed_rows(&sql_out), committed_rows(&bench_out));
    assert!(a.len() > 100);
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        let (x, y): (Vec<&str>, Vec<&str>) = (x.split(',').collect(), y.split(',').collect());
        assert_eq!(
            [x[0], x[1], x[2], x[3], x[5], x[6]],
            [y[0], y[1], y[2], y[3], y[5], y[6]]
        );
        let (p, q): (f64, f64) = (x[4].parse().unwrap(), y[4].parse().unwrap());
        assert!((p - q).abs() <= 1e-9 * q.abs().max(1.0));
    }
}

#[test]
fn sql_errors_name_file_line_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    let job = tmp.path().join("bad.sql");
    std::fs::write(
        &job,
        "CREATE TABLE t (a INT) WITH ('connector' = 'blackhole');\n\nSELEC a FROM t;\n",
    )
    .unwrap();
    let out = Command::new(SPATE)
        .arg("--data-dir")
        .arg(tmp.path())
        .args(["sql", "validate"])
        .arg(&job)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:3:1", job.display())), "{err}");
    assert!(err.contains("SELEC"), "{err}");
}

#[test]
fn a_bounded_spate_log_source_feeds_a_sql_job() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let spate = |args: &[&str]| {
        let mut c = Command::new(SPATE);
        c.arg("--data-dir").arg(&data).args(args);
        c
    };
    assert!(
        spate(&["log", "create", "clicks", "--partitions", "2"])
            .status()
            .unwrap()
            .success()
    );
    let mut produce = spate(&["log", "produce", "clicks"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        let stdin = produce.stdin.as_mut().unwrap();
        for i in 0..1000 {
            writeln!(
                stdin,
                r#"{{"user":"u{}","n":{i},"ts":{}}}"#,
                i % 3,
                1_000 + i * 10
            )
            .unwrap();
        }
    }
    assert!(produce.wait().unwrap().success());
    let out_dir = tmp.path().join("out");
    let job = tmp.path().join("job.sql");
    std::fs::write(
        &job,
        format!(
            "CREATE TABLE clicks (`user` STRING, n BIGINT, ts BIGINT,
               rt AS TO_TIMESTAMP_LTZ(ts, 3), WATERMARK FOR rt AS rt)
             WITH ('connector' = 'spate-log', 'topic' = 'clicks', 'format' = 'json',
                   'scan.bounded.mode' = 'latest-offset');
             CREATE TABLE totals (`user` STRING, total BIGINT, events BIGINT)
             WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');
             INSERT INTO totals
             SELECT `user`, SUM(n), COUNT(*)
             FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(rt), INTERVAL '1' HOUR))
             WHERE n % 2 = 0
             GROUP BY window_start, window_end, `user`;",
            out_dir.display()
        ),
    )
    .unwrap();
    let out = spate(&["sql", "run"]).arg(&job).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut expected: Vec<String> = (0..3)
        .map(|u| {
            let ns: Vec<i64> = (0..1000).filter(|i| i % 3 == u && i % 2 == 0).collect();
            format!("u{u},{},{}", ns.iter().sum::<i64>(), ns.len())
        })
        .collect();
    expected.sort();
    assert_eq!(committed_rows(&out_dir), expected);
}

#[test]
fn lookup_joins_enrich_events_and_an_unbounded_aggregate_updates_its_counts() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let keys = dir.path().join("keys.jsonl");
    let out = dir.path().join("out");
    let mut text = String::new();
    for i in 0..300 {
        // k0..k3 are known keys, k4 is not; one event has no key at all.
        let key = if i == 299 {
            "null".to_string()
        } else {
            format!("\"k{}\"", i % 5)
        };
        text.push_str(&format!(
            "{{\"ts\":{},\"api_key\":{key},\"status\":{}}}\n",
            1_700_000_000_000i64 + i * 10,
            if i % 7 == 0 { 500 } else { 200 }
        ));
    }
    std::fs::write(&events, text).unwrap();
    std::fs::write(
        &keys,
        "{\"api_key\":\"k0\",\"customer\":\"acme\"}\n\
         {\"api_key\":\"k1\",\"customer\":\"acme\"}\n\
         {\"api_key\":\"k2\",\"customer\":\"globex\"}\n\
         {\"api_key\":\"k3\",\"customer\":\"initech\"}\n",
    )
    .unwrap();
    let sql = format!(
        "SET 'parallelism.default' = '2';
CREATE TABLE events (
  ts BIGINT, api_key STRING, status INT,
  proc_time AS PROCTIME()
) WITH ('connector' = 'filesystem', 'path' = '{events}', 'format' = 'json');
CREATE TABLE api_keys (
  api_key STRING, customer STRING,
  PRIMARY KEY (api_key) NOT ENFORCED
) WITH ('connector' = 'filesystem', 'path' = '{keys}', 'format' = 'json',
        'lookup.cache' = 'FULL');
CREATE TABLE enriched (ts BIGINT, api_key STRING, customer STRING)
  WITH ('connector' = 'filesystem', 'path' = '{out}', 'format' = 'csv');
CREATE TABLE per_customer (customer STRING, calls BIGINT, errors BIGINT)
  WITH ('connector' = 'print', 'print-identifier' = 'agg');
EXECUTE STATEMENT SET BEGIN
INSERT INTO enriched
SELECT e.ts, e.api_key, k.customer
FROM events AS e
LEFT JOIN api_keys FOR SYSTEM_TIME AS OF e.proc_time AS k ON e.api_key = k.api_key;
INSERT INTO per_customer
SELECT k.customer, COUNT(*), COUNT(*) FILTER (WHERE e.status >= 500)
FROM events AS e
JOIN api_keys FOR SYSTEM_TIME AS OF e.proc_time AS k ON e.api_key = k.api_key
GROUP BY k.customer;
END;
",
        events = events.display(),
        keys = keys.display(),
        out = out.display()
    );
    let job = dir.path().join("job.sql");
    std::fs::write(&job, sql).unwrap();
    let run = Command::new(SPATE)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["sql", "run"])
        .arg(&job)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );

    // The left join keeps every event; unknown and missing keys get an empty customer.
    let mut rows = committed_rows(&out);
    rows.sort();
    assert_eq!(rows.len(), 300);
    let customer = |key: &str| match key {
        "k0" | "k1" => "acme",
        "k2" => "globex",
        "k3" => "initech",
        _ => "",
    };
    for row in &rows {
        let fields: Vec<&str> = row.split(',').collect();
        assert_eq!(fields.len(), 3, "{row}");
        assert_eq!(fields[2], customer(fields[1]), "{row}");
    }

    // The changelog of the aggregate, applied in order, ends at the true counts.
    let stdout = String::from_utf8(run.stdout).unwrap();
    let mut state = std::collections::BTreeMap::new();
    for line in stdout.lines() {
        let (_, change) = line.split_once("> ").expect(line);
        let (kind, row) = change.split_at(2);
        let fields: Vec<String> = row
            .trim_start_matches('[')
            .trim_end_matches(']')
            .split(", ")
            .map(String::from)
            .collect();
        match kind {
            "+I" | "+U" => {
                state.insert(fields[0].clone(), (fields[1].clone(), fields[2].clone()));
            }
            "-U" | "-D" => {
                assert_eq!(
                    state.remove(&fields[0]),
                    Some((fields[1].clone(), fields[2].clone())),
                    "{line}"
                );
            }
            other => panic!("row kind {other} in {line}"),
        }
    }
    let mut expected = std::collections::BTreeMap::<String, (u64, u64)>::new();
    for i in 0..299 {
        let c = customer(&format!("k{}", i % 5));
        if !c.is_empty() {
            let e = expected.entry(c.to_string()).or_default();
            e.0 += 1;
            e.1 += u64::from(i % 7 == 0);
        }
    }
    let expected: std::collections::BTreeMap<String, (String, String)> = expected
        .into_iter()
        .map(|(c, (n, e))| (c, (n.to_string(), e.to_string())))
        .collect();
    assert_eq!(state, expected);
}
