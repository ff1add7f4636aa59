//! jobs/fleet/pipeline.sql over the simulator's telemetry in the embedded log: every reading
//! archived to Parquet under `dt=…/hour=…/` with `_SUCCESS` files, and one feature row per
//! vehicle and 5 minutes.

use std::path::Path;
use std::process::Command;

const SPATE: &str = env!("CARGO_BIN_EXE_spate");

fn spate(data: &Path, args: &[&str]) -> String {
    let out = Command::new(SPATE)
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Parquet rows under `dir`, and the partition directories with a `_SUCCESS` file.
fn archive(dir: &Path, rows: &mut usize, committed: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() && !name.starts_with('.') {
            archive(&path, rows, committed);
        } else if name == "_SUCCESS" {
            committed.push(dir.file_name().unwrap().to_string_lossy().into_owned());
        } else if name.ends_with(".parquet") {
            let file = std::fs::File::open(&path).unwrap();
            let reader =
                parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                    .unwrap()
                    .build()
                    .unwrap();
            for batch in reader {
                let batch = batch.unwrap();
                // The partition columns are in the path, not in the file.
                assert!(batch.schema().index_of("dt").is_err());
                assert_eq!(batch.num_columns(), 21);
                *rows += batch.num_rows();
            }
        }
    }
}

#[test]
fn the_fleet_pipeline_archives_every_reading_and_builds_features() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    spate(
        &data,
        &[
            "simulate",
            "fleet",
            "--vehicles",
            "20",
            "--sink",
            "log://telemetry",
            "--speedup",
            "max",
            "--duration",
            "30m",
            "--start",
            "2025-01-15T08:00:00Z",
            "--faulty",
            "0.5",
        ],
    );
    let job = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../jobs/fleet/pipeline.sql"),
    )
    .unwrap()
    .replace(
        "'scan.startup.mode' = 'earliest-offset'",
        "'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset'",
    )
    .replace(
        "spate-data/archive",
        &tmp.path().join("archive").display().to_string(),
    );
    let file = tmp.path().join("pipeline.sql");
    std::fs::write(&file, job).unwrap();
    spate(&data, &["sql", "run", file.to_str().unwrap()]);

    let (mut rows, mut committed) = (0, Vec::new());
    archive(&tmp.path().join("archive"), &mut rows, &mut committed);
    assert_eq!(rows, 20 * 1800);
    committed.sort();
    assert_eq!(committed, ["hour=08"]);

    let features = spate(
        &data,
        &["log", "consume", "vehicle-features", "--offset", "0"],
    );
    let features: Vec<serde_json::Value> = features
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // 20 vehicles over 30 minutes: six 5-minute windows each, or seven where a vehicle's
    // readings, offset within their second, run into 08:30; every reading counted once.
    let mut windows: Vec<(String, String)> = features
        .iter()
        .map(|f| (f["vin"].to_string(), f["window_start"].to_string()))
        .collect();
    windows.sort();
    windows.dedup();
    assert_eq!(
        windows.len(),
        features.len(),
        "one row per vehicle and window"
    );
    assert!((120..=140).contains(&features.len()), "{}", features.len());
    let readings: u64 = features
        .iter()
        .map(|f| f["readings"].as_u64().unwrap())
        .sum();
    assert_eq!(readings, 36_000);
    // Engines that run: coolant between freezing and boiling, voltage while charging.
    let running: Vec<&serde_json::Value> = features
        .iter()
        .filter(|f| f["running"].as_u64().unwrap() > 30)
        .collect();
    assert!(!running.is_empty());
    for f in running {
        let coolant = f["coolant_mean"].as_f64().unwrap();
        assert!((-30.0..130.0).contains(&coolant), "{f}");
        assert!(f["coolant_slope"].as_f64().is_some(), "{f}");
        let volts = f["voltage_mean"].as_f64().unwrap();
        assert!((11.0..15.5).contains(&volts), "{f}");
    }
}
