//! Helpers shared by the fleet tests: run a fleet for some simulated hours and look at every
//! reading with the vehicle it came from.

#![allow(dead_code)]

use std::time::Duration;

use spate_fleet::{
    AIR_G_S_PER_L_RPM, FaultKind, FaultPlan, Fleet, FleetConfig, Label, Telemetry, Vehicle,
};

/// 2025-01-15T00:00:00Z, mid-winter in the north.
pub const JANUARY: i64 = 1_736_899_200_000;
/// 2025-04-01T00:00:00Z.
pub const APRIL: i64 = 1_743_465_600_000;
/// 2025-07-15T00:00:00Z, mid-summer in the north.
pub const JULY: i64 = 1_752_537_600_000;

/// One reading with what the test needs around it.
pub struct Reading<'a> {
    /// The vehicle, as it is after the reading.
    pub vehicle: &'a Vehicle,
    /// The vehicle's position in the fleet.
    pub index: usize,
    pub telemetry: &'a Telemetry,
    pub label: Option<&'a Label>,
    /// Seconds the engine has been running (0 when off).
    pub running_s: u64,
    /// Hours since the start.
    pub hour: f64,
}

/// A fleet without drift, every vehicle developing `fault` (or none) from the start, fully
/// developed after `progression`.
pub fn config(
    vehicles: u64,
    start_ms: i64,
    seed: u64,
    fault: Option<FaultKind>,
    progression: Duration,
) -> FleetConfig {
    FleetConfig {
        vehicles,
        seed,
        rate_hz: 1.0,
        start_ms,
        drift: 0.0,
        faults: FaultPlan {
            share: if fault.is_some() { 1.0 } else { 0.0 },
            kinds: fault.into_iter().collect(),
            onset_within: Duration::ZERO,
            progression: Some(progression),
        },
    }
}

/// Runs `config` for `hours` of simulated time, handing every reading to `each`; returns the
/// fleet at the end.
pub fn drive(config: FleetConfig, hours: f64, mut each: impl FnMut(&Reading)) -> Fleet {
    let mut fleet = Fleet::new(config).unwrap();
    let ticks = (hours * 3600.0 * fleet.config().rate_hz) as u64;
    let mut running = vec![0u64; fleet.vehicles().len()];
    let mut samples = Vec::new();
    for tick in 0..ticks {
        samples.clear();
        fleet.tick(|s| samples.push(s));
        let hour = (tick + 1) as f64 / 3600.0 / fleet.config().rate_hz;
        for (index, sample) in samples.iter().enumerate() {
            let t = &sample.telemetry;
            running[index] = if t.engine_rpm > 0.0 {
                running[index] + 1
            } else {
                0
            };
            each(&Reading {
                vehicle: &fleet.vehicles()[index],
                index,
                telemetry: t,
                label: sample.label.as_ref(),
                running_s: running[index],
                hour,
            });
        }
    }
    fleet
}

/// The MAF reading over the airflow the engine should take in at its rpm and load.
pub fn maf_ratio(t: &Telemetry) -> f64 {
    let expected = AIR_G_S_PER_L_RPM
        * f64::from(t.engine_l)
        * f64::from(t.engine_rpm)
        * f64::from(t.engine_load_pct)
        / 100.0;
    f64::from(t.maf_g_s) / expected
}

/// Short- plus long-term fuel trim, %.
pub fn total_trim(t: &Telemetry) -> f64 {
    f64::from(t.short_term_fuel_trim_pct + t.long_term_fuel_trim_pct)
}

/// The median of `values` (sorted in place).
pub fn median(values: &mut [f64]) -> f64 {
    assert!(!values.is_empty(), "no values");
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The mean of `values`.
pub fn mean(values: &[f64]) -> f64 {
    assert!(!values.is_empty(), "no values");
    values.iter().sum::<f64>() / values.len() as f64
}

/// Lag-1 autocorrelation of consecutive pairs.
pub fn autocorrelation(pairs: &[(f64, f64)]) -> f64 {
    let n = pairs.len() as f64;
    let (mx, my) = (
        pairs.iter().map(|p| p.0).sum::<f64>() / n,
        pairs.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let cov = pairs.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum::<f64>();
    let vx = pairs.iter().map(|p| (p.0 - mx).powi(2)).sum::<f64>();
    let vy = pairs.iter().map(|p| (p.1 - my).powi(2)).sum::<f64>();
    cov / (vx * vy).sqrt()
}
