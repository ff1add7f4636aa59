//! `spate bench nexmark`: the Nexmark queries of jobs/nexmark, as Flink publishes them, run on
//! the `nexmark` source with plausible results, and those Spate cannot run are refused with
//! the planner's message.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use arrow::array::{Array, AsArray, RecordBatch};
use common::committed_rows;
use spate_connectors::nexmark::{NexmarkConfig, NexmarkSource};
use spate_engine::operator::TaskInfo;
use spate_engine::source::{Source, SourcePoll};

const SPATE: &str = env!("CARGO_BIN_EXE_spate");

/// A file of jobs/nexmark: `ddl` (the source table and views) or a query.
fn job(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../jobs/nexmark/{name}.sql"));
    std::fs::read_to_string(path).unwrap()
}

fn bench(query: &str, args: &[&str]) -> Output {
    let tmp = tempfile::tempdir().unwrap();
    Command::new(SPATE)
        .arg("--data-dir")
        .arg(tmp.path())
        .args(["bench", "nexmark", "--query", query])
        .args(args)
        .output()
        .unwrap()
}

/// The figures `spate bench nexmark` prints.
fn figures(query: &str, args: &[&str]) -> serde_json::Value {
    let out = bench(query, args);
    assert!(
        out.status.success(),
        "{query}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{query}: {e}: {stdout}"))
}

/// The events the job files' source makes, `events` of them, one instance.
fn events(events: u64) -> RecordBatch {
    let script = spate_sql::parse_script(&job("ddl")).unwrap();
    let table = script.catalog.table("nexmark").unwrap();
    let mut options = table.options.clone();
    options.insert("events.num".into(), events.to_string());
    let config =
        NexmarkConfig::new(std::sync::Arc::new(table.physical_schema()), &options, 0).unwrap();
    let task = TaskInfo {
        name: "nexmark".into(),
        instance: 0,
        parallelism: 1,
        side_outputs: Default::default(),
        metrics: Default::default(),
    };
    let mut source = NexmarkSource::new(config, &task);
    let mut batches = Vec::new();
    loop {
        match source.poll().unwrap() {
            SourcePoll::Batch { batch, .. } => batches.push(batch),
            SourcePoll::Finished => break,
            _ => {}
        }
    }
    arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap()
}

/// A `bid` field of every bid event.
fn bid_field(events: &RecordBatch, field: &str) -> Vec<Option<String>> {
    let bids = events.column_by_name("bid").unwrap().as_struct();
    let column = bids.column_by_name(field).unwrap();
    let cast = arrow::compute::cast(column, &arrow::datatypes::DataType::Utf8).unwrap();
    let values = cast.as_string::<i32>();
    (0..bids.len())
        .filter(|&i| bids.is_valid(i))
        .map(|i| values.is_valid(i).then(|| values.value(i).to_string()))
        .collect()
}

#[test]
fn supported_queries_run_with_plausible_results() {
    let generated = events(10_000);
    let bids = bid_field(&generated, "price").len() as u64;
    assert_eq!(bids, 9_200, "46 bids in every 50 events");
    let auctions = bid_field(&generated, "auction");
    let urls = bid_field(&generated, "url");
    let channels = bid_field(&generated, "channel");
    let every_123th = auctions
        .iter()
        .filter(|a| a.as_deref().unwrap().parse::<i64>().unwrap() % 123 == 0)
        .count() as u64;
    let with_channel_id = urls
        .iter()
        .zip(&channels)
        .filter(|(url, channel)| {
            url.as_deref().unwrap().contains("channel_id=")
                || ["Apple", "Google", "Facebook", "Baidu"].contains(&channel.as_deref().unwrap())
        })
        .count() as u64;
    // Queries whose result has a row per bid (or per bid kept), and those with a changelog.
    let per_bid: [(&str, u64); 6] = [
        ("q0", bids),
        ("q1", bids),
        ("q2", every_123th),
        ("q10", bids),
        ("q21", with_channel_id),
        ("q22", bids),
    ];
    for (query, expected) in per_bid {
        let f = figures(query, &["--events", "10000"]);
        assert_eq!(f["query"], query);
        assert_eq!(f["events"], 10_000, "{query}: {f}");
        assert_eq!(f["result_rows"], expected, "{query}: {f}");
        for key in [
            "events_per_sec",
            "events_per_sec_per_core",
            "peak_rss_mb",
            "seconds",
        ] {
            assert!(f[key].as_f64().unwrap() > 0.0, "{query}: {key} in {f}");
        }
    }
    // Joins (q3, q20; q4 and q9 aggregate and rank theirs), session windows (q11) and
    // aggregations (q12's windows in processing time, the others changelogs): at least a row, and no more changes than a bid can make (q19's top 10 with its row numbers: an insert,
    // and an update pair for each of the ten ranks it moves down).
    for query in [
        "q3", "q4", "q9", "q11", "q12", "q15", "q16", "q17", "q18", "q19", "q20",
    ] {
        let f = figures(query, &["--events", "10000"]);
        assert_eq!(f["events"], 10_000, "{query}: {f}");
        let rows = f["result_rows"].as_u64().unwrap();
        assert!((1..=21 * bids).contains(&rows), "{query}: {f}");
    }
    // Parallel instances make the same events.
    let f = figures("q0", &["--events", "10000", "--parallelism", "2"]);
    assert_eq!(f["result_rows"], bids, "{f}");
}

#[test]
fn q0_passes_every_bid_through() {
    // q0 into CSV files rather than its blackhole: the rows are the generator's bids.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let ddl = job("ddl").replace("'events.num' = '100000000'", "'events.num' = '5000'");
    let text = job("q0").replace(
        "'connector' = 'blackhole'",
        &format!(
            "'connector' = 'filesystem', 'path' = '{}', 'format' = 'csv'",
            out.display()
        ),
    );
    let ddl_file = tmp.path().join("ddl.sql");
    let file = tmp.path().join("q0.sql");
    std::fs::write(&ddl_file, ddl).unwrap();
    std::fs::write(&file, text).unwrap();
    let run = Command::new(SPATE)
        .arg("--data-dir")
        .arg(tmp.path().join("data"))
        .args(["sql", "run", "--init"])
        .arg(&ddl_file)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let rows = committed_rows(&out);
    let generated = events(5_000);
    let columns = ["auction", "bidder", "price", "extra"].map(|f| bid_field(&generated, f));
    let mut expected: Vec<String> = (0..columns[0].len())
        .map(|i| {
            columns
                .iter()
                .map(|c| c[i].clone().unwrap())
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    expected.sort();
    // auction, bidder, price, dateTime, extra: all but the time, which depends on the run.
    let mut got: Vec<String> = rows
        .iter()
        .map(|row| {
            let fields: Vec<&str> = row.split(',').collect();
            assert_eq!(fields.len(), 5, "{row}");
            [fields[0], fields[1], fields[2], fields[4]].join(",")
        })
        .collect();
    got.sort();
    assert_eq!(got.len(), 4_600);
    assert_eq!(got, expected);
}

#[test]
fn unsupported_queries_are_refused_with_the_planners_message() {
    let refused = [
        ("q5", "a join whose input aggregates"),
        ("q6", "rownum"),
        ("q7", "a join whose input aggregates"),
        ("q8", "a join whose input aggregates"),
        ("q13", "needs option 'connector'"),
        ("q14", "count_char"),
    ];
    for (query, message) in refused {
        let out = bench(query, &["--events", "1000"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{query} ran: {err}");
        assert!(out.stdout.is_empty(), "{query}");
        assert!(!err.contains("panicked"), "{query}: {err}");
        let prefix = format!("Spate cannot run Nexmark {query}: jobs/nexmark/{query}.sql:");
        assert!(err.contains(&prefix), "{query}: {err}");
        assert!(err.contains(message), "{query}: {err}");
    }
    let out = bench("q23", &[]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the Nexmark queries are q0 to q22"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
