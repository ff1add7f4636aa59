//! Each fault shows the signature a mechanic would recognise and sets its trouble code; its
//! labels follow its progression and never leak into the telemetry.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{APRIL, Reading, autocorrelation, config, drive, maf_ratio, mean, median, total_trim};
use spate_fleet::{Dtc, FaultKind, Fleet, Vin};

/// Vehicles per fault.
const VEHICLES: u64 = 24;
/// Simulated hours per fault.
const HOURS: f64 = 30.0;
/// Faults develop fully within the first hour; signatures are read after this hour.
const DEVELOPED_H: f64 = 1.5;

/// A fleet run: the fleet at the end, and how long each vehicle's engine ran after its fault
/// developed.
struct Run {
    fleet: Fleet,
    running_s: HashMap<Vin, u64>,
}

/// Runs a fleet whose vehicles all develop `fault` within the first hour (or a healthy one).
fn run(fault: Option<FaultKind>, seed: u64, mut each: impl FnMut(&Reading)) -> Run {
    let one_hour = Duration::from_secs(3600);
    let mut running_s = HashMap::new();
    let fleet = drive(config(VEHICLES, APRIL, seed, fault, one_hour), HOURS, |r| {
        if r.hour >= DEVELOPED_H && r.running_s > 0 {
            *running_s.entry(r.telemetry.vin).or_insert(0) += 1;
        }
        each(r)
    });
    Run { fleet, running_s }
}

/// Asserts that every vehicle whose engine ran for half an hour after its fault developed
/// (most of them) stored `dtc` (for a misfire, its cylinder's code).
fn assert_every_vehicle_set(run: &Run, kind: FaultKind, dtc: impl Fn(u8) -> Dtc) {
    let driven: Vec<_> = run
        .fleet
        .vehicles()
        .iter()
        .filter(|v| run.running_s.get(&v.vin()).is_some_and(|&s| s >= 1800))
        .collect();
    assert!(
        driven.len() as u64 >= VEHICLES * 2 / 3,
        "only {} vehicles drove",
        driven.len()
    );
    for vehicle in driven {
        let fault = vehicle.fault().expect("every vehicle has the fault");
        assert_eq!(fault.kind, kind);
        let want = dtc(fault.cylinder);
        assert!(
            vehicle.dtcs().contains(want),
            "{} ({}, {:?}) with {kind} has {:?}, not {want}",
            vehicle.vin(),
            vehicle.model().name,
            vehicle.duty(),
            vehicle.dtcs()
        );
    }
}

/// Whether a reading is of a warm engine, after the fault developed.
fn warm(r: &Reading) -> bool {
    r.hour >= DEVELOPED_H && r.running_s >= 20 * 60
}

#[test]
fn thermostat_stuck_open_keeps_the_engine_cold() {
    let (mut max_mild, mut warm_readings) = (f64::MIN, 0);
    let result = run(Some(FaultKind::ThermostatStuckOpen), 1, |r| {
        if warm(r) && r.telemetry.ambient_air_temp_c < 30 {
            warm_readings += 1;
            max_mild = max_mild.max(f64::from(r.telemetry.coolant_temp_c));
        }
    });
    assert!(warm_readings > 10_000, "{warm_readings}");
    assert!(max_mild < 75.0, "coolant reached {max_mild} °C");
    assert_every_vehicle_set(&result, FaultKind::ThermostatStuckOpen, |_| Dtc::P0128);
}

#[test]
fn a_stuck_open_thermostat_is_labelled_masked_only_while_it_changes_nothing() {
    let mut masked: HashMap<Vin, bool> = HashMap::new();
    let mut parked_s: HashMap<Vin, u64> = HashMap::new();
    let (mut warm_shown, mut cold_parked, mut cold_parked_masked) = (0, 0, 0);
    run(Some(FaultKind::ThermostatStuckOpen), 3, |r| {
        let t = r.telemetry;
        if let Some(label) = r.label {
            if label.severity == 0.0 {
                assert!(label.masked, "at the onset nothing shows: {label:?}");
            }
            masked.insert(label.vin, label.masked);
        }
        let parked = parked_s.entry(t.vin).or_insert(0);
        *parked = if t.engine_rpm > 0.0 { 0 } else { *parked + 1 };
        if warm(r) && t.ambient_air_temp_c < 30 {
            // Fully developed, the coolant stays under 75 °C where a healthy engine is at 88.
            assert!(
                !masked[&t.vin],
                "{} warm at {} °C, masked",
                t.vin, t.coolant_temp_c
            );
            warm_shown += 1;
        }
        if r.hour >= DEVELOPED_H && *parked >= 8 * 3600 {
            // Parked overnight, both have cooled to the air: nothing to see.
            cold_parked += 1;
            cold_parked_masked += u64::from(masked[&t.vin]);
        }
    });
    assert!(warm_shown > 10_000, "{warm_shown}");
    assert!(cold_parked > 1_000, "{cold_parked}");
    assert_eq!(cold_parked_masked, cold_parked);
}

#[test]
fn thermostat_stuck_closed_overheats() {
    let mut hottest: HashMap<Vin, i16> = HashMap::new();
    let result = run(Some(FaultKind::ThermostatStuckClosed), 2, |r| {
        let t = r.telemetry;
        let max = hottest.entry(t.vin).or_insert(i16::MIN);
        *max = (*max).max(t.coolant_temp_c);
    });
    for (vin, max) in &hottest {
        assert!(*max >= 110, "{vin} only reached {max} °C");
    }
    assert_every_vehicle_set(&result, FaultKind::ThermostatStuckClosed, |_| Dtc::P0217);
}

#[test]
fn vacuum_leak_trims_high_at_idle_and_recover_near_2000_rpm() {
    let (mut idle, mut at_2000) = (Vec::new(), Vec::new());
    let result = run(Some(FaultKind::VacuumLeak), 3, |r| {
        let t = r.telemetry;
        if !warm(r) {
            return;
        }
        if t.vehicle_speed_kmh == 0 {
            idle.push(total_trim(t));
        } else if (1800.0..=2200.0).contains(&t.engine_rpm) && t.engine_load_pct >= 20.0 {
            at_2000.push(total_trim(t));
        }
    });
    let (idle, at_2000) = (mean(&idle), mean(&at_2000));
    assert!(idle > 10.0, "idle trims {idle:.1} %");
    assert!(
        at_2000 < 10.0 && at_2000 < idle / 2.0,
        "trims at 2,000 rpm {at_2000:.1} % vs idle {idle:.1} %"
    );
    assert_every_vehicle_set(&result, FaultKind::VacuumLeak, |_| Dtc::P0171);
}

#[test]
fn dirty_maf_reads_low_for_the_air_the_engine_takes() {
    let ratios_at_load = |fault, seed| {
        let mut ratios = Vec::new();
        let result = run(fault, seed, |r| {
            if warm(r) && r.telemetry.engine_load_pct >= 40.0 {
                ratios.push(maf_ratio(r.telemetry));
            }
        });
        (result, median(&mut ratios))
    };
    let (result, dirty) = ratios_at_load(Some(FaultKind::DirtyMaf), 4);
    let (_, healthy) = ratios_at_load(None, 4);
    assert!(
        (0.95..=1.05).contains(&healthy),
        "healthy MAF ratio {healthy:.3}"
    );
    assert!(dirty < 0.85, "dirty MAF ratio {dirty:.3}");
    assert_every_vehicle_set(&result, FaultKind::DirtyMaf, |_| Dtc::P0101);
}

#[test]
fn lazy_o2_sensor_switches_slowly() {
    let correlation = |fault, seed| {
        let mut last: HashMap<Vin, (f64, f64)> = HashMap::new();
        let mut pairs = Vec::new();
        let result = run(fault, seed, |r| {
            let t = r.telemetry;
            let v = f64::from(t.o2_sensor_v);
            if warm(r) && r.vehicle.closed_loop() {
                if let Some(&(prev, hour)) = last.get(&t.vin)
                    && r.hour - hour < 1.5 / 3600.0
                {
                    pairs.push((prev, v));
                }
                last.insert(t.vin, (v, r.hour));
            }
        });
        (result, autocorrelation(&pairs))
    };
    let (result, lazy) = correlation(Some(FaultKind::LazyO2Sensor), 5);
    let (_, healthy) = correlation(None, 5);
    assert!(
        healthy.abs() < 0.2,
        "a healthy sensor's readings correlate {healthy:.2}"
    );
    assert!(
        lazy > 0.5,
        "a lazy sensor's readings correlate only {lazy:.2}"
    );
    assert_every_vehicle_set(&result, FaultKind::LazyO2Sensor, |_| Dtc::P0133);
}

#[test]
fn misfire_makes_the_idle_rough() {
    let idle_roughness = |fault, seed| {
        let mut rpm: HashMap<Vin, Vec<f64>> = HashMap::new();
        let result = run(fault, seed, |r| {
            let t = r.telemetry;
            if warm(r) && t.vehicle_speed_kmh == 0 && r.vehicle.closed_loop() {
                rpm.entry(t.vin).or_default().push(f64::from(t.engine_rpm));
            }
        });
        let mut sds: Vec<f64> = rpm
            .values()
            .filter(|v| v.len() > 30)
            .map(|v| {
                let m = mean(v);
                (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
            })
            .collect();
        (result, median(&mut sds))
    };
    let (result, misfiring) = idle_roughness(Some(FaultKind::Misfire), 6);
    let (_, healthy) = idle_roughness(None, 6);
    assert!(
        misfiring > 3.0 * healthy,
        "idle rpm spread {misfiring:.1} with a misfire vs {healthy:.1} healthy"
    );
    assert_every_vehicle_set(&result, FaultKind::Misfire, Dtc::misfire);
}

#[test]
fn failing_alternator_leaves_the_voltage_under_13_volts() {
    let (mut low, mut running) = (0, 0);
    let result = run(Some(FaultKind::FailingAlternator), 7, |r| {
        if r.hour >= DEVELOPED_H && r.telemetry.engine_rpm > 0.0 {
            running += 1;
            if r.telemetry.control_module_voltage_v < 13.0 {
                low += 1;
            }
        }
    });
    assert!(
        running > 10_000 && low as f64 >= 0.99 * running as f64,
        "{low} of {running} under 13 V"
    );
    assert_every_vehicle_set(&result, FaultKind::FailingAlternator, |_| Dtc::P0562);
}

#[test]
fn labels_follow_the_progression_and_stay_out_of_the_telemetry() {
    let mut labels: HashMap<Vin, Vec<(i64, f32)>> = HashMap::new();
    let mut keys = None;
    let mut first_dtc: HashMap<Vin, i64> = HashMap::new();
    let result = run(Some(FaultKind::Misfire), 8, |r| {
        let t = r.telemetry;
        // Serializing every reading is slow in debug builds: look at those with a label and
        // a sample of the rest.
        if r.label.is_some() || t.ts % 97 == 0 {
            let json = serde_json::to_value(t).unwrap();
            let names: Vec<String> = json.as_object().unwrap().keys().cloned().collect();
            assert!(!names.iter().any(|k| {
                ["fault", "severity", "label"]
                    .iter()
                    .any(|banned| k.contains(banned))
            }));
            assert!(!json.to_string().contains("misfire"), "{json}");
            keys.get_or_insert(names);
        }
        if let Some(label) = r.label {
            assert_eq!(label.vin, t.vin);
            assert_eq!(label.fault, FaultKind::Misfire);
            labels
                .entry(label.vin)
                .or_default()
                .push((label.ts, label.severity));
        }
        if !t.dtcs.is_empty() {
            first_dtc.entry(t.vin).or_insert(t.ts);
        }
    });
    assert_eq!(labels.len(), VEHICLES as usize);
    for vehicle in result.fleet.vehicles() {
        let fault = vehicle.fault().unwrap();
        let series = &labels[&vehicle.vin()];
        assert_eq!(series[0].1, 0.0, "the first label marks the onset");
        assert!(
            (0..2000).contains(&(series[0].0 - fault.onset_ms)),
            "one period after the onset"
        );
        assert_eq!(
            series.last().unwrap().1,
            1.0,
            "the last label is full severity"
        );
        assert_eq!(series.len(), 11, "{series:?}");
        assert!(
            series
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1)
        );
        // The code comes after the onset, once the symptom has been seen.
        assert!(first_dtc[&vehicle.vin()] > series[0].0);
    }
    let mut keys = keys.unwrap();
    keys.sort();
    let mut expected = vec![
        "vin",
        "ts",
        "model",
        "engine_l",
        "region",
        "engine_rpm",
        "vehicle_speed_kmh",
        "engine_load_pct",
        "coolant_temp_c",
        "intake_air_temp_c",
        "maf_g_s",
        "throttle_pct",
        "short_term_fuel_trim_pct",
        "long_term_fuel_trim_pct",
        "o2_sensor_v",
        "timing_advance_deg",
        "control_module_voltage_v",
        "oil_temp_c",
        "ambient_air_temp_c",
        "odometer_km",
        "dtcs",
    ];
    expected.sort();
    assert_eq!(keys, expected);
}

#[test]
fn healthy_vehicles_have_no_labels_and_the_share_is_respected() {
    let mut plan = config(400, APRIL, 9, None, Duration::from_secs(3600));
    plan.faults.share = 0.25;
    plan.faults.onset_within = Duration::from_secs(2 * 86_400);
    let mut labelled = std::collections::HashSet::new();
    let fleet = drive(plan, 0.5, |r| {
        if let Some(label) = r.label {
            assert!(r.vehicle.fault().is_some());
            labelled.insert(label.vin);
        }
    });
    let faulty: Vec<_> = fleet
        .vehicles()
        .iter()
        .filter(|v| v.fault().is_some())
        .collect();
    assert!(
        (70..=130).contains(&faulty.len()),
        "{} faulty of 400",
        faulty.len()
    );
    // Every kind is drawn; onsets spread over the default two days, so few have started.
    for kind in FaultKind::ALL {
        assert!(
            faulty.iter().any(|v| v.fault().unwrap().kind == kind),
            "no {kind}"
        );
    }
    assert!(
        labelled.len() < faulty.len() / 2,
        "{} labelled",
        labelled.len()
    );
}
