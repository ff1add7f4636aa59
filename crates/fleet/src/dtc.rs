//! Diagnostic trouble codes and the on-board monitors that set them.
//!
//! The monitors see only what the engine computer sees — the signals, its own model of the
//! warm-up, misfire counts from the crankshaft — never the simulated fault itself, so a code
//! appears when (and because) the symptom is there, after the symptom has lasted a while.

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

/// A diagnostic trouble code the simulator can set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dtc {
    /// Mass air flow circuit range/performance.
    P0101,
    /// Coolant temperature below thermostat regulating temperature.
    P0128,
    /// O2 sensor circuit slow response (bank 1 sensor 1).
    P0133,
    /// System too lean (bank 1).
    P0171,
    /// Engine coolant over-temperature condition.
    P0217,
    /// Cylinder 1 misfire detected.
    P0301,
    /// Cylinder 2 misfire detected.
    P0302,
    /// Cylinder 3 misfire detected.
    P0303,
    /// Cylinder 4 misfire detected.
    P0304,
    /// Cylinder 5 misfire detected.
    P0305,
    /// Cylinder 6 misfire detected.
    P0306,
    /// Cylinder 7 misfire detected.
    P0307,
    /// Cylinder 8 misfire detected.
    P0308,
    /// System voltage low.
    P0562,
}

const ALL: [Dtc; 14] = [
    Dtc::P0101,
    Dtc::P0128,
    Dtc::P0133,
    Dtc::P0171,
    Dtc::P0217,
    Dtc::P0301,
    Dtc::P0302,
    Dtc::P0303,
    Dtc::P0304,
    Dtc::P0305,
    Dtc::P0306,
    Dtc::P0307,
    Dtc::P0308,
    Dtc::P0562,
];

impl Dtc {
    /// The code as text, e.g. `P0171`.
    pub fn code(self) -> &'static str {
        match self {
            Dtc::P0101 => "P0101",
            Dtc::P0128 => "P0128",
            Dtc::P0133 => "P0133",
            Dtc::P0171 => "P0171",
            Dtc::P0217 => "P0217",
            Dtc::P0301 => "P0301",
            Dtc::P0302 => "P0302",
            Dtc::P0303 => "P0303",
            Dtc::P0304 => "P0304",
            Dtc::P0305 => "P0305",
            Dtc::P0306 => "P0306",
            Dtc::P0307 => "P0307",
            Dtc::P0308 => "P0308",
            Dtc::P0562 => "P0562",
        }
    }

    /// The misfire code of `cylinder` (1 to 8).
    pub fn misfire(cylinder: u8) -> Dtc {
        ALL[5 + usize::from(cylinder.clamp(1, 8) - 1)]
    }

    fn bit(self) -> u16 {
        1 << ALL
            .iter()
            .position(|&d| d == self)
            .expect("every code is in ALL")
    }
}

impl fmt::Display for Dtc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The codes stored in a vehicle's engine computer; serialized as an array of code strings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Dtcs(u16);

impl Dtcs {
    /// Stores a code.
    pub fn insert(&mut self, dtc: Dtc) {
        self.0 |= dtc.bit();
    }

    /// Whether a code is stored.
    pub fn contains(&self, dtc: Dtc) -> bool {
        self.0 & dtc.bit() != 0
    }

    /// Whether no code is stored.
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    /// The stored codes, in code order.
    pub fn iter(&self) -> impl Iterator<Item = Dtc> + '_ {
        ALL.into_iter().filter(|d| self.contains(*d))
    }
}

impl Serialize for Dtcs {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.count_ones() as usize))?;
        for dtc in self.iter() {
            seq.serialize_element(dtc.code())?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for Dtcs {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Dtcs, D::Error> {
        struct DtcsVisitor;
        impl<'de> Visitor<'de> for DtcsVisitor {
            type Value = Dtcs;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of trouble codes")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Dtcs, A::Error> {
                let mut dtcs = Dtcs::default();
                while let Some(code) = seq.next_element::<String>()? {
                    let dtc = ALL
                        .into_iter()
                        .find(|d| d.code() == code)
                        .ok_or_else(|| de::Error::custom(format!("unknown DTC {code:?}")))?;
                    dtcs.insert(dtc);
                }
                Ok(dtcs)
            }
        }
        deserializer.deserialize_seq(DtcsVisitor)
    }
}

/// Seconds a lean condition must last before P0171.
const LEAN_SECONDS: f64 = 60.0;
/// Combined fuel trim above which the mixture counts as lean, %.
const LEAN_TRIM_PCT: f64 = 22.0;
/// Seconds the coolant must lag the expected warm-up before P0128.
const COLD_SECONDS: f64 = 300.0;
/// Seconds of over-temperature before P0217.
const HOT_SECONDS: f64 = 10.0;
/// Coolant temperature counted as over-temperature, °C.
const HOT_C: f64 = 112.0;
/// Seconds of implausible MAF before P0101.
const MAF_SECONDS: f64 = 60.0;
/// Seconds of slow O2 switching before P0133.
const O2_SECONDS: f64 = 120.0;
/// Seconds of low system voltage before P0562.
const VOLTAGE_SECONDS: f64 = 60.0;
/// System voltage counted as low while running, V.
const LOW_VOLTAGE: f64 = 12.5;
/// Crankshaft revolutions per misfire counting window.
const MISFIRE_WINDOW_REVS: f64 = 1000.0;
/// Share of firings that misfire within a window before P030x.
const MISFIRE_RATE: f64 = 0.02;

/// What the engine computer knows at one step with the engine running.
#[derive(Debug, Clone, Copy)]
pub struct Observation {
    /// Length of the step, s.
    pub dt: f64,
    /// Coolant temperature, °C.
    pub coolant_c: f64,
    /// Where the computer's warm-up model says the coolant should be, °C.
    pub expected_coolant_c: f64,
    /// Fuel control is in closed loop.
    pub closed_loop: bool,
    /// Short- plus long-term fuel trim, %.
    pub total_trim_pct: f64,
    /// MAF reading over the airflow expected from rpm and manifold pressure, when the engine is
    /// warm at part load (`None` otherwise).
    pub maf_ratio: Option<f64>,
    /// O2 switching frequency over the frequency expected at this airflow.
    pub o2_ratio: f64,
    /// System voltage, V.
    pub voltage: f64,
    /// Crankshaft revolutions during the step.
    pub revolutions: f64,
    /// Firings per revolution (cylinders / 2).
    pub firings_per_rev: f64,
    /// Misfires counted during the step.
    pub misfires: f64,
    /// The cylinder the misfires were counted on (1-based; 0 when none).
    pub misfire_cylinder: u8,
}

/// The state of the on-board monitors of one vehicle.
#[derive(Debug, Clone, Default)]
pub struct Monitors {
    cold_s: f64,
    hot_s: f64,
    lean_s: f64,
    maf_s: f64,
    o2_s: f64,
    voltage_s: f64,
    window_revs: f64,
    window_misfires: f64,
}

impl Monitors {
    /// Runs every monitor over one step and stores the codes whose condition has lasted long
    /// enough. A condition's timer rises while it holds and falls at a tenth of that speed
    /// while it does not, so symptoms that come and go (a lean idle between stretches of
    /// driving) still add up.
    pub fn observe(&mut self, o: &Observation, dtcs: &mut Dtcs) {
        let dt = o.dt;
        let mut run = |timer: &mut f64, holds: bool, limit: f64, dtc: Dtc| {
            *timer = match holds {
                true => *timer + dt,
                false => (*timer - dt / 10.0).max(0.0),
            };
            if *timer >= limit {
                dtcs.insert(dtc);
            }
        };
        run(
            &mut self.cold_s,
            o.expected_coolant_c >= 80.0 && o.coolant_c < 75.0,
            COLD_SECONDS,
            Dtc::P0128,
        );
        run(
            &mut self.hot_s,
            o.coolant_c >= HOT_C,
            HOT_SECONDS,
            Dtc::P0217,
        );
        run(
            &mut self.lean_s,
            o.closed_loop && o.total_trim_pct >= LEAN_TRIM_PCT,
            LEAN_SECONDS,
            Dtc::P0171,
        );
        run(
            &mut self.maf_s,
            o.maf_ratio.is_some_and(|r| !(0.85..=1.2).contains(&r)),
            MAF_SECONDS,
            Dtc::P0101,
        );
        run(
            &mut self.o2_s,
            o.closed_loop && o.o2_ratio < 0.5,
            O2_SECONDS,
            Dtc::P0133,
        );
        run(
            &mut self.voltage_s,
            o.voltage < LOW_VOLTAGE,
            VOLTAGE_SECONDS,
            Dtc::P0562,
        );
        self.window_revs += o.revolutions;
        self.window_misfires += o.misfires;
        if self.window_revs >= MISFIRE_WINDOW_REVS {
            let firings = self.window_revs * o.firings_per_rev;
            if o.misfire_cylinder > 0 && self.window_misfires > MISFIRE_RATE * firings {
                dtcs.insert(Dtc::misfire(o.misfire_cylinder));
            }
            self.window_revs = 0.0;
            self.window_misfires = 0.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quiet() -> Observation {
        Observation {
            dt: 1.0,
            coolant_c: 90.0,
            expected_coolant_c: 90.0,
            closed_loop: true,
            total_trim_pct: 1.0,
            maf_ratio: Some(1.0),
            o2_ratio: 1.0,
            voltage: 14.2,
            revolutions: 12.5,
            firings_per_rev: 2.0,
            misfires: 0.0,
            misfire_cylinder: 0,
        }
    }

    fn run_for(seconds: usize, o: Observation) -> Dtcs {
        let (mut monitors, mut dtcs) = (Monitors::default(), Dtcs::default());
        for _ in 0..seconds {
            monitors.observe(&o, &mut dtcs);
        }
        dtcs
    }

    #[test]
    fn a_healthy_engine_sets_nothing() {
        assert!(run_for(10_000, quiet()).is_empty());
    }

    #[test]
    fn each_symptom_sets_its_code_after_a_while() {
        let cases = [
            (
                Observation {
                    total_trim_pct: 30.0,
                    ..quiet()
                },
                Dtc::P0171,
                LEAN_SECONDS,
            ),
            (
                Observation {
                    coolant_c: 60.0,
                    ..quiet()
                },
                Dtc::P0128,
                COLD_SECONDS,
            ),
            (
                Observation {
                    coolant_c: 118.0,
                    ..quiet()
                },
                Dtc::P0217,
                HOT_SECONDS,
            ),
            (
                Observation {
                    maf_ratio: Some(0.7),
                    ..quiet()
                },
                Dtc::P0101,
                MAF_SECONDS,
            ),
            (
                Observation {
                    o2_ratio: 0.3,
                    ..quiet()
                },
                Dtc::P0133,
                O2_SECONDS,
            ),
            (
                Observation {
                    voltage: 12.0,
                    ..quiet()
                },
                Dtc::P0562,
                VOLTAGE_SECONDS,
            ),
        ];
        for (o, dtc, seconds) in cases {
            let seconds = seconds as usize;
            assert!(!run_for(seconds - 2, o).contains(dtc), "{dtc} too early");
            let set = run_for(seconds + 1, o);
            assert_eq!(set.iter().collect::<Vec<_>>(), vec![dtc]);
        }
        let misfiring = Observation {
            misfires: 1.0,
            misfire_cylinder: 3,
            ..quiet()
        };
        assert!(run_for(100, misfiring).contains(Dtc::P0303));
    }

    #[test]
    fn codes_serialize_as_strings() {
        let mut dtcs = Dtcs::default();
        dtcs.insert(Dtc::P0562);
        dtcs.insert(Dtc::misfire(2));
        let json = serde_json::to_string(&dtcs).unwrap();
        assert_eq!(json, r#"["P0302","P0562"]"#);
        assert_eq!(serde_json::from_str::<Dtcs>(&json).unwrap(), dtcs);
        assert!(serde_json::from_str::<Dtcs>(r#"["P9999"]"#).is_err());
    }
}
