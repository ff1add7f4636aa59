//! Predictive maintenance needs time to act: every fault, even at the fastest progression its
//! kind can draw, must set its trouble code hours after its symptom has become detectable
//! (its kind's `faulty_from` severity, from which windows are labelled faulty), not minutes.
//! Simulated time only: nothing here depends on how fast the machine runs.

mod common;

use std::collections::HashMap;
use std::sync::OnceLock;
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

// ---------------------------------------------------------------------------------------------
// Where each fault's symptom leaves the healthy spread: the measurement `faulty_from` is set
// from.
// ---------------------------------------------------------------------------------------------

/// Vehicles per season in the calibration fleets.
const CALIBRATION_VEHICLES: u64 = 16;
/// Hours from onset to full severity in the calibration fleets, and hours simulated after it.
const CALIBRATION_PROGRESSION_H: f64 = 50.0;
/// The faults' onsets are spread over this many hours, so each tenth of severity falls at
/// every time of day.
const CALIBRATION_ONSETS_H: f64 = 24.0;
/// The share of healthy windows on each side of the healthy spread: the spread is their
/// central 95 %.
const SPREAD_TAIL: f64 = 0.025;
/// Minutes an engine must have run without stopping before its coolant counts as warmed up.
const WARMED_UP_MIN: f64 = 20.0;

/// What a mechanic reads off one vehicle's five minutes of telemetry, each `None` where the
/// window holds too few readings of the kind it needs.
#[derive(Debug, Default, Clone)]
struct WindowReadings {
    /// Coolant of the readings taken after [`WARMED_UP_MIN`] of running.
    warm_coolant: Vec<f64>,
    /// Coolant of every running reading.
    coolant: Vec<f64>,
    /// Fuel trim at warm idle (500–1100 rpm, standing, coolant 70 °C or more).
    idle_trim: Vec<f64>,
    /// MAF against the air expected, warm (over 70 °C) and loaded (over 40 %).
    maf_ratio: Vec<f64>,
    /// O2 voltage once warm in closed loop.
    o2: Vec<f64>,
    /// rpm at warm idle.
    idle_rpm: Vec<f64>,
    /// System voltage while running.
    voltage: Vec<f64>,
}

/// Symptom of `kind` in one window, oriented so that higher is further from healthy; `None`
/// when the window does not show the conditions the symptom needs.
fn symptom(kind: FaultKind, w: &WindowReadings) -> Option<f64> {
    let mean_of = |v: &[f64], least: usize| (v.len() >= least).then(|| common::mean(v));
    match kind {
        // Coolant below the warmed-up temperature.
        FaultKind::ThermostatStuckOpen => mean_of(&w.warm_coolant, 10).map(|c| -c),
        // Coolant above what the cooling system holds.
        FaultKind::ThermostatStuckClosed => {
            (w.coolant.len() >= 10).then(|| w.coolant.iter().copied().fold(f64::MIN, f64::max))
        }
        // Lean trims at idle.
        FaultKind::VacuumLeak => mean_of(&w.idle_trim, 5),
        // MAF reading low against the air the engine takes in.
        FaultKind::DirtyMaf => mean_of(&w.maf_ratio, 5).map(|r| -r),
        // The O2 sensor's swing, lower on a lazy sensor.
        FaultKind::LazyO2Sensor => (w.o2.len() >= 10).then(|| {
            let max = w.o2.iter().copied().fold(f64::MIN, f64::max);
            let min = w.o2.iter().copied().fold(f64::MAX, f64::min);
            min - max
        }),
        // The idle rpm's dips: its median less its minimum.
        FaultKind::Misfire => (w.idle_rpm.len() >= 10).then(|| {
            let mut rpm = w.idle_rpm.clone();
            let median = common::median(&mut rpm);
            median - rpm[0]
        }),
        // Charging voltage low.
        FaultKind::FailingAlternator => mean_of(&w.voltage, 10).map(|v| -v),
    }
}

/// Every window of five minutes of a fleet run, with the fault's severity at its start (0 for
/// a healthy fleet).
fn calibration_windows(
    kind: Option<FaultKind>,
    start_ms: i64,
    seed: u64,
) -> Vec<(f64, WindowReadings)> {
    let progression = Duration::from_secs_f64(CALIBRATION_PROGRESSION_H * 3600.0);
    let mut config = common::config(CALIBRATION_VEHICLES, start_ms, seed, kind, progression);
    config.rate_hz = 0.1;
    config.faults.onset_within = Duration::from_secs_f64(CALIBRATION_ONSETS_H * 3600.0);
    let mut windows: HashMap<(usize, i64), (f64, WindowReadings)> = HashMap::new();
    let mut running_since: HashMap<usize, i64> = HashMap::new();
    let hours = CALIBRATION_ONSETS_H + CALIBRATION_PROGRESSION_H;
    drive(config, hours, |r| {
        let t = r.telemetry;
        let severity = r.vehicle.fault().map_or(0.0, |f| f.severity(t.ts));
        let entry = windows
            .entry((r.index, t.ts.div_euclid(300_000)))
            .or_insert_with(|| (severity, WindowReadings::default()));
        if t.engine_rpm <= 0.0 {
            running_since.remove(&r.index);
            return;
        }
        let since = *running_since.entry(r.index).or_insert(t.ts);
        let w = &mut entry.1;
        let coolant = f64::from(t.coolant_temp_c);
        w.coolant.push(coolant);
        if (t.ts - since) as f64 >= WARMED_UP_MIN * 60_000.0 {
            w.warm_coolant.push(coolant);
        }
        let warm = coolant >= 70.0;
        let idle = (500.0..=1100.0).contains(&t.engine_rpm) && t.vehicle_speed_kmh == 0;
        if warm && idle {
            w.idle_trim.push(common::total_trim(t));
            w.idle_rpm.push(f64::from(t.engine_rpm));
        }
        if warm && t.engine_load_pct > 40.0 {
            w.maf_ratio.push(common::maf_ratio(t));
        }
        if warm && t.short_term_fuel_trim_pct != 0.0 {
            w.o2.push(f64::from(t.o2_sensor_v));
        }
        w.voltage.push(f64::from(t.control_module_voltage_v));
    });
    windows.into_values().collect()
}

/// The seasons the calibration pools: a fault's symptom is weighed over the year (a stuck-open
/// thermostat shows most in the cold, a stuck-closed one in the heat).
const SEASONS: [i64; 3] = [JANUARY, APRIL, JULY];

/// The windows of the healthy calibration fleets, one per season (shared by every kind).
fn healthy_windows() -> &'static [WindowReadings] {
    static HEALTHY: OnceLock<Vec<WindowReadings>> = OnceLock::new();
    HEALTHY.get_or_init(|| {
        SEASONS
            .into_iter()
            .enumerate()
            .flat_map(|(i, start_ms)| {
                calibration_windows(None, start_ms, CALIBRATION_SEED + i as u64)
            })
            .map(|(_, w)| w)
            .collect()
    })
}

/// The seed of the calibration fleets of the first season (the others follow it).
const CALIBRATION_SEED: u64 = 41;

/// For `kind`: the edge of the healthy spread of its symptom (the healthy windows' 97.5th
/// percentile, the symptom oriented so that higher is further from healthy), and per tenth of
/// severity (as the labels have it: a label's tenth holds until the next) the median symptom
/// of the fault's windows, NaN for a tenth without any.
fn symptom_by_tenth(kind: FaultKind) -> (f64, [f64; 10]) {
    let mut healthy: Vec<f64> = healthy_windows()
        .iter()
        .filter_map(|w| symptom(kind, w))
        .collect();
    let mut faulty: Vec<Vec<f64>> = vec![Vec::new(); 10];
    for (i, start_ms) in SEASONS.into_iter().enumerate() {
        let seed = CALIBRATION_SEED + i as u64;
        for (severity, w) in calibration_windows(Some(kind), start_ms, seed) {
            if severity > 0.0 {
                let tenth = ((severity * 10.0).floor() as usize).min(9);
                faulty[tenth].extend(symptom(kind, &w));
            }
        }
    }
    healthy.sort_by(f64::total_cmp);
    let edge = healthy[((1.0 - SPREAD_TAIL) * healthy.len() as f64) as usize];
    let mut medians = [f64::NAN; 10];
    for (median, values) in medians.iter_mut().zip(&mut faulty) {
        if !values.is_empty() {
            *median = common::median(values);
        }
    }
    (edge, medians)
}

/// The severity from which a fault's symptom has left the healthy spread: the lowest tenth
/// (from 0.1) from which, at every tenth, the median window of the fault reaches the edge of
/// the central 95 % of healthy windows or lies beyond it. (At or beyond: the coolant is read
/// in whole degrees, and the stuck-closed thermostat's 0.5 tenth peaks at a median 94 °C,
/// the healthy 97.5th percentile itself; strictly beyond, it would be 0.6, and in July the
/// code would come a median 1.7 h after that at the fastest progression.)
fn leaves_the_spread(edge: f64, medians: &[f64; 10]) -> f32 {
    let tenth = (1..10)
        .find(|&from| medians[from..].iter().all(|&m| m >= edge))
        .unwrap_or(10);
    tenth as f32 / 10.0
}

/// Each kind's [`FaultKind::faulty_from`] is where its symptom, as a mechanic reads it off
/// five minutes of telemetry, leaves the spread of healthy engines over the year: the lowest
/// tenth of severity whose median window (and every later tenth's) reaches the edge of the
/// central 95 % of healthy windows, fleets of every kind run in January, April and July. A
/// thermostat's symptom depends on the weather: a stuck-open one hides in the heat, where a
/// healthy thermostat opens as far anyway, a stuck-closed one in the cold; its `faulty_from`
/// is where the year's median window shows it.
#[test]
fn faulty_from_is_where_the_symptom_leaves_the_healthy_spread() {
    let mut wrong = Vec::new();
    for kind in FaultKind::ALL {
        let (edge, medians) = symptom_by_tenth(kind);
        let measured = leaves_the_spread(edge, &medians);
        eprintln!(
            "{kind}: healthy edge {edge:.3}, median by tenth {medians:.3?}: leaves the spread \
             at {measured}, faulty_from {}",
            kind.faulty_from()
        );
        if (measured - kind.faulty_from()).abs() > 1e-6 {
            wrong.push(format!(
                "{kind}: measured {measured}, faulty_from {}",
                kind.faulty_from()
            ));
        }
    }
    assert!(wrong.is_empty(), "{wrong:?}");
}
