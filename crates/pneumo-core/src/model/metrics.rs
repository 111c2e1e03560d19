//! Binary classification metrics at a threshold (pneumonia = positive).

use pneumo_contract::defined::ratio;

pub use pneumo_contract::metrics::Binary;

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
    // an empty denominator is undefined (NaN, `null` in JSON), never a measured 0: recall
    // on a validation set without PNEUMONIA, precision when nothing is called PNEUMONIA
    let precision = ratio(tp, tp + fp);
    let recall = ratio(tp, tp + fn_);
    let f1 = if recall.is_nan() {
        f64::NAN // no PNEUMONIA to find
    } else if precision.is_nan() || precision + recall == 0.0 {
        0.0 // pneumonia there, none found
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

    /// A role with one class: what needs the other class is undefined, not a measured 0.
    #[test]
    fn one_class_leaves_its_ratios_undefined() {
        let normal_only = binary(&[0.2, 0.7], &[0.0, 0.0], 0.5);
        assert!(normal_only.recall.is_nan() && normal_only.f1.is_nan());
        assert_eq!(normal_only.precision, 0.0);
        assert_eq!(normal_only.accuracy, 0.5);
        let none_called = binary(&[0.2, 0.3], &[1.0, 0.0], 0.5);
        assert!(none_called.precision.is_nan());
        assert_eq!((none_called.recall, none_called.f1), (0.0, 0.0));
        assert!(binary(&[], &[], 0.5).accuracy.is_nan());
    }
}
