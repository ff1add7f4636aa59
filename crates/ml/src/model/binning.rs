//! Bins for histogram training: per feature, up to 255 ordered value bins cut by thresholds
//! taken from the training values, plus one bin for missing values.

/// The bin code of a missing (NaN) value.
pub(crate) const MISSING_BIN: u8 = u8::MAX;
/// Bin codes per feature in a histogram: value bins `0..=254` and [`MISSING_BIN`].
pub(crate) const CODES_PER_FEATURE: usize = MISSING_BIN as usize + 1;
/// The most value bins a feature can have.
pub(crate) const MAX_VALUE_BINS: usize = MISSING_BIN as usize;

/// Ascending thresholds that cut one feature's values into bins: a value's bin is the number
/// of thresholds below it, so `value <= thresholds[b]` exactly when its bin is `b` or lower.
pub(crate) struct FeatureBins {
    pub(crate) thresholds: Vec<f64>,
}

impl FeatureBins {
    /// Thresholds for at most `max_bins` bins. With few distinct finite values, one bin each
    /// (thresholds halfway between neighbours, so unseen values in between go to the nearer
    /// side); otherwise quantiles. Non-finite values take no part (±∞ fall in the outer bins,
    /// NaN in the missing bin), so every threshold is finite.
    pub(crate) fn from_values(values: &[f64], max_bins: usize) -> Self {
        let mut finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        finite.sort_by(f64::total_cmp);
        let mut distinct = finite.clone();
        distinct.dedup();
        let thresholds = if distinct.len() <= max_bins {
            distinct
                .windows(2)
                .map(|pair| pair[0] / 2.0 + pair[1] / 2.0)
                .collect()
        } else {
            let mut cuts: Vec<f64> = (1..max_bins)
                .map(|bin| finite[bin * finite.len() / max_bins])
                .collect();
            cuts.dedup();
            // A cut at the largest value would leave its upper bin empty.
            cuts.retain(|&cut| cut < distinct[distinct.len() - 1]);
            cuts
        };
        Self { thresholds }
    }

    /// The bin code of `value`.
    pub(crate) fn code(&self, value: f64) -> u8 {
        if value.is_nan() {
            MISSING_BIN
        } else {
            // At most 254 thresholds, so the count fits below MISSING_BIN.
            self.thresholds
                .partition_point(|&threshold| threshold < value) as u8
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_distinct_values_get_one_bin_each() {
        let bins = FeatureBins::from_values(&[3.0, 1.0, 2.0, 1.0, f64::NAN, f64::INFINITY], 255);
        assert_eq!(bins.thresholds, vec![1.5, 2.5]);
        assert_eq!(bins.code(1.0), 0);
        assert_eq!(bins.code(2.0), 1);
        assert_eq!(bins.code(2.5), 1);
        assert_eq!(bins.code(7.0), 2);
        assert_eq!(bins.code(f64::INFINITY), 2);
        assert_eq!(bins.code(f64::NEG_INFINITY), 0);
        assert_eq!(bins.code(f64::NAN), MISSING_BIN);
    }

    #[test]
    fn many_values_get_quantile_bins_of_equal_size() {
        let values: Vec<f64> = (0..10_000).map(f64::from).collect();
        let bins = FeatureBins::from_values(&values, 4);
        assert_eq!(bins.thresholds, vec![2_500.0, 5_000.0, 7_500.0]);
        let mut counts = [0; 4];
        for &value in &values {
            counts[usize::from(bins.code(value))] += 1;
        }
        assert_eq!(counts, [2_501, 2_500, 2_500, 2_499]);
    }
}
