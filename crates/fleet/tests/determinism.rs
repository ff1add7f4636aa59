//! The same seed gives the same records, however many threads simulate them.

mod common;

use std::time::Duration;

use common::{APRIL, config};
use spate_fleet::{Fleet, FleetConfig, Sample};

fn encode(sample: &Sample, into: &mut Vec<u8>) {
    serde_json::to_writer(&mut *into, &sample.telemetry).unwrap();
    into.push(b'\n');
    if let Some(label) = &sample.label {
        serde_json::to_writer(&mut *into, label).unwrap();
        into.push(b'\n');
    }
}

/// The records of `ticks` ticks, simulated on `threads` threads.
fn records(config: FleetConfig, ticks: u64, threads: usize) -> Vec<u8> {
    let mut fleet = Fleet::new(config).unwrap();
    let mut outputs = vec![Vec::new(); threads];
    let mut all = Vec::new();
    for _ in 0..ticks {
        fleet.tick_parallel(usize::MAX, &mut outputs, |out, sample| encode(&sample, out));
        for out in &mut outputs {
            all.append(out);
        }
    }
    all
}

fn faulty(vehicles: u64, seed: u64) -> FleetConfig {
    let mut config = config(vehicles, APRIL, seed, None, Duration::from_secs(600));
    config.faults.share = 0.5;
    config.drift = 50.0;
    config
}

#[test]
fn a_seed_gives_the_same_records_on_any_number_of_threads() {
    // Enough vehicles for the ticks to run in parallel, and a start during the morning rush.
    let config = faulty(5000, 42);
    let mut config = config;
    config.start_ms += 7 * 3_600_000;
    let one = records(config.clone(), 20, 1);
    let three = records(config.clone(), 20, 3);
    assert_eq!(one.len(), three.len());
    assert!(one == three, "one thread and three threads disagree");
    assert_eq!(one, records(config.clone(), 20, 2));
    let lines = one.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count();
    assert!(lines >= 100_000, "{lines}");

    let mut other = config;
    other.seed = 43;
    assert_ne!(one, records(other, 20, 1), "another seed, the same records");
}

#[test]
fn tick_and_tick_parallel_agree_over_hours() {
    let config = faulty(30, 7);
    let mut sequential = Vec::new();
    let mut fleet = Fleet::new(config.clone()).unwrap();
    for _ in 0..6 * 3600 {
        fleet.tick(|sample| encode(&sample, &mut sequential));
    }
    assert_eq!(sequential, records(config, 6 * 3600, 2));
}
