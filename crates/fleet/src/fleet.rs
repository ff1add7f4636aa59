//! The fleet: its vehicles, built deterministically from a seed, and the clock that moves
//! them forward one sample period at a time, with drift (seasons, ageing, a new model).

use std::thread;

use crate::catalog::{MODELS, REGIONS};
use crate::climate::{self, DAY_MS};
use crate::error::FleetError;
use crate::fault::FaultPlan;
use crate::rng::{Rng, mix};
use crate::vehicle::{RegionNow, Sample, TickContext, Vehicle};
use crate::vin::MAX_VEHICLES;

/// Days of drift time (simulated days × `drift`) after which the new model joins the fleet.
pub const NEW_MODEL_AFTER_DRIFT_DAYS: f64 = 7.0;
/// The new model adds one vehicle for every this many of the initial fleet (at least one).
pub const NEW_MODEL_FLEET_DIVISOR: u64 = 10;
/// The highest sample rate, Hz.
pub const MAX_RATE_HZ: f64 = 100.0;
/// The fastest drift: 10,000 is 27 years of seasons and ageing per simulated day.
pub const MAX_DRIFT: f64 = 10_000.0;
/// Below this many vehicles a tick runs on one thread.
const PARALLEL_MIN_VEHICLES: usize = 2048;
/// Stream of the seed that picks each vehicle's model.
const MODEL_STREAM: u64 = 0x6d6f_6465_6c73;

/// What fleet to simulate.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetConfig {
    /// Vehicles at the start.
    pub vehicles: u64,
    /// Everything random follows from this seed: the same seed gives the same fleet and the
    /// same readings.
    pub seed: u64,
    /// Readings per vehicle per second of simulated time.
    pub rate_hz: f64,
    /// Simulated time at the start, epoch ms.
    pub start_ms: i64,
    /// How fast things change beyond the daily round: seasons advance and vehicles age `drift`
    /// days per simulated day, and the new model arrives after
    /// [`NEW_MODEL_AFTER_DRIFT_DAYS`] ÷ `drift` simulated days. 0 freezes all of it (and
    /// leaves the new model out); 1 is the pace of real life.
    pub drift: f64,
    /// Which vehicles develop which faults, and when.
    pub faults: FaultPlan,
}

impl FleetConfig {
    /// A fleet of `vehicles` starting at `start_ms`, with seed 1, one reading per second, real
    /// drift and the default fault plan.
    pub fn new(vehicles: u64, start_ms: i64) -> FleetConfig {
        FleetConfig {
            vehicles,
            seed: 1,
            rate_hz: 1.0,
            start_ms,
            drift: 1.0,
            faults: FaultPlan::default(),
        }
    }

    fn validate(&self) -> Result<(), FleetError> {
        let bad = |field: &'static str, reason: String| Err(FleetError::Config { field, reason });
        let newcomers = self.vehicles.div_ceil(NEW_MODEL_FLEET_DIVISOR);
        if self.vehicles == 0 || self.vehicles + newcomers > MAX_VEHICLES {
            return bad(
                "vehicles",
                format!(
                    "must be between 1 and {} (VIN serial numbers), got {}",
                    MAX_VEHICLES * NEW_MODEL_FLEET_DIVISOR / (NEW_MODEL_FLEET_DIVISOR + 1),
                    self.vehicles
                ),
            );
        }
        if !(self.rate_hz > 0.0 && self.rate_hz <= MAX_RATE_HZ) {
            return bad(
                "rate",
                format!(
                    "must be above 0 and at most {MAX_RATE_HZ} Hz, got {}",
                    self.rate_hz
                ),
            );
        }
        if !(0.0..=MAX_DRIFT).contains(&self.drift) {
            return bad(
                "drift",
                format!("must be between 0 and {MAX_DRIFT}, got {}", self.drift),
            );
        }
        if !(0.0..=1.0).contains(&self.faults.share) {
            return bad(
                "faulty",
                format!(
                    "the share of faulty vehicles must be between 0 and 1, got {}",
                    self.faults.share
                ),
            );
        }
        if self.faults.progression.is_some_and(|d| d.is_zero()) {
            return bad("fault-progression", "must be longer than zero".into());
        }
        Ok(())
    }
}

/// A simulated fleet.
#[derive(Debug)]
pub struct Fleet {
    config: FleetConfig,
    vehicles: Vec<Vehicle>,
    /// Vehicles `..active` report; the rest are the new model, waiting for its introduction.
    active: usize,
    /// When the new model joins, epoch ms.
    newcomers_at_ms: Option<i64>,
    /// Ticks done.
    ticks: u64,
    period_ms: f64,
}

impl Fleet {
    /// Builds the fleet `config` describes, every vehicle parked.
    pub fn new(config: FleetConfig) -> Result<Fleet, FleetError> {
        config.validate()?;
        let start = context(&config, config.start_ms, 1.0 / config.rate_hz);
        let initial_models: Vec<usize> = (0..MODELS.len())
            .filter(|&m| !MODELS[m].introduced_later)
            .collect();
        let shares: Vec<f64> = initial_models.iter().map(|&m| MODELS[m].share).collect();
        let model_seed = mix(config.seed ^ MODEL_STREAM);
        let mut vehicles: Vec<Vehicle> = (0..config.vehicles)
            .map(|i| {
                let model = initial_models[Rng::new(model_seed, i).weighted(&shares)];
                Vehicle::new(
                    config.seed,
                    i,
                    model,
                    &start,
                    &config.faults,
                    config.start_ms,
                )
            })
            .collect();
        let newcomers_at_ms = (config.drift > 0.0)
            .then(|| config.start_ms + (NEW_MODEL_AFTER_DRIFT_DAYS / config.drift * DAY_MS) as i64);
        if let Some(at_ms) = newcomers_at_ms {
            let arrival = context(&config, at_ms, 1.0 / config.rate_hz);
            let newcomer = MODELS
                .iter()
                .position(|m| m.introduced_later)
                .expect("the catalogue has a model introduced later");
            let count = config.vehicles.div_ceil(NEW_MODEL_FLEET_DIVISOR);
            vehicles.extend(
                (config.vehicles..config.vehicles + count).map(|i| {
                    Vehicle::new(config.seed, i, newcomer, &arrival, &config.faults, at_ms)
                }),
            );
        }
        Ok(Fleet {
            active: config.vehicles as usize,
            period_ms: 1000.0 / config.rate_hz,
            config,
            vehicles,
            newcomers_at_ms,
            ticks: 0,
        })
    }

    /// The configuration the fleet was built from.
    pub fn config(&self) -> &FleetConfig {
        &self.config
    }

    /// Every vehicle, including those of the new model that have not joined yet.
    pub fn vehicles(&self) -> &[Vehicle] {
        &self.vehicles
    }

    /// How many vehicles report now.
    pub fn active(&self) -> usize {
        self.active
    }

    /// When the new model joins the fleet (none without drift), epoch ms.
    pub fn newcomers_at_ms(&self) -> Option<i64> {
        self.newcomers_at_ms
    }

    /// Sample periods simulated so far.
    pub fn ticks(&self) -> u64 {
        self.ticks
    }

    /// Simulated time of the readings of the next tick (before each vehicle's offset within
    /// the period), epoch ms.
    pub fn next_sample_ms(&self) -> i64 {
        self.config.start_ms + ((self.ticks + 1) as f64 * self.period_ms).round() as i64
    }

    /// Advances every reporting vehicle by one sample period, handing each one's sample to
    /// `each`, in vehicle order.
    pub fn tick(&mut self, mut each: impl FnMut(Sample)) {
        let tick = self.begin_tick();
        for vehicle in &mut self.vehicles[..self.active] {
            each(vehicle.advance(&tick));
        }
        self.ticks += 1;
    }

    /// Advances the first `limit` reporting vehicles (normally all of them) by one sample
    /// period on up to `outputs.len()` threads: the vehicles are cut into that many contiguous
    /// runs, and each run's samples go, in order, to its own output through `each`. Reading
    /// the outputs in order gives the samples in vehicle order, however many threads ran.
    /// Returns the number of vehicles advanced.
    ///
    /// # Panics
    ///
    /// If `outputs` is empty.
    pub fn tick_parallel<S, F>(&mut self, limit: usize, outputs: &mut [S], each: F) -> usize
    where
        S: Send,
        F: Fn(&mut S, Sample) + Sync,
    {
        assert!(
            !outputs.is_empty(),
            "tick_parallel needs at least one output"
        );
        let tick = self.begin_tick();
        let n = self.active.min(limit);
        let vehicles = &mut self.vehicles[..n];
        match outputs {
            [only] => vehicles
                .iter_mut()
                .for_each(|v| each(only, v.advance(&tick))),
            [first, ..] if n < PARALLEL_MIN_VEHICLES => vehicles
                .iter_mut()
                .for_each(|v| each(first, v.advance(&tick))),
            _ => {
                let run = n.div_ceil(outputs.len());
                let (tick, each) = (&tick, &each);
                thread::scope(|scope| {
                    for (chunk, out) in vehicles.chunks_mut(run).zip(outputs.iter_mut()) {
                        scope.spawn(move || {
                            for vehicle in chunk {
                                each(out, vehicle.advance(tick));
                            }
                        });
                    }
                });
            }
        }
        self.ticks += 1;
        n
    }

    /// The context of the next tick; brings in the new model when its time has come.
    fn begin_tick(&mut self) -> TickContext {
        let t_ms = self.next_sample_ms();
        if self.newcomers_at_ms.is_some_and(|at| t_ms >= at) {
            self.active = self.vehicles.len();
        }
        context(&self.config, t_ms, self.period_ms / 1000.0)
    }
}

/// The shared conditions of a tick whose readings are at `t_ms`.
fn context(config: &FleetConfig, t_ms: i64, period_s: f64) -> TickContext {
    let drift_days = config.drift * (t_ms - config.start_ms) as f64 / DAY_MS;
    let season_day = config.start_ms as f64 / DAY_MS + drift_days;
    let regions = REGIONS
        .iter()
        .enumerate()
        .map(|(i, region)| RegionNow {
            ambient_c: climate::ambient_c(region, i, config.seed, t_ms, season_day),
            local_hour: climate::local_hour(region, t_ms),
            weekday: climate::local_weekday(region, t_ms),
        })
        .collect();
    TickContext {
        t_ms,
        period_s,
        regions,
        age_added_years: drift_days / 365.25,
    }
}
