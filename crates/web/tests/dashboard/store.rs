//! A store with the tables of `jobs/api/sinks-store.sql` and `jobs/fleet/sinks-store.sql`
//! (same names, columns and types) holding a few minutes of made-up traffic and a fleet.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde_json::{Value, json};
use spate_store::{Store, TableConfig};

/// What the pages are expected to show.
pub const BUSY_ENDPOINT: &str = "/v1/privacy/blur";
pub const QUIET_ENDPOINT: &str = "/v1/keys/usage";
pub const TOP_CLIENT: &str = "203.0.113.77";
pub const TOP_REASON: &str = "credential_stuffing";
pub const ALERTED_CLIENT: &str = "198.51.100.23";
pub const BAD_VIN: &str = "1FTEW1E50KFA00007";
pub const BAD_SIGNALS: &str = "coolant_slope, coolant_mean, dtc_count";
pub const MODEL_VERSION: &str = "v3";

/// A column of a Flink SQL type: TIMESTAMP(3), TIMESTAMP_LTZ(3), STRING, BIGINT, INT, DOUBLE,
/// FLOAT or BOOLEAN.
fn column(name: &str, sql: &str) -> Field {
    let data_type = match sql {
        "TIMESTAMP(3)" => DataType::Timestamp(TimeUnit::Millisecond, None),
        "TIMESTAMP_LTZ(3)" => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        "STRING" => DataType::Utf8,
        "BIGINT" => DataType::Int64,
        "INT" => DataType::Int32,
        "DOUBLE" => DataType::Float64,
        "FLOAT" => DataType::Float32,
        "BOOLEAN" => DataType::Boolean,
        other => panic!("no type {other}"),
    };
    Field::new(name, data_type, true)
}

/// A schema from `name TYPE, …` as the sink files declare it.
fn schema(columns: &str) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .split(',')
            .map(|c| {
                let (name, sql) = c.trim().split_once(' ').unwrap();
                column(name, sql.trim())
            })
            .collect::<Vec<_>>(),
    ))
}

/// JSON rows as a batch of `schema`.
fn batch(schema: &SchemaRef, rows: &[Value]) -> RecordBatch {
    let mut decoder = arrow_json::ReaderBuilder::new(schema.clone())
        .build_decoder()
        .unwrap();
    decoder.serialize(rows).unwrap();
    decoder.flush().unwrap().unwrap()
}

/// Creates the upsert table and commits `rows` to it.
fn table(store: &Store, name: &str, columns: &str, key: &[&str], rows: &[Value]) {
    store
        .create_table(TableConfig::upsert(name, schema(columns), key))
        .unwrap();
    commit(store, name, rows, 1);
}

/// Commits `rows` to the table `name` as a job's checkpoint number `checkpoint` does.
pub fn commit(store: &Store, name: &str, rows: &[Value], checkpoint: u64) {
    let table = store.table(name).unwrap();
    let rows = batch(&table.config().schema, rows);
    table.write("test", rows).unwrap();
    table.prepare("test", checkpoint).unwrap();
    assert!(table.commit("test", checkpoint).unwrap() > 0);
}

/// A time `seconds` before `now_ms`, as the JSON of a TIMESTAMP(3).
fn at(now_ms: i64, seconds: i64) -> String {
    let t = chrono::DateTime::from_timestamp_millis(now_ms - seconds * 1000).unwrap();
    t.format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// The API analytics tables: 15 minutes of 10 s windows up to `now_ms` for three endpoints,
/// callers in five cities, 25 scored clients and three alerts.
pub fn api_tables(store: &Store, now_ms: i64) {
    let now_ms = now_ms - now_ms % 10_000;
    let endpoints = [
        (BUSY_ENDPOINT, 40.0),
        ("/v1/privacy/detect", 15.0),
        (QUIET_ENDPOINT, 2.0),
    ];
    let mut metrics = Vec::new();
    for w in 0..90_i64 {
        for (i, (endpoint, qps)) in endpoints.iter().enumerate() {
            let wave = ((w as f64) / 9.0).sin();
            let qps = qps * (1.0 + 0.3 * wave);
            let p50 = 20.0 + 10.0 * i as f64 + 3.0 * wave;
            metrics.push(json!({
                "window_start": at(now_ms, 900 - w * 10), "window_end": at(now_ms, 890 - w * 10),
                "endpoint": endpoint, "requests": (qps * 10.0) as i64, "qps": qps,
                "latency_p50_ms": p50, "latency_p95_ms": p50 * 3.0, "latency_p99_ms": p50 * 6.0,
                "client_error_rate": 0.02 * (i + 1) as f64, "server_error_rate": 0.005 * i as f64,
                "bytes_in": 1000, "bytes_out": 50_000,
            }));
        }
    }
    table(
        store,
        "api_metrics_10s",
        "window_start TIMESTAMP(3), window_end TIMESTAMP(3), endpoint STRING, \
         requests BIGINT, qps DOUBLE, latency_p50_ms DOUBLE, latency_p95_ms DOUBLE, \
         latency_p99_ms DOUBLE, client_error_rate DOUBLE, server_error_rate DOUBLE, \
         bytes_in BIGINT, bytes_out BIGINT",
        &["window_start", "endpoint"],
        &metrics,
    );

    let cities = [
        ("DE", "Berlin", 52.52, 13.40, 900),
        ("US", "New York", 40.71, -74.01, 1500),
        ("BR", "São Paulo", -23.55, -46.63, 400),
        ("JP", "Tokyo", 35.68, 139.69, 700),
        ("AU", "Sydney", -33.87, 151.21, 200),
    ];
    let geo: Vec<Value> = (0..15_i64)
        .flat_map(|m| {
            cities.iter().map(move |(country, city, lat, lon, requests)| {
                json!({
                    "window_start": at(now_ms, 900 - m * 60), "window_end": at(now_ms, 840 - m * 60),
                    "country": country, "city": city, "lat": lat, "lon": lon,
                    "requests": requests, "clients": requests / 20, "avg_latency_ms": 31.5,
                    "error_rate": 0.03,
                })
            })
        })
        .collect();
    table(
        store,
        "geo_metrics_1m",
        "window_start TIMESTAMP(3), window_end TIMESTAMP(3), country STRING, city STRING, \
         lat DOUBLE, lon DOUBLE, requests BIGINT, clients BIGINT, avg_latency_ms DOUBLE, \
         error_rate DOUBLE",
        &["window_start", "country", "city"],
        &geo,
    );

    let mut clients: Vec<Value> = (1..=24)
        .map(|i| {
            json!({
                "client_ip": format!("10.0.{}.{}", i / 10, i), "window_start": at(now_ms, 25),
                "window_end": at(now_ms, 5), "country": "DE", "ua_class": "browser",
                "requests": 10 + i, "unauthorized": 0, "not_found": 1, "throttled": 0,
                "keyed": 5, "distinct_404_paths": 1, "distinct_paths": 3,
                "attack_score": 0.01 * i as f64, "reason": null, "attacking": false,
            })
        })
        .collect();
    clients.push(json!({
        "client_ip": TOP_CLIENT, "window_start": at(now_ms, 25), "window_end": at(now_ms, 5),
        "country": "NL", "ua_class": "script", "requests": 60, "unauthorized": 45,
        "not_found": 0, "throttled": 3, "keyed": 0, "distinct_404_paths": 0,
        "distinct_paths": 1, "attack_score": 4.5, "reason": TOP_REASON, "attacking": true,
    }));
    table(
        store,
        "client_scores",
        "client_ip STRING, window_start TIMESTAMP(3), window_end TIMESTAMP(3), api_key STRING, \
         customer STRING, plan STRING, country STRING, ua_class STRING, requests BIGINT, \
         unauthorized BIGINT, not_found BIGINT, throttled BIGINT, keyed BIGINT, \
         distinct_404_paths BIGINT, distinct_paths BIGINT, attack_score DOUBLE, reason STRING, \
         attacking BOOLEAN",
        &["client_ip"],
        &clients,
    );

    let alerts = [
        alert(now_ms, TOP_CLIENT, TOP_REASON, 300),
        alert(now_ms, ALERTED_CLIENT, "scanning", 120),
        alert(now_ms, "192.0.2.9", "flood", 600),
    ];
    table(
        store,
        "attack_alerts",
        "client_ip STRING, reason STRING, started TIMESTAMP_LTZ(3), last_seen TIMESTAMP_LTZ(3), \
         peak_score DOUBLE, peak_requests BIGINT, api_key STRING, customer STRING, country STRING",
        &["client_ip", "reason"],
        &alerts,
    );
}

/// A row of `attack_alerts`: `ip` attacking by `reason` since `started` seconds before
/// `now_ms`.
pub fn alert(now_ms: i64, ip: &str, reason: &str, started: i64) -> Value {
    let ltz = |seconds| format!("{}Z", at(now_ms, seconds));
    json!({
        "client_ip": ip, "reason": reason, "started": ltz(started), "last_seen": ltz(5),
        "peak_score": 2.5, "peak_requests": 35, "api_key": null, "customer": null,
        "country": "NL",
    })
}

/// `vehicle_health`: 160 vehicles in four regions, every 23rd anomalous (BAD_VIN among them),
/// scored by MODEL_VERSION but for a few still on v2.
pub fn fleet_table(store: &Store, now_ms: i64) {
    let rows: Vec<Value> = (0..160_i64)
        .map(|i| vehicle(now_ms, i, i % 23 == 7))
        .collect();
    assert!(
        rows.iter()
            .any(|r| r["vin"] == BAD_VIN && r["anomalous"] == true)
    );
    table(
        store,
        "vehicle_health",
        "vin STRING, model STRING, region STRING, window_start TIMESTAMP(3), \
         window_end TIMESTAMP(3), readings BIGINT, running BIGINT, coolant_mean DOUBLE, \
         coolant_max INT, coolant_slope DOUBLE, trim_idle DOUBLE, trim_load DOUBLE, \
         maf_ratio DOUBLE, rpm_idle_stddev DOUBLE, o2_stddev DOUBLE, o2_mid_share DOUBLE, \
         stft_stddev DOUBLE, voltage_min FLOAT, voltage_mean DOUBLE, dtc_count INT, \
         ambient_mean DOUBLE, load_mean DOUBLE, score DOUBLE, anomalous BOOLEAN, \
         top_signals STRING, model_version STRING",
        &["vin"],
        &rows,
    );
}

/// The row of vehicle number `i` (VIN `1FTEW1E50KFA` and `i` in five digits), with its
/// latest window ending a minute before `now_ms`.
pub fn vehicle(now_ms: i64, i: i64, anomalous: bool) -> Value {
    let regions = ["eu-central", "eu-north", "us-midwest", "us-west"];
    let (model, region) = (["F-150", "Civic"][i as usize % 2], regions[i as usize % 4]);
    json!({
        "vin": format!("1FTEW1E50KFA{i:05}"), "model": model, "region": region,
        "window_start": at(now_ms, 360), "window_end": at(now_ms, 60),
        "readings": 300, "running": 280, "coolant_mean": if anomalous { 74.0 } else { 90.5 },
        "coolant_max": 96, "coolant_slope": if anomalous { 0.4 } else { 2.8 },
        "trim_idle": 1.5, "trim_load": 2.0, "maf_ratio": 1.01, "rpm_idle_stddev": 18.0,
        "o2_stddev": 0.3, "o2_mid_share": 0.2, "stft_stddev": 2.5, "voltage_min": 13.6,
        "voltage_mean": 14.1, "dtc_count": i32::from(anomalous), "ambient_mean": 12.0,
        "load_mean": 35.0, "score": if anomalous { 0.93 } else { 0.02 + (i % 10) as f64 / 100.0 },
        "anomalous": anomalous,
        "top_signals": if anomalous { BAD_SIGNALS } else { "load_mean, trim_idle, maf_ratio" },
        "model_version": if i < 150 { MODEL_VERSION } else { "v2" },
    })
}
