//! Calibration of predicted probabilities: reliability bins, expected calibration error and
//! the Brier score. Labels are 1.0 for pneumonia and 0.0 for normal.

use serde::{Deserialize, Serialize};

/// One bin of a reliability diagram.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bin {
    pub lower: f64,
    pub upper: f64,
    pub count: usize,
    pub mean_probability: f64,
    pub positive_rate: f64,
}

/// `bins` equal-width probability bins (the last one closed at 1).
pub fn reliability(probs: &[f32], labels: &[f32], bins: usize) -> Vec<Bin> {
    let mut sum_p = vec![0.0; bins];
    let mut sum_y = vec![0.0; bins];
    let mut count = vec![0usize; bins];
    for (&p, &y) in probs.iter().zip(labels) {
        let b = ((f64::from(p) * bins as f64) as usize).min(bins - 1);
        sum_p[b] += f64::from(p);
        sum_y[b] += f64::from(y);
        count[b] += 1;
    }
    (0..bins)
        .map(|b| {
            let c = count[b].max(1) as f64;
            Bin {
                lower: b as f64 / bins as f64,
                upper: (b + 1) as f64 / bins as f64,
                count: count[b],
                mean_probability: sum_p[b] / c,
                positive_rate: sum_y[b] / c,
            }
        })
        .collect()
}

/// Expected calibration error: the count-weighted mean |positive rate - mean probability|.
pub fn ece(probs: &[f32], labels: &[f32], bins: usize) -> f64 {
    let n = probs.len().max(1) as f64;
    reliability(probs, labels, bins)
        .iter()
        .map(|b| b.count as f64 / n * (b.positive_rate - b.mean_probability).abs())
        .sum()
}

/// Mean squared error of the probability against the label.
pub fn brier(probs: &[f32], labels: &[f32]) -> f64 {
    let n = probs.len().max(1) as f64;
    probs
        .iter()
        .zip(labels)
        .map(|(&p, &y)| (f64::from(p) - f64::from(y)).powi(2))
        .sum::<f64>()
        / n
}
