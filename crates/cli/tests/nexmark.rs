//! `spate bench nexmark`: the Nexmark queries of jobs/nexmark, as Flink publishes them, run on
//! the `nexmark` source with plausible results, and those Spate cannot run are refused with
//! the planner's message.

mod common;

use std::collections::BTreeMap;
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
    events_at(&job("ddl"), events)
}

/// The events the source of `ddl` makes, `events` of them, one instance.
fn events_at(ddl: &str, events: u64) -> RecordBatch {
    let script = spate_sql::parse_script(ddl).unwrap();
    let table = script.catalog.table("nexmark").unwrap();
    let mut options = table.options.clone();
    options.insert("events.num".into(), events.to_string());
    // The job files' source starts at the wall clock unless its options say otherwise.
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
    event_field(events, "bid", field)
}

/// A field of every event of one kind (`person`, `auction` or `bid`), as text.
fn event_field(events: &RecordBatch, kind: &str, field: &str) -> Vec<Option<String>> {
    let rows = events.column_by_name(kind).unwrap().as_struct();
    let column = rows.column_by_name(field).unwrap();
    let cast = arrow::compute::cast(column, &arrow::datatypes::DataType::Utf8).unwrap();
    let values = cast.as_string::<i32>();
    (0..rows.len())
        .filter(|&i| rows.is_valid(i))
        .map(|i| values.is_valid(i).then(|| values.value(i).to_string()))
        .collect()
}

/// An integer (or timestamp, in milliseconds) field of every event of one kind.
fn event_numbers(events: &RecordBatch, kind: &str, field: &str) -> Vec<i64> {
    let rows = events.column_by_name(kind).unwrap().as_struct();
    let column = rows.column_by_name(field).unwrap();
    let cast = arrow::compute::cast(column, &arrow::datatypes::DataType::Int64).unwrap();
    let values = cast.as_primitive::<arrow::datatypes::Int64Type>();
    (0..rows.len())
        .filter(|&i| rows.is_valid(i))
        .map(|i| values.value(i))
        .collect()
}

/// Runs Nexmark `query` with `ddl` as its source into CSV files; the rows written.
fn run_into_csv(query: &str, ddl: &str) -> Vec<String> {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let text = job(query).replace(
        "'connector' = 'blackhole'",
        &format!(
            "'connector' = 'filesystem', 'path' = '{}', 'format' = 'csv'",
            out.display()
        ),
    );
    let ddl_file = tmp.path().join("ddl.sql");
    let file = tmp.path().join(format!("{query}.sql"));
    std::fs::write(&ddl_file, ddl).unwrap();
    std::fs::write(&file, text).unwrap();
    let run = Command::new(SPATE)
        .arg("--data-dir")
        .arg(tmp.path().join("data"))
        .args(["sql", "run", "--parallelism", "2", "--init"])
        .arg(&ddl_file)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{query}: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    committed_rows(&out)
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
    let priced_for_q14 = bid_field(&generated, "price")
        .iter()
        .map(|p| p.as_deref().unwrap().parse::<f64>().unwrap() * 0.908)
        .filter(|p| *p > 1_000_000.0 && *p < 50_000_000.0)
        .count() as u64;
    // Queries whose result has a row per bid (or per bid kept), and those with a changelog.
    let per_bid: [(&str, u64); 8] = [
        ("q0", bids),
        ("q1", bids),
        ("q2", every_123th),
        ("q10", bids),
        ("q13", bids),
        ("q14", priced_for_q14),
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
    // Joins (q3, q20; q4 and q9 aggregate and rank theirs; q5, q7 and q8 join window
    // aggregations), session windows (q11) and
    // aggregations (q12's windows in processing time, the others changelogs): at least a row, and no more changes than a bid can make (q19's top 10 with its row numbers: an insert,
    // and an update pair for each of the ten ranks it moves down).
    for query in [
        "q3", "q4", "q5", "q7", "q8", "q9", "q11", "q12", "q15", "q16", "q17", "q18", "q19", "q20",
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

/// The window joins (q5, q7, q8) give the rows a brute-force reading of the same events gives,
/// over 20 s of event time (1,000 events/s), so that many windows open and close.
#[test]
fn window_joins_match_a_brute_force_reading() {
    const EVENTS: u64 = 20_000;
    let ddl = job("ddl")
        .replace(
            "'first-event.rate' = '10000000'",
            "'first-event.rate' = '1000'",
        )
        .replace(
            "'next-event.rate' = '10000000'",
            "'next-event.rate' = '1000'",
        )
        .replace(
            "'events.num' = '100000000'",
            &format!("'events.num' = '{EVENTS}', 'base-time-millis' = '1700000000000'"),
        );
    let generated = events_at(&ddl, EVENTS);
    let bid_auction = event_numbers(&generated, "bid", "auction");
    let bid_price = event_numbers(&generated, "bid", "price");
    let bid_bidder = event_numbers(&generated, "bid", "bidder");
    let bid_time = event_numbers(&generated, "bid", "dateTime");
    assert!(bid_time.iter().max().unwrap() - bid_time.iter().min().unwrap() > 15_000);
    let ints = |row: &str, n: usize| -> Vec<i64> {
        row.split(',').take(n).map(|f| f.parse().unwrap()).collect()
    };

    // q5: per 10 s window sliding by 2 s, the auctions with the most bids.
    let mut counts: BTreeMap<(i64, i64), i64> = BTreeMap::new(); // (window start, auction)
    for (&t, &auction) in bid_time.iter().zip(&bid_auction) {
        let last = t - t.rem_euclid(2_000);
        for start in (last - 8_000..=last).step_by(2_000) {
            *counts.entry((start, auction)).or_default() += 1;
        }
    }
    let mut most: BTreeMap<i64, i64> = BTreeMap::new();
    for (&(start, _), &n) in &counts {
        let m = most.entry(start).or_default();
        *m = (*m).max(n);
    }
    let mut expected: Vec<Vec<i64>> = counts
        .iter()
        .filter(|((start, _), n)| **n >= most[start])
        .map(|((_, auction), n)| vec![*auction, *n])
        .collect();
    expected.sort();
    let mut got: Vec<Vec<i64>> = run_into_csv("q5", &ddl)
        .iter()
        .map(|r| ints(r, 2))
        .collect();
    got.sort();
    assert!(expected.len() > 10, "{}", expected.len());
    assert_eq!(got, expected, "q5");

    // q7: the bids at their 10 s window's highest price, within 10 s before the window's end.
    let mut highest: BTreeMap<i64, i64> = BTreeMap::new(); // window end -> price
    for (&t, &price) in bid_time.iter().zip(&bid_price) {
        let end = t - t.rem_euclid(10_000) + 10_000;
        let h = highest.entry(end).or_insert(price);
        *h = (*h).max(price);
    }
    let mut expected: Vec<Vec<i64>> = Vec::new();
    for i in 0..bid_time.len() {
        for (&end, &price) in &highest {
            if bid_price[i] == price && (end - 10_000..=end).contains(&bid_time[i]) {
                expected.push(vec![bid_auction[i], bid_price[i], bid_bidder[i]]);
            }
        }
    }
    expected.sort();
    let mut got: Vec<Vec<i64>> = run_into_csv("q7", &ddl)
        .iter()
        .map(|r| ints(r, 3))
        .collect();
    got.sort();
    assert!(expected.len() >= 2, "{}", expected.len());
    assert_eq!(got, expected, "q7");

    // q8: the people who opened an auction in the 10 s window they registered in.
    let window = |t: i64| t - t.rem_euclid(10_000);
    let sellers: std::collections::BTreeSet<(i64, i64)> =
        event_numbers(&generated, "auction", "seller")
            .into_iter()
            .zip(event_numbers(&generated, "auction", "dateTime"))
            .map(|(seller, t)| (seller, window(t)))
            .collect();
    let people: std::collections::BTreeSet<(i64, String, i64)> =
        event_numbers(&generated, "person", "id")
            .into_iter()
            .zip(event_field(&generated, "person", "name"))
            .zip(event_numbers(&generated, "person", "dateTime"))
            .map(|((id, name), t)| (id, name.unwrap(), window(t)))
            .collect();
    let matched: Vec<(i64, String, i64)> = people
        .into_iter()
        .filter(|(id, _, start)| sellers.contains(&(*id, *start)))
        .collect();
    let rows = run_into_csv("q8", &ddl);
    assert_eq!(
        rows.len(),
        matched.len(),
        "q8: one row per person and window"
    );
    let expected: Vec<(i64, String)> = matched
        .into_iter()
        .map(|(id, name, _)| (id, name))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let got: Vec<(i64, String)> = rows
        .iter()
        .map(|r| {
            let fields: Vec<&str> = r.split(',').collect();
            // CSV quotes the names, which hold a space.
            (
                fields[0].parse().unwrap(),
                fields[1].trim_matches('"').to_string(),
            )
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert!(expected.len() > 10, "{}", expected.len());
    assert_eq!(got, expected, "q8");
}

#[test]
fn q0_passes_every_bid_through() {
    // q0 into CSV files rather than its blackhole: the rows are the generator's bids.
    let ddl = job("ddl").replace("'events.num' = '100000000'", "'events.num' = '5000'");
    let rows = run_into_csv("q0", &ddl);
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
fn explain_shows_what_the_source_makes_for_the_query() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(SPATE)
        .current_dir(&root)
        .arg("--data-dir")
        .arg(tmp.path())
        .args(["sql", "explain", "--init", "jobs/nexmark/ddl.sql"])
        .arg("jobs/nexmark/q0.sql")
        .output()
        .unwrap();
    let plan = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // q0 reads the bids' fields but channel and url, and every event's time (the table's
    // computed `dateTime`, which its watermark reads).
    assert!(
        plan.contains(
            "project=[event_type, person.dateTime, auction.dateTime, bid.auction, bid.bidder, \
             bid.price, bid.dateTime, bid.extra]"
        ),
        "{plan}"
    );
}

#[test]
fn unsupported_queries_are_refused_with_the_planners_message() {
    let refused = [("q6", "rownum")];
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
