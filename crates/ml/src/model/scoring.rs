//! Fast scoring: trees compiled to a form that decides each split with one comparison, and
//! rows scored a block at a time.
//!
//! A split "value ≤ t, missing goes to side S" becomes "read slot i of the row, compare
//! `slot < bound`, true goes to the first child": with missing going right, slot i holds the
//! value and the bound is the next float above t (so `<` means `≤ t`); with missing going left,
//! slot i holds the negated value, the bound is −t (so `<` means `> t`) and the children are
//! swapped. A missing value (NaN) fails every `<`, so it goes to the second child, which is
//! the side it was trained to go to — no test for missing values is left in the walk.

use super::tree::Tree;

/// Rows copied and scored together by every tree.
const BLOCK_ROWS: usize = 256;
/// Rows walked down a tree together: their walks are independent, so the processor overlaps
/// their loads instead of waiting on one row's chain of loads.
const INTERLEAVED_ROWS: usize = 16;

/// One internal node of a compiled tree.
#[derive(Debug, Clone, Copy, PartialEq)]
struct CompiledNode {
    bound: f64,
    /// Index into a row's slots: `feature` for the value, `features + feature` for its negation.
    slot: u32,
}

/// A [`Tree`] compiled for scoring (see the module doc).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CompiledTree {
    depth: u32,
    /// `2^depth - 1` internal nodes, heap order.
    nodes: Vec<CompiledNode>,
    /// `2^depth` leaf outputs; leaf `i` is heap node `2^depth - 1 + i`.
    leaves: Vec<f64>,
}

impl CompiledTree {
    /// Compiles `tree`, which splits on some of `features` features.
    pub(crate) fn compile(tree: &Tree, features: usize) -> Self {
        let (internal, _) = Tree::node_counts(tree.depth);
        let mut compiled = CompiledTree {
            depth: tree.depth,
            nodes: vec![
                CompiledNode {
                    bound: 0.0,
                    slot: 0
                };
                internal
            ],
            leaves: vec![0.0; internal + 1],
        };
        compiled.place(tree, features, 0, 0, 0);
        compiled
    }

    /// Copies the subtree of `tree` at `node` into this tree at `compiled_node`.
    fn place(
        &mut self,
        tree: &Tree,
        features: usize,
        node: usize,
        compiled_node: usize,
        level: u32,
    ) {
        if level == self.depth {
            self.leaves[compiled_node - self.nodes.len()] = tree.values[node];
            return;
        }
        let split = &tree.splits[node];
        let feature = split.feature as usize;
        let (left, right) = (2 * node + 1, 2 * node + 2);
        let (slot, bound, first, second) = if split.missing_left {
            (features + feature, -split.threshold, right, left)
        } else {
            (feature, split.threshold.next_up(), left, right)
        };
        self.nodes[compiled_node] = CompiledNode {
            bound,
            slot: slot as u32,
        };
        self.place(tree, features, first, 2 * compiled_node + 1, level + 1);
        self.place(tree, features, second, 2 * compiled_node + 2, level + 1);
    }

    /// The output for one row of slots (see [`fill_slots`]).
    fn predict_slots(&self, slots: &[f64]) -> f64 {
        let mut node = 0;
        for _ in 0..self.depth {
            let split = &self.nodes[node];
            node = 2 * node + 2 - usize::from(slots[split.slot as usize] < split.bound);
        }
        self.leaves[node - self.nodes.len()]
    }

    /// Adds the output for each row of `slots` (`row_width` slots per row) to its margin.
    fn add_outputs(&self, slots: &[f64], row_width: usize, margins: &mut [f64]) {
        let mut margin_groups = margins.chunks_exact_mut(INTERLEAVED_ROWS);
        let mut slot_groups = slots.chunks_exact(INTERLEAVED_ROWS * row_width);
        for (group_margins, group_slots) in (&mut margin_groups).zip(&mut slot_groups) {
            let mut nodes = [0usize; INTERLEAVED_ROWS];
            for _ in 0..self.depth {
                for (lane, node) in nodes.iter_mut().enumerate() {
                    let split = &self.nodes[*node];
                    let value = group_slots[lane * row_width + split.slot as usize];
                    *node = 2 * *node + 2 - usize::from(value < split.bound);
                }
            }
            for (margin, node) in group_margins.iter_mut().zip(nodes) {
                *margin += self.leaves[node - self.nodes.len()];
            }
        }
        let remaining_rows = slot_groups.remainder().chunks_exact(row_width);
        for (margin, row_slots) in margin_groups
            .into_remainder()
            .iter_mut()
            .zip(remaining_rows)
        {
            *margin += self.predict_slots(row_slots);
        }
    }
}

/// Writes rows `first_row..first_row + rows` of `columns` as slots, row by row: each row's
/// values in feature order, then their negations.
fn fill_slots(columns: &[&[f64]], first_row: usize, rows: usize, slots: &mut [f64]) {
    let features = columns.len();
    for (feature, column) in columns.iter().enumerate() {
        let block_column = &column[first_row..first_row + rows];
        for (row_slots, &value) in slots.chunks_exact_mut(2 * features).zip(block_column) {
            row_slots[feature] = value;
            row_slots[features + feature] = -value;
        }
    }
}

/// Adds the outputs of `trees` for every row of `columns` (column-major, one per feature, each
/// as long as `margins`) to `margins`, a block of rows at a time so that each tree's nodes stay
/// in cache while it scores the block.
pub(crate) fn add_tree_outputs(trees: &[CompiledTree], columns: &[&[f64]], margins: &mut [f64]) {
    let row_width = 2 * columns.len();
    let mut slots = vec![0.0; BLOCK_ROWS * row_width];
    for (block_index, block_margins) in margins.chunks_mut(BLOCK_ROWS).enumerate() {
        let slots = &mut slots[..block_margins.len() * row_width];
        fill_slots(
            columns,
            block_index * BLOCK_ROWS,
            block_margins.len(),
            slots,
        );
        for tree in trees {
            tree.add_outputs(slots, row_width, block_margins);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tree::tests::example_tree;

    /// The tree's own reading of a row: its mean output plus the path contributions.
    fn reference_output(tree: &Tree, row: &[f64]) -> f64 {
        let mut contributions = vec![0.0; row.len()];
        tree.add_path_contributions(row, &mut contributions);
        tree.values[0] + contributions.iter().sum::<f64>()
    }

    #[test]
    fn rows_reach_the_right_leaves() {
        let compiled = CompiledTree::compile(&example_tree(), 2);
        let columns: [&[f64]; 2] = [
            &[5.0, 5.0, 5.0, 11.0, f64::NAN, 10.0, 10.0 + 1e-12],
            &[-1.0, 1.0, f64::NAN, -1.0, -1.0, 3.0, 3.0],
        ];
        let mut margins = vec![0.0; 7];
        add_tree_outputs(&[compiled], &columns, &mut margins);
        // A value equal to the threshold goes left; just above it, right.
        assert_eq!(margins, vec![-2.0, 0.0, -2.0, 1.0, 1.0, 0.0, 1.0]);
    }

    #[test]
    fn compiled_trees_agree_with_the_tree_on_every_path() {
        let tree = example_tree();
        let compiled = CompiledTree::compile(&tree, 2);
        // 600 rows (two blocks, with interleaved groups and a remainder) over values around
        // both thresholds, infinities and NaN.
        let candidates = [
            f64::NEG_INFINITY,
            -1.0,
            0.0,
            1e-300,
            9.0,
            10.0,
            10.5,
            f64::INFINITY,
            f64::NAN,
        ];
        let rows: Vec<[f64; 2]> = (0..600)
            .map(|index| [candidates[index % 9], candidates[(index / 9) % 9]])
            .collect();
        let feature_0: Vec<f64> = rows.iter().map(|row| row[0]).collect();
        let feature_1: Vec<f64> = rows.iter().map(|row| row[1]).collect();
        let mut margins = vec![0.25; rows.len()];
        add_tree_outputs(
            &[compiled.clone(), compiled],
            &[&feature_0, &feature_1],
            &mut margins,
        );
        for (row, margin) in rows.iter().zip(&margins) {
            assert_eq!(
                *margin,
                0.25 + 2.0 * reference_output(&tree, row),
                "{row:?}"
            );
        }
    }
}
