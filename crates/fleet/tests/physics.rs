//! Physics invariants of healthy vehicles over days of driving, winter and summer.

mod common;

use std::time::Duration;

use common::{JANUARY, JULY, config, drive, maf_ratio, median};
use spate_fleet::Activity;

/// Checks every healthy invariant over `hours` from `start_ms`.
fn healthy_invariants(start_ms: i64, seed: u64) {
    let hour = Duration::from_secs(3600);
    let (mut warm_coolant, mut ratios) = (Vec::new(), Vec::new());
    let (mut running, mut idling, mut moving) = (0u64, 0u64, 0u64);
    let fleet = drive(config(40, start_ms, seed, None, hour), 36.0, |r| {
        let t = r.telemetry;
        let vin = t.vin;
        let trims = [t.short_term_fuel_trim_pct, t.long_term_fuel_trim_pct];
        assert!(
            trims.iter().all(|x| x.abs() <= 5.0),
            "{vin} trims {trims:?} outside ±5 %"
        );
        match r.vehicle.activity() {
            Activity::Parked => {
                assert_eq!(
                    (t.engine_rpm, t.vehicle_speed_kmh),
                    (0.0, 0),
                    "{vin} parked"
                );
                let v = t.control_module_voltage_v;
                assert!((12.0..=13.0).contains(&v), "{vin} resting battery at {v} V");
            }
            activity => {
                running += 1;
                assert!(
                    t.engine_rpm > 300.0,
                    "{vin} {activity:?} at {} rpm",
                    t.engine_rpm
                );
                let v = t.control_module_voltage_v;
                assert!((13.5..=14.7).contains(&v), "{vin} running at {v} V");
                if matches!(activity, Activity::Idle | Activity::WarmUp) {
                    idling += 1;
                    assert_eq!(t.vehicle_speed_kmh, 0, "{vin} moves while idling");
                    assert!(t.engine_rpm < 1500.0, "{vin} idles at {} rpm", t.engine_rpm);
                }
                if t.vehicle_speed_kmh > 0 {
                    moving += 1;
                    assert!(matches!(
                        activity,
                        Activity::Urban | Activity::Highway | Activity::ColdStart
                    ));
                }
                if t.engine_load_pct >= 20.0 {
                    ratios.push(maf_ratio(t));
                }
                if r.running_s >= 20 * 60 {
                    warm_coolant.push(f64::from(t.coolant_temp_c));
                }
            }
        }
        assert!(
            t.coolant_temp_c < 100,
            "{vin} coolant {} °C",
            t.coolant_temp_c
        );
    });
    assert!(
        running > 100_000 && idling > 10_000 && moving > 50_000,
        "too little driving: {running} running, {idling} idling, {moving} moving"
    );
    // MAF follows displacement × rpm × load.
    let within = ratios.iter().filter(|r| (0.9..=1.1).contains(*r)).count();
    assert!(
        within as f64 >= 0.995 * ratios.len() as f64,
        "{within} of {} MAF readings within 10 % of displacement × rpm × load",
        ratios.len()
    );
    assert!(ratios.iter().all(|r| (0.8..=1.25).contains(r)));
    // A warm engine's coolant settles around 90 °C.
    let in_band = warm_coolant
        .iter()
        .filter(|c| (87.0..=96.0).contains(*c))
        .count();
    assert!(
        in_band as f64 >= 0.97 * warm_coolant.len() as f64,
        "{in_band} of {} warm coolant readings in 87–96 °C",
        warm_coolant.len()
    );
    let settled = median(&mut warm_coolant);
    assert!(
        (88.0..=95.0).contains(&settled),
        "warm coolant median {settled} °C"
    );
    // Nothing is wrong, so no trouble codes.
    for vehicle in fleet.vehicles() {
        assert!(
            vehicle.dtcs().is_empty(),
            "{}: {:?}",
            vehicle.vin(),
            vehicle.dtcs()
        );
    }
}

#[test]
fn healthy_vehicles_in_winter() {
    healthy_invariants(JANUARY, 11);
}

#[test]
fn healthy_vehicles_in_summer() {
    healthy_invariants(JULY, 12);
}
