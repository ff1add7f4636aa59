//! [`Dataset`]: ordered feature names, column-major feature values (`f64::NAN` = missing)
//! and one label per row; validation and a deterministic holdout split by group.

use std::collections::HashSet;

use crate::error::{MlError, Result};
use crate::random::hash_to_unit;

/// Labelled feature windows, stored column by column.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Feature names, in the order of `columns`.
    pub features: Vec<String>,
    /// One column per feature, each with one value per row; `f64::NAN` marks a missing value.
    pub columns: Vec<Vec<f64>>,
    /// One label per row: `true` = anomalous.
    pub labels: Vec<bool>,
}

impl Dataset {
    /// Builds a dataset and checks it with [`Dataset::validate`].
    pub fn new(features: Vec<String>, columns: Vec<Vec<f64>>, labels: Vec<bool>) -> Result<Self> {
        let dataset = Self {
            features,
            columns,
            labels,
        };
        dataset.validate()?;
        Ok(dataset)
    }

    /// Checks that there is one column per feature name, that names are unique, and that every
    /// column has one value per label.
    pub fn validate(&self) -> Result<()> {
        if self.columns.len() != self.features.len() {
            return Err(MlError::LengthMismatch {
                what: "columns".to_string(),
                expected: self.features.len(),
                actual: self.columns.len(),
            });
        }
        let mut seen = HashSet::new();
        for name in &self.features {
            if !seen.insert(name.as_str()) {
                return Err(MlError::DuplicateFeature(name.clone()));
            }
        }
        for (name, column) in self.features.iter().zip(&self.columns) {
            if column.len() != self.labels.len() {
                return Err(MlError::LengthMismatch {
                    what: format!("column `{name}`"),
                    expected: self.labels.len(),
                    actual: column.len(),
                });
            }
        }
        Ok(())
    }

    /// [`Dataset::validate`], plus: at least one feature and at least one row of each class.
    pub fn validate_for_training(&self) -> Result<()> {
        self.validate()?;
        if self.features.is_empty() {
            return Err(MlError::InvalidParameter {
                name: "dataset",
                reason: "it has no features".to_string(),
            });
        }
        if !self.labels.contains(&true) {
            return Err(MlError::MissingClass("anomalous (true)"));
        }
        if !self.labels.contains(&false) {
            return Err(MlError::MissingClass("normal (false)"));
        }
        Ok(())
    }

    /// The number of rows.
    pub fn rows(&self) -> usize {
        self.labels.len()
    }

    /// The columns as slices, in feature order: the shape the model's scoring methods take.
    pub fn column_slices(&self) -> Vec<&[f64]> {
        self.columns.iter().map(Vec::as_slice).collect()
    }

    /// A new dataset with the given rows, in the given order.
    pub fn select_rows(&self, rows: &[usize]) -> Dataset {
        Dataset {
            features: self.features.clone(),
            columns: self
                .columns
                .iter()
                .map(|column| rows.iter().map(|&row| column[row]).collect())
                .collect(),
            labels: rows.iter().map(|&row| self.labels[row]).collect(),
        }
    }

    /// The rows held out when a share of the groups (e.g. vehicles) is held out: all rows of
    /// one group are on the same side.
    ///
    /// A group is held out when a seeded hash of its key, mapped to [0, 1), is below
    /// `holdout_share`; so about that share of the groups (not of the rows) is held out. The
    /// choice depends only on the seed and the keys: it is the same on every run and machine,
    /// and a vehicle stays on its side as data is added.
    pub fn holdout_rows(
        &self,
        groups: &[&str],
        holdout_share: f64,
        seed: u64,
    ) -> Result<Vec<usize>> {
        self.check_groups(groups)?;
        if !(0.0..=1.0).contains(&holdout_share) {
            return Err(MlError::InvalidParameter {
                name: "holdout_share",
                reason: format!("{holdout_share} is not within [0, 1]"),
            });
        }
        Ok((0..self.rows())
            .filter(|&row| hash_to_unit(seed, groups[row]) < holdout_share)
            .collect())
    }

    /// Each row's fold, 0 to `folds − 1`, drawn by its group (`groups[row]`, e.g. the
    /// vehicle) with `seed`: all rows of a group share a fold, so a model trained on the other
    /// folds has never seen the group of the rows it scores.
    pub fn folds_by_group(&self, groups: &[&str], folds: usize, seed: u64) -> Result<Vec<usize>> {
        self.check_groups(groups)?;
        if folds == 0 {
            return Err(MlError::InvalidParameter {
                name: "folds",
                reason: "at least one fold is needed".to_string(),
            });
        }
        Ok(groups
            .iter()
            .map(|group| ((hash_to_unit(seed, group) * folds as f64) as usize).min(folds - 1))
            .collect())
    }

    /// Checks that `groups` has a group for every row.
    fn check_groups(&self, groups: &[&str]) -> Result<()> {
        self.validate()?;
        if groups.len() != self.rows() {
            return Err(MlError::LengthMismatch {
                what: "groups".to_string(),
                expected: self.rows(),
                actual: groups.len(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_keep_groups_together() {
        let groups: Vec<String> = (0..200).map(|i| format!("vehicle-{}", i / 4)).collect();
        let groups: Vec<&str> = groups.iter().map(String::as_str).collect();
        let data = Dataset::new(
            names(&["x"]),
            vec![(0..200).map(f64::from).collect()],
            (0..200).map(|i| i % 3 == 0).collect(),
        )
        .unwrap();
        let folds = data.folds_by_group(&groups, 5, 7).unwrap();
        assert!(folds.iter().all(|&f| f < 5));
        for pair in folds.chunks(4) {
            assert!(
                pair.iter().all(|&f| f == pair[0]),
                "a group's rows share a fold"
            );
        }
        assert!((0..5).all(|f| folds.contains(&f)), "{folds:?}");
        assert!(data.folds_by_group(&groups, 0, 7).is_err());
    }

    fn names(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| name.to_string()).collect()
    }

    #[test]
    fn refuses_inconsistent_shapes() {
        let short_column = Dataset::new(
            names(&["speed", "temp"]),
            vec![vec![1.0, 2.0], vec![1.0]],
            vec![true, false],
        );
        assert!(matches!(
            short_column,
            Err(MlError::LengthMismatch { ref what, expected: 2, actual: 1 }) if what == "column `temp`"
        ));
        let missing_column = Dataset::new(names(&["speed", "temp"]), vec![vec![1.0]], vec![true]);
        assert!(matches!(
            missing_column,
            Err(MlError::LengthMismatch {
                expected: 2,
                actual: 1,
                ..
            })
        ));
        let duplicate = Dataset::new(
            names(&["speed", "speed"]),
            vec![vec![1.0], vec![2.0]],
            vec![true],
        );
        assert!(matches!(duplicate, Err(MlError::DuplicateFeature(name)) if name == "speed"));
    }

    #[test]
    fn training_needs_both_classes() {
        let only_normal =
            Dataset::new(names(&["speed"]), vec![vec![1.0, 2.0]], vec![false, false]).unwrap();
        assert!(matches!(
            only_normal.validate_for_training(),
            Err(MlError::MissingClass("anomalous (true)"))
        ));
        let both =
            Dataset::new(names(&["speed"]), vec![vec![1.0, 2.0]], vec![false, true]).unwrap();
        both.validate_for_training().unwrap();
    }

    #[test]
    fn holdout_keeps_each_group_on_one_side() {
        let rows = 6_000;
        let group_keys: Vec<String> = (0..rows)
            .map(|row| format!("truck-{}", row % 300))
            .collect();
        let groups: Vec<&str> = group_keys.iter().map(String::as_str).collect();
        // The row's group number is stored as the feature, so each side tells its groups.
        let dataset = Dataset::new(
            names(&["group"]),
            vec![(0..rows).map(|row| (row % 300) as f64).collect()],
            (0..rows).map(|row| row % 7 == 0).collect(),
        )
        .unwrap();

        let split = |share: f64, seed: u64| {
            let held = dataset.holdout_rows(&groups, share, seed).unwrap();
            let rest: Vec<usize> = (0..rows).filter(|row| !held.contains(row)).collect();
            (dataset.select_rows(&rest), dataset.select_rows(&held))
        };
        let (training, holdout) = split(0.2, 42);
        assert_eq!(training.rows() + holdout.rows(), rows);
        let training_groups: HashSet<u64> = training.columns[0].iter().map(|&g| g as u64).collect();
        let holdout_groups: HashSet<u64> = holdout.columns[0].iter().map(|&g| g as u64).collect();
        assert!(training_groups.is_disjoint(&holdout_groups));
        assert_eq!(training_groups.len() + holdout_groups.len(), 300);
        // About 20% of the 300 groups (binomial sd ≈ 7).
        assert!(
            (35..=85).contains(&holdout_groups.len()),
            "{}",
            holdout_groups.len()
        );

        let (training_again, _) = split(0.2, 42);
        assert_eq!(training, training_again);
        let (training_other_seed, _) = split(0.2, 43);
        assert_ne!(training, training_other_seed);
    }

    #[test]
    fn holdout_refuses_bad_arguments() {
        let dataset =
            Dataset::new(names(&["speed"]), vec![vec![1.0, 2.0]], vec![false, true]).unwrap();
        assert!(matches!(
            dataset.holdout_rows(&["a"], 0.2, 1),
            Err(MlError::LengthMismatch { .. })
        ));
        assert!(matches!(
            dataset.holdout_rows(&["a", "b"], 1.5, 1),
            Err(MlError::InvalidParameter {
                name: "holdout_share",
                ..
            })
        ));
    }
}
