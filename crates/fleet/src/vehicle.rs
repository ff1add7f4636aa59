//! One simulated vehicle: who it is, what state its engine is in, and the physics that move
//! that state forward.
//!
//! The signals come out of one model, so they are correlated the way a real engine's are:
//!
//! - **Road load and powertrain.** The driver's target speed gives an acceleration; drag,
//!   rolling resistance, grade and inertia give the wheel force; an automatic transmission (with
//!   a torque converter at launch) picks the gear and so the rpm; the torque needed against the
//!   engine's torque curve gives the calculated load, and the load the throttle opening.
//! - **Air.** The air the cylinders take in is `displacement × rpm / 2 × air density × load`
//!   ([`AIR_G_S_PER_L_RPM`]); the MAF reads it (a vacuum leak adds air it never sees, a dirty
//!   sensor under-reads).
//! - **Fuel control.** Trims correct whatever the MAF got wrong: the long-term trim learns per
//!   operating cell (idle, part load, high load), the short-term trim does the rest and
//!   oscillates with the upstream O2 sensor, which switches rich/lean at 0.8–2.4 Hz in closed
//!   loop, faster with more air.
//! - **Heat.** About a third of the fuel's energy heats the coolant; the block loses heat to the
//!   air; the thermostat, opening from ~87 °C, lets the radiator (stronger with road speed and
//!   pump speed, plus a fan) take the rest, so the coolant settles around 90 °C. Oil follows the
//!   coolant plus a load-dependent margin, intake air picks up under-hood heat at low speed.
//! - **Electrics.** The alternator holds 13.5–14.7 V while the engine runs (temperature
//!   compensated); parked, the battery rests at 12.2–12.7 V and slowly runs down.

use std::f64::consts::TAU;

use crate::catalog::{EngineSpec, MODELS, Model, REGIONS};
use crate::cycle::{Activity, Driver, Duty, Surroundings};
use crate::dtc::{Dtcs, Monitors, Observation};
use crate::fault::{Effects, Fault, FaultKind, FaultPlan};
use crate::record::{self, Label, Telemetry};
use crate::rng::Rng;
use crate::vin::{Vin, VinParts};

/// Grams per second of air that one litre of displacement takes in per rpm at 100 % load and
/// standard air density: 1.184 kg/m³ × 1 L ÷ 2 revolutions per intake stroke ÷ 60 s.
pub const AIR_G_S_PER_L_RPM: f64 = 1.184 / 120.0;
/// The longest physics step, s: longer sample periods are split into steps this long.
const MAX_STEP_S: f64 = 1.0;
/// Stoichiometric air-fuel ratio of gasoline.
const STOICH_AFR: f64 = 14.7;
/// Share of the fuel's energy that ends up in the coolant.
const HEAT_TO_COOLANT: f64 = 0.29;
/// Lower heating value of gasoline, kJ/g.
const FUEL_KJ_PER_G: f64 = 43.0;
/// Drivetrain efficiency from crankshaft to wheels.
const DRIVETRAIN_EFFICIENCY: f64 = 0.88;
/// Air density for drag, kg/m³.
const AIR_DENSITY: f64 = 1.2;
/// Gravity, m/s².
const G: f64 = 9.81;
/// How far, °C, the coolant must be from what a healthy thermostat would hold for a thermostat
/// fault to show: the spread of healthy thermostats' opening temperatures (86.5–88.5 °C), so a
/// smaller gap is one healthy engines differ by.
const SHOWS_FROM_C: f64 = 2.0;
/// A shown thermostat fault is masked again once the gap is below this, °C.
const MASKED_BELOW_C: f64 = 1.0;

/// Degrees over the opening temperature at which the thermostat is fully open.
const THERMOSTAT_SPAN_C: f64 = 12.0;
/// Coolant temperature at which the pressure cap vents and boiling limits the rise, °C.
const BOIL_C: f64 = 118.0;
/// Share of the available torque above which the throttle counts as wide open.
const WIDE_OPEN_SHARE: f64 = 0.92;
/// Ageing effects stop growing at this age, years.
const MAX_AGE_EFFECT_YEARS: f64 = 20.0;
/// How long a misfire slows the crankshaft, s: a reading taken within it reads low.
const MISFIRE_DIP_S: f64 = 0.5;
/// How far a misfire drops the rpm at idle, on average; a moving vehicle's inertia keeps a
/// third of it.
const MISFIRE_DIP_RPM: f64 = 120.0;

/// The conditions of one sample period shared by every vehicle of a region.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RegionNow {
    /// Ambient temperature, °C.
    pub ambient_c: f64,
    /// Local hour, 0 to 24.
    pub local_hour: f64,
    /// Local day of the week, 0 (Monday) to 6.
    pub weekday: u32,
}

/// What every vehicle needs to know about one sample period.
#[derive(Debug, Clone)]
pub(crate) struct TickContext {
    /// Time of the sample at the end of the period (before each vehicle's offset), epoch ms.
    pub t_ms: i64,
    /// Length of the period, s.
    pub period_s: f64,
    /// The conditions in each region, in catalogue order.
    pub regions: Vec<RegionNow>,
    /// Years every vehicle has aged through drift since the start.
    pub age_added_years: f64,
}

/// How a vehicle differs from its siblings: manufacturing tolerances and habits.
#[derive(Debug, Clone)]
struct Traits {
    /// Temperature at which the thermostat starts to open, °C.
    thermostat_open_c: f64,
    /// Regulated alternator voltage at 25 °C, V.
    alternator_setpoint_v: f64,
    /// Fuel delivery error the trims make up for, %.
    injector_offset_pct: f64,
    /// Extra error per trim cell (idle, part load, high load), %.
    cell_offsets_pct: [f64; 3],
    /// MAF sensor gain when new.
    maf_gain: f64,
    /// Throttle position reading with the throttle closed, %.
    closed_throttle_pct: f64,
    /// Electrical load with nothing extra switched on, kW.
    base_electric_kw: f64,
    /// How much warmer than its region the vehicle's surroundings are, °C.
    local_climate_c: f64,
    /// Offset of the vehicle's readings within a sample period, as a share of the period.
    phase: f64,
    /// Age when the simulation starts, years.
    initial_age_years: f64,
}

/// The physical state of the vehicle.
#[derive(Debug, Clone)]
struct State {
    engine_on: bool,
    /// Seconds since the engine started.
    run_s: f64,
    /// Seconds since the engine stopped.
    off_s: f64,
    /// The engine was cold when it started.
    cold_start: bool,
    warming_up: bool,
    highway: bool,
    speed_mps: f64,
    gear: u8,
    rpm: f64,
    load: f64,
    throttle_pct: f64,
    /// Air the cylinders take in, g/s.
    air_g_s: f64,
    /// What the MAF reports, g/s.
    maf_g_s: f64,
    fuel_cut: bool,
    closed_loop: bool,
    coolant_c: f64,
    /// The engine computer's model of a healthy warm-up, °C.
    expected_coolant_c: f64,
    /// The coolant this engine would have with a healthy thermostat, °C: the same heat in
    /// and the same radiator and fan, the opening not held by a fault. Not a sensor; the
    /// ground truth compares it with `coolant_c` to tell whether a thermostat fault shows.
    healthy_coolant_c: f64,
    oil_c: f64,
    iat_c: f64,
    ambient_c: f64,
    fan_on: bool,
    stft_pct: f64,
    ltft_pct: [f64; 3],
    cell: usize,
    o2_phase: f64,
    o2_v: f64,
    timing_deg: f64,
    voltage: f64,
    /// Battery state of charge, 0 to 1.
    soc: f64,
    grade: f64,
    /// Share of all firings that misfire.
    misfire_share: f64,
    odometer_km: f64,
}

/// One vehicle of the fleet.
#[derive(Debug, Clone)]
pub struct Vehicle {
    vin: Vin,
    model: &'static Model,
    engine: &'static EngineSpec,
    region: usize,
    driver: Driver,
    traits: Traits,
    fault: Option<Fault>,
    rng: Rng,
    state: State,
    monitors: Monitors,
    dtcs: Dtcs,
    /// The tenth of severity last labelled; −1 before the first label.
    labelled_tenth: i8,
    /// Whether the last label said the fault was masked.
    labelled_masked: bool,
}

/// What a vehicle produced in one sample period.
#[derive(Debug, Clone)]
pub struct Sample {
    /// The telemetry reading.
    pub telemetry: Telemetry,
    /// A label, when the fault started or progressed by another tenth.
    pub label: Option<Label>,
}

/// What the powertrain step leaves for the others.
struct Drive {
    /// Target idle speed now, rpm.
    idle_rpm: f64,
    /// Torque asked of the engine as a share of what it can give at this rpm.
    torque_share: f64,
    /// Load of the A/C compressor, kW.
    ac_kw: f64,
    /// Electrical load, kW.
    electric_kw: f64,
}

/// What the air step leaves for fuel control.
struct Air {
    /// Airflow as a share of a high flow for the engine's size (20 g/s per litre).
    flow: f64,
    /// Wide-open throttle: power enrichment, open loop.
    wide_open: bool,
}

/// The O2 sensor's switching frequency and the one the engine computer expects.
#[derive(Clone, Copy)]
struct O2Rates {
    actual_hz: f64,
    expected_hz: f64,
}

impl Vehicle {
    /// Creates vehicle number `index` of the fleet with `seed`, of `model` (an index into
    /// [`MODELS`]), parked, as of `now`; its fault (if `plan` gives it one) starts no earlier
    /// than `faults_from_ms`.
    pub(crate) fn new(
        seed: u64,
        index: u64,
        model: usize,
        now: &TickContext,
        plan: &FaultPlan,
        faults_from_ms: i64,
    ) -> Vehicle {
        let mut rng = Rng::new(seed, index);
        let model: &'static Model = &MODELS[model];
        let engine_index = rng.below(model.engines.len() as u64) as usize;
        let engine = &model.engines[engine_index];
        let region = rng.below(REGIONS.len() as u64) as usize;
        let initial_age_years = match model.introduced_later {
            true => rng.range(0.0, 0.3),
            false => rng.range(0.0, 10.0),
        };
        let year_now = 1970.0 + now.t_ms as f64 / (365.2425 * 86_400_000.0);
        let vin = Vin::new(&VinParts {
            model_code: model.vin_code,
            engine_index: engine_index as u8,
            cylinders: engine.cylinders,
            turbo: engine.turbo,
            model_year: (year_now - initial_age_years).floor() as u32,
            serial: index,
        });
        let duty = Duty::pick(&model.duty_shares, &mut rng);
        let here = now.regions[region];
        let driver = Driver::new(duty, here.local_hour, here.weekday, &mut rng);
        let traits = Traits {
            thermostat_open_c: rng.range(86.5, 88.5),
            alternator_setpoint_v: rng.range(14.05, 14.4),
            injector_offset_pct: rng.range(-1.2, 1.2),
            cell_offsets_pct: [
                rng.range(-0.6, 0.6),
                rng.range(-0.6, 0.6),
                rng.range(-0.6, 0.6),
            ],
            maf_gain: rng.range(0.99, 1.01),
            closed_throttle_pct: rng.range(11.0, 16.0),
            base_electric_kw: rng.range(0.3, 0.6),
            local_climate_c: rng.range(-1.0, 1.0),
            phase: rng.uniform(),
            initial_age_years,
        };
        let annual_km = match duty {
            Duty::Commuter => 15_000.0,
            Duty::Delivery => 35_000.0,
            Duty::Taxi => 60_000.0,
            Duty::LongDistance => 45_000.0,
        };
        let odometer_km =
            initial_age_years * annual_km * rng.range(0.7, 1.3) + rng.range(10.0, 500.0);
        let fault = Fault::draw(plan, faults_from_ms, engine.cylinders, &mut rng);
        let ambient = here.ambient_c + traits.local_climate_c;
        let mut vehicle = Vehicle {
            vin,
            model,
            engine,
            region,
            driver,
            fault,
            rng,
            state: State {
                engine_on: false,
                run_s: 0.0,
                off_s: 86_400.0,
                cold_start: false,
                warming_up: false,
                highway: false,
                speed_mps: 0.0,
                gear: 0,
                rpm: 0.0,
                load: 0.0,
                throttle_pct: traits.closed_throttle_pct,
                air_g_s: 0.0,
                maf_g_s: 0.0,
                fuel_cut: false,
                closed_loop: false,
                coolant_c: ambient,
                expected_coolant_c: ambient,
                healthy_coolant_c: ambient,
                oil_c: ambient,
                iat_c: ambient,
                ambient_c: ambient,
                fan_on: false,
                stft_pct: 0.0,
                ltft_pct: [0.0; 3],
                cell: 0,
                o2_phase: 0.0,
                o2_v: 0.45,
                timing_deg: 0.0,
                voltage: 12.6,
                soc: 0.9,
                grade: 0.0,
                misfire_share: 0.0,
                odometer_km,
            },
            traits,
            monitors: Monitors::default(),
            dtcs: Dtcs::default(),
            labelled_tenth: -1,
            labelled_masked: false,
        };
        vehicle.state.soc = vehicle.rng.range(0.85, 0.98);
        // The long-term trims start out learned.
        let age = vehicle.age_years(now.age_added_years);
        for cell in 0..3 {
            vehicle.state.ltft_pct[cell] = vehicle.healthy_trim_pct(cell, age);
        }
        vehicle.state.voltage = vehicle.resting_voltage();
        vehicle
    }

    /// The vehicle's VIN.
    pub fn vin(&self) -> Vin {
        self.vin
    }

    /// The vehicle's model.
    pub fn model(&self) -> &'static Model {
        self.model
    }

    /// The vehicle's engine.
    pub fn engine(&self) -> &'static EngineSpec {
        self.engine
    }

    /// The vehicle's home region (an index into [`REGIONS`]).
    pub fn region(&self) -> usize {
        self.region
    }

    /// The vehicle's duty.
    pub fn duty(&self) -> Duty {
        self.driver.duty()
    }

    /// The fault the vehicle has or will develop.
    pub fn fault(&self) -> Option<&Fault> {
        self.fault.as_ref()
    }

    /// The trouble codes stored so far.
    pub fn dtcs(&self) -> Dtcs {
        self.dtcs
    }

    /// What the vehicle is doing now.
    pub fn activity(&self) -> Activity {
        let s = &self.state;
        match () {
            _ if !s.engine_on => Activity::Parked,
            _ if s.cold_start && s.run_s < 60.0 => Activity::ColdStart,
            _ if s.warming_up => Activity::WarmUp,
            _ if s.speed_mps < 0.1 => Activity::Idle,
            _ if s.highway => Activity::Highway,
            _ => Activity::Urban,
        }
    }

    /// Whether the engine computer is in closed-loop fuel control.
    pub fn closed_loop(&self) -> bool {
        self.state.engine_on && self.state.closed_loop
    }

    /// Advances the vehicle through one sample period and reads its sensors at the end.
    pub(crate) fn advance(&mut self, tick: &TickContext) -> Sample {
        let steps = (tick.period_s / MAX_STEP_S).ceil().max(1.0);
        let dt = tick.period_s / steps;
        let severity = self.fault.map_or(0.0, |f| f.severity(tick.t_ms));
        let effects = match self.fault {
            Some(f) if severity > 0.0 => f.effects(severity),
            _ => Effects::healthy(),
        };
        let age = self.age_years(tick.age_added_years);
        let here = tick.regions[self.region];
        for _ in 0..steps as u32 {
            self.step(dt, &here, &effects, age);
        }
        let ts = tick.t_ms + (self.traits.phase * tick.period_s * 1000.0) as i64;
        let label = self.label(ts, severity);
        Sample {
            telemetry: self.read(ts, &effects, age),
            label,
        }
    }

    fn age_years(&self, added: f64) -> f64 {
        (self.traits.initial_age_years + added).min(MAX_AGE_EFFECT_YEARS)
    }

    /// The trim a healthy engine of this age needs in `cell`, %: what the MAF's drift and the
    /// injectors' tolerance call for.
    fn healthy_trim_pct(&self, cell: usize, age: f64) -> f64 {
        (1.0 / self.maf_gain(age) - 1.0) * 100.0
            + self.traits.injector_offset_pct
            + self.traits.cell_offsets_pct[cell]
    }

    /// The MAF's gain, which drops slowly as the sensor ages.
    fn maf_gain(&self, age: f64) -> f64 {
        self.traits.maf_gain * (1.0 - 0.001 * age)
    }

    /// A label when the fault has started, passed another tenth of severity, or started or
    /// stopped showing.
    fn label(&mut self, ts: i64, severity: f64) -> Option<Label> {
        let fault = self.fault?;
        if ts < fault.onset_ms {
            return None;
        }
        let tenth = (severity * 10.0).floor() as i8;
        let masked = self.masked(fault.kind);
        if tenth <= self.labelled_tenth && masked == self.labelled_masked {
            return None;
        }
        self.labelled_tenth = tenth;
        self.labelled_masked = masked;
        Some(Label {
            vin: self.vin,
            ts,
            fault: fault.kind,
            severity: record::decimals(severity, 3),
            masked,
        })
    }

    /// Whether the conditions hide a fault of `kind` now: for a thermostat, whether the
    /// coolant is within [`MASKED_BELOW_C`] of what a healthy thermostat would hold (until
    /// it is [`SHOWS_FROM_C`] away again, so that a gap hovering at the edge does not flood
    /// the labels). Every other kind always shows.
    fn masked(&self, kind: FaultKind) -> bool {
        if !matches!(
            kind,
            FaultKind::ThermostatStuckOpen | FaultKind::ThermostatStuckClosed
        ) {
            return false;
        }
        let gap = (self.state.coolant_c - self.state.healthy_coolant_c).abs();
        match self.labelled_masked || self.labelled_tenth < 0 {
            true => gap < SHOWS_FROM_C,
            false => gap < MASKED_BELOW_C,
        }
    }

    /// One physics step of `dt` seconds.
    fn step(&mut self, dt: f64, here: &RegionNow, effects: &Effects, age: f64) {
        self.state.ambient_c = here.ambient_c + self.traits.local_climate_c;
        let around = Surroundings {
            local_hour: here.local_hour,
            weekday: here.weekday,
            ambient_c: self.state.ambient_c,
            speed_kmh: self.state.speed_mps * 3.6,
        };
        let command = self.driver.step(dt, &around, &mut self.rng);
        match (command.engine_on, self.state.engine_on) {
            (true, false) => self.start_engine(),
            (false, true) => self.stop_engine(),
            _ => {}
        }
        self.state.warming_up = command.warming_up;
        self.state.highway = command.highway;
        if self.state.engine_on {
            self.run(dt, command.target_kmh / 3.6, here, effects, age);
        } else {
            self.rest(dt);
        }
    }

    fn start_engine(&mut self) {
        let s = &mut self.state;
        s.engine_on = true;
        s.run_s = 0.0;
        s.cold_start = s.coolant_c < 45.0;
        s.gear = 0;
        s.stft_pct = 0.0;
        s.soc = (s.soc - 0.002).max(0.05);
    }

    fn stop_engine(&mut self) {
        let s = &mut self.state;
        s.engine_on = false;
        s.off_s = 0.0;
        s.speed_mps = 0.0;
        s.rpm = 0.0;
        s.load = 0.0;
        s.air_g_s = 0.0;
        s.maf_g_s = 0.0;
        s.stft_pct = 0.0;
        s.fan_on = false;
        s.closed_loop = false;
        s.misfire_share = 0.0;
    }

    /// A step with the engine running: the powertrain, then air, fuel control, ignition, heat
    /// and electrics, then the monitors.
    fn run(&mut self, dt: f64, target_mps: f64, here: &RegionNow, effects: &Effects, age: f64) {
        let mut s = self.state.clone();
        s.run_s += dt;
        let drive = self.powertrain(&mut s, dt, target_mps, here, effects);
        let air = self.air(&mut s, &drive, effects, age);
        let o2 = self.fuel_control(&mut s, dt, &drive, &air, effects, age);
        self.ignition(&mut s);
        self.heat(&mut s, dt, &drive, effects);
        self.electrics(&mut s, dt, &drive, effects, age);
        self.observe(&s, dt, &drive, o2);
        self.state = s;
    }

    /// Speed, gear and rpm from what the driver asks for and what the engine can give.
    fn powertrain(
        &mut self,
        s: &mut State,
        dt: f64,
        target_mps: f64,
        here: &RegionNow,
        effects: &Effects,
    ) -> Drive {
        let (model, engine) = (self.model, self.engine);
        let size = (engine.displacement_l / 2.0).sqrt();

        // Road grade drifts while moving.
        if s.speed_mps > 0.5 {
            let keep = (-dt / 60.0).exp();
            s.grade = s.grade * keep + (1.0 - keep * keep).sqrt() * 0.02 * self.rng.normal();
        }

        // What the driver asks for.
        let temperament = self.driver.temperament();
        let (tau, max_accel) = match s.highway {
            true => (6.0, 0.8 * temperament),
            false => (3.0, 1.6 * temperament),
        };
        let mut accel = ((target_mps - s.speed_mps) / tau).clamp(-3.0, max_accel);
        let demand = (accel / 1.5).clamp(0.0, 1.0);

        // Idle speed: fast idle while cold, a flare right after the start, A/C compensation.
        let ac_kw = match s.ambient_c > 22.0 {
            true => (0.15 * (s.ambient_c - 22.0)).min(3.0) * size,
            false => 0.0,
        };
        let idle_rpm = engine.idle_rpm
            + 450.0 * ((60.0 - s.coolant_c) / 60.0).clamp(0.0, 1.0)
            + 250.0 * (-s.run_s / 3.0).exp()
            + if ac_kw > 0.0 { 50.0 } else { 0.0 }
            + 120.0 * effects.vacuum_leak;

        // Gear and engine speed.
        let wheel_rpm = s.speed_mps / (TAU * model.wheel_radius_m) * 60.0;
        let gear_rpm = |g: u8| wheel_rpm * model.gears[g as usize] * model.final_drive;
        let floor_rpm = 1150.0 + 1800.0 * demand;
        let top = (model.gears.len() - 1) as u8;
        if s.gear < top && gear_rpm(s.gear + 1) >= floor_rpm + 150.0 {
            s.gear += 1;
        }
        while s.gear > 0 && gear_rpm(s.gear) < floor_rpm {
            s.gear -= 1;
        }
        while s.gear < top && gear_rpm(s.gear) > 0.9 * engine.redline_rpm {
            s.gear += 1;
        }
        let coupled_rpm = gear_rpm(s.gear);
        s.rpm = match s.gear {
            0 => {
                let launch = 900.0 * demand * (1.0 - s.speed_mps / 6.0).clamp(0.0, 1.0);
                coupled_rpm.max(idle_rpm + launch)
            }
            _ => coupled_rpm.max(idle_rpm),
        }
        .min(engine.redline_rpm);
        // Torque converter multiplication while it slips.
        let converter = 1.0 + (1.0 - coupled_rpm / s.rpm).clamp(0.0, 1.0);

        // Torque needed at the crankshaft against torque available.
        let mass = model.mass_kg;
        let resist = 0.5 * AIR_DENSITY * model.drag_area_m2 * s.speed_mps * s.speed_mps
            + model.rolling_resistance * mass * G
            + mass * G * s.grade;
        let ratio = model.gears[s.gear as usize] * model.final_drive;
        let to_wheel = ratio * DRIVETRAIN_EFFICIENCY * converter / model.wheel_radius_m;
        let omega = s.rpm * TAU / 60.0;
        s.fan_on = match s.fan_on {
            true => s.coolant_c > self.traits.thermostat_open_c + 6.0,
            false => s.coolant_c > self.traits.thermostat_open_c + 9.0,
        };
        let electric_kw = self.electric_kw(here, s);
        let accessory_nm = (0.35 + electric_kw / 0.55 + ac_kw) * 1000.0 / omega;
        let max_nm = engine.peak_torque_nm * engine.torque_fraction(s.rpm);
        let mut force = mass * accel + resist;
        if accessory_nm + force.max(0.0) / to_wheel > max_nm {
            force = (max_nm - accessory_nm) * to_wheel;
            accel = (force - resist) / mass;
        }
        let engine_nm = accessory_nm + force.max(0.0) / to_wheel;
        s.speed_mps = (s.speed_mps + accel * dt).max(0.0);
        if target_mps == 0.0 && s.speed_mps < 0.3 {
            s.speed_mps = 0.0;
        }
        s.odometer_km += s.speed_mps * dt / 1000.0;
        s.fuel_cut = force < 0.0 && s.rpm > idle_rpm + 350.0 && target_mps < s.speed_mps;
        Drive {
            idle_rpm,
            torque_share: (engine_nm / max_nm).clamp(0.0, 1.0),
            ac_kw,
            electric_kw,
        }
    }

    /// Calculated load, throttle, the air the cylinders take in and what the MAF reads of it.
    fn air(&self, s: &mut State, drive: &Drive, effects: &Effects, age: f64) -> Air {
        let engine = self.engine;
        let friction = 0.12 + 0.025 * s.rpm / 1000.0;
        s.misfire_share = effects.misfire * (1.0 - 0.7 * ((s.load - 0.25) / 0.5).clamp(0.0, 1.0));
        s.load = match s.fuel_cut {
            true => 0.7 * friction,
            false => {
                (friction + (1.0 - friction) * drive.torque_share + 0.2 * s.misfire_share).min(1.0)
            }
        };
        let opening = match s.fuel_cut {
            true => 0.0,
            false => {
                let x = ((s.load - friction) / (1.0 - friction)).clamp(0.0, 1.0);
                x.powf(1.6) * (0.35 + 0.65 * (s.rpm / engine.redline_rpm).sqrt()) + 0.015
            }
        };
        s.throttle_pct = self.traits.closed_throttle_pct
            + (100.0 - self.traits.closed_throttle_pct) * opening.min(1.0);
        s.air_g_s = AIR_G_S_PER_L_RPM * engine.displacement_l * s.rpm * s.load;
        // A leak draws a constant flow while the manifold vacuum is strong, less near full load.
        let idle_air = AIR_G_S_PER_L_RPM * engine.displacement_l * engine.idle_rpm * 0.235;
        let vacuum = ((0.9 - s.load) / 0.45).clamp(0.0, 1.0);
        let leak = (effects.vacuum_leak * idle_air * vacuum).min(0.5 * s.air_g_s);
        let flow = (s.air_g_s / (engine.displacement_l * 20.0)).min(1.0);
        let contamination = effects.maf_contamination * (0.5 + 0.5 * flow);
        s.maf_g_s = (s.air_g_s - leak) * self.maf_gain(age) * (1.0 - contamination);
        Air {
            flow,
            wide_open: drive.torque_share > WIDE_OPEN_SHARE,
        }
    }

    /// Fuel trims and the upstream O2 sensor; returns the sensor's switching frequency against
    /// the expected one.
    fn fuel_control(
        &mut self,
        s: &mut State,
        dt: f64,
        drive: &Drive,
        air: &Air,
        effects: &Effects,
        age: f64,
    ) -> O2Rates {
        s.cell = match () {
            _ if s.rpm < drive.idle_rpm + 250.0 && s.load < 0.35 => 0,
            _ if s.load < 0.6 => 1,
            _ => 2,
        };
        let o2_ready = s.run_s > 20.0;
        s.closed_loop = o2_ready && s.coolant_c > 35.0 && !s.fuel_cut && !air.wide_open;
        let needed = (s.air_g_s / s.maf_g_s.max(0.01) - 1.0) * 100.0
            + self.traits.injector_offset_pct
            + self.traits.cell_offsets_pct[s.cell]
            + 30.0 * s.misfire_share;
        let expected_hz = 0.8 + 1.6 * air.flow;
        let o2_health = (1.0 - effects.o2_slowdown) * (1.0 - 0.008 * age);
        let actual_hz = expected_hz * o2_health;
        if s.closed_loop {
            let ltft = &mut s.ltft_pct[s.cell];
            *ltft = (*ltft + (needed - *ltft) * (dt / 90.0).min(1.0)).clamp(-25.0, 25.0);
            let swing = 1.2 * (1.0 + 2.0 * effects.o2_slowdown);
            let noise = (0.5 * self.rng.normal()).clamp(-1.2, 1.2);
            let wanted = needed - *ltft + swing * s.o2_phase.sin() + noise;
            s.stft_pct = wanted.clamp(-25.0, 25.0);
            // Beyond what the trims can add, the mixture stays lean.
            let lean = wanted > 25.0;
            let jitter = 1.0 + (0.3 * self.rng.normal()).clamp(-0.8, 0.8);
            s.o2_phase = (s.o2_phase + TAU * actual_hz * dt * jitter) % TAU;
            let sharp = 6.0 * (1.0 - 0.8 * (1.0 - o2_health));
            let swing_v = 0.4 * (1.0 - 0.4 * effects.o2_slowdown);
            s.o2_v = 0.45 + swing_v * (sharp * s.o2_phase.sin()).tanh() / sharp.tanh()
                - if lean { 0.3 } else { 0.0 }
                - 1.5 * s.misfire_share;
        } else {
            s.stft_pct = 0.0;
            s.o2_v = match () {
                _ if !o2_ready => 0.45,
                _ if s.fuel_cut => 0.06,
                _ => 0.8,
            };
        }
        O2Rates {
            actual_hz,
            expected_hz,
        }
    }

    /// Ignition timing: more advance with rpm, less with load; retarded when hot, and right
    /// after a cold start to heat the catalyst.
    fn ignition(&self, s: &mut State) {
        let base = 10.0 + 22.0 * ((s.rpm - 700.0) / 2300.0).clamp(0.0, 1.0)
            - 16.0 * ((s.load - 0.25) / 0.75).clamp(0.0, 1.0);
        let knock = 0.3 * (s.iat_c - 45.0).max(0.0) + 0.5 * (s.coolant_c - 105.0).max(0.0);
        let catalyst_heating = match s.cold_start {
            true => 8.0 * (-s.run_s / 20.0).exp(),
            false => 0.0,
        };
        s.timing_deg = base - knock - catalyst_heating;
    }

    /// Coolant (and the engine computer's model of it), oil and intake air temperatures.
    fn heat(&self, s: &mut State, dt: f64, drive: &Drive, effects: &Effects) {
        let size = (self.engine.displacement_l / 2.0).sqrt();
        let ambient = s.ambient_c;
        let fuel_kw = s.air_g_s / STOICH_AFR * FUEL_KJ_PER_G;
        let heat_in = HEAT_TO_COOLANT * fuel_kw * if s.fuel_cut { 0.1 } else { 1.0 };
        let heater_kw = match ambient < 12.0 {
            true => (0.03 * (s.coolant_c - 45.0)).clamp(0.0, 1.2) * size,
            false => 0.0,
        };
        let pump = (0.45 + 0.55 * s.rpm / 2500.0).clamp(0.45, 1.3);
        let radiator = (0.18 + 0.008 * s.speed_mps * 3.6) * pump * size;
        let fan = if s.fan_on || drive.ac_kw > 0.0 {
            0.45 * size
        } else {
            0.0
        };
        let capacity = self.heat_capacity();
        let rejected = |coolant_c: f64, opening: f64| {
            let heater_kw = match ambient < 12.0 {
                true => (0.03 * (coolant_c - 45.0)).clamp(0.0, 1.2) * size,
                false => 0.0,
            };
            opening * (radiator + fan) * (coolant_c - ambient)
                + self.block_loss(coolant_c - ambient)
                + heater_kw
                + 10.0 * (coolant_c - BOIL_C).max(0.0)
        };
        let opening = self
            .thermostat(s.coolant_c)
            .max(effects.thermostat_min_open)
            .min(effects.thermostat_max_open);
        s.coolant_c += (heat_in - rejected(s.coolant_c, opening)) / capacity * dt;
        // The twin only parts from the coolant once a fault holds the thermostat (faults do
        // not heal, so until then the two are the same); other engines skip its step.
        s.healthy_coolant_c = match effects.holds_thermostat() {
            true => {
                let healthy = s.healthy_coolant_c;
                healthy + (heat_in - rejected(healthy, self.thermostat(healthy))) / capacity * dt
            }
            false => s.coolant_c,
        };
        let expected_rejected =
            self.thermostat(s.expected_coolant_c) * radiator * (s.expected_coolant_c - ambient)
                + self.block_loss(s.expected_coolant_c - ambient)
                + heater_kw;
        s.expected_coolant_c += (heat_in - expected_rejected) / capacity * dt;
        let oil_target = s.coolant_c + 3.0 + 22.0 * s.load * (s.rpm / 3000.0).min(1.3);
        s.oil_c += (oil_target - s.oil_c) * (1.0 - (-dt / 300.0).exp());
        let soak = ((s.coolant_c - ambient) / 70.0).clamp(0.0, 1.3);
        let iat_target =
            ambient + 2.0 + 20.0 * soak * (-s.speed_mps * 3.6 / 25.0).exp() + 3.0 * s.load;
        s.iat_c += (iat_target - s.iat_c) * (1.0 - (-dt / 40.0).exp());
    }

    /// System voltage: the regulator's set point, temperature compensated, less the load's
    /// drop; a weak alternator leaves the battery to carry the load, and it runs down.
    fn electrics(&self, s: &mut State, dt: f64, drive: &Drive, effects: &Effects, age: f64) {
        let setpoint = self.traits.alternator_setpoint_v - 0.005 * age
            + (0.012 * (25.0 - s.iat_c)).clamp(-0.2, 0.2)
            - 0.08 * drive.electric_kw;
        let loss = effects.alternator_loss;
        let charge_per_h = (1.0 - loss) * 0.5 * (1.0 - s.soc) - loss * drive.electric_kw * 0.25;
        s.soc = (s.soc + charge_per_h * dt / 3600.0).clamp(0.05, 1.0);
        let battery = 11.85 + 0.8 * s.soc - 0.35;
        s.voltage = match loss > 0.0 {
            true => (setpoint - 2.6 * loss.powf(1.2)).max(battery),
            false => setpoint,
        };
    }

    /// Hands what the engine computer sees to its monitors.
    fn observe(&mut self, s: &State, dt: f64, drive: &Drive, o2: O2Rates) {
        let cylinders = f64::from(self.engine.cylinders);
        let revolutions = s.rpm / 60.0 * dt;
        let misfires = revolutions * cylinders / 2.0
            * s.misfire_share
            * (1.0 + 0.3 * self.rng.normal()).max(0.0);
        let warm_part_load = s.coolant_c > 70.0
            && s.load > 0.4
            && drive.torque_share <= WIDE_OPEN_SHARE
            && !s.fuel_cut;
        let observation = Observation {
            dt,
            coolant_c: s.coolant_c,
            expected_coolant_c: s.expected_coolant_c,
            closed_loop: s.closed_loop,
            total_trim_pct: s.stft_pct + s.ltft_pct[s.cell],
            maf_ratio: warm_part_load.then(|| s.maf_g_s / s.air_g_s),
            o2_ratio: o2.actual_hz / o2.expected_hz,
            voltage: s.voltage,
            revolutions,
            firings_per_rev: cylinders / 2.0,
            misfires,
            misfire_cylinder: self.fault.map_or(0, |f| f.cylinder),
        };
        self.monitors.observe(&observation, &mut self.dtcs);
    }

    /// A step with the engine off: everything cools towards ambient, the battery rests.
    fn rest(&mut self, dt: f64) {
        let cool = (-self.block_loss(1.0) / self.heat_capacity() * dt).exp();
        let s = &mut self.state;
        s.off_s += dt;
        let ambient = s.ambient_c;
        s.coolant_c = ambient + (s.coolant_c - ambient) * cool;
        s.expected_coolant_c = ambient + (s.expected_coolant_c - ambient) * cool;
        s.healthy_coolant_c = ambient + (s.healthy_coolant_c - ambient) * cool;
        s.oil_c = ambient + (s.oil_c - ambient) * (-dt / 10_800.0).exp();
        let soak = ((s.coolant_c - ambient) / 70.0).clamp(0.0, 1.3);
        let iat_target = ambient + 12.0 * soak;
        s.iat_c += (iat_target - s.iat_c) * (1.0 - (-dt / 900.0).exp());
        s.soc = (s.soc - 0.002 * dt / 3600.0).max(0.05);
        self.state.voltage = self.resting_voltage();
    }

    /// Open-circuit battery voltage, with the surface charge left by the last drive.
    fn resting_voltage(&self) -> f64 {
        let s = &self.state;
        11.85 + 0.8 * s.soc + 0.25 * (-s.off_s / 1800.0).exp()
    }

    /// Electrical load, kW: the base load, lights at night, blowers and heaters in the cold,
    /// the radiator fan.
    fn electric_kw(&self, here: &RegionNow, s: &State) -> f64 {
        let night = !(7.0..19.0).contains(&here.local_hour);
        self.traits.base_electric_kw
            + if night { 0.15 } else { 0.0 }
            + if s.ambient_c < 5.0 { 0.25 } else { 0.0 }
            + if s.fan_on { 0.3 } else { 0.0 }
    }

    /// How far the (healthy) thermostat is open at `coolant_c`, 0 to 1.
    fn thermostat(&self, coolant_c: f64) -> f64 {
        ((coolant_c - self.traits.thermostat_open_c) / THERMOSTAT_SPAN_C).clamp(0.0, 1.0)
    }

    /// Heat the block loses to the air at `excess_c` above ambient, kW.
    fn block_loss(&self, excess_c: f64) -> f64 {
        0.008 * self.engine.displacement_l.powf(0.6) * excess_c
    }

    /// Heat capacity of the engine and its coolant, kJ/K.
    fn heat_capacity(&self) -> f64 {
        38.0 * self.engine.displacement_l.powf(0.7)
    }

    /// Reads the sensors as an OBD dongle would: noise, then each PID's resolution.
    fn read(&mut self, ts: i64, effects: &Effects, age: f64) -> Telemetry {
        let s = &self.state;
        let rng = &mut self.rng;
        let (rpm, speed, load, maf, stft, o2, timing) = match s.engine_on {
            true => {
                let idle = s.speed_mps < 0.1;
                let rough = match idle {
                    true => 5.0 + 0.25 * age,
                    false => 8.0,
                };
                let firings_per_s = s.rpm / 60.0 * f64::from(self.engine.cylinders) / 2.0;
                let in_dip = (s.misfire_share * firings_per_s * MISFIRE_DIP_S).min(1.0);
                let dip = match rng.chance(in_dip) {
                    true => MISFIRE_DIP_RPM * (0.5 + rng.uniform()) * if idle { 1.0 } else { 0.33 },
                    false => 0.0,
                };
                let idle_dither = match idle {
                    true => 1.5 * (1.0 + 3.0 * effects.misfire * f64::from(self.engine.cylinders)),
                    false => 0.6,
                };
                (
                    (s.rpm - dip + rough * rng.normal()).max(0.0),
                    (s.speed_mps * 3.6).round().min(255.0) as u16,
                    s.load * 100.0 + 0.3 * rng.normal(),
                    s.maf_g_s * (1.0 + 0.01 * rng.normal()),
                    s.stft_pct,
                    s.o2_v + 0.015 * rng.normal(),
                    s.timing_deg + idle_dither * rng.normal(),
                )
            }
            false => (0.0, 0, 0.0, 0.0, 0.0, 0.45, 0.0),
        };
        let ltft = s.ltft_pct[if s.engine_on { s.cell } else { 0 }];
        let throttle = match s.engine_on {
            true => s.throttle_pct + 0.2 * rng.normal(),
            false => self.traits.closed_throttle_pct,
        };
        let voltage = s.voltage + (0.02 * rng.normal()).clamp(-0.04, 0.04);
        Telemetry {
            vin: self.vin,
            ts,
            model: self.model.name.into(),
            engine_l: self.engine.displacement_l as f32,
            region: REGIONS[self.region].name.into(),
            engine_rpm: record::quantize(rpm, 0.25) as f32,
            vehicle_speed_kmh: speed,
            engine_load_pct: record::percent(load),
            coolant_temp_c: record::temperature(s.coolant_c),
            intake_air_temp_c: record::temperature(s.iat_c),
            maf_g_s: record::decimals(maf.clamp(0.0, 655.35), 2),
            throttle_pct: record::percent(throttle),
            short_term_fuel_trim_pct: record::trim(stft),
            long_term_fuel_trim_pct: record::trim(ltft),
            o2_sensor_v: record::quantize(o2.clamp(0.0, 1.275), 0.005) as f32,
            timing_advance_deg: record::quantize(timing.clamp(-64.0, 63.5), 0.5) as f32,
            control_module_voltage_v: record::decimals(voltage, 3),
            oil_temp_c: record::temperature(s.oil_c),
            ambient_air_temp_c: record::temperature(s.ambient_c),
            odometer_km: (s.odometer_km * 10.0).round() / 10.0,
            dtcs: self.dtcs,
        }
    }
}
