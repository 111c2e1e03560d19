//! The scoring figures: ROC and precision-recall curves with the operating points, the
//! reliability diagram, and each class's score distribution with the threshold.

use super::draw::{BLUE, ORANGE, RED};
use super::spec::{ChartInputs, Figure, defined_3, diagonal, line, spec};
use super::{Chart, Line};
use crate::contract::label::Label;
use crate::model::stats;

pub(super) fn scoring(i: &ChartInputs) -> Vec<Figure> {
    let mut roc_lines = vec![diagonal("chance")];
    let (mut roc_marks, mut pr_lines, mut pr_marks) = (Vec::new(), Vec::new(), Vec::new());
    let mut reliability = None;
    for (role, color) in [("val", BLUE), ("test", ORANGE)] {
        let Some(m) = i.metrics.roles.get(role) else {
            continue;
        };
        let (probs, labels): (Vec<f32>, Vec<f32>) = i
            .predictions
            .iter()
            .filter(|r| r.role == role)
            .map(|r| (r.probability as f32, r.label.target()))
            .unzip();
        let r = &m.report;
        let at = format!("{role} at threshold {:.3}", r.threshold);
        roc_lines.push(line(
            &format!("{role} (AUC {})", defined_3(r.roc_auc)),
            stats::roc_curve(&probs, &labels)
                .iter()
                .map(|c| (c.x, c.y))
                .collect(),
            color,
        ));
        roc_marks.push((at.clone(), (1.0 - r.specificity, r.binary.recall), color));
        pr_lines.push(line(
            &format!("{role} (AP {})", defined_3(r.pr_auc)),
            stats::pr_curve(&probs, &labels)
                .iter()
                .map(|c| (c.x, c.y))
                .collect(),
            color,
        ));
        pr_marks.push((at, (r.binary.recall, r.binary.precision), color));
        if role == "test" || reliability.is_none() {
            reliability = Some((role, stats::reliability(&probs, &labels, 10), r.ece));
        }
    }
    let mut out = vec![
        spec(
            "roc",
            "ROC curves; dots are the operating points at the chosen threshold.",
            Chart {
                title: "ROC curve".into(),
                x_label: "false positive rate (1 - specificity)".into(),
                y_label: "true positive rate (sensitivity)".into(),
                x: 0.0..1.0,
                y: 0.0..1.0,
                lines: roc_lines,
                marks: roc_marks,
                rules: vec![],
            },
        ),
        spec(
            "pr",
            "Precision-recall curves; dots are the operating points at the chosen threshold.",
            Chart {
                title: "Precision-recall curve".into(),
                x_label: "recall (sensitivity)".into(),
                y_label: "precision (PPV)".into(),
                x: 0.0..1.0,
                y: 0.0..1.02,
                lines: pr_lines,
                marks: pr_marks,
                rules: vec![],
            },
        ),
    ];
    if let Some((role, bins, ece)) = reliability {
        let pts: Vec<(f64, f64)> = bins
            .iter()
            .filter(|b| b.count > 0)
            .map(|b| (b.mean_probability, b.positive_rate))
            .collect();
        out.push(spec(
            "reliability",
            "Observed pneumonia rate against predicted probability, in ten equal-width bins.",
            Chart {
                title: format!("Reliability ({role}, ECE {ece:.3})"),
                x_label: "mean predicted probability of pneumonia (10 bins)".into(),
                y_label: "observed share with pneumonia".into(),
                x: 0.0..1.0,
                y: 0.0..1.0,
                lines: vec![diagonal("perfect calibration"), line(role, pts, RED)],
                marks: vec![],
                rules: vec![],
            },
        ));
    }
    out
}

/// Log-odds bins of the score distributions: wide enough to show both classes' tails.
const LOGIT_RANGE: f64 = 10.0;
const SCORE_BINS: usize = 40;

/// Each class's scores per role, as the share of that class in each log-odds bin, with the
/// threshold as a rule: a threshold hugging one class's extreme tail shows as a rule just
/// past the last NORMAL bar.
pub(super) fn scores(i: &ChartInputs) -> Figure {
    let logit = |p: f64| {
        let p = p.clamp(1e-9, 1.0 - 1e-9);
        (p / (1.0 - p)).ln().clamp(-LOGIT_RANGE, LOGIT_RANGE)
    };
    let width = 2.0 * LOGIT_RANGE / SCORE_BINS as f64;
    let mut lines = Vec::new();
    let mut top: f64 = 0.0;
    for (role, dashed) in [("val", false), ("test", true)] {
        for (label, color) in [(Label::Normal, BLUE), (Label::Pneumonia, RED)] {
            let of: Vec<f64> = i
                .predictions
                .iter()
                .filter(|r| r.role == role && r.label == label)
                .map(|r| logit(r.probability))
                .collect();
            if of.is_empty() {
                continue;
            }
            let mut counts = vec![0usize; SCORE_BINS];
            for z in &of {
                let b = ((z + LOGIT_RANGE) / width) as usize;
                counts[b.min(SCORE_BINS - 1)] += 1;
            }
            let points: Vec<(f64, f64)> = counts
                .iter()
                .enumerate()
                .map(|(b, &c)| {
                    let share = c as f64 / of.len() as f64;
                    top = top.max(share);
                    (-LOGIT_RANGE + (b as f64 + 0.5) * width, share)
                })
                .collect();
            lines.push(Line {
                name: format!("{role} {label} (n = {})", of.len()),
                points,
                color,
                dashed,
            });
        }
    }
    let t = i.metrics.threshold.value;
    spec(
        "scores",
        "Scores of each class (share of the class per bin, on the log-odds scale) on validation \
         (solid) and test (dashed); the rule is the threshold chosen on validation.",
        Chart {
            title: "Score distributions by class".into(),
            x_label: "log-odds of pneumonia, logit(p) (clamped to ±10)".into(),
            y_label: "share of the class".into(),
            x: -LOGIT_RANGE..LOGIT_RANGE,
            y: 0.0..(top * 1.1).max(0.05),
            lines,
            marks: vec![],
            rules: vec![(format!("threshold {t:.3}"), logit(t))],
        },
    )
}
