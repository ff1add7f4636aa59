//! Binary classification metrics: [`evaluate`] at a threshold, the ROC curve, exact ROC AUC and
//! the F1-maximising threshold. A row is flagged anomalous when its score is `>=` the threshold.

use serde::{Deserialize, Serialize};

use crate::error::{MlError, Result};

/// Counts of the four outcomes at one threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confusion {
    /// Anomalous rows flagged.
    pub tp: u64,
    /// Normal rows flagged.
    pub fp: u64,
    /// Normal rows not flagged.
    pub tn: u64,
    /// Anomalous rows not flagged.
    pub fn_: u64,
}

/// How well scores separate the classes, at one threshold and overall.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Rows evaluated.
    pub n: u64,
    /// Anomalous rows among them.
    pub positives: u64,
    /// tp / (tp + fp); 0 when nothing is flagged.
    pub precision: f64,
    /// tp / (tp + fn); 0 when there is no anomalous row.
    pub recall: f64,
    /// Harmonic mean of precision and recall: 2tp / (2tp + fp + fn); 0 when that is 0 / 0.
    pub f1: f64,
    /// (tp + tn) / n; 0 when n is 0.
    pub accuracy: f64,
    /// Area under the ROC curve; `None` when one of the classes is absent.
    pub roc_auc: Option<f64>,
    /// The threshold the counts were taken at.
    pub threshold: f64,
    /// The outcome counts.
    pub confusion: Confusion,
}

fn check_lengths(scores: &[f64], labels: &[bool]) -> Result<()> {
    if scores.len() == labels.len() {
        Ok(())
    } else {
        Err(MlError::LengthMismatch {
            what: "scores".to_string(),
            expected: labels.len(),
            actual: scores.len(),
        })
    }
}

fn ratio(numerator: u64, denominator: u64) -> f64 {
    if denominator == 0 {
        0.0
    } else {
        numerator as f64 / denominator as f64
    }
}

/// Precision, recall, F1, accuracy and the confusion counts at `threshold`, and ROC AUC.
pub fn evaluate(scores: &[f64], labels: &[bool], threshold: f64) -> Result<Evaluation> {
    check_lengths(scores, labels)?;
    let mut confusion = Confusion {
        tp: 0,
        fp: 0,
        tn: 0,
        fn_: 0,
    };
    for (&score, &label) in scores.iter().zip(labels) {
        match (score >= threshold, label) {
            (true, true) => confusion.tp += 1,
            (true, false) => confusion.fp += 1,
            (false, false) => confusion.tn += 1,
            (false, true) => confusion.fn_ += 1,
        }
    }
    let Confusion { tp, fp, tn, fn_ } = confusion;
    let n = tp + fp + tn + fn_;
    Ok(Evaluation {
        n,
        positives: tp + fn_,
        precision: ratio(tp, tp + fp),
        recall: ratio(tp, tp + fn_),
        f1: ratio(2 * tp, 2 * tp + fp + fn_),
        accuracy: ratio(tp + tn, n),
        roc_auc: roc_auc(scores, labels)?,
        threshold,
        confusion,
    })
}

/// Rows grouped by equal score, highest score first: (score, positives, negatives) per group.
fn groups_by_descending_score(scores: &[f64], labels: &[bool]) -> Vec<(f64, u64, u64)> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut groups: Vec<(f64, u64, u64)> = Vec::new();
    for row in order {
        let (positive, negative) = if labels[row] { (1, 0) } else { (0, 1) };
        match groups.last_mut() {
            Some((score, positives, negatives)) if *score == scores[row] => {
                *positives += positive;
                *negatives += negative;
            }
            _ => groups.push((scores[row], positive, negative)),
        }
    }
    groups
}

/// The ROC curve as (false positive rate, true positive rate) points, from (0, 0) to (1, 1),
/// one point per distinct score (tied scores move both rates at once). Empty when one of the
/// classes is absent, since a rate over an empty class is undefined.
pub fn roc_curve(scores: &[f64], labels: &[bool]) -> Result<Vec<(f64, f64)>> {
    check_lengths(scores, labels)?;
    let positives = labels.iter().filter(|&&label| label).count() as u64;
    let negatives = labels.len() as u64 - positives;
    if positives == 0 || negatives == 0 {
        return Ok(Vec::new());
    }
    let mut curve = vec![(0.0, 0.0)];
    let (mut true_positives, mut false_positives) = (0, 0);
    for (_, group_positives, group_negatives) in groups_by_descending_score(scores, labels) {
        true_positives += group_positives;
        false_positives += group_negatives;
        curve.push((
            false_positives as f64 / negatives as f64,
            true_positives as f64 / positives as f64,
        ));
    }
    Ok(curve)
}

/// Exact ROC AUC: the probability that a random anomalous row scores above a random normal
/// one, ties counting one half (Mann–Whitney U from average ranks). `None` when one of the
/// classes is absent.
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> Result<Option<f64>> {
    check_lengths(scores, labels)?;
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut positive_rank_sum = 0.0;
    let mut start = 0;
    while start < order.len() {
        let mut end = start;
        while end + 1 < order.len() && scores[order[end + 1]] == scores[order[start]] {
            end += 1;
        }
        // Ranks start + 1 ..= end + 1 share their average.
        let average_rank = (start + end + 2) as f64 / 2.0;
        let tied_positives = order[start..=end]
            .iter()
            .filter(|&&row| labels[row])
            .count();
        positive_rank_sum += average_rank * tied_positives as f64;
        start = end + 1;
    }
    let positives = labels.iter().filter(|&&label| label).count() as f64;
    let negatives = labels.len() as f64 - positives;
    if positives == 0.0 || negatives == 0.0 {
        return Ok(None);
    }
    let u = positive_rank_sum - positives * (positives + 1.0) / 2.0;
    Ok(Some(u / (positives * negatives)))
}

/// The threshold (one of the scores) that maximises F1, the highest such score on a tie.
/// `None` when there is no anomalous row, since then F1 is 0 at every threshold.
pub fn best_f1_threshold(scores: &[f64], labels: &[bool]) -> Result<Option<f64>> {
    check_lengths(scores, labels)?;
    let positives = labels.iter().filter(|&&label| label).count() as u64;
    if positives == 0 {
        return Ok(None);
    }
    let mut best: Option<(f64, f64)> = None;
    let (mut true_positives, mut false_positives) = (0, 0);
    for (score, group_positives, group_negatives) in groups_by_descending_score(scores, labels) {
        true_positives += group_positives;
        false_positives += group_negatives;
        let false_negatives = positives - true_positives;
        let f1 = ratio(
            2 * true_positives,
            2 * true_positives + false_positives + false_negatives,
        );
        if best.is_none_or(|(best_f1, _)| f1 > best_f1) {
            best = Some((f1, score));
        }
    }
    Ok(best.map(|(_, threshold)| threshold))
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: bool = true;
    const F: bool = false;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn evaluate_counts_by_hand() {
        // Flagged (>= 0.5): 0.9 T, 0.7 F, 0.5 T. Not flagged: 0.4 T, 0.1 F, 0.2 F.
        let scores = [0.9, 0.7, 0.5, 0.4, 0.1, 0.2];
        let labels = [T, F, T, T, F, F];
        let evaluation = evaluate(&scores, &labels, 0.5).unwrap();
        assert_eq!(
            evaluation.confusion,
            Confusion {
                tp: 2,
                fp: 1,
                tn: 2,
                fn_: 1
            }
        );
        assert_eq!((evaluation.n, evaluation.positives), (6, 3));
        assert!(close(evaluation.precision, 2.0 / 3.0));
        assert!(close(evaluation.recall, 2.0 / 3.0));
        assert!(close(evaluation.f1, 2.0 / 3.0));
        assert!(close(evaluation.accuracy, 4.0 / 6.0));
        // Positive/negative pairs ordered right: 0.9 beats all 3; 0.5 beats 0.1, 0.2; 0.4 beats
        // 0.1, 0.2: 7 of 9.
        assert!(close(evaluation.roc_auc.unwrap(), 7.0 / 9.0));
        assert_eq!(evaluation.threshold, 0.5);
    }

    #[test]
    fn evaluate_without_flags_or_positives_is_zero_not_nan() {
        let evaluation = evaluate(&[0.1, 0.2], &[F, F], 0.5).unwrap();
        assert_eq!(evaluation.precision, 0.0);
        assert_eq!(evaluation.recall, 0.0);
        assert_eq!(evaluation.f1, 0.0);
        assert_eq!(evaluation.accuracy, 1.0);
        assert_eq!(evaluation.roc_auc, None);
        let json = serde_json::to_string(&evaluation).unwrap();
        assert_eq!(
            serde_json::from_str::<Evaluation>(&json).unwrap(),
            evaluation
        );
    }

    #[test]
    fn auc_matches_the_textbook_example() {
        assert!(close(
            roc_auc(&[0.1, 0.4, 0.35, 0.8], &[F, F, T, T])
                .unwrap()
                .unwrap(),
            0.75
        ));
    }

    #[test]
    fn auc_counts_ties_as_half() {
        // Pairs: (0.5 vs 0.5) = ½, (0.5 vs 0.2) = 1, (0.9 vs 0.5) = 1, (0.9 vs 0.2) = 1.
        let auc = roc_auc(&[0.5, 0.5, 0.2, 0.9], &[T, F, F, T])
            .unwrap()
            .unwrap();
        assert!(close(auc, 3.5 / 4.0));
        // All scores equal: a coin flip.
        let auc = roc_auc(&[0.3; 4], &[T, F, T, F]).unwrap().unwrap();
        assert!(close(auc, 0.5));
    }

    #[test]
    fn roc_curve_moves_ties_together() {
        let curve = roc_curve(&[0.9, 0.5, 0.5, 0.1], &[T, T, F, F]).unwrap();
        assert_eq!(curve, vec![(0.0, 0.0), (0.0, 0.5), (0.5, 1.0), (1.0, 1.0)]);
        assert!(roc_curve(&[0.9], &[T]).unwrap().is_empty());
    }

    #[test]
    fn best_f1_threshold_by_hand() {
        // Cuts: 0.9 → F1 2/3; 0.8 → 1/2; 0.7 → 4/5; 0.6 → 2/3; 0.2 → 4/7.
        let scores = [0.9, 0.8, 0.7, 0.6, 0.2];
        let labels = [T, F, T, F, F];
        assert_eq!(best_f1_threshold(&scores, &labels).unwrap(), Some(0.7));
        assert_eq!(best_f1_threshold(&scores, &[F; 5]).unwrap(), None);
    }

    #[test]
    fn mismatched_lengths_are_refused() {
        assert!(matches!(
            evaluate(&[0.1], &[T, F], 0.5),
            Err(MlError::LengthMismatch {
                expected: 2,
                actual: 1,
                ..
            })
        ));
    }
}
