//! Threshold-free metrics (ROC and PR curves, their areas), calibration, confidence intervals
//! and threshold rules. Pure functions of (probability, label) pairs; labels are 1.0 for
//! pneumonia (positive) and 0.0 for normal.

use serde::{Deserialize, Serialize};

use crate::data::rng::SplitMix64;

use super::defined;
use super::metrics::{Binary, binary};

pub use super::calibration::{Bin, brier, ece, reliability};

/// Indices of `probs` by descending probability (ties in index order, so results are stable).
fn descending(probs: &[f32]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..probs.len()).collect();
    idx.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]).then(a.cmp(&b)));
    idx
}

fn positives(labels: &[f32]) -> usize {
    labels.iter().filter(|&&y| y >= 0.5).count()
}

/// One point of a curve: the threshold and the rates at it (positive when `p >= threshold`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    pub threshold: f64,
    /// False positive rate (ROC) or recall (PR).
    pub x: f64,
    /// True positive rate (ROC) or precision (PR).
    pub y: f64,
}

/// Cumulative (threshold, tp, fp) at each distinct probability, from the highest down.
fn sweep(probs: &[f32], labels: &[f32]) -> Vec<(f64, usize, usize)> {
    let idx = descending(probs);
    let (mut tp, mut fp) = (0, 0);
    let mut out: Vec<(f64, usize, usize)> = Vec::new();
    for (k, &i) in idx.iter().enumerate() {
        if labels[i] >= 0.5 {
            tp += 1;
        } else {
            fp += 1;
        }
        let last_of_tie = idx.get(k + 1).is_none_or(|&j| probs[j] != probs[i]);
        if last_of_tie {
            out.push((f64::from(probs[i]), tp, fp));
        }
    }
    out
}

/// The ROC curve from (0, 0) to (1, 1), one point per distinct probability.
pub fn roc_curve(probs: &[f32], labels: &[f32]) -> Vec<CurvePoint> {
    let p = positives(labels).max(1) as f64;
    let n = (labels.len() - positives(labels)).max(1) as f64;
    let mut pts = vec![CurvePoint {
        threshold: f64::INFINITY,
        x: 0.0,
        y: 0.0,
    }];
    pts.extend(
        sweep(probs, labels)
            .into_iter()
            .map(|(t, tp, fp)| CurvePoint {
                threshold: t,
                x: fp as f64 / n,
                y: tp as f64 / p,
            }),
    );
    pts
}

/// Area under the ROC curve (trapezoids, so ties count half: the Mann-Whitney U / (P * N)).
/// NaN when one class is absent.
pub fn roc_auc(probs: &[f32], labels: &[f32]) -> f64 {
    let pos = positives(labels);
    if pos == 0 || pos == labels.len() {
        return f64::NAN;
    }
    roc_curve(probs, labels)
        .windows(2)
        .map(|w| (w[1].x - w[0].x) * (w[1].y + w[0].y) / 2.0)
        .sum()
}

/// The precision-recall curve, one point per distinct probability (highest threshold first).
pub fn pr_curve(probs: &[f32], labels: &[f32]) -> Vec<CurvePoint> {
    let p = positives(labels).max(1) as f64;
    sweep(probs, labels)
        .into_iter()
        .map(|(t, tp, fp)| CurvePoint {
            threshold: t,
            x: tp as f64 / p,
            y: tp as f64 / (tp + fp) as f64,
        })
        .collect()
}

/// Area under the PR curve as average precision: sum over thresholds of
/// (recall gained) x precision, the step-wise estimate (scikit-learn's definition).
pub fn average_precision(probs: &[f32], labels: &[f32]) -> f64 {
    if positives(labels) == 0 {
        return f64::NAN;
    }
    let mut prev_recall = 0.0;
    let mut ap = 0.0;
    for pt in pr_curve(probs, labels) {
        ap += (pt.x - prev_recall) * pt.y;
        prev_recall = pt.x;
    }
    ap
}

/// Wilson score interval for `k` successes out of `n` at 95% (z = 1.96). `(NaN, NaN)` for n = 0.
pub fn wilson(k: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let z = 1.959_963_984_540_054_f64;
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let denom = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denom;
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// Percentile interval (2.5%, 97.5%) of `stat` over `rounds` stratified bootstrap resamples:
/// positives and negatives are resampled separately, so every resample keeps the class counts.
pub fn bootstrap<F>(probs: &[f32], labels: &[f32], rounds: usize, seed: u64, stat: F) -> (f64, f64)
where
    F: Fn(&[f32], &[f32]) -> f64,
{
    let pos: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] >= 0.5).collect();
    let neg: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] < 0.5).collect();
    let mut rng = SplitMix64::new(seed);
    let mut values = Vec::with_capacity(rounds);
    let (mut p, mut y) = (
        Vec::with_capacity(labels.len()),
        Vec::with_capacity(labels.len()),
    );
    for _ in 0..rounds {
        p.clear();
        y.clear();
        for group in [&pos, &neg] {
            for _ in 0..group.len() {
                let i = group[rng.below(group.len() as u64) as usize];
                p.push(probs[i]);
                y.push(labels[i]);
            }
        }
        let v = stat(&p, &y);
        if v.is_finite() {
            values.push(v);
        }
    }
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    values.sort_by(f64::total_cmp);
    (quantile(&values, 0.025), quantile(&values, 0.975))
}

/// Linear-interpolated quantile of sorted `v` (numpy's default).
fn quantile(v: &[f64], q: f64) -> f64 {
    let pos = q * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

/// How the decision threshold is chosen. Rules other than `Fixed` look at validation only.
#[derive(Debug, Clone, PartialEq)]
pub enum ThresholdRule {
    Fixed(f64),
    /// Maximises sensitivity + specificity - 1.
    Youden,
    /// The highest threshold whose sensitivity reaches the target (the most specific such one).
    Sensitivity(f64),
    /// The Bayes decision for these costs: positive when `p c_fn > (1 - p) c_fp`, the odds
    /// shifted from the labels' prevalence to `prior` when one is given. Not read off the
    /// scores at all: the threshold is arithmetic on the costs and priors.
    Cost {
        fn_cost: f64,
        fp_cost: f64,
        prior: Option<f64>,
    },
}

/// The threshold `rule` picks on (`probs`, `labels`).
pub fn choose_threshold(rule: &ThresholdRule, probs: &[f32], labels: &[f32]) -> f64 {
    let p = positives(labels).max(1) as f64;
    let n = (labels.len() - positives(labels)).max(1) as f64;
    let points = sweep(probs, labels);
    match *rule {
        ThresholdRule::Fixed(t) => t,
        ThresholdRule::Youden => {
            points
                .iter()
                .map(|&(t, tp, fp)| (t, tp as f64 / p - fp as f64 / n))
                // first maximum = highest threshold among ties (1 - 1/3 and 2/3 - 0 are a tie)
                .fold((0.5, f64::NEG_INFINITY), |best, (t, j)| {
                    if j > best.1 + 1e-12 { (t, j) } else { best }
                })
                .0
        }
        ThresholdRule::Cost {
            fn_cost,
            fp_cost,
            prior,
        } => {
            let odds = |x: f64| x / (1.0 - x);
            let shift = prior.map_or(1.0, |pi| odds(p / (p + n)) / odds(pi));
            let t = fp_cost / fn_cost * shift;
            t / (1.0 + t)
        }
        ThresholdRule::Sensitivity(target) => points
            .iter()
            .find(|&&(_, tp, _)| tp as f64 / p >= target)
            .map(|&(t, _, _)| t)
            .unwrap_or(0.0),
    }
}

/// Everything the evaluate stage reports for one role at one threshold.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub n: usize,
    pub threshold: f64,
    #[serde(flatten)]
    pub binary: Binary,
    #[serde(deserialize_with = "super::defined::f64")]
    pub specificity: f64,
    #[serde(deserialize_with = "super::defined::f64")]
    pub npv: f64,
    #[serde(deserialize_with = "super::defined::f64")]
    pub roc_auc: f64,
    #[serde(deserialize_with = "super::defined::f64")]
    pub pr_auc: f64,
    #[serde(deserialize_with = "super::defined::f64")]
    pub ece: f64,
    #[serde(deserialize_with = "super::defined::f64")]
    pub brier: f64,
    /// 95% intervals: Wilson for proportions, stratified bootstrap for F1 and the AUCs.
    pub ci: Intervals,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Intervals {
    #[serde(deserialize_with = "super::defined::pair")]
    pub accuracy: (f64, f64),
    #[serde(deserialize_with = "super::defined::pair")]
    pub precision: (f64, f64),
    #[serde(deserialize_with = "super::defined::pair")]
    pub recall: (f64, f64),
    #[serde(deserialize_with = "super::defined::pair")]
    pub specificity: (f64, f64),
    #[serde(deserialize_with = "super::defined::pair")]
    pub npv: (f64, f64),
    #[serde(deserialize_with = "super::defined::pair")]
    pub f1: (f64, f64),
    #[serde(deserialize_with = "super::defined::pair")]
    pub roc_auc: (f64, f64),
    #[serde(deserialize_with = "super::defined::pair")]
    pub pr_auc: (f64, f64),
}

/// Metrics with intervals; `rounds` bootstrap resamples with `seed`.
pub fn report(probs: &[f32], labels: &[f32], threshold: f64, rounds: usize, seed: u64) -> Report {
    let t = threshold as f32;
    let mut b = binary(probs, labels, t);
    // undefined where a denominator is empty (as in training), F1 as 2tp / (2tp + fp + fn)
    b.accuracy = defined::ratio(b.tp + b.tn, probs.len());
    b.precision = defined::ratio(b.tp, b.tp + b.fp);
    b.recall = defined::ratio(b.tp, b.tp + b.fn_);
    b.f1 = defined::ratio(2 * b.tp, 2 * b.tp + b.fp + b.fn_);
    let n = probs.len();
    Report {
        n,
        threshold,
        binary: b,
        specificity: defined::ratio(b.tn, b.tn + b.fp),
        npv: defined::ratio(b.tn, b.tn + b.fn_),
        roc_auc: roc_auc(probs, labels),
        pr_auc: average_precision(probs, labels),
        ece: ece(probs, labels, 10),
        brier: brier(probs, labels),
        ci: Intervals {
            accuracy: wilson(b.tp + b.tn, n),
            precision: wilson(b.tp, b.tp + b.fp),
            recall: wilson(b.tp, b.tp + b.fn_),
            specificity: wilson(b.tn, b.tn + b.fp),
            npv: wilson(b.tn, b.tn + b.fn_),
            f1: bootstrap(probs, labels, rounds, seed, |p, y| {
                let b = binary(p, y, t);
                defined::ratio(2 * b.tp, 2 * b.tp + b.fp + b.fn_)
            }),
            roc_auc: bootstrap(probs, labels, rounds, seed ^ 1, roc_auc),
            pr_auc: bootstrap(probs, labels, rounds, seed ^ 2, average_precision),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn undefined_metrics_are_nan_not_zero_and_nothing_panics() {
        // every image called positive: NPV has an empty denominator
        let r = report(&[0.9, 0.8, 0.7], &[1.0, 0.0, 1.0], 0.5, 50, 0);
        assert!(r.npv.is_nan() && r.ci.npv.0.is_nan());
        assert!(close(r.binary.precision, 2.0 / 3.0) && close(r.specificity, 0.0));
        // one class only: the AUCs, specificity and precision are undefined
        let r = report(&[0.9, 0.2], &[1.0, 1.0], 0.95, 50, 0);
        assert!(r.roc_auc.is_nan() && r.specificity.is_nan() && r.binary.precision.is_nan());
        assert!(
            close(r.binary.f1, 0.0),
            "F1 = 2TP / (2TP + FP + FN) = 0 is defined"
        );
        // an empty role
        let r = report(&[], &[], 0.5, 50, 0);
        assert!(r.binary.accuracy.is_nan() && r.binary.f1.is_nan() && r.roc_auc.is_nan());
        // and it survives a JSON round trip as null
        let back: Report = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert!(back.npv.is_nan() && back.ci.f1.1.is_nan() && back.n == 0);
    }

    #[test]
    fn auc_of_perfect_random_and_tied_scores() {
        let y = [0.0, 0.0, 1.0, 1.0];
        assert!(close(roc_auc(&[0.1, 0.2, 0.8, 0.9], &y), 1.0));
        assert!(close(roc_auc(&[0.9, 0.8, 0.2, 0.1], &y), 0.0));
        assert!(close(roc_auc(&[0.5; 4], &y), 0.5));
        // scikit-learn: roc_auc_score([0,0,1,1], [0.1,0.4,0.35,0.8]) == 0.75
        assert!(close(roc_auc(&[0.1, 0.4, 0.35, 0.8], &y), 0.75));
        assert!(roc_auc(&[0.1, 0.2], &[1.0, 1.0]).is_nan());
    }

    #[test]
    fn average_precision_matches_scikit_learn() {
        // average_precision_score([0,0,1,1], [0.1,0.4,0.35,0.8]) == 0.8333...
        let ap = average_precision(&[0.1, 0.4, 0.35, 0.8], &[0.0, 0.0, 1.0, 1.0]);
        assert!(close(ap, 5.0 / 6.0), "{ap}");
    }

    #[test]
    fn wilson_interval_known_values() {
        // statsmodels proportion_confint(350, 390, method="wilson")
        let (lo, hi) = wilson(350, 390);
        assert!((lo - 0.863_347).abs() < 1e-5, "{lo}");
        assert!((hi - 0.923_772).abs() < 1e-5, "{hi}");
        let (lo, hi) = wilson(0, 10);
        assert!(close(lo, 0.0) && hi > 0.2 && hi < 0.35);
    }

    #[test]
    fn calibration_of_perfectly_calibrated_bins() {
        // in bin [0.2, 0.3): 4 images at 0.25, one positive -> |0.25 - 0.25| = 0
        let probs = [0.25f32, 0.25, 0.25, 0.25, 0.95, 0.95];
        let labels = [1.0f32, 0.0, 0.0, 0.0, 1.0, 1.0];
        let e = ece(&probs, &labels, 10);
        // second bin: mean 0.95, rate 1.0 -> 0.05 x 2/6
        assert!((e - 0.05 * 2.0 / 6.0).abs() < 1e-6, "{e}");
        assert!(close(brier(&[1.0, 0.0], &[1.0, 0.0]), 0.0));
    }

    #[test]
    fn threshold_rules_look_at_the_given_scores_only() {
        let probs = [0.1f32, 0.3, 0.35, 0.6, 0.7, 0.9];
        let labels = [0.0f32, 0.0, 1.0, 0.0, 1.0, 1.0];
        assert!(close(
            choose_threshold(&ThresholdRule::Fixed(0.5), &probs, &labels),
            0.5
        ));
        // thresholds 0.35 (tpr 1, fpr 1/3) and 0.7 (tpr 2/3, fpr 0) tie at J = 2/3: the higher wins
        let t = choose_threshold(&ThresholdRule::Youden, &probs, &labels);
        assert!(close(t, 0.7f32 as f64), "{t}");
        let t = choose_threshold(&ThresholdRule::Sensitivity(0.95), &probs, &labels);
        assert!(close(t, 0.35f32 as f64), "{t}");
    }

    #[test]
    fn bootstrap_is_reproducible_and_brackets_the_estimate() {
        let probs: Vec<f32> = (0..200).map(|i| ((i * 37) % 100) as f32 / 100.0).collect();
        let labels: Vec<f32> = (0..200)
            .map(|i| if (i * 37) % 100 > 40 { 1.0 } else { 0.0 })
            .collect();
        let a = bootstrap(&probs, &labels, 200, 7, |p, y| binary(p, y, 0.5).f1);
        let b = bootstrap(&probs, &labels, 200, 7, |p, y| binary(p, y, 0.5).f1);
        assert_eq!(a, b);
        let f1 = binary(&probs, &labels, 0.5).f1;
        assert!(a.0 <= f1 && f1 <= a.1, "{a:?} vs {f1}");
    }
}
