//! Binary classification metrics at a threshold (pneumonia = positive).

use serde::{Deserialize, Serialize};

/// Confusion counts and the metrics the write-up reports.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Binary {
    pub tp: usize,
    pub fp: usize,
    pub tn: usize,
    #[serde(rename = "fn")]
    pub fn_: usize,
    #[serde(deserialize_with = "super::defined::f64")]
    pub accuracy: f64,
    #[serde(deserialize_with = "super::defined::f64")]
    pub precision: f64,
    #[serde(deserialize_with = "super::defined::f64")]
    pub recall: f64,
    #[serde(deserialize_with = "super::defined::f64")]
    pub f1: f64,
}

/// `a / b`, 0 when `b` is 0 (a metric with an empty denominator).
pub fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Metrics of `probs` against `labels` (1 = pneumonia) at `threshold` (positive when >=).
pub fn binary(probs: &[f32], labels: &[f32], threshold: f32) -> Binary {
    let (mut tp, mut fp, mut tn, mut fn_) = (0, 0, 0, 0);
    for (&p, &y) in probs.iter().zip(labels) {
        match (p >= threshold, y >= 0.5) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, false) => tn += 1,
            (false, true) => fn_ += 1,
        }
    }
    let precision = ratio(tp, tp + fp);
    let recall = ratio(tp, tp + fn_);
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    Binary {
        tp,
        fp,
        tn,
        fn_,
        accuracy: ratio(tp + tn, tp + fp + tn + fn_),
        precision,
        recall,
        f1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The write-up's numbers from its confusion matrix on 624 images: 350 of 390 pneumonia
    /// found (recall 0.8974), 51 normals over-called (precision 0.8728), accuracy 0.8542.
    #[test]
    fn writeup_numbers_from_its_confusion_matrix() {
        let mut probs = vec![0.9f32; 350];
        probs.extend(vec![0.1f32; 40]);
        probs.extend(vec![0.9f32; 51]);
        probs.extend(vec![0.1f32; 183]);
        let mut labels = vec![1.0f32; 390];
        labels.extend(vec![0.0f32; 234]);
        let m = binary(&probs, &labels, 0.5);
        assert_eq!((m.tp, m.fn_, m.fp, m.tn), (350, 40, 51, 183));
        assert!((m.accuracy - 0.8542).abs() < 1e-4);
        assert!((m.precision - 0.8728).abs() < 1e-4);
        assert!((m.recall - 0.8974).abs() < 1e-4);
        assert!((m.f1 - 0.8850).abs() < 1e-4);
    }
}
