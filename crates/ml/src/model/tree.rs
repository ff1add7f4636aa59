//! One regression tree of the ensemble as trained and stored: complete to its depth in heap
//! order (children of node `i` are `2i + 1` and `2i + 2`), with the per-feature attribution of
//! a row's path. Scoring uses a compiled form of it ([`super::scoring`]).

use serde::{Deserialize, Serialize};

/// The test at an internal node: go left when `value <= threshold`, or when the value is
/// missing and `missing_left` is set.
///
/// A node where growth stopped early is a pass-through: both its subtrees hold the same values,
/// so its test does not matter (and its gain is 0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Split {
    pub(crate) feature: u32,
    pub(crate) threshold: f64,
    pub(crate) missing_left: bool,
}

impl Split {
    /// A split that decides nothing, for nodes where growth stopped.
    pub(crate) fn pass_through() -> Self {
        Self {
            feature: 0,
            threshold: 0.0,
            missing_left: true,
        }
    }

    pub(crate) fn goes_left(&self, value: f64) -> bool {
        value <= self.threshold || (value.is_nan() && self.missing_left)
    }
}

/// A complete binary tree of `depth` levels of splits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Tree {
    pub(crate) depth: u32,
    /// `2^depth - 1` internal nodes, heap order.
    pub(crate) splits: Vec<Split>,
    /// Loss reduction of each split on the training rows (0 at a pass-through): the basis of
    /// feature importance. Kept apart from `splits` so that scoring reads only what it needs.
    pub(crate) gains: Vec<f64>,
    /// `2^(depth+1) - 1` node values, heap order: at a leaf its output (log-odds, learning
    /// rate applied); at an internal node the training-cover-weighted mean of its children.
    pub(crate) values: Vec<f64>,
}

impl Tree {
    /// Nodes in a complete tree of `depth` levels of splits: (internal, all).
    pub(crate) fn node_counts(depth: u32) -> (usize, usize) {
        ((1 << depth) - 1, (1 << (depth + 1)) - 1)
    }

    /// Adds to `contributions[feature]` how much each split on the row's path moved the node
    /// value (child minus parent). The additions sum to the row's output minus `values[0]`.
    pub(crate) fn add_path_contributions(&self, row: &[f64], contributions: &mut [f64]) {
        let mut node = 0;
        for _ in 0..self.depth {
            let split = &self.splits[node];
            let feature = split.feature as usize;
            let child = 2 * node + 2 - usize::from(split.goes_left(row[feature]));
            contributions[feature] += self.values[child] - self.values[node];
            node = child;
        }
    }

    /// Why this tree cannot be used with `feature_count` features, if it cannot.
    pub(crate) fn problem(&self, feature_count: usize, max_depth: u32) -> Option<String> {
        if self.depth > max_depth {
            return Some(format!("depth {} exceeds {max_depth}", self.depth));
        }
        let (internal, all) = Self::node_counts(self.depth);
        if self.splits.len() != internal || self.gains.len() != internal || self.values.len() != all
        {
            return Some(format!(
                "depth {} needs {internal} splits and gains and {all} values, found {}, {} and {}",
                self.depth,
                self.splits.len(),
                self.gains.len(),
                self.values.len()
            ));
        }
        if let Some(split) = self
            .splits
            .iter()
            .find(|split| split.feature as usize >= feature_count)
        {
            return Some(format!(
                "split on feature {} of {feature_count}",
                split.feature
            ));
        }
        let numbers_finite = self.splits.iter().all(|split| split.threshold.is_finite())
            && self.gains.iter().all(|gain| gain.is_finite())
            && self.values.iter().all(|value| value.is_finite());
        (!numbers_finite).then(|| "non-finite threshold, gain or value".to_string())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Depth 2: root on feature 0 at 10 (missing right); left child on feature 1 at 0 (missing
    /// left); right child a pass-through.
    pub(crate) fn example_tree() -> Tree {
        Tree {
            depth: 2,
            splits: vec![
                Split {
                    feature: 0,
                    threshold: 10.0,
                    missing_left: false,
                },
                Split {
                    feature: 1,
                    threshold: 0.0,
                    missing_left: true,
                },
                Split::pass_through(),
            ],
            gains: vec![5.0, 2.0, 0.0],
            values: vec![0.0, -1.0, 1.0, -2.0, 0.0, 1.0, 1.0],
        }
    }

    #[test]
    fn path_contributions_add_up_to_the_output() {
        let tree = example_tree();
        let row = [5.0, -1.0];
        let mut contributions = [0.0; 2];
        tree.add_path_contributions(&row, &mut contributions);
        // Root 0 → left −1 (feature 0), then → −2 (feature 1).
        assert_eq!(contributions, [-1.0, -1.0]);
    }

    #[test]
    fn problems_are_found() {
        let tree = example_tree();
        assert_eq!(tree.problem(2, 8), None);
        assert!(tree.problem(1, 8).unwrap().contains("feature 1 of 1"));
        assert!(tree.problem(2, 1).unwrap().contains("depth 2 exceeds 1"));
        let mut truncated = tree.clone();
        truncated.values.pop();
        assert!(
            truncated
                .problem(2, 8)
                .unwrap()
                .contains("7 values, found 3, 3 and 6")
        );
    }
}
