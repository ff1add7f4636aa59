//! Ambient temperature: the season, the time of day and the weather of a region.

use std::f64::consts::TAU;

use crate::catalog::Region;
use crate::rng::hash_signed;

/// Milliseconds in a day.
pub const DAY_MS: f64 = 86_400_000.0;
/// Days in a tropical year.
const YEAR_DAYS: f64 = 365.2422;
/// Days from 1 January to the coldest day of the northern winter.
const COLDEST_DAY: f64 = 17.0;
/// The local hour of the warmest part of the day.
const WARMEST_HOUR: f64 = 15.0;
/// Spacing of the knots of the fast weather noise (fronts passing), ms.
const FAST_KNOT_MS: f64 = 8.0 * 3_600_000.0;
/// Spacing of the knots of the slow weather noise (warm and cold spells), ms.
const SLOW_KNOT_MS: f64 = 2.5 * DAY_MS;
/// Amplitude of the fast weather noise, °C.
const FAST_WEATHER_C: f64 = 2.5;
/// Amplitude of the slow weather noise, °C.
const SLOW_WEATHER_C: f64 = 4.0;

/// The ambient temperature of `region` (number `region_index` in the catalogue) at `t_ms`
/// (epoch ms), in °C.
///
/// `season_day` is the day (since the epoch) whose season applies: the simulation's drift
/// clock, which runs at `--drift` times simulated time, so that seasons can pass faster than
/// days or stand still. The daily cycle and the weather follow `t_ms` itself. The weather is
/// smooth noise shared by every vehicle of the region, fixed by `seed`.
pub fn ambient_c(
    region: &Region,
    region_index: usize,
    seed: u64,
    t_ms: i64,
    season_day: f64,
) -> f64 {
    let season = -region.season_amplitude_c * (TAU * (season_day - COLDEST_DAY) / YEAR_DAYS).cos();
    let local_hour = (t_ms as f64 / 3_600_000.0 + region.utc_offset_h).rem_euclid(24.0);
    let daily = region.diurnal_amplitude_c * (TAU * (local_hour - WARMEST_HOUR) / 24.0).cos();
    let t = t_ms as f64;
    let weather = FAST_WEATHER_C * smooth_noise(seed, 2 * region_index as u64, t / FAST_KNOT_MS)
        + SLOW_WEATHER_C * smooth_noise(seed, 2 * region_index as u64 + 1, t / SLOW_KNOT_MS);
    region.mean_c + season + daily + weather
}

/// The local hour (0 to 24) in `region` at `t_ms`.
pub fn local_hour(region: &Region, t_ms: i64) -> f64 {
    (t_ms as f64 / 3_600_000.0 + region.utc_offset_h).rem_euclid(24.0)
}

/// The local day of the week in `region` at `t_ms`: 0 is Monday.
pub fn local_weekday(region: &Region, t_ms: i64) -> u32 {
    let days = ((t_ms as f64 / 3_600_000.0 + region.utc_offset_h) / 24.0).floor() as i64;
    // 1 January 1970 was a Thursday.
    (days + 3).rem_euclid(7) as u32
}

/// Value noise in `[-1, 1]`: random values at integer `x`, cosine-interpolated between.
fn smooth_noise(seed: u64, channel: u64, x: f64) -> f64 {
    let knot = x.floor();
    let frac = x - knot;
    let a = hash_signed(seed, channel, knot as i64 as u64);
    let b = hash_signed(seed, channel, (knot as i64 + 1) as u64);
    let w = (1.0 - (std::f64::consts::PI * frac).cos()) / 2.0;
    a + (b - a) * w
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::REGIONS;

    /// 2025-01-15T00:00:00Z and 2025-07-15T00:00:00Z.
    const JANUARY: i64 = 1_736_899_200_000;
    const JULY: i64 = 1_752_537_600_000;

    fn daily_mean(region: usize, t0: i64) -> f64 {
        let day = t0 as f64 / DAY_MS;
        (0..24)
            .map(|h| {
                let t = t0 + h * 3_600_000;
                ambient_c(&REGIONS[region], region, 1, t, day)
            })
            .sum::<f64>()
            / 24.0
    }

    #[test]
    fn seasons_follow_the_hemisphere() {
        let midwest = REGIONS.iter().position(|r| r.name == "us-midwest").unwrap();
        let sydney = REGIONS.iter().position(|r| r.name == "apac-south").unwrap();
        assert!(daily_mean(midwest, JULY) - daily_mean(midwest, JANUARY) > 15.0);
        assert!(daily_mean(sydney, JANUARY) > daily_mean(sydney, JULY));
    }

    #[test]
    fn afternoons_are_warmer_than_nights_and_weather_is_smooth() {
        let r = &REGIONS[5];
        let day = JULY as f64 / DAY_MS;
        // 15:00 and 03:00 local (UTC+1).
        let afternoon = ambient_c(r, 5, 1, JULY + 14 * 3_600_000, day);
        let night = ambient_c(r, 5, 1, JULY + 2 * 3_600_000, day);
        assert!(afternoon > night + 3.0, "{afternoon} vs {night}");
        for minute in 0..600 {
            let t = JULY + minute * 60_000;
            let step = ambient_c(r, 5, 1, t + 60_000, day) - ambient_c(r, 5, 1, t, day);
            assert!(step.abs() < 0.1, "{step}");
        }
        assert_eq!(local_weekday(r, JANUARY), 2, "2025-01-15 was a Wednesday");
    }
}
