//! Drift: seasons pass, vehicles age and a new model joins, as fast as `drift` says.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{JANUARY, config, drive, mean};
use spate_fleet::NEW_MODEL_AFTER_DRIFT_DAYS;

const DAY_H: f64 = 24.0;

#[test]
fn seasons_pass_with_drift_and_stand_still_without() {
    // Northern regions only; mean ambient of the first and the last simulated day.
    let days = 4.0;
    let warming = |drift: f64| {
        let mut cfg = config(60, JANUARY, 3, None, Duration::from_secs(3600));
        cfg.drift = drift;
        cfg.rate_hz = 1.0 / 60.0;
        let (mut first, mut last) = (Vec::new(), Vec::new());
        drive(cfg, days * DAY_H, |r| {
            if r.telemetry.region.starts_with("apac") {
                return;
            }
            let ambient = f64::from(r.telemetry.ambient_air_temp_c);
            if r.hour < DAY_H {
                first.push(ambient);
            } else if r.hour >= (days - 1.0) * DAY_H {
                last.push(ambient);
            }
        });
        mean(&last) - mean(&first)
    };
    // 45 days per simulated day: from mid-January to mid-June.
    let fast = warming(45.0);
    assert!(
        fast > 10.0,
        "four days at drift 45 warmed only {fast:.1} °C"
    );
    let frozen = warming(0.0);
    assert!(
        frozen.abs() < 5.0,
        "without drift the season moved {frozen:.1} °C"
    );
}

#[test]
fn the_new_model_joins_part_way() {
    let mut cfg = config(50, JANUARY, 4, None, Duration::from_secs(3600));
    cfg.drift = NEW_MODEL_AFTER_DRIFT_DAYS / 0.5; // arrives after half a simulated day
    cfg.rate_hz = 1.0 / 30.0;
    let (mut before, mut after) = (HashSet::new(), HashSet::new());
    let fleet = drive(cfg, 1.0 * DAY_H, |r| {
        let set = if r.hour < 12.0 {
            &mut before
        } else {
            &mut after
        };
        set.insert((r.telemetry.model.to_string(), r.telemetry.vin));
    });
    assert!(!before.iter().any(|(model, _)| model == "Lynx"));
    let newcomers = after.iter().filter(|(model, _)| model == "Lynx").count();
    assert_eq!(newcomers, 5, "one new vehicle per ten");
    assert_eq!(fleet.active(), 55);
    assert_eq!(before.len(), 50);
    assert!(fleet.newcomers_at_ms().is_some());

    let mut still = config(50, JANUARY, 4, None, Duration::from_secs(3600));
    still.drift = 0.0;
    assert_eq!(
        spate_fleet::Fleet::new(still).unwrap().newcomers_at_ms(),
        None
    );
}

#[test]
fn ageing_creeps_into_the_fuel_trims() {
    // Ten years per simulated day: the MAF's gain drops and the learned trims rise.
    let creep = |drift: f64| {
        let mut cfg = config(150, JANUARY, 5, None, Duration::from_secs(3600));
        cfg.drift = drift;
        cfg.rate_hz = 1.0 / 10.0;
        let (mut first, mut last) = (Vec::new(), Vec::new());
        drive(cfg, 2.0 * DAY_H, |r| {
            let ltft = f64::from(r.telemetry.long_term_fuel_trim_pct);
            if r.hour < 2.0 {
                first.push(ltft);
            } else if r.hour >= 2.0 * DAY_H - 2.0 {
                last.push(ltft);
            }
        });
        mean(&last) - mean(&first)
    };
    let aged = creep(3652.5);
    assert!(aged > 0.4, "twenty years moved the trims by {aged:.2} %");
    let young = creep(0.0);
    assert!(
        young.abs() < 0.2,
        "no ageing, yet the trims moved {young:.2} %"
    );
}
