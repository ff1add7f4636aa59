//! Predictive maintenance needs time to act: every fault, even at the fastest progression its
//! kind can draw, must set its trouble code hours after its symptom has become detectable
//! (its kind's `faulty_from` severity, from which windows are labelled faulty), not minutes.
//! Simulated time only: nothing here depends on how fast the machine runs.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{APRIL, JANUARY, JULY, drive};
use spate_fleet::{FaultKind, Vin};

/// Vehicles per fault.
const VEHICLES: u64 = 12;
/// Hours simulated past the fault's full development, for the vehicles parked when it got
/// there.
const AFTER_FULL_H: f64 = 12.0;
/// The least time from the fault becoming detectable to its code, for three vehicles in four.
const MIN_WARNING_H: f64 = 1.0;
/// The least median of that time over the vehicles.
const MIN_MEDIAN_WARNING_H: f64 = 4.0;

/// Runs vehicles that all develop `kind` from `start_ms` at its fastest progression; returns,
/// per vehicle that set a code, the hours from the fault reaching its kind's
/// [`FaultKind::faulty_from`] to the first code.
fn warning_hours(kind: FaultKind, start_ms: i64, seed: u64) -> Vec<f64> {
    let (fastest_h, _) = kind.progression_hours();
    let progression = Duration::from_secs_f64(fastest_h * 3600.0);
    let mut config = common::config(VEHICLES, start_ms, seed, Some(kind), progression);
    config.rate_hz = 0.1;
    let mut first_code: HashMap<Vin, i64> = HashMap::new();
    let fleet = drive(config, fastest_h + AFTER_FULL_H, |r| {
        if !r.telemetry.dtcs.is_empty() {
            first_code.entry(r.telemetry.vin).or_insert(r.telemetry.ts);
        }
    });
    let mut hours: Vec<f64> = fleet
        .vehicles()
        .iter()
        .filter_map(|v| {
            let code_ms = first_code.get(&v.vin())?;
            let fault = v.fault().expect("every vehicle has the fault");
            let detectable_ms = fault.reaches(f64::from(kind.faulty_from()));
            Some((code_ms - detectable_ms) as f64 / 3_600_000.0)
        })
        .collect();
    hours.sort_by(f64::total_cmp);
    hours
}

/// Asserts that most vehicles with `kind` set a code, three in four at least
/// [`MIN_WARNING_H`] and in the median [`MIN_MEDIAN_WARNING_H`] after the fault became
/// detectable.
fn assert_codes_come_hours_later(kind: FaultKind, start_ms: i64, seed: u64) {
    let hours = warning_hours(kind, start_ms, seed);
    eprintln!("{kind}: hours from detectable to code {hours:.1?}");
    assert!(
        hours.len() as u64 >= VEHICLES * 2 / 3,
        "{kind}: only {} of {VEHICLES} vehicles set a code: {hours:.1?}",
        hours.len()
    );
    let quartile = hours[hours.len() / 4];
    assert!(
        quartile >= MIN_WARNING_H,
        "{kind}: a quarter of the codes {quartile:.2} h or less after the fault became \
         detectable: {hours:.1?}"
    );
    let median = hours[hours.len() / 2];
    assert!(
        median >= MIN_MEDIAN_WARNING_H,
        "{kind}: median {median:.2} h from detectable to code: {hours:.1?}"
    );
}

#[test]
fn thermostat_stuck_open_warns_hours_ahead_even_in_winter() {
    assert_codes_come_hours_later(FaultKind::ThermostatStuckOpen, JANUARY, 31);
}

#[test]
fn thermostat_stuck_closed_warns_hours_ahead_even_in_summer() {
    assert_codes_come_hours_later(FaultKind::ThermostatStuckClosed, JULY, 32);
}

#[test]
fn vacuum_leak_warns_hours_ahead() {
    assert_codes_come_hours_later(FaultKind::VacuumLeak, APRIL, 33);
}

#[test]
fn dirty_maf_warns_hours_ahead() {
    assert_codes_come_hours_later(FaultKind::DirtyMaf, APRIL, 34);
}

#[test]
fn lazy_o2_sensor_warns_hours_ahead() {
    assert_codes_come_hours_later(FaultKind::LazyO2Sensor, APRIL, 35);
}

#[test]
fn misfire_warns_hours_ahead() {
    assert_codes_come_hours_later(FaultKind::Misfire, APRIL, 36);
}

#[test]
fn failing_alternator_warns_hours_ahead() {
    assert_codes_come_hours_later(FaultKind::FailingAlternator, APRIL, 37);
}
