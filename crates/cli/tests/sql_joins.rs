//! `spate sql` joins of two streams: a regular join with a further condition and a left
//! outer interval join, from files into files, with the rows derived by hand; `explain`
//! shows each join's kind, keys and bounds.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::committed_rows;

const SPATE: &str = env!("CARGO_BIN_EXE_spate");

const ORDERS: &str = r#"{"id":1,"customer":"ann","amount":30,"ts":1000}
{"id":2,"customer":"bob","amount":15,"ts":2000}
{"id":3,"customer":"cid","amount":99,"ts":3000}
{"id":4,"customer":"dan","amount":5,"ts":4000}
"#;

const SHIPMENTS: &str = r#"{"order_id":1,"carrier":"ups","ts":1500}
{"order_id":4,"carrier":"ups","ts":4200}
{"order_id":7,"carrier":"ups","ts":5000}
{"order_id":1,"carrier":"dhl","ts":9000}
{"order_id":3,"carrier":"fedex","ts":20000}
"#;

fn job_sql(dir: &Path) -> String {
    let orders = dir.join("orders.jsonl");
    let shipments = dir.join("shipments.jsonl");
    std::fs::write(&orders, ORDERS).unwrap();
    std::fs::write(&shipments, SHIPMENTS).unwrap();
    format!(
        "SET 'parallelism.default' = '2';
CREATE TABLE orders (
  id BIGINT, customer STRING, amount INT, ts BIGINT,
  rt AS TO_TIMESTAMP_LTZ(ts, 3),
  WATERMARK FOR rt AS rt - INTERVAL '1' SECOND
) WITH ('connector' = 'filesystem', 'path' = '{orders}', 'format' = 'json');
CREATE TABLE shipments (
  order_id BIGINT, carrier STRING, ts BIGINT,
  rt AS TO_TIMESTAMP_LTZ(ts, 3),
  WATERMARK FOR rt AS rt - INTERVAL '1' SECOND
) WITH ('connector' = 'filesystem', 'path' = '{shipments}', 'format' = 'json');
CREATE TABLE big_order_shipments (id BIGINT, customer STRING, carrier STRING)
  WITH ('connector' = 'filesystem', 'path' = '{regular}', 'format' = 'csv');
CREATE TABLE shipped_within_5s (id BIGINT, customer STRING, carrier STRING)
  WITH ('connector' = 'filesystem', 'path' = '{interval}', 'format' = 'csv');
EXECUTE STATEMENT SET BEGIN
INSERT INTO big_order_shipments
SELECT o.id, o.customer, s.carrier
FROM orders AS o JOIN shipments AS s ON o.id = s.order_id AND o.amount >= 10;
INSERT INTO shipped_within_5s
SELECT o.id, o.customer, s.carrier
FROM orders AS o LEFT JOIN shipments AS s
  ON o.id = s.order_id AND s.rt BETWEEN o.rt AND o.rt + INTERVAL '5' SECOND;
END;
",
        orders = orders.display(),
        shipments = shipments.display(),
        regular = dir.join("regular").display(),
        interval = dir.join("interval").display(),
    )
}

fn spate(dir: &Path, args: &[&str], job: &Path) -> Output {
    let out = Command::new(SPATE)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(args)
        .arg(job)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn regular_and_interval_joins_of_two_file_streams() {
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("job.sql");
    std::fs::write(&job, job_sql(dir.path())).unwrap();

    let explain = spate(dir.path(), &["sql", "explain"], &job);
    let plan = String::from_utf8_lossy(&explain.stdout);
    assert!(
        plan.contains(
            "Join[INNER, left.id@0 = right.order_id@0, filter CAST(amount@2 AS Int64) >= 10]"
        ),
        "{plan}"
    );
    assert!(
        plan.contains(
            "IntervalJoin[LEFT OUTER, left.id@0 = right.order_id@0, \
             left.rt - right.rt BETWEEN -5000 ms AND 0 ms, watermark delay 5000 ms]"
        ),
        "{plan}"
    );
    assert!(
        plan.contains("=> input 1 of join, HASH(order_id@0)"),
        "{plan}"
    );

    let checkpoints = dir.path().join("checkpoints");
    let checkpoints = checkpoints.to_str().unwrap();
    spate(
        dir.path(),
        &["sql", "run", "--checkpoint-dir", checkpoints],
        &job,
    );
    // Orders of at least 10 with their shipments: 4 is too small, 2 has none, 7 no order.
    assert_eq!(
        committed_rows(&dir.path().join("regular")),
        vec!["1,ann,dhl", "1,ann,ups", "3,cid,fedex"]
    );
    // Each order with the shipments of the 5 s after it, or alone: 1's dhl came after
    // 8 s, 3's fedex after 17 s.
    assert_eq!(
        committed_rows(&dir.path().join("interval")),
        vec!["1,ann,ups", "2,bob,", "3,cid,", "4,dan,ups"]
    );
}
