//! # spate-fleet: a vehicle fleet simulator
//!
//! Simulates a fleet of vehicles sending OBD-II telemetry, for predictive-maintenance
//! pipelines: each vehicle has a VIN, a model, an engine and a home region, drives through
//! daily duty cycles (cold start, warm-up, idle, urban stop-and-go, highway), and reports
//! correlated Mode 01 PIDs with physically plausible values. Some vehicles develop faults —
//! a thermostat stuck open or closed, a vacuum leak, a dirty MAF, a lazy O2 sensor, a
//! misfire, a failing alternator — that start at an onset, worsen over hours or days, show
//! the signature a mechanic would recognise, and set the matching trouble code once the
//! engine computer's monitors notice. Seasons, ageing and a new model make the data drift.
//! Ground truth goes to a separate label stream, never into the telemetry.
//!
//! Everything follows from a seed: each vehicle draws from its own random stream, so a run
//! is reproducible however many threads simulate it.
//!
//! ```
//! use spate_fleet::{Fleet, FleetConfig};
//!
//! let mut fleet = Fleet::new(FleetConfig::new(10, 1_735_689_600_000)).unwrap();
//! let mut readings = Vec::new();
//! fleet.tick(|sample| readings.push(sample.telemetry));
//! assert_eq!(readings.len(), 10);
//! assert!(readings.iter().all(|r| r.engine_rpm == 0.0), "everyone starts parked");
//! ```
//!
//! [`run`] drives a fleet into a [`Sink`] in paced batches; [`SinkUri`] opens the sink for a
//! `log://`, `file://` or `mqtt://` URI. [`GroundTruth`] reads the labels back, for training
//! and evaluating a model.

#![warn(missing_docs)]

mod catalog;
mod climate;
mod cycle;
mod dtc;
mod error;
mod fault;
mod fleet;
mod record;
mod rng;
mod run;
mod sink;
mod truth;
mod vehicle;
mod vin;

pub use catalog::{EngineSpec, MODELS, Model, REGIONS, Region};
pub use cycle::{Activity, Duty};
pub use dtc::{Dtc, Dtcs};
pub use error::{FleetError, SinkError};
pub use fault::{Fault, FaultKind, FaultPlan};
pub use fleet::{
    Fleet, FleetConfig, MAX_DRIFT, MAX_RATE_HZ, NEW_MODEL_AFTER_DRIFT_DAYS, NEW_MODEL_FLEET_DIVISOR,
};
pub use record::{Label, Telemetry};
pub use run::{Progress, RunOptions, Speedup, run};
pub use sink::{
    DEFAULT_PARTITIONS, Encoded, EncodedRecord, FileSink, LabelFileSink, LogSink, MqttSink, Sink,
    SinkUri,
};
pub use truth::{GroundTruth, TruthError, WindowTruth};
pub use vehicle::{AIR_G_S_PER_L_RPM, Sample, Vehicle};
pub use vin::{MAX_VEHICLES, Vin};
