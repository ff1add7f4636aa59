//! Growing one tree on gradient histograms: depth-wise, the best split of each node found over
//! binned features with missing values sent whichever way lowers the loss more.

use super::binning::{CODES_PER_FEATURE, FeatureBins, MISSING_BIN};
use super::tree::{Split, Tree};

/// What bounds a tree's growth and how its leaves are scaled.
pub(crate) struct GrowthLimits {
    pub(crate) max_depth: u32,
    pub(crate) l2_regularization: f64,
    pub(crate) min_child_weight: f64,
    pub(crate) min_split_gain: f64,
    pub(crate) learning_rate: f64,
}

/// The binned training features: bin thresholds and one code column per feature.
pub(crate) struct BinnedFeatures {
    pub(crate) bins: Vec<FeatureBins>,
    pub(crate) codes: Vec<Vec<u8>>,
}

impl BinnedFeatures {
    pub(crate) fn new(columns: &[Vec<f64>], max_bins: usize) -> Self {
        let bins: Vec<FeatureBins> = columns
            .iter()
            .map(|column| FeatureBins::from_values(column, max_bins))
            .collect();
        let codes = bins
            .iter()
            .zip(columns)
            .map(|(bins, column)| column.iter().map(|&value| bins.code(value)).collect())
            .collect();
        Self { bins, codes }
    }
}

/// Sums of gradient and hessian per (feature, bin code).
#[derive(Clone)]
struct Histogram {
    sums: Vec<[f64; 2]>,
}

impl Histogram {
    fn build(binned: &BinnedFeatures, gradients: &[f64], hessians: &[f64], rows: &[u32]) -> Self {
        let mut sums = vec![[0.0; 2]; binned.codes.len() * CODES_PER_FEATURE];
        for (feature_sums, codes) in sums.chunks_exact_mut(CODES_PER_FEATURE).zip(&binned.codes) {
            for &row in rows {
                let row = row as usize;
                let cell = &mut feature_sums[usize::from(codes[row])];
                cell[0] += gradients[row];
                cell[1] += hessians[row];
            }
        }
        Self { sums }
    }

    /// The parent's histogram minus a child's: the other child's.
    fn minus(mut self, child: &Histogram) -> Self {
        for (cell, child_cell) in self.sums.iter_mut().zip(&child.sums) {
            cell[0] -= child_cell[0];
            cell[1] -= child_cell[1];
        }
        self
    }

    fn feature(&self, feature: usize) -> &[[f64; 2]] {
        &self.sums[feature * CODES_PER_FEATURE..(feature + 1) * CODES_PER_FEATURE]
    }

    /// Total gradient and hessian of the node (every row is in one bin of feature 0).
    fn totals(&self) -> (f64, f64) {
        self.feature(0)
            .iter()
            .fold((0.0, 0.0), |(g, h), cell| (g + cell[0], h + cell[1]))
    }
}

/// The best split of a node, in bin terms.
struct BinSplit {
    feature: usize,
    /// Rows with a code up to this go left.
    last_left_code: u8,
    missing_left: bool,
    gain: f64,
}

/// Grows one tree of the limits' depth over the given rows.
pub(crate) fn grow_tree(
    binned: &BinnedFeatures,
    gradients: &[f64],
    hessians: &[f64],
    mut rows: Vec<u32>,
    limits: &GrowthLimits,
) -> Tree {
    let (internal, all) = Tree::node_counts(limits.max_depth);
    let mut grower = Grower {
        binned,
        gradients,
        hessians,
        limits,
        splits: vec![Split::pass_through(); internal],
        gains: vec![0.0; internal],
        values: vec![0.0; all],
    };
    let histogram = Histogram::build(binned, gradients, hessians, &rows);
    grower.grow_node(0, 0, &mut rows, histogram);
    Tree {
        depth: limits.max_depth,
        splits: grower.splits,
        gains: grower.gains,
        values: grower.values,
    }
}

struct Grower<'a> {
    binned: &'a BinnedFeatures,
    gradients: &'a [f64],
    hessians: &'a [f64],
    limits: &'a GrowthLimits,
    splits: Vec<Split>,
    gains: Vec<f64>,
    values: Vec<f64>,
}

impl Grower<'_> {
    fn score(&self, gradient: f64, hessian: f64) -> f64 {
        gradient * gradient / (hessian + self.limits.l2_regularization)
    }

    /// Grows the subtree at `node` (at `depth`) over `rows`, whose histogram is given; returns
    /// the node's training cover (hessian sum).
    fn grow_node(
        &mut self,
        node: usize,
        depth: u32,
        rows: &mut [u32],
        histogram: Histogram,
    ) -> f64 {
        let (gradient, hessian) = histogram.totals();
        let best_split = if depth < self.limits.max_depth {
            self.best_split(&histogram, gradient, hessian)
        } else {
            None
        };
        let Some(best_split) = best_split else {
            let leaf_value =
                -gradient / (hessian + self.limits.l2_regularization) * self.limits.learning_rate;
            self.fill_subtree(node, leaf_value);
            return hessian;
        };

        let codes = &self.binned.codes[best_split.feature];
        let goes_left = |row: &u32| {
            let code = codes[*row as usize];
            if code == MISSING_BIN {
                best_split.missing_left
            } else {
                code <= best_split.last_left_code
            }
        };
        let left_count = partition_in_place(rows, goes_left);
        let (left_rows, right_rows) = rows.split_at_mut(left_count);
        // Build the smaller child's histogram; the larger one is the parent's minus it.
        let (left_histogram, right_histogram) = if left_rows.len() <= right_rows.len() {
            let left = Histogram::build(self.binned, self.gradients, self.hessians, left_rows);
            let right = histogram.minus(&left);
            (left, right)
        } else {
            let right = Histogram::build(self.binned, self.gradients, self.hessians, right_rows);
            let left = histogram.minus(&right);
            (left, right)
        };

        self.splits[node] = Split {
            feature: best_split.feature as u32,
            threshold: self.binned.bins[best_split.feature].thresholds
                [usize::from(best_split.last_left_code)],
            missing_left: best_split.missing_left,
        };
        self.gains[node] = best_split.gain;
        let left_cover = self.grow_node(2 * node + 1, depth + 1, left_rows, left_histogram);
        let right_cover = self.grow_node(2 * node + 2, depth + 1, right_rows, right_histogram);
        let cover = left_cover + right_cover;
        self.values[node] = (left_cover * self.values[2 * node + 1]
            + right_cover * self.values[2 * node + 2])
            / cover;
        cover
    }

    /// The split with the largest gain above the minimum that leaves both children at least
    /// the minimum child weight, if any.
    fn best_split(&self, histogram: &Histogram, gradient: f64, hessian: f64) -> Option<BinSplit> {
        let parent_score = self.score(gradient, hessian);
        let mut best: Option<BinSplit> = None;
        for (feature, bins) in self.binned.bins.iter().enumerate() {
            let cells = histogram.feature(feature);
            let [missing_gradient, missing_hessian] = cells[usize::from(MISSING_BIN)];
            let (mut left_gradient, mut left_hessian) = (0.0, 0.0);
            for (code, cell) in cells.iter().enumerate().take(bins.thresholds.len()) {
                left_gradient += cell[0];
                left_hessian += cell[1];
                let present_hessian = hessian - missing_hessian;
                // With no missing value in the node, missing values (met later) follow the
                // larger child.
                let directions: &[bool] = if missing_hessian > 0.0 {
                    &[false, true]
                } else {
                    &[left_hessian >= present_hessian - left_hessian]
                };
                for &missing_left in directions {
                    let (g_left, h_left) = if missing_left {
                        (
                            left_gradient + missing_gradient,
                            left_hessian + missing_hessian,
                        )
                    } else {
                        (left_gradient, left_hessian)
                    };
                    let (g_right, h_right) = (gradient - g_left, hessian - h_left);
                    if h_left < self.limits.min_child_weight
                        || h_right < self.limits.min_child_weight
                    {
                        continue;
                    }
                    let gain =
                        self.score(g_left, h_left) + self.score(g_right, h_right) - parent_score;
                    if gain > self.limits.min_split_gain
                        && best.as_ref().is_none_or(|best| gain > best.gain)
                    {
                        best = Some(BinSplit {
                            feature,
                            last_left_code: code as u8,
                            missing_left,
                            gain,
                        });
                    }
                }
            }
        }
        best
    }

    /// Makes `node` a leaf of `value`: every node below it takes the same value and keeps its
    /// pass-through split.
    fn fill_subtree(&mut self, node: usize, value: f64) {
        let mut level_start = node;
        let mut level_width = 1;
        while level_start < self.values.len() {
            self.values[level_start..level_start + level_width].fill(value);
            level_start = 2 * level_start + 1;
            level_width *= 2;
        }
    }
}

/// Moves the rows for which `goes_left` holds to the front; returns how many there are.
fn partition_in_place(rows: &mut [u32], goes_left: impl Fn(&u32) -> bool) -> usize {
    let mut left_count = 0;
    for index in 0..rows.len() {
        if goes_left(&rows[index]) {
            rows.swap(left_count, index);
            left_count += 1;
        }
    }
    left_count
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_depth: u32) -> GrowthLimits {
        GrowthLimits {
            max_depth,
            l2_regularization: 0.0,
            min_child_weight: 0.5,
            min_split_gain: 0.0,
            learning_rate: 1.0,
        }
    }

    #[test]
    fn a_stump_finds_the_separating_threshold_and_newton_leaves() {
        // Feature 0 separates the targets at 4 | 5; feature 1 is noise.
        let columns = vec![
            vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
            vec![5.0, 1.0, 7.0, 3.0, 2.0, 8.0, 4.0, 6.0],
        ];
        let binned = BinnedFeatures::new(&columns, 255);
        // Squared-error-like gradients: prediction 0, targets −1 ×4 then +1 ×4.
        let gradients = [1.0, 1.0, 1.0, 1.0, -1.0, -1.0, -1.0, -1.0];
        let hessians = [1.0; 8];
        let tree = grow_tree(&binned, &gradients, &hessians, (0..8).collect(), &limits(1));
        assert_eq!(tree.splits[0].feature, 0);
        assert_eq!(tree.splits[0].threshold, 4.5);
        // Gain: 4² / 4 + 4² / 4 − 0² / 8.
        assert_eq!(tree.gains[0], 8.0);
        assert_eq!(tree.values, vec![0.0, -1.0, 1.0]);
    }

    #[test]
    fn missing_values_go_where_they_help() {
        // Missing rows have the positive targets' gradient: they must go right, with them.
        let columns = vec![vec![1.0, 2.0, 3.0, 4.0, f64::NAN, f64::NAN]];
        let binned = BinnedFeatures::new(&columns, 255);
        let gradients = [1.0, 1.0, -1.0, -1.0, -1.0, -1.0];
        let tree = grow_tree(&binned, &gradients, &[1.0; 6], (0..6).collect(), &limits(1));
        assert_eq!(tree.splits[0].threshold, 2.5);
        assert!(!tree.splits[0].missing_left);
        // The right leaf: −(−4) / 4.
        assert_eq!(tree.values[2], 1.0);
    }

    #[test]
    fn growth_stops_where_no_split_helps_and_fills_below() {
        // All gradients equal: no split gains anything.
        let columns = vec![vec![1.0, 2.0, 3.0, 4.0]];
        let binned = BinnedFeatures::new(&columns, 255);
        let tree = grow_tree(&binned, &[2.0; 4], &[1.0; 4], (0..4).collect(), &limits(2));
        assert_eq!(tree.gains, vec![0.0; 3]);
        assert_eq!(tree.values, vec![-2.0; 7]);
    }
}
