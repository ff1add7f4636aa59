//! Application 1 end to end, through the real binary: `spate api serve` (without models) →
//! its access log → `spate collect` (GeoIP from a test database) → the embedded log →
//! `spate sql run` of the shipped `jobs/api/*.sql` → PostgreSQL (`SPATE_TEST_POSTGRES_URL`,
//! e.g. `postgres://postgres@127.0.0.1:5432/test`; SKIPPED without it), with traffic and
//! attacks from `spate loadgen api`. The attack alerts are checked against the loadgen's
//! labels, the metrics against the access log.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use spate_collector::enrich::city_db::{self, Layout};
use spate_collector::enrich::geoip::Location;
use spate_log::{Log, LogOptions};
use sqlx::{AnyConnection, AssertSqlSafe, Connection, Row};

mod api_server;

use api_server::{Running, ndjson};

const SPATE: &str = env!("CARGO_BIN_EXE_spate");
/// The shipped job files.
const JOBS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../jobs/api");
/// The analytics tables, as `jobs/api/postgres-schema.sql` creates them.
const TABLES: [&str; 5] = [
    "api_metrics_10s",
    "geo_metrics_1m",
    "key_usage_1m",
    "client_scores",
    "attack_alerts",
];

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Runs `statements` on the server.
fn execute(url: &str, statements: &[String]) -> Result<(), String> {
    block_on(async {
        sqlx::any::install_default_drivers();
        let mut c = AnyConnection::connect(url)
            .await
            .map_err(|e| e.to_string())?;
        for s in statements {
            sqlx::query(AssertSqlSafe(s.as_str()))
                .execute(&mut c)
                .await
                .map_err(|e| format!("{s}: {e}"))?;
        }
        Ok(())
    })
}

/// Drops the test's tables when dropped, whether the test passed or not.
struct Tables {
    url: String,
    drops: Vec<String>,
}

impl Drop for Tables {
    fn drop(&mut self) {
        if let Err(e) = execute(&self.url, &self.drops) {
            eprintln!("could not drop the test tables: {e}");
        }
    }
}

/// The rows of `sql`, every column selected as text.
fn rows(url: &str, sql: &str) -> Vec<Vec<Option<String>>> {
    block_on(async {
        sqlx::any::install_default_drivers();
        let mut c = AnyConnection::connect(url).await.unwrap();
        sqlx::query(AssertSqlSafe(sql))
            .fetch_all(&mut c)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| r.get::<Option<String>, _>(i))
                    .collect()
            })
            .collect()
    })
}

/// A GeoIP database: the lower half of IPv4 in Berlin, the upper half in Sydney.
fn test_mmdb(dir: &Path) -> PathBuf {
    let place = |country: &str, city: &str, lat: f64, lon: f64| Location {
        country: Some(country.into()),
        region: None,
        city: Some(city.into()),
        latitude: Some(lat),
        longitude: Some(lon),
        accuracy_radius_km: None,
    };
    let bytes = city_db::write(
        Layout::Flat,
        &[
            (
                "0.0.0.0/1".parse().unwrap(),
                place("DE", "Berlin", 52.52, 13.405),
            ),
            (
                "128.0.0.0/1".parse().unwrap(),
                place("AU", "Sydney", -33.8688, 151.209),
            ),
        ],
    )
    .unwrap();
    let path = dir.join("city.mmdb");
    std::fs::write(&path, bytes).unwrap();
    path
}

/// The shipped job file `name`, its tables renamed with `prefix` and its PostgreSQL URL
/// pointed at `url`; the source bounded at the log's end as the job starts.
fn job_file(name: &str, prefix: &str, url: &str) -> String {
    let mut text = std::fs::read_to_string(Path::new(JOBS).join(name)).unwrap();
    for table in TABLES {
        text = text.replace(&format!(" {table} "), &format!(" {prefix}{table} "));
        text = text.replace(&format!("'{table}'"), &format!("'{prefix}{table}'"));
        text = text.replace(&format!(" {table}\n"), &format!(" {prefix}{table}\n"));
    }
    let jdbc = format!(
        "jdbc:postgresql://{}",
        url.split_once("://").expect("a URL").1
    );
    text.replace("jdbc:postgresql://127.0.0.1:5432/test", &jdbc)
        .replace(
            "'scan.startup.mode' = 'earliest-offset'",
            "'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset'",
        )
}

/// How many records the log topic holds, over its partitions (0 before it exists).
fn records_in(data: &Path, topic: &str) -> u64 {
    let Ok(log) = Log::open(data.join("log"), LogOptions { read_only: true }) else {
        return 0;
    };
    let Ok(topic) = log.topic(topic) else {
        return 0;
    };
    (0..topic.partitions())
        .map(|p| topic.end_offset(p).unwrap() - topic.start_offset(p).unwrap())
        .sum()
}

#[test]
fn api_traffic_becomes_metrics_and_attack_alerts() {
    let Some(url) = std::env::var("SPATE_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        eprintln!(
            "SKIPPED: api_traffic_becomes_metrics_and_attack_alerts: set SPATE_TEST_POSTGRES_URL"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("spate-data");
    std::fs::create_dir_all(data.join("api")).unwrap();
    let keys = data.join("api/keys.csv");
    std::fs::write(
        &keys,
        "key,customer,plan\n\
         key-alpha-1,Alpha Fleet,pro\n\
         key-beta-2,Beta Cars,standard\n\
         key-gamma-3,Gamma Rental,standard\n\
         key-delta-4,Delta Taxi,free\n",
    )
    .unwrap();
    let log = dir.path().join("access.log");

    let (api, target) = api_server::serve(&keys, &log);

    let config = dir.path().join("collect.toml");
    std::fs::write(
        &config,
        format!(
            "name = \"api\"\ncommit_interval = \"200ms\"\nscan_interval = \"200ms\"\n\
             [[source]]\ninclude = [\"{}*\"]\nformat = \"json\"\n\
             [geoip]\ndatabases = [\"{}\"]\n\
             [sink]\ntype = \"log\"\ntopic = \"api-access\"\npartitions = 2\n",
            log.display(),
            test_mmdb(dir.path()).display()
        ),
    )
    .unwrap();
    let collector = Running(
        Command::new(SPATE)
            .arg("--data-dir")
            .arg(&data)
            .args(["collect", "--config"])
            .arg(&config)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    let labels = dir.path().join("labels.ndjson");
    let out = Command::new(SPATE)
        .args(["loadgen", "api", "--target", &target, "--rate", "20"])
        .args(["--duration", "100s", "--day-length", "100s", "--seed", "3"])
        .arg("--keys")
        .arg(&keys)
        .arg("--labels")
        .arg(&labels)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(api);
    let requests = ndjson(&log);
    let deadline = Instant::now() + Duration::from_secs(60);
    while records_in(&data, "api-access") < requests.len() as u64 {
        assert!(
            Instant::now() < deadline,
            "the collector did not ship every line"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(collector);

    let prefix = format!("e2e{}_", std::process::id());
    let schema = job_file("postgres-schema.sql", &prefix, &url);
    let drops: Vec<String> = TABLES
        .iter()
        .map(|t| format!("DROP TABLE IF EXISTS {prefix}{t}"))
        .collect();
    execute(&url, &drops).unwrap();
    let _tables = Tables {
        url: url.clone(),
        drops,
    };
    execute(
        &url,
        &schema
            .split(';')
            .filter(|s| s.contains("CREATE"))
            .map(String::from)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let mut job = Vec::new();
    for name in ["source.sql", "sinks-postgres.sql", "analytics.sql"] {
        let path = dir.path().join(name);
        std::fs::write(&path, job_file(name, &prefix, &url)).unwrap();
        job.push(path);
    }
    let out = Command::new(SPATE)
        .current_dir(dir.path())
        .arg("--data-dir")
        .arg(&data)
        .args(["sql", "run", "--init"])
        .arg(&job[0])
        .arg("--init")
        .arg(&job[1])
        .arg(&job[2])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Every request is counted once per 10 s window, however often it was shipped.
    let counted = rows(
        &url,
        &format!("SELECT CAST(SUM(requests) AS TEXT) FROM {prefix}api_metrics_10s"),
    );
    assert_eq!(
        counted[0][0].as_deref(),
        Some(requests.len().to_string().as_str())
    );
    let blur = rows(
        &url,
        &format!(
            "SELECT CAST(COUNT(*) AS TEXT) FROM {prefix}api_metrics_10s \
             WHERE endpoint = '/v1/privacy/blur' AND latency_p99_ms >= latency_p50_ms"
        ),
    );
    assert!(blur[0][0].as_deref().unwrap().parse::<u32>().unwrap() >= 9);

    // The map: both places, with their coordinates.
    let places = rows(
        &url,
        &format!(
            "SELECT country, city, CAST(ROUND(MAX(lat)) AS TEXT), CAST(SUM(requests) AS TEXT) \
             FROM {prefix}geo_metrics_1m GROUP BY country, city ORDER BY country"
        ),
    );
    assert_eq!(places.len(), 2, "{places:?}");
    assert_eq!(
        places[0][..3],
        [Some("AU".into()), Some("Sydney".into()), Some("-34".into())]
    );
    assert_eq!(
        places[1][..3],
        [Some("DE".into()), Some("Berlin".into()), Some("53".into())]
    );

    // Keys are named by id and joined with their customer.
    let customers: BTreeSet<String> = rows(
        &url,
        &format!("SELECT DISTINCT customer FROM {prefix}key_usage_1m WHERE customer IS NOT NULL"),
    )
    .into_iter()
    .filter_map(|r| r[0].clone())
    .collect();
    assert!(customers.len() >= 3, "{customers:?}");

    // Attack alerts against the labels: the target is precision and recall of
    // "attacking client" of at least 0.95, and every attack named by its own reason.
    let mut truth: BTreeMap<String, String> = BTreeMap::new();
    for l in ndjson(&labels) {
        truth.insert(
            l["client_ip"].as_str().unwrap().into(),
            l["attack"].as_str().unwrap().into(),
        );
    }
    let mut alerted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in rows(
        &url,
        &format!("SELECT client_ip, reason FROM {prefix}attack_alerts"),
    ) {
        alerted
            .entry(r[0].clone().unwrap())
            .or_default()
            .insert(r[1].clone().unwrap());
    }
    let hits = alerted.keys().filter(|ip| truth.contains_key(*ip)).count() as f64;
    let false_alarms: Vec<_> = alerted
        .keys()
        .filter(|ip| !truth.contains_key(*ip))
        .collect();
    let (precision, recall) = (hits / alerted.len() as f64, hits / truth.len() as f64);
    eprintln!(
        "attacking clients: precision {precision:.3}, recall {recall:.3} ({hits} of {} alerted \
         addresses among {} labelled)",
        alerted.len(),
        truth.len()
    );
    assert!(
        precision >= 0.95,
        "precision {precision}: false alarms {false_alarms:?}"
    );
    assert!(
        recall >= 0.95,
        "recall {recall} of {} attackers",
        truth.len()
    );
    for attack in ["credential_stuffing", "scanning", "scraping", "dos"] {
        let reason = if attack == "dos" { "flood" } else { attack };
        let (clients, named) = truth.iter().filter(|(_, a)| a.as_str() == attack).fold(
            (0, 0),
            |(n, named), (ip, _)| {
                let right = alerted.get(ip).is_some_and(|r| r.contains(reason));
                (n + 1, named + usize::from(right))
            },
        );
        assert!(clients > 0, "the loadgen ran no {attack}");
        assert!(
            named * 100 >= clients * 95,
            "{attack}: {named} of {clients} clients alerted as {reason}"
        );
    }

    // The same job into the embedded store (jobs/api/sinks-store.sql, the default on one
    // machine) holds what PostgreSQL holds.
    let store_sinks = dir.path().join("sinks-store.sql");
    std::fs::write(&store_sinks, job_file("sinks-store.sql", &prefix, &url)).unwrap();
    let out = Command::new(SPATE)
        .current_dir(dir.path())
        .arg("--data-dir")
        .arg(&data)
        .args(["sql", "run", "--init"])
        .arg(&job[0])
        .arg("--init")
        .arg(&store_sinks)
        .arg(&job[2])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let query = |sql: &str| -> Vec<serde_json::Value> {
        let out = Command::new(SPATE)
            .arg("--data-dir")
            .arg(&data)
            .args(["query", "--format", "json", sql])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let stored = query(&format!(
        "SELECT SUM(requests) AS n FROM {prefix}api_metrics_10s"
    ));
    assert_eq!(stored[0]["n"], requests.len(), "{stored:?}");
    let mut stored_alerts: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in query(&format!(
        "SELECT client_ip, reason FROM {prefix}attack_alerts"
    )) {
        stored_alerts
            .entry(r["client_ip"].as_str().unwrap().into())
            .or_default()
            .insert(r["reason"].as_str().unwrap().into());
    }
    assert_eq!(stored_alerts, alerted, "attack alerts: store vs PostgreSQL");
    let scored = |rows: Vec<Vec<Option<String>>>| -> BTreeSet<(String, String)> {
        rows.into_iter()
            .map(|r| (r[0].clone().unwrap(), r[1].clone().unwrap_or_default()))
            .collect()
    };
    let postgres_scores = scored(rows(
        &url,
        &format!("SELECT client_ip, reason FROM {prefix}client_scores"),
    ));
    let store_scores: BTreeSet<(String, String)> = query(&format!(
        "SELECT client_ip, reason FROM {prefix}client_scores"
    ))
    .iter()
    .map(|r| {
        (
            r["client_ip"].as_str().unwrap().to_string(),
            r["reason"].as_str().unwrap_or_default().to_string(),
        )
    })
    .collect();
    assert_eq!(
        store_scores, postgres_scores,
        "client scores: store vs PostgreSQL"
    );
}
