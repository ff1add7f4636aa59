//! A vehicle's health score: each window's anomaly score averaged with the vehicle's recent
//! windows, so that the verdict rests on more than one window.
//!
//! A fault's first tenths show in some windows only, and a healthy engine at the fleet's
//! edge scores high in an odd window; both are single windows out of line with the vehicle's
//! others. The health score of a window is the mean of three scores: the window's own, the
//! mean over the vehicle's last [`SHORT_RUN`] windows and the mean over its last
//! [`LONG_RUN`] windows (each counting the window itself). The runs count windows, not
//! time, so a vehicle's last trip still counts at the start of its next one.
//!
//! The fleet job computes the same with two `ROWS` OVER windows (`jobs/fleet/pipeline.sql`);
//! training picks the model's threshold on these scores, and evaluation measures them.

use std::collections::HashMap;
use std::hash::Hash;

use crate::error::{MlError, Result};

/// The windows of the short run, the current one included.
pub const SHORT_RUN: usize = 4;

/// The windows of the long run, the current one included.
pub const LONG_RUN: usize = 12;

/// Each window's health score, in the order given: `vehicles[i]` is window `i`'s vehicle,
/// `ends[i]` its end (which orders a vehicle's windows) and `scores[i]` its anomaly score.
pub fn health_scores<K: Eq + Hash>(
    vehicles: &[K],
    ends: &[i64],
    scores: &[f64],
) -> Result<Vec<f64>> {
    for (what, actual) in [("window ends", ends.len()), ("scores", scores.len())] {
        if actual != vehicles.len() {
            return Err(MlError::LengthMismatch {
                what: what.to_string(),
                expected: vehicles.len(),
                actual,
            });
        }
    }
    let mut by_vehicle: HashMap<&K, Vec<usize>> = HashMap::new();
    for (row, vehicle) in vehicles.iter().enumerate() {
        by_vehicle.entry(vehicle).or_default().push(row);
    }
    let mut health = vec![0.0; scores.len()];
    for mut rows in by_vehicle.into_values() {
        rows.sort_by_key(|&row| ends[row]);
        let ordered: Vec<f64> = rows.iter().map(|&row| scores[row]).collect();
        for (at, &row) in rows.iter().enumerate() {
            let mean_of_last = |run: usize| {
                let last = &ordered[(at + 1).saturating_sub(run)..=at];
                last.iter().sum::<f64>() / last.len() as f64
            };
            health[row] = (ordered[at] + mean_of_last(SHORT_RUN) + mean_of_last(LONG_RUN)) / 3.0;
        }
    }
    Ok(health)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_each_vehicle_over_its_own_windows_in_time_order() {
        // Vehicle a's windows come out of order and interleaved with b's.
        let vehicles = ["a", "b", "a", "a", "b"];
        let ends = [300, 100, 100, 200, 200];
        let scores = [0.9, 0.5, 0.0, 0.3, 0.1];
        let health = health_scores(&vehicles, &ends, &scores).unwrap();
        // a in order: 0.0, 0.3, 0.9. Its first window is only itself.
        assert_eq!(health[2], 0.0);
        // Its second: (0.3 + 0.15 + 0.15) / 3.
        assert!((health[3] - 0.2).abs() < 1e-12);
        // Its third: (0.9 + 0.4 + 0.4) / 3.
        assert!((health[0] - 1.7 / 3.0).abs() < 1e-12);
        // b in order: 0.5, 0.1; a's scores never enter.
        assert_eq!(health[1], 0.5);
        assert!((health[4] - (0.1 + 0.3 + 0.3) / 3.0).abs() < 1e-12);
    }

    #[test]
    fn runs_are_counted_in_windows() {
        let scores: Vec<f64> = (0..20).map(|i| if i < 8 { 1.0 } else { 0.0 }).collect();
        let vehicles = vec!["v"; 20];
        let ends: Vec<i64> = (0..20).collect();
        let health = health_scores(&vehicles, &ends, &scores).unwrap();
        // Window 11: its last 4 are all 0, its last 12 (0..=11) hold eight 1s.
        assert!((health[11] - (8.0 / 12.0) / 3.0).abs() < 1e-12);
        // Window 19: the last 12 (8..=19) are all 0.
        assert_eq!(health[19], 0.0);
    }

    #[test]
    fn mismatched_lengths_are_refused() {
        let err = health_scores(&["a", "b"], &[1], &[0.1, 0.2]).unwrap_err();
        assert!(err.to_string().contains("window ends"), "{err}");
    }
}
