//! The records the simulator emits: telemetry (the features) and labels (the ground truth),
//! which go to separate streams.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::dtc::Dtcs;
use crate::fault::FaultKind;
use crate::vin::Vin;

/// One telemetry reading of a vehicle: Mode 01 OBD-II PIDs as a dongle would read them (each
/// quantized to its PID's resolution), plus the stored trouble codes. Nothing in it says
/// whether, or how, the vehicle is faulty: that is in [`Label`]s only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Telemetry {
    /// Vehicle identification number.
    pub vin: Vin,
    /// Time of the reading, epoch milliseconds.
    pub ts: i64,
    /// Vehicle model.
    pub model: Cow<'static, str>,
    /// Engine displacement, litres.
    pub engine_l: f32,
    /// Home region.
    pub region: Cow<'static, str>,
    /// Engine speed, rpm (PID 0x0C, ¼ rpm); 0 with the engine off.
    pub engine_rpm: f32,
    /// Vehicle speed, km/h (PID 0x0D).
    pub vehicle_speed_kmh: u16,
    /// Calculated engine load, % (PID 0x04).
    pub engine_load_pct: f32,
    /// Engine coolant temperature, °C (PID 0x05).
    pub coolant_temp_c: i16,
    /// Intake air temperature, °C (PID 0x0F).
    pub intake_air_temp_c: i16,
    /// Mass air flow, g/s (PID 0x10).
    pub maf_g_s: f32,
    /// Absolute throttle position, % (PID 0x11).
    pub throttle_pct: f32,
    /// Short-term fuel trim, bank 1, % (PID 0x06); positive adds fuel.
    pub short_term_fuel_trim_pct: f32,
    /// Long-term fuel trim, bank 1, % (PID 0x07).
    pub long_term_fuel_trim_pct: f32,
    /// Upstream oxygen sensor voltage, bank 1 sensor 1, V (PID 0x14).
    pub o2_sensor_v: f32,
    /// Ignition timing advance before top dead centre, degrees (PID 0x0E).
    pub timing_advance_deg: f32,
    /// Control module (system) voltage, V (PID 0x42).
    pub control_module_voltage_v: f32,
    /// Engine oil temperature, °C (PID 0x5C).
    pub oil_temp_c: i16,
    /// Ambient air temperature, °C (PID 0x46).
    pub ambient_air_temp_c: i16,
    /// Odometer, km (PID 0xA6).
    pub odometer_km: f64,
    /// Stored diagnostic trouble codes (Mode 03).
    pub dtcs: Dtcs,
}

/// Ground truth: from `ts` on, the vehicle has `fault` at `severity` (0 to 1). Emitted at the
/// fault's onset, each time its severity passes another tenth, and each time a thermostat
/// fault starts or stops showing (`masked`); a vehicle without labels is healthy. The latest
/// label at or before a reading's `ts` describes that reading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Label {
    /// Vehicle identification number.
    pub vin: Vin,
    /// From when the label holds, epoch milliseconds.
    pub ts: i64,
    /// The fault.
    pub fault: FaultKind,
    /// How far it has developed, 0 (onset) to 1 (fully developed).
    pub severity: f32,
    /// The conditions hide the fault: the engine reads what it would with a healthy part. A
    /// thermostat stuck open changes nothing while a healthy one would open as far anyway (in
    /// summer heat, or with the engine cold and off), one stuck closed nothing while the
    /// engine needs no more cooling than it still lets through. Absent (false) in the file
    /// for every other kind.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub masked: bool,
}

/// Rounds `x` to a multiple of `step`.
pub fn quantize(x: f64, step: f64) -> f64 {
    (x / step).round() * step
}

/// Rounds `x` to `decimals` decimal places, for values whose PID resolution is not decimal.
pub fn decimals(x: f64, decimals: i32) -> f32 {
    let scale = 10f64.powi(decimals);
    ((x * scale).round() / scale) as f32
}

/// A temperature as the one-byte PIDs encode it: whole degrees from −40 to 215 °C.
pub fn temperature(x: f64) -> i16 {
    x.round().clamp(-40.0, 215.0) as i16
}

/// A percentage encoded as `A × 100 / 255`, shown with one decimal.
pub fn percent(x: f64) -> f32 {
    decimals(quantize(x.clamp(0.0, 100.0), 100.0 / 255.0), 1)
}

/// A fuel trim encoded as `(A − 128) × 100 / 128`, shown with one decimal.
pub fn trim(x: f64) -> f32 {
    decimals(quantize(x.clamp(-100.0, 99.2), 100.0 / 128.0), 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtc::Dtc;
    use crate::vin::VinParts;

    #[test]
    fn encodings_match_the_pids() {
        assert_eq!(temperature(89.6), 90);
        assert_eq!(temperature(-55.0), -40);
        assert_eq!(percent(33.0), 32.9);
        assert_eq!(percent(140.0), 100.0);
        assert_eq!(trim(2.0), 2.3);
        assert_eq!(trim(-30.0), -29.7);
        assert_eq!(quantize(0.4532, 0.005) as f32, 0.455);
    }

    #[test]
    fn telemetry_round_trips_through_json() {
        let mut dtcs = Dtcs::default();
        dtcs.insert(Dtc::P0171);
        let record = Telemetry {
            vin: Vin::new(&VinParts {
                model_code: b'K',
                engine_index: 0,
                cylinders: 4,
                turbo: false,
                model_year: 2020,
                serial: 7,
            }),
            ts: 1_700_000_000_123,
            model: "Kestrel".into(),
            engine_l: 2.0,
            region: "eu-central".into(),
            engine_rpm: 752.25,
            vehicle_speed_kmh: 0,
            engine_load_pct: 23.1,
            coolant_temp_c: 90,
            intake_air_temp_c: 31,
            maf_g_s: 3.41,
            throttle_pct: 14.9,
            short_term_fuel_trim_pct: 0.8,
            long_term_fuel_trim_pct: 24.2,
            o2_sensor_v: 0.455,
            timing_advance_deg: 11.5,
            control_module_voltage_v: 14.213,
            oil_temp_c: 93,
            ambient_air_temp_c: 18,
            odometer_km: 48_211.4,
            dtcs,
        };
        let json = serde_json::to_string(&record).unwrap();
        assert!(json.starts_with(r#"{"vin":"1SFKA4N1"#), "{json}");
        assert!(json.contains(r#""engine_rpm":752.25,"#), "{json}");
        assert!(json.contains(r#""o2_sensor_v":0.455,"#), "{json}");
        assert!(json.ends_with(r#""dtcs":["P0171"]}"#), "{json}");
        assert_eq!(serde_json::from_str::<Telemetry>(&json).unwrap(), record);
    }
}
