//! The fleet's catalogue: vehicle models with their engines and drivetrains, and the home
//! regions with their climate.

/// An engine a model is sold with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EngineSpec {
    /// Displacement in litres.
    pub displacement_l: f64,
    /// Number of cylinders.
    pub cylinders: u8,
    /// Turbocharged: a flat torque plateau from low rpm.
    pub turbo: bool,
    /// Warm idle speed, rpm.
    pub idle_rpm: f64,
    /// Highest engine speed, rpm.
    pub redline_rpm: f64,
    /// Peak torque, N·m.
    pub peak_torque_nm: f64,
}

/// A vehicle model of the fleet.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Model {
    /// Marketing name, as it appears in the telemetry.
    pub name: &'static str,
    /// The character standing for the model in the VIN's descriptor section.
    pub vin_code: u8,
    /// The engines it is sold with.
    pub engines: &'static [EngineSpec],
    /// Curb mass plus a typical payload, kg.
    pub mass_kg: f64,
    /// Drag coefficient times frontal area, m².
    pub drag_area_m2: f64,
    /// Rolling resistance coefficient.
    pub rolling_resistance: f64,
    /// Dynamic tyre radius, m.
    pub wheel_radius_m: f64,
    /// Gear ratios of the automatic transmission, first to top.
    pub gears: &'static [f64],
    /// Final drive ratio.
    pub final_drive: f64,
    /// Relative share of the model in the initial fleet.
    pub share: f64,
    /// Joins the fleet part-way through a run with drift, instead of being in it from the start.
    pub introduced_later: bool,
    /// How the model's vehicles are used: relative shares of commuter, delivery, taxi and
    /// long-distance duty.
    pub duty_shares: [f64; 4],
}

const SIX_SPEED: &[f64] = &[4.45, 2.6, 1.7, 1.25, 1.0, 0.8];

/// Every model, the one introduced later last.
pub const MODELS: &[Model] = &[
    Model {
        name: "Sparrow",
        vin_code: b'S',
        engines: &[
            EngineSpec {
                displacement_l: 1.2,
                cylinders: 3,
                turbo: false,
                idle_rpm: 800.0,
                redline_rpm: 6300.0,
                peak_torque_nm: 115.0,
            },
            EngineSpec {
                displacement_l: 1.4,
                cylinders: 4,
                turbo: false,
                idle_rpm: 800.0,
                redline_rpm: 6300.0,
                peak_torque_nm: 135.0,
            },
        ],
        mass_kg: 1200.0,
        drag_area_m2: 0.62,
        rolling_resistance: 0.011,
        wheel_radius_m: 0.30,
        gears: &[4.15, 2.37, 1.56, 1.16, 0.86, 0.69],
        final_drive: 3.9,
        share: 0.25,
        introduced_later: false,
        duty_shares: [0.45, 0.0, 0.35, 0.2],
    },
    Model {
        name: "Heron",
        vin_code: b'H',
        engines: &[
            EngineSpec {
                displacement_l: 1.6,
                cylinders: 4,
                turbo: false,
                idle_rpm: 750.0,
                redline_rpm: 6200.0,
                peak_torque_nm: 155.0,
            },
            EngineSpec {
                displacement_l: 2.0,
                cylinders: 4,
                turbo: false,
                idle_rpm: 750.0,
                redline_rpm: 6500.0,
                peak_torque_nm: 200.0,
            },
        ],
        mass_kg: 1450.0,
        drag_area_m2: 0.64,
        rolling_resistance: 0.011,
        wheel_radius_m: 0.32,
        gears: SIX_SPEED,
        final_drive: 3.3,
        share: 0.25,
        introduced_later: false,
        duty_shares: [0.45, 0.0, 0.35, 0.2],
    },
    Model {
        name: "Kestrel",
        vin_code: b'K',
        engines: &[
            EngineSpec {
                displacement_l: 2.0,
                cylinders: 4,
                turbo: false,
                idle_rpm: 750.0,
                redline_rpm: 6200.0,
                peak_torque_nm: 200.0,
            },
            EngineSpec {
                displacement_l: 2.5,
                cylinders: 4,
                turbo: false,
                idle_rpm: 700.0,
                redline_rpm: 6300.0,
                peak_torque_nm: 245.0,
            },
            EngineSpec {
                displacement_l: 3.5,
                cylinders: 6,
                turbo: false,
                idle_rpm: 650.0,
                redline_rpm: 6500.0,
                peak_torque_nm: 340.0,
            },
        ],
        mass_kg: 1800.0,
        drag_area_m2: 0.95,
        rolling_resistance: 0.012,
        wheel_radius_m: 0.35,
        gears: SIX_SPEED,
        final_drive: 3.5,
        share: 0.2,
        introduced_later: false,
        duty_shares: [0.5, 0.0, 0.2, 0.3],
    },
    Model {
        name: "Bison",
        vin_code: b'B',
        engines: &[
            EngineSpec {
                displacement_l: 2.5,
                cylinders: 4,
                turbo: false,
                idle_rpm: 700.0,
                redline_rpm: 5800.0,
                peak_torque_nm: 240.0,
            },
            EngineSpec {
                displacement_l: 3.0,
                cylinders: 6,
                turbo: false,
                idle_rpm: 650.0,
                redline_rpm: 6000.0,
                peak_torque_nm: 290.0,
            },
        ],
        mass_kg: 2400.0,
        drag_area_m2: 1.35,
        rolling_resistance: 0.012,
        wheel_radius_m: 0.35,
        gears: SIX_SPEED,
        final_drive: 3.9,
        share: 0.18,
        introduced_later: false,
        duty_shares: [0.0, 1.0, 0.0, 0.0],
    },
    Model {
        name: "Moose",
        vin_code: b'M',
        engines: &[
            EngineSpec {
                displacement_l: 3.5,
                cylinders: 6,
                turbo: false,
                idle_rpm: 650.0,
                redline_rpm: 6000.0,
                peak_torque_nm: 350.0,
            },
            EngineSpec {
                displacement_l: 5.0,
                cylinders: 8,
                turbo: false,
                idle_rpm: 600.0,
                redline_rpm: 5800.0,
                peak_torque_nm: 500.0,
            },
        ],
        mass_kg: 2500.0,
        drag_area_m2: 1.25,
        rolling_resistance: 0.013,
        wheel_radius_m: 0.39,
        gears: &[4.17, 2.34, 1.52, 1.14, 0.87, 0.69],
        final_drive: 3.55,
        share: 0.12,
        introduced_later: false,
        duty_shares: [0.35, 0.45, 0.0, 0.2],
    },
    Model {
        name: "Lynx",
        vin_code: b'L',
        engines: &[EngineSpec {
            displacement_l: 1.5,
            cylinders: 4,
            turbo: true,
            idle_rpm: 700.0,
            redline_rpm: 6000.0,
            peak_torque_nm: 250.0,
        }],
        mass_kg: 1550.0,
        drag_area_m2: 0.75,
        rolling_resistance: 0.010,
        wheel_radius_m: 0.33,
        gears: &[4.7, 3.0, 2.0, 1.5, 1.2, 1.0, 0.85, 0.67],
        final_drive: 3.3,
        share: 0.0,
        introduced_later: true,
        duty_shares: [0.45, 0.0, 0.35, 0.2],
    },
];

/// A home region: its name, time zone and climate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Region {
    /// Name, as it appears in the telemetry.
    pub name: &'static str,
    /// Offset of local time from UTC, hours (standard time all year).
    pub utc_offset_h: f64,
    /// Annual mean temperature, °C.
    pub mean_c: f64,
    /// Half the difference between the warmest and the coldest month; negative in the southern
    /// hemisphere, where January is summer.
    pub season_amplitude_c: f64,
    /// Half the typical difference between afternoon and pre-dawn temperatures.
    pub diurnal_amplitude_c: f64,
}

/// Every home region.
pub const REGIONS: &[Region] = &[
    Region {
        name: "us-west",
        utc_offset_h: -8.0,
        mean_c: 18.5,
        season_amplitude_c: 4.5,
        diurnal_amplitude_c: 5.0,
    },
    Region {
        name: "us-southwest",
        utc_offset_h: -7.0,
        mean_c: 24.0,
        season_amplitude_c: 10.5,
        diurnal_amplitude_c: 7.0,
    },
    Region {
        name: "us-midwest",
        utc_offset_h: -6.0,
        mean_c: 10.0,
        season_amplitude_c: 14.0,
        diurnal_amplitude_c: 5.0,
    },
    Region {
        name: "us-northeast",
        utc_offset_h: -5.0,
        mean_c: 11.0,
        season_amplitude_c: 12.0,
        diurnal_amplitude_c: 4.5,
    },
    Region {
        name: "eu-north",
        utc_offset_h: 1.0,
        mean_c: 7.5,
        season_amplitude_c: 9.5,
        diurnal_amplitude_c: 3.5,
    },
    Region {
        name: "eu-central",
        utc_offset_h: 1.0,
        mean_c: 10.5,
        season_amplitude_c: 9.0,
        diurnal_amplitude_c: 4.5,
    },
    Region {
        name: "eu-south",
        utc_offset_h: 1.0,
        mean_c: 15.0,
        season_amplitude_c: 10.0,
        diurnal_amplitude_c: 6.5,
    },
    Region {
        name: "apac-south",
        utc_offset_h: 10.0,
        mean_c: 18.0,
        season_amplitude_c: -4.5,
        diurnal_amplitude_c: 4.0,
    },
];

impl EngineSpec {
    /// The fraction of peak torque available at `rpm`.
    pub fn torque_fraction(&self, rpm: f64) -> f64 {
        if self.turbo {
            // Boost builds up to a plateau from 1,600 rpm and fades towards the redline.
            let build = ((rpm - self.idle_rpm) / (1600.0 - self.idle_rpm)).clamp(0.0, 1.0);
            let fade = ((rpm - 4500.0) / (self.redline_rpm - 4500.0)).clamp(0.0, 1.0);
            (0.55 + 0.45 * build) * (1.0 - 0.2 * fade)
        } else {
            // A broad hump peaking at about two thirds of the redline.
            let peak = 0.65 * self.redline_rpm;
            let x = (rpm - peak) / (peak - self.idle_rpm);
            (1.0 - 0.28 * x * x).clamp(0.6, 1.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_is_consistent() {
        let mut codes: Vec<u8> = MODELS.iter().map(|m| m.vin_code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), MODELS.len());
        assert_eq!(MODELS.iter().filter(|m| m.introduced_later).count(), 1);
        for model in MODELS {
            assert!(!model.engines.is_empty() && model.gears.windows(2).all(|g| g[0] > g[1]));
            assert!(
                model.duty_shares.iter().sum::<f64>() > 0.0,
                "{}",
                model.name
            );
            for engine in model.engines {
                for rpm in [engine.idle_rpm, 2000.0, 4000.0, engine.redline_rpm] {
                    let f = engine.torque_fraction(rpm);
                    assert!((0.5..=1.0).contains(&f), "{} {rpm}: {f}", model.name);
                }
            }
        }
    }
}
