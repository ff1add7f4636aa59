//! Driving cycles: when a vehicle is used (its duty), how a trip is made up (urban, highway and
//! idling legs), and the speed its driver aims for from one moment to the next.
//!
//! A vehicle is parked until its next departure; then the engine starts, it idles to warm up,
//! drives the legs of the trip — urban stop-and-go (accelerate to 25–60 km/h, cruise, brake to
//! a stop at a light), highway cruising at 80–135 km/h with the odd slowdown, or idling in
//! place — comes to a stop and the engine is switched off.

use crate::rng::Rng;

/// Most legs in one trip.
const MAX_LEGS: usize = 4;

/// How a vehicle is used, which decides when it drives and what its trips look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Duty {
    /// A pool car: to work and back on weekdays, errands, leisure at weekends.
    Commuter,
    /// A delivery van: short urban hops all through a working shift, six days a week.
    Delivery,
    /// A taxi: fares back to back through a ten-hour shift, six days a week.
    Taxi,
    /// A field-service or sales car: long highway legs on weekdays.
    LongDistance,
}

/// What a vehicle is doing, as far as its driving cycle goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    /// Engine off.
    Parked,
    /// The first minute after starting an engine that was cold: fast idle.
    ColdStart,
    /// Idling in place after the start, before moving off.
    WarmUp,
    /// Standing still with the engine running: at a light, waiting, or at the end of a trip.
    Idle,
    /// Moving in town: stop-and-go.
    Urban,
    /// Moving on a highway.
    Highway,
}

/// A part of a trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leg {
    Urban,
    Highway,
    Idle,
}

/// The legs of one trip with their durations in seconds.
#[derive(Debug, Clone, Copy)]
struct Trip {
    legs: [(Leg, f32); MAX_LEGS],
    len: u8,
}

/// Where the driver is in the day.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Engine off until the departure.
    Parked { left_s: f64 },
    /// Idling before moving off.
    WarmUp { left_s: f64 },
    /// On leg `at` of the trip, with `left_s` of it to go.
    Driving { at: u8, left_s: f64 },
    /// The trip is over: braking to a stop, then the engine goes off.
    Arriving,
}

/// What the driver does now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Command {
    /// Whether the engine should be running.
    pub engine_on: bool,
    /// The speed the driver aims for, km/h.
    pub target_kmh: f64,
    /// Idling before moving off (the warm-up of the cycle).
    pub warming_up: bool,
    /// On a highway leg.
    pub highway: bool,
}

/// What the driver knows about the world.
#[derive(Debug, Clone, Copy)]
pub struct Surroundings {
    /// Local hour of day, 0 to 24.
    pub local_hour: f64,
    /// Local day of the week, 0 (Monday) to 6.
    pub weekday: u32,
    /// Ambient temperature, °C.
    pub ambient_c: f64,
    /// The vehicle's current speed, km/h.
    pub speed_kmh: f64,
}

/// A driver with a duty and a day planned around it.
#[derive(Debug, Clone)]
pub struct Driver {
    duty: Duty,
    /// Local hour the working shift starts (delivery, taxi).
    shift_start_h: f64,
    /// The day of the week off (taxi).
    day_off: u32,
    /// Scales targets and accelerations: 0.85 (calm) to 1.15 (brisk).
    temperament: f64,
    phase: Phase,
    trip: Trip,
    /// The target of the current motion, km/h, and how long it holds.
    motion_target_kmh: f64,
    motion_left_s: f64,
}

impl Duty {
    /// Picks a duty from relative `shares` of commuter, delivery, taxi and long-distance duty
    /// (a model's [`Model::duty_shares`](crate::Model::duty_shares)).
    pub fn pick(shares: &[f64; 4], rng: &mut Rng) -> Duty {
        [
            Duty::Commuter,
            Duty::Delivery,
            Duty::Taxi,
            Duty::LongDistance,
        ][rng.weighted(shares)]
    }
}

impl Activity {
    /// The activity's name in snake case.
    pub fn name(self) -> &'static str {
        match self {
            Activity::Parked => "parked",
            Activity::ColdStart => "cold_start",
            Activity::WarmUp => "warm_up",
            Activity::Idle => "idle",
            Activity::Urban => "urban",
            Activity::Highway => "highway",
        }
    }
}

impl Trip {
    fn new(legs: &[(Leg, f64)]) -> Trip {
        let mut trip = Trip {
            legs: [(Leg::Idle, 0.0); MAX_LEGS],
            len: legs.len() as u8,
        };
        for (slot, &(leg, s)) in trip.legs.iter_mut().zip(legs) {
            *slot = (leg, s as f32);
        }
        trip
    }
}

impl Driver {
    /// A driver starting parked at `local_hour` on `weekday`, departing when its duty says.
    pub fn new(duty: Duty, local_hour: f64, weekday: u32, rng: &mut Rng) -> Driver {
        let shift_start_h = match duty {
            Duty::Delivery => rng.range(6.5, 8.5),
            Duty::Taxi if rng.chance(0.5) => rng.range(5.0, 8.0),
            Duty::Taxi => rng.range(14.0, 17.0),
            _ => rng.range(6.8, 8.3),
        };
        let mut driver = Driver {
            duty,
            shift_start_h,
            day_off: rng.below(7) as u32,
            temperament: rng.range(0.85, 1.15),
            phase: Phase::Parked { left_s: 0.0 },
            trip: Trip::new(&[]),
            motion_target_kmh: 0.0,
            motion_left_s: 0.0,
        };
        let wait_h = driver.next_departure_h(local_hour, weekday, rng);
        driver.phase = Phase::Parked {
            left_s: wait_h * 3600.0,
        };
        driver
    }

    /// The driver's duty.
    pub fn duty(&self) -> Duty {
        self.duty
    }

    /// Scales how briskly the driver accelerates.
    pub fn temperament(&self) -> f64 {
        self.temperament
    }

    /// Advances the driver by `dt` seconds and says what to do.
    pub fn step(&mut self, dt: f64, around: &Surroundings, rng: &mut Rng) -> Command {
        match self.phase {
            Phase::Parked { left_s } if left_s > dt => {
                self.phase = Phase::Parked {
                    left_s: left_s - dt,
                };
                return Command::parked();
            }
            Phase::Parked { .. } => {
                self.trip = self.plan_trip(around.local_hour, rng);
                let cold_extra = ((5.0 - around.ambient_c) * 4.0).clamp(0.0, 120.0);
                self.phase = Phase::WarmUp {
                    left_s: rng.range(15.0, 60.0) + cold_extra,
                };
            }
            Phase::WarmUp { left_s } if left_s > dt => {
                self.phase = Phase::WarmUp {
                    left_s: left_s - dt,
                };
            }
            Phase::WarmUp { .. } => self.start_leg(0, rng),
            Phase::Driving { at, left_s } if left_s > dt => {
                self.phase = Phase::Driving {
                    at,
                    left_s: left_s - dt,
                };
            }
            Phase::Driving { at, .. } if at + 1 < self.trip.len => self.start_leg(at + 1, rng),
            Phase::Driving { .. } => self.phase = Phase::Arriving,
            Phase::Arriving if around.speed_kmh < 0.5 => {
                let wait_h = self.next_departure_h(around.local_hour, around.weekday, rng);
                self.phase = Phase::Parked {
                    left_s: wait_h * 3600.0,
                };
                return Command::parked();
            }
            Phase::Arriving => {}
        }
        self.command(dt, rng)
    }

    fn command(&mut self, dt: f64, rng: &mut Rng) -> Command {
        let running = |target_kmh, warming_up, highway| Command {
            engine_on: true,
            target_kmh,
            warming_up,
            highway,
        };
        match self.phase {
            Phase::WarmUp { .. } => running(0.0, true, false),
            Phase::Arriving => running(0.0, false, false),
            Phase::Driving { at, .. } => {
                let leg = self.trip.legs[at as usize].0;
                self.motion_left_s -= dt;
                if self.motion_left_s <= 0.0 {
                    self.next_motion(leg, rng);
                }
                running(self.motion_target_kmh, false, leg == Leg::Highway)
            }
            Phase::Parked { .. } => Command::parked(),
        }
    }

    fn start_leg(&mut self, at: u8, rng: &mut Rng) {
        let (leg, seconds) = self.trip.legs[at as usize];
        self.phase = Phase::Driving {
            at,
            left_s: f64::from(seconds),
        };
        self.next_motion(leg, rng);
    }

    /// Picks the next stretch of a leg: a target speed and how long it holds.
    fn next_motion(&mut self, leg: Leg, rng: &mut Rng) {
        let t = self.temperament;
        (self.motion_target_kmh, self.motion_left_s) = match leg {
            Leg::Idle => (0.0, f64::INFINITY),
            // Stop at a light (or in a queue), unless the last stretch was a stop.
            Leg::Urban if self.motion_target_kmh > 0.0 && rng.chance(0.55) => {
                (0.0, rng.range(5.0, 50.0))
            }
            Leg::Urban => (
                (rng.range(25.0, 60.0) * t).clamp(20.0, 65.0),
                rng.range(15.0, 90.0),
            ),
            Leg::Highway if rng.chance(0.08) => (rng.range(40.0, 80.0), rng.range(20.0, 90.0)),
            Leg::Highway => (
                rng.gauss(108.0 * (0.9 + 0.1 * t), 9.0).clamp(80.0, 135.0),
                rng.range(60.0, 300.0),
            ),
        };
    }

    /// Hours from now (`local_hour` on `weekday`) to the next departure.
    fn next_departure_h(&self, h: f64, weekday: u32, rng: &mut Rng) -> f64 {
        let weekend = weekday >= 5;
        let tomorrow_weekend = (weekday + 1) % 7 >= 5;
        match self.duty {
            Duty::Commuter => {
                let tomorrow = if tomorrow_weekend {
                    rng.range(9.0, 12.0)
                } else {
                    rng.range(6.8, 8.3)
                };
                match h {
                    _ if weekend && h < 9.0 => rng.range(9.0, 12.0) - h,
                    _ if weekend && h < 19.0 && rng.chance(0.5) => rng.range(1.0, 4.0),
                    _ if weekend => 24.0 - h + tomorrow,
                    _ if h < 5.0 => rng.range(6.8, 8.3) - h,
                    _ if h < 11.0 && rng.chance(0.25) => rng.range(12.0, 13.5) - h,
                    _ if h < 15.0 => rng.range(16.3, 18.3) - h,
                    _ if h < 20.5 && rng.chance(0.4) => rng.range(0.7, 2.5),
                    _ => (24.0 - h + tomorrow).max(0.5),
                }
            }
            Duty::Delivery => {
                let shift_h = if weekday == 5 { 5.0 } else { 9.0 };
                let in_shift = weekday != 6
                    && h >= self.shift_start_h - 0.1
                    && h < self.shift_start_h + shift_h - 0.3;
                if in_shift {
                    rng.range(3.0, 12.0) / 60.0
                } else {
                    self.hours_to_shift(h, weekday, |d| d == 6)
                }
            }
            Duty::Taxi => {
                let end = self.shift_start_h + 10.0;
                let since = (h - self.shift_start_h).rem_euclid(24.0);
                let day = if h < self.shift_start_h && end > 24.0 {
                    (weekday + 6) % 7
                } else {
                    weekday
                };
                if day != self.day_off && since < 9.7 {
                    match rng.chance(0.5) {
                        true => rng.range(2.0, 10.0) / 60.0,
                        false => rng.range(0.5, 2.0) / 60.0,
                    }
                } else {
                    let day_off = self.day_off;
                    self.hours_to_shift(h, weekday, |d| d == day_off)
                }
            }
            Duty::LongDistance => match h {
                _ if weekend => 24.0 - h + rng.range(7.0, 9.0),
                _ if h < 6.0 => rng.range(7.0, 9.0) - h,
                _ if h < 17.0 => rng.range(0.5, 2.0),
                _ => 24.0 - h + rng.range(7.0, 9.0),
            },
        }
    }

    /// Hours until the next shift start on a day that is not `off`.
    fn hours_to_shift(&self, h: f64, weekday: u32, off: impl Fn(u32) -> bool) -> f64 {
        let mut wait = self.shift_start_h - h;
        let mut day = weekday;
        if wait <= 0.0 {
            wait += 24.0;
            day = (day + 1) % 7;
        }
        while off(day) {
            wait += 24.0;
            day = (day + 1) % 7;
        }
        wait
    }

    /// Plans the legs of the next trip.
    fn plan_trip(&self, h: f64, rng: &mut Rng) -> Trip {
        let min = |rng: &mut Rng, a: f64, b: f64| rng.range(a, b) * 60.0;
        match self.duty {
            Duty::Commuter if (6.0..10.0).contains(&h) || (15.5..19.5).contains(&h) => {
                match rng.chance(0.7) {
                    true => Trip::new(&[
                        (Leg::Urban, min(rng, 4.0, 12.0)),
                        (Leg::Highway, min(rng, 8.0, 30.0)),
                        (Leg::Urban, min(rng, 3.0, 10.0)),
                    ]),
                    false => Trip::new(&[(Leg::Urban, min(rng, 12.0, 35.0))]),
                }
            }
            Duty::Commuter if rng.chance(0.15) => Trip::new(&[
                (Leg::Urban, min(rng, 5.0, 10.0)),
                (Leg::Highway, min(rng, 30.0, 90.0)),
                (Leg::Urban, min(rng, 5.0, 15.0)),
            ]),
            Duty::Commuter => Trip::new(&[(Leg::Urban, min(rng, 5.0, 20.0))]),
            Duty::Delivery if rng.chance(0.2) => Trip::new(&[
                (Leg::Urban, min(rng, 3.0, 10.0)),
                (Leg::Idle, min(rng, 1.0, 4.0)),
                (Leg::Urban, min(rng, 2.0, 6.0)),
            ]),
            Duty::Delivery => Trip::new(&[(Leg::Urban, min(rng, 4.0, 15.0))]),
            Duty::Taxi if rng.chance(0.15) => Trip::new(&[
                (Leg::Urban, min(rng, 3.0, 8.0)),
                (Leg::Highway, min(rng, 15.0, 35.0)),
                (Leg::Urban, min(rng, 3.0, 8.0)),
            ]),
            Duty::Taxi if rng.chance(0.3) => Trip::new(&[
                (Leg::Idle, min(rng, 1.0, 5.0)),
                (Leg::Urban, min(rng, 5.0, 25.0)),
            ]),
            Duty::Taxi => Trip::new(&[(Leg::Urban, min(rng, 5.0, 25.0))]),
            Duty::LongDistance => Trip::new(&[
                (Leg::Urban, min(rng, 3.0, 8.0)),
                (Leg::Highway, min(rng, 40.0, 120.0)),
                (Leg::Urban, min(rng, 5.0, 15.0)),
            ]),
        }
    }
}

impl Command {
    fn parked() -> Command {
        Command {
            engine_on: false,
            target_kmh: 0.0,
            warming_up: false,
            highway: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drives a driver through `hours` with an ideal vehicle that holds the target speed.
    fn on_hours(duty: Duty, seed: u64, start_h: f64, hours: f64) -> (f64, f64) {
        let mut rng = Rng::new(seed, 0);
        let mut driver = Driver::new(duty, start_h, 1, &mut rng);
        let (mut on, mut highway, mut speed) = (0.0, 0.0, 0.0);
        let steps = (hours * 3600.0) as usize;
        for s in 0..steps {
            let h = start_h + s as f64 / 3600.0;
            let around = Surroundings {
                local_hour: h % 24.0,
                weekday: 1 + (h / 24.0) as u32,
                ambient_c: 15.0,
                speed_kmh: speed,
            };
            let cmd = driver.step(1.0, &around, &mut rng);
            speed = cmd.target_kmh;
            if cmd.engine_on {
                on += 1.0;
            }
            if cmd.highway {
                highway += 1.0;
            }
            assert!(cmd.engine_on || cmd.target_kmh == 0.0);
        }
        (on / 3600.0, highway / 3600.0)
    }

    #[test]
    fn duties_drive_plausible_hours() {
        for seed in 0..5 {
            let (commuter, _) = on_hours(Duty::Commuter, seed, 0.0, 24.0);
            assert!((0.3..4.0).contains(&commuter), "commuter {commuter} h");
            let (delivery, delivery_hw) = on_hours(Duty::Delivery, seed, 0.0, 24.0);
            assert!((2.0..9.0).contains(&delivery), "delivery {delivery} h");
            assert_eq!(delivery_hw, 0.0);
            let (long, long_hw) = on_hours(Duty::LongDistance, seed, 0.0, 24.0);
            assert!(
                long > 1.0 && long_hw > 0.5,
                "long distance {long} h, {long_hw} h highway"
            );
        }
    }
}
