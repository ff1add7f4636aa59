//! `spate collect` through the real binary: `collect parse` on each format, and a collector
//! SIGKILLed at random points while its files rotate (by rename and by copytruncate), which
//! must lose no line and, after deduplication by idempotency key, duplicate none.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use spate_collector::enrich::city_db::{self, Layout};
use spate_collector::enrich::geoip::Location;
use spate_log::{Log, LogOptions};

const SPATE: &str = env!("CARGO_BIN_EXE_spate");

/// A GeoIP database covering 10.0.0.0/8 (Berlin) and 203.0.113.0/24 (Sydney).
fn test_mmdb(dir: &Path) -> PathBuf {
    let berlin = Location {
        country: Some("DE".into()),
        region: Some("Land Berlin".into()),
        city: Some("Berlin".into()),
        latitude: Some(52.52),
        longitude: Some(13.405),
        accuracy_radius_km: None,
    };
    let sydney = Location {
        country: Some("AU".into()),
        region: Some("New South Wales".into()),
        city: Some("Sydney".into()),
        latitude: Some(-33.8688),
        longitude: Some(151.209),
        accuracy_radius_km: None,
    };
    let bytes = city_db::write(
        Layout::Flat,
        &[
            ("10.0.0.0/8".parse().unwrap(), berlin),
            ("203.0.113.0/24".parse().unwrap(), sydney),
        ],
    )
    .unwrap();
    let path = dir.join("test-city.mmdb");
    fs::write(&path, bytes).unwrap();
    path
}

fn parse(format: &str, geoip: Option<&Path>, files: &[&Path]) -> (Vec<serde_json::Value>, String) {
    let mut command = Command::new(SPATE);
    command.args(["collect", "parse", "--format", format]);
    if let Some(db) = geoip {
        command.arg("--geoip").arg(db);
    }
    let out = command.args(files).output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{stderr}");
    let events = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (events, stderr)
}

#[test]
fn collect_parse_reads_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let db = test_mmdb(dir.path());
    let nginx = dir.path().join("access.log");
    fs::write(
        &nginx,
        concat!(
            "203.0.113.9 - - [01/May/2024:12:00:00 +0000] \"POST /v1/privacy/blur HTTP/1.1\" 200 48213 \"-\" \"python-requests/2.31.0\"\n",
            "10.1.2.3 - - [01/May/2024:12:00:01 +0000] \"GET /.env HTTP/1.1\" 404 153 \"-\" \"Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)\"\n",
            "garbage that is not a log line\n",
            "192.0.2.1 - - [01/May/2024:12:00:02 +0000] \"GET / HTTP/1.1\" 200 612 \"-\" \"-\"\n",
        ),
    )
    .unwrap();
    let (events, stderr) = parse("nginx-combined", Some(&db), &[&nginx]);
    assert_eq!(events.len(), 3);
    assert_eq!(events[0]["geo_city"], "Sydney");
    assert_eq!(events[0]["ua_class"], "script");
    assert_eq!(events[0]["ts"], "2024-05-01T12:00:00.000Z");
    assert_eq!(events[1]["geo_country"], "DE");
    assert_eq!(events[1]["ua_class"], "bot");
    assert_eq!(events[2]["ua_class"], "none");
    assert!(events[2].get("geo_country").is_none());
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines,
        [
            format!("{}:3: expected [time]", nginx.display()).as_str(),
            "parsed: 3, dead-lettered: 1"
        ]
    );

    let json = dir.path().join("api.log");
    fs::write(
        &json,
        "{\"ts\":\"2024-05-01T12:00:00.000Z\",\"request_id\":\"r1\",\"client_ip\":\"10.9.9.9\",\"api_key\":\"acme\",\"method\":\"POST\",\"path\":\"/v1/privacy/blur\",\"status\":200,\"latency_ms\":12.5,\"bytes_in\":100,\"bytes_out\":90,\"user_agent\":\"okhttp/4.12.0\",\"detections\":3}\n{\"truncated\":\n",
    )
    .unwrap();
    let (events, stderr) = parse("json", Some(&db), &[&json]);
    assert_eq!(events[0]["api_key"], "acme");
    assert_eq!(events[0]["latency_ms"], 12.5);
    assert_eq!(events[0]["geo_city"], "Berlin");
    assert_eq!(events[0]["ua_class"], "app");
    assert!(stderr.contains("api.log:2: not a JSON object"), "{stderr}");

    let apache = dir.path().join("apache.log");
    fs::write(
        &apache,
        "127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] \"GET /apache_pb.gif HTTP/1.0\" 200 2326\n",
    )
    .unwrap();
    let (events, _) = parse("apache-common", None, &[&apache]);
    assert_eq!(events[0]["user"], "frank");
    assert_eq!(events[0]["bytes_out"], 2326);
    let (events, stderr) = parse("apache-combined", None, &[&apache]);
    assert!(events.is_empty());
    assert!(
        stderr.ends_with("parsed: 0, dead-lettered: 1\n"),
        "{stderr}"
    );
    let (events, _) = parse(
        r"regex:^(?P<client_ip>\S+) \S+ (?P<user>\S+) \[(?P<ts>[^\]]+)\]",
        None,
        &[&apache],
    );
    assert_eq!(events[0]["user"], "frank");
    assert_eq!(events[0]["ts"], "10/Oct/2000:13:55:36 -0700");

    // Both files at once; the event ids follow file and offset.
    let (events, _) = parse("nginx-combined", None, &[&nginx, &nginx]);
    assert_eq!(events.len(), 6);
    assert_eq!(events[0]["event_id"], events[3]["event_id"]);
    let bad = Command::new(SPATE)
        .args(["collect", "parse", "--format", "syslog"])
        .arg(&nginx)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown format"));
}

/// Writes JSON access-log lines with unique request ids, rotating the file now and then by
/// rename-and-create or by copytruncate (as logrotate would, all rotated files kept).
struct LogWriter {
    dir: PathBuf,
    next_id: usize,
    rotations: usize,
}

impl LogWriter {
    fn path(&self) -> PathBuf {
        self.dir.join("app.log")
    }

    fn write(&mut self, lines: usize, rng: &mut StdRng) {
        let mut text = String::new();
        for _ in 0..lines {
            let id = self.next_id;
            self.next_id += 1;
            let ip = if id.is_multiple_of(3) {
                format!("203.0.113.{}", id % 250)
            } else {
                format!("10.{}.{}.{}", id % 7, id % 11, id % 250)
            };
            text.push_str(&format!(
                "{{\"ts\":\"2024-05-01T12:{:02}:{:02}.{:03}Z\",\"request_id\":\"req-{id:08}\",\"client_ip\":\"{ip}\",\"api_key\":\"key-{}\",\"method\":\"POST\",\"path\":\"/v1/privacy/blur\",\"status\":200,\"latency_ms\":{}.5,\"bytes_in\":{},\"bytes_out\":{},\"user_agent\":\"python-requests/2.31.0\",\"detections\":{}}}\n",
                id / 60_000 % 60,
                id / 1000 % 60,
                id % 1000,
                id % 17,
                rng.random_range(5..900),
                rng.random_range(1000..500_000),
                rng.random_range(1000..500_000),
                id % 5
            ));
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path())
            .unwrap();
        file.write_all(text.as_bytes()).unwrap();
    }

    /// Shifts app.log.N to app.log.N+1 (keeping all), then rotates app.log into app.log.1.
    fn rotate(&mut self) {
        for n in (1..=self.rotations).rev() {
            fs::rename(
                self.dir.join(format!("app.log.{n}")),
                self.dir.join(format!("app.log.{}", n + 1)),
            )
            .unwrap();
        }
        let rotated = self.dir.join("app.log.1");
        if self.rotations.is_multiple_of(2) {
            fs::rename(self.path(), &rotated).unwrap();
            File::create(self.path()).unwrap();
        } else {
            fs::copy(self.path(), &rotated).unwrap();
            File::options()
                .write(true)
                .open(self.path())
                .unwrap()
                .set_len(0)
                .unwrap();
        }
        self.rotations += 1;
    }
}

fn start_collector(data: &Path, config: &Path) -> Child {
    Command::new(SPATE)
        .arg("--data-dir")
        .arg(data)
        .arg("collect")
        .arg("--config")
        .arg(config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Every record of `topic`: (key, value).
fn read_topic(data: &Path, topic: &str) -> Vec<(String, String)> {
    let log = Log::open(data.join("log"), LogOptions { read_only: true }).unwrap();
    let topic = log.topic(topic).unwrap();
    let mut out = Vec::new();
    for partition in 0..topic.partitions() {
        let mut offset = topic.start_offset(partition).unwrap();
        loop {
            let fetched = topic.fetch(partition, offset, 1 << 20).unwrap();
            if fetched.is_empty() {
                break;
            }
            for record in fetched.iter() {
                out.push((
                    String::from_utf8(record.key.unwrap().to_vec()).unwrap(),
                    String::from_utf8(record.value.to_vec()).unwrap(),
                ));
            }
            offset = fetched.next_offset();
        }
    }
    out
}

/// The event without `log_file`: a line read again after a crash keeps its idempotency key,
/// but if its file was renamed by a rotation meanwhile, it is reported under the new name.
fn without_file_name(value: &str) -> serde_json::Value {
    let mut event: serde_json::Value = serde_json::from_str(value).unwrap();
    event.as_object_mut().unwrap().remove("log_file");
    event
}

/// Request ids per idempotency key, checking that records with one key are the same event.
fn deduplicate(records: &[(String, String)]) -> BTreeMap<String, String> {
    let mut by_key: BTreeMap<String, String> = BTreeMap::new();
    for (key, value) in records {
        if let Some(previous) = by_key.get(key) {
            assert_eq!(
                without_file_name(previous),
                without_file_name(value),
                "records with key {key} differ"
            );
        }
        by_key.insert(key.clone(), value.clone());
    }
    by_key
        .into_iter()
        .map(|(key, value)| {
            let event: serde_json::Value = serde_json::from_str(&value).unwrap();
            assert_eq!(event["event_id"], key.as_str());
            assert!(event["geo_country"].is_string(), "not enriched: {value}");
            (key, event["request_id"].as_str().unwrap().to_string())
        })
        .collect()
}

#[test]
fn a_collector_killed_at_random_points_during_rotations_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let data = dir.path().join("data");
    fs::create_dir_all(&logs).unwrap();
    let db = test_mmdb(dir.path());
    let config = dir.path().join("collect.toml");
    fs::write(
        &config,
        format!(
            "commit_interval = \"50ms\"\nscan_interval = \"50ms\"\nrotate_wait = \"500ms\"\n\
             batch_bytes = 65536\n\
             [[source]]\ninclude = [\"{logs}/app.log*\"]\nformat = \"json\"\n\
             [geoip]\ndatabases = [\"{db}\"]\n\
             [sink]\ntype = \"log\"\ntopic = \"access\"\npartitions = 2\n",
            logs = logs.display(),
            db = db.display()
        ),
    )
    .unwrap();

    // The writer: 40,000 lines in bursts, rotating every 4,000 lines, alternating the kinds.
    const LINES: usize = 40_000;
    let writing_done = Arc::new(AtomicBool::new(false));
    let writer = {
        let logs = logs.clone();
        let done = Arc::clone(&writing_done);
        std::thread::spawn(move || {
            let mut rng = StdRng::seed_from_u64(7);
            let mut writer = LogWriter {
                dir: logs,
                next_id: 0,
                rotations: 0,
            };
            while writer.next_id < LINES {
                writer.write(200, &mut rng);
                if writer.next_id.is_multiple_of(4_000) {
                    writer.rotate();
                }
                std::thread::sleep(Duration::from_millis(rng.random_range(2..15)));
            }
            done.store(true, Ordering::Relaxed);
            writer.rotations
        })
    };

    // Kill the collector at random points while the writer runs, and twice after.
    let mut rng = StdRng::seed_from_u64(42);
    let mut kills = 0;
    let mut after_done = 0;
    while after_done < 2 {
        let mut child = start_collector(&data, &config);
        std::thread::sleep(Duration::from_millis(rng.random_range(50..600)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
        if writing_done.load(Ordering::Relaxed) {
            after_done += 1;
        }
    }
    let rotations = writer.join().unwrap();
    assert!(rotations >= 9, "{rotations} rotations");

    // A last run until every line is in the log, then a clean stop.
    let mut child = start_collector(&data, &config);
    let started = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let ids: BTreeSet<String> = deduplicate(&read_topic(&data, "access"))
            .into_values()
            .collect();
        if ids.len() >= LINES {
            break;
        }
        if started.elapsed() > Duration::from_secs(180) {
            child.kill().unwrap();
            panic!("only {} of {LINES} lines arrived", ids.len());
        }
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the collector failed on SIGTERM");
    let summary: serde_json::Value =
        serde_json::from_str(String::from_utf8(out.stdout).unwrap().trim()).unwrap();
    assert_eq!(summary["dead_letters"], 0);

    let records = read_topic(&data, "access");
    let by_key = deduplicate(&records);
    let ids: BTreeSet<&String> = by_key.values().collect();
    let expected: BTreeSet<String> = (0..LINES).map(|i| format!("req-{i:08}")).collect();
    assert_eq!(
        ids.len(),
        LINES,
        "after deduplication, one event per line (rotations {rotations}, kills {kills})"
    );
    assert!(ids.iter().all(|id| expected.contains(*id)));
    assert_eq!(by_key.len(), LINES, "one key per line");
    eprintln!(
        "{kills} kills, {rotations} rotations: {} records for {LINES} lines ({} duplicates removed)",
        records.len(),
        records.len() - LINES
    );
}

#[test]
fn bench_collect_runs_every_phase_on_its_own_city_database() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(SPATE)
        .arg("--data-dir")
        .arg(dir.path())
        .args([
            "bench",
            "collect",
            "--lines",
            "4000",
            "--distinct-ips",
            "600",
        ])
        .args(["--geoip-cache", "128"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let figures: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for phase in [
        "split",
        "parse_ua",
        "parse_geoip_ua",
        "collect_discard",
        "collect_log",
    ] {
        let rate = figures[phase]["mib_per_s_per_core"].as_f64().unwrap();
        assert!(rate > 0.0, "{phase}: {figures}");
    }
    assert!(figures["geoip"].as_str().unwrap().starts_with("synthetic"));
    // Every generated address, IPv4 and IPv6, lies in a network of the synthetic database.
    assert_eq!(figures["geoip_unknown_addresses"], 0, "{figures}");
    let hit_rate = figures["geoip_cache_hit_rate"].as_f64().unwrap();
    assert!(hit_rate > 0.0 && hit_rate < 1.0, "{figures}");
    let decoded = figures["geoip_records_decoded"].as_u64().unwrap();
    assert!(decoded > 0, "{figures}");
}
