//! Data drift: a [`DriftReference`] taken from training data, compared with recent data by
//! the population stability index (PSI) over ten quantile bins plus a missing-value bin, and by
//! the two-sample Kolmogorov–Smirnov statistic.

use serde::{Deserialize, Serialize};

use crate::dataset::Dataset;
use crate::error::{MlError, Result};

/// Quantile bins per feature (before the missing-value bin).
const QUANTILE_BINS: usize = 10;
/// Most reference values kept per feature for the KS statistic.
const MAX_SAMPLE: usize = 2_000;
/// PSI from which a feature is watched.
pub const PSI_WATCH: f64 = 0.1;
/// PSI from which a feature has drifted.
pub const PSI_DRIFT: f64 = 0.25;
/// Share standing in for an empty bin, so that PSI's logarithm stays finite.
const EMPTY_BIN_SHARE: f64 = 1e-4;

/// How far a feature (or the worst feature) has moved, by the standard PSI bands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum DriftStatus {
    /// PSI below [`PSI_WATCH`].
    Stable,
    /// PSI from [`PSI_WATCH`] up to [`PSI_DRIFT`].
    Watch,
    /// PSI of [`PSI_DRIFT`] or more.
    Drift,
}

impl DriftStatus {
    /// The band a PSI value falls in.
    pub fn from_psi(psi: f64) -> Self {
        if psi >= PSI_DRIFT {
            DriftStatus::Drift
        } else if psi >= PSI_WATCH {
            DriftStatus::Watch
        } else {
            DriftStatus::Stable
        }
    }
}

/// One feature's training distribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureReference {
    /// The feature.
    pub name: String,
    /// Inner edges of the quantile bins, ascending and distinct: a value `v` falls in bin `i`,
    /// the number of edges below `v` (so a value equal to an edge is in the lower bin).
    pub bin_edges: Vec<f64>,
    /// Share of training rows in each bin (`bin_edges.len() + 1` bins), then the share of
    /// missing values; sums to 1.
    pub expected_shares: Vec<f64>,
    /// Up to 2,000 present training values, sorted: evenly spaced order statistics when there
    /// were more.
    pub sample: Vec<f64>,
}

/// The training distribution of every feature, to compare recent data with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftReference {
    /// One entry per model feature, in order.
    pub features: Vec<FeatureReference>,
}

/// One feature's drift.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureDrift {
    /// The feature.
    pub name: String,
    /// Population stability index of recent against reference bin shares.
    pub psi: f64,
    /// Kolmogorov–Smirnov statistic between the present values; `None` when either side has no
    /// present value.
    pub ks: Option<f64>,
    /// Recent rows compared (present or missing).
    pub recent_n: u64,
    /// The PSI band.
    pub status: DriftStatus,
}

/// Drift of all features of recent data against a [`DriftReference`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftReport {
    /// One entry per feature, in model order.
    pub features: Vec<FeatureDrift>,
    /// The largest feature PSI.
    pub max_psi: f64,
    /// The band of `max_psi`.
    pub status: DriftStatus,
    /// Whether any feature reached [`PSI_DRIFT`].
    pub drifted: bool,
}

/// Present (non-NaN) values, sorted.
fn sorted_present(values: &[f64]) -> Vec<f64> {
    let mut present: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    present.sort_by(f64::total_cmp);
    present
}

/// Bin shares of `values`: quantile bins by `edges`, then missing.
fn bin_shares(values: &[f64], edges: &[f64]) -> Vec<f64> {
    let mut counts = vec![0u64; edges.len() + 2];
    for &value in values {
        let bin = if value.is_nan() {
            edges.len() + 1
        } else {
            edges.partition_point(|&edge| edge < value)
        };
        counts[bin] += 1;
    }
    let total = values.len().max(1) as f64;
    counts.iter().map(|&count| count as f64 / total).collect()
}

impl FeatureReference {
    fn from_values(name: &str, values: &[f64]) -> Self {
        let present = sorted_present(values);
        let mut bin_edges: Vec<f64> = if present.is_empty() {
            Vec::new()
        } else {
            (1..QUANTILE_BINS)
                // The smallest value with at least bin/10 of the values at or below it.
                .map(|bin| present[(bin * present.len()).div_ceil(QUANTILE_BINS) - 1])
                .collect()
        };
        bin_edges.dedup();
        let sample = if present.len() <= MAX_SAMPLE {
            present
        } else {
            (0..MAX_SAMPLE)
                .map(|index| present[(2 * index + 1) * present.len() / (2 * MAX_SAMPLE)])
                .collect()
        };
        Self {
            name: name.to_string(),
            expected_shares: bin_shares(values, &bin_edges),
            bin_edges,
            sample,
        }
    }

    fn compare(&self, recent: &[f64]) -> FeatureDrift {
        let actual_shares = bin_shares(recent, &self.bin_edges);
        let psi = self
            .expected_shares
            .iter()
            .zip(&actual_shares)
            .map(|(&expected, &actual)| {
                let expected = expected.max(EMPTY_BIN_SHARE);
                let actual = actual.max(EMPTY_BIN_SHARE);
                (actual - expected) * (actual / expected).ln()
            })
            .sum::<f64>();
        FeatureDrift {
            name: self.name.clone(),
            psi,
            ks: kolmogorov_smirnov(&self.sample, &sorted_present(recent)),
            recent_n: recent.len() as u64,
            status: DriftStatus::from_psi(psi),
        }
    }
}

/// The two-sample KS statistic: the largest gap between the empirical distribution functions
/// of two sorted samples. `None` when either is empty.
pub fn kolmogorov_smirnov(sorted_a: &[f64], sorted_b: &[f64]) -> Option<f64> {
    if sorted_a.is_empty() || sorted_b.is_empty() {
        return None;
    }
    let (mut index_a, mut index_b, mut largest_gap) = (0, 0, 0.0_f64);
    while index_a < sorted_a.len() && index_b < sorted_b.len() {
        // Step past every copy of the smaller value in both samples, so ties move together.
        let value = sorted_a[index_a].min(sorted_b[index_b]);
        while index_a < sorted_a.len() && sorted_a[index_a] <= value {
            index_a += 1;
        }
        while index_b < sorted_b.len() && sorted_b[index_b] <= value {
            index_b += 1;
        }
        let gap =
            (index_a as f64 / sorted_a.len() as f64 - index_b as f64 / sorted_b.len() as f64).abs();
        largest_gap = largest_gap.max(gap);
    }
    Some(largest_gap)
}

impl DriftReference {
    /// The reference of each feature of `dataset` (labels are ignored).
    pub fn from_dataset(dataset: &Dataset) -> Result<Self> {
        dataset.validate()?;
        if dataset.rows() == 0 {
            return Err(MlError::EmptyDataset("drift reference data"));
        }
        Ok(Self {
            features: dataset
                .features
                .iter()
                .zip(&dataset.columns)
                .map(|(name, column)| FeatureReference::from_values(name, column))
                .collect(),
        })
    }

    /// The feature names, in order.
    pub fn feature_names(&self) -> Vec<String> {
        self.features
            .iter()
            .map(|feature| feature.name.clone())
            .collect()
    }

    /// Compares a recent dataset, whose features must be the reference's, in order.
    pub fn compare(&self, recent: &Dataset) -> Result<DriftReport> {
        let expected = self.feature_names();
        if recent.features != expected {
            return Err(MlError::SchemaMismatch {
                origin: "recent dataset".to_string(),
                expected,
                actual: recent.features.clone(),
            });
        }
        self.compare_columns(&recent.column_slices())
    }

    /// Compares recent columns, given in the reference's feature order (NaN = missing).
    pub fn compare_columns(&self, columns: &[&[f64]]) -> Result<DriftReport> {
        if columns.len() != self.features.len() {
            return Err(MlError::LengthMismatch {
                what: "recent columns".to_string(),
                expected: self.features.len(),
                actual: columns.len(),
            });
        }
        let features: Vec<FeatureDrift> = self
            .features
            .iter()
            .zip(columns)
            .map(|(reference, recent)| reference.compare(recent))
            .collect();
        let max_psi = features
            .iter()
            .map(|feature| feature.psi)
            .fold(0.0, f64::max);
        let status = DriftStatus::from_psi(max_psi);
        Ok(DriftReport {
            features,
            max_psi,
            status,
            drifted: status == DriftStatus::Drift,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::SplitMix64;

    /// Approximately normal values (sum of 12 uniforms), `share_missing` of them NaN.
    fn normal_column(seed: u64, rows: usize, mean: f64, share_missing: f64) -> Vec<f64> {
        let mut generator = SplitMix64::new(seed);
        (0..rows)
            .map(|_| {
                let value = mean + (0..12).map(|_| generator.next_unit()).sum::<f64>() - 6.0;
                if generator.next_unit() < share_missing {
                    f64::NAN
                } else {
                    value
                }
            })
            .collect()
    }

    fn dataset(columns: Vec<Vec<f64>>) -> Dataset {
        let rows = columns[0].len();
        let features = (0..columns.len()).map(|i| format!("f{i}")).collect();
        Dataset::new(features, columns, vec![false; rows]).unwrap()
    }

    #[test]
    fn reference_has_ten_equal_bins_and_a_capped_sorted_sample() {
        let reference =
            DriftReference::from_dataset(&dataset(vec![normal_column(1, 10_000, 0.0, 0.1)]))
                .unwrap();
        let feature = &reference.features[0];
        assert_eq!(feature.bin_edges.len(), 9);
        assert_eq!(feature.expected_shares.len(), 11);
        assert!((feature.expected_shares.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        for &share in &feature.expected_shares[..10] {
            assert!((share - 0.09).abs() < 0.002, "{share}");
        }
        assert!((feature.expected_shares[10] - 0.1).abs() < 0.01);
        assert_eq!(feature.sample.len(), 2_000);
        assert!(feature.sample.windows(2).all(|pair| pair[0] <= pair[1]));
    }

    #[test]
    fn same_distribution_is_stable() {
        let reference =
            DriftReference::from_dataset(&dataset(vec![normal_column(1, 20_000, 0.0, 0.05)]))
                .unwrap();
        let report = reference
            .compare(&dataset(vec![normal_column(2, 5_000, 0.0, 0.05)]))
            .unwrap();
        let feature = &report.features[0];
        assert!(feature.psi < 0.05, "psi {}", feature.psi);
        assert!(feature.ks.unwrap() < 0.06, "ks {:?}", feature.ks);
        assert_eq!(feature.recent_n, 5_000);
        assert_eq!(report.status, DriftStatus::Stable);
        assert!(!report.drifted);
    }

    #[test]
    fn shifted_distribution_drifts() {
        let reference = DriftReference::from_dataset(&dataset(vec![
            normal_column(1, 20_000, 0.0, 0.0),
            normal_column(3, 20_000, 0.0, 0.0),
        ]))
        .unwrap();
        // The first feature moves by one standard deviation; the second stays.
        let report = reference
            .compare_columns(&[
                &normal_column(2, 5_000, 1.0, 0.0),
                &normal_column(4, 5_000, 0.0, 0.0),
            ])
            .unwrap();
        assert!(report.features[0].psi > 0.25, "{}", report.features[0].psi);
        assert!(report.features[0].ks.unwrap() > 0.3);
        assert_eq!(report.features[0].status, DriftStatus::Drift);
        assert_eq!(report.features[1].status, DriftStatus::Stable);
        assert_eq!(report.max_psi, report.features[0].psi);
        assert!(report.drifted);
    }

    #[test]
    fn missing_values_have_their_own_bin() {
        let reference =
            DriftReference::from_dataset(&dataset(vec![normal_column(1, 20_000, 0.0, 0.0)]))
                .unwrap();
        // Same present values, but 40% of the recent values went missing.
        let report = reference
            .compare_columns(&[&normal_column(2, 5_000, 0.0, 0.4)])
            .unwrap();
        assert!(report.features[0].psi > 0.25, "{}", report.features[0].psi);
        assert!(report.features[0].ks.unwrap() < 0.06);
    }

    #[test]
    fn ks_by_hand() {
        assert_eq!(kolmogorov_smirnov(&[1.0, 2.0], &[3.0, 4.0]), Some(1.0));
        // After 1: 1/3 vs 0; after 2: 2/3 vs 1/2; after 3: 1 vs 1/2; after 5: 1 vs 1.
        assert_eq!(kolmogorov_smirnov(&[1.0, 2.0, 3.0], &[2.0, 5.0]), Some(0.5));
        assert_eq!(kolmogorov_smirnov(&[], &[1.0]), None);
    }

    #[test]
    fn psi_bands() {
        assert_eq!(DriftStatus::from_psi(0.05), DriftStatus::Stable);
        assert_eq!(DriftStatus::from_psi(0.1), DriftStatus::Watch);
        assert_eq!(DriftStatus::from_psi(0.25), DriftStatus::Drift);
    }

    #[test]
    fn reference_round_trips_and_checks_names() {
        let reference =
            DriftReference::from_dataset(&dataset(vec![normal_column(1, 100, 0.0, 0.2)])).unwrap();
        let json = serde_json::to_string(&reference).unwrap();
        assert!(serde_json::from_str::<DriftReference>(&json).unwrap() == reference);
        let mut renamed = dataset(vec![normal_column(2, 100, 0.0, 0.2)]);
        renamed.features = vec!["other".to_string()];
        assert!(matches!(
            reference.compare(&renamed),
            Err(MlError::SchemaMismatch { .. })
        ));
    }
}
