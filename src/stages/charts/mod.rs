//! `charts`: plotters figures from the artifacts of train, evaluate and gradcam: training
//! curves with the early-stopping point, ROC and PR curves with the operating point, the
//! confusion matrices, a reliability diagram, the mean Grad-CAM maps and the deletion curve.
//! PNG, plus SVG for the line charts.

use fs_err as fs;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;
use std::sync::Once;

use anyhow::{Context, anyhow};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};
use serde::{Deserialize, Serialize};

use super::evaluate::{METRICS, Metrics, read_predictions};
use super::gradcam::{self, GradcamSummary};
use crate::contract::summary::{HISTORY, TrainSummary};
use crate::model::explain::viridis;
use crate::model::stats;
use crate::pipeline::stage::{StageContext, TypedStage};

mod draw;
mod panels;

// explicit, so they shadow plotters' colours of the same names
use draw::{BLUE, Chart, GREEN, GREY, Line, ORANGE, PURPLE, RED, fonts, save_chart};
use panels::{confusion, mean_cams};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChartParams {
    #[serde(default = "d_width")]
    pub width: u32,
    #[serde(default = "d_height")]
    pub height: u32,
    /// Also write SVG for the line charts.
    #[serde(default = "d_true")]
    pub svg: bool,
}

fn d_width() -> u32 {
    900
}
fn d_height() -> u32 {
    560
}
fn d_true() -> bool {
    true
}

/// charts.json: chart name -> (file, caption), in display order.
pub const INDEX: &str = "charts.json";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChartFile {
    pub name: String,
    pub png: String,
    pub svg: Option<String>,
    pub caption: String,
}

pub struct Charts;

impl TypedStage for Charts {
    type Params = ChartParams;
    const KIND: &'static str = "charts";

    const VERSION: u32 = 1;

    const UPSTREAMS: &'static [&'static str] = &["train", "evaluate", "gradcam"];

    fn check(&self, p: &mut ChartParams) -> Result<(), String> {
        if !(200..=4000).contains(&p.width) || !(150..=4000).contains(&p.height) {
            return Err("invalid value `width`/`height`: 200..4000 by 150..4000 pixels".into());
        }
        Ok(())
    }

    fn run(&self, ctx: &StageContext<'_>, p: ChartParams) -> anyhow::Result<()> {
        let files = render_all(
            ctx.upstream("train")?,
            ctx.upstream("evaluate")?,
            ctx.upstream("gradcam")?,
            ctx.out_dir,
            &p,
        )?;
        fs::write(ctx.out_dir.join(INDEX), serde_json::to_vec_pretty(&files)?)?;
        ctx.reporter
            .info(&format!("charts: {} figures", files.len()));
        Ok(())
    }
}

/// A numeric CSV (history.csv, deletion.csv) as columns by header name.
pub fn read_columns(path: &Path) -> anyhow::Result<BTreeMap<String, Vec<f64>>> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let mut cols: BTreeMap<String, Vec<f64>> =
        header.iter().map(|h| (h.to_string(), Vec::new())).collect();
    for line in lines {
        for (h, v) in header.iter().zip(line.split(',')) {
            if let Some(c) = cols.get_mut(*h) {
                c.push(v.parse().unwrap_or(f64::NAN));
            }
        }
    }
    Ok(cols)
}

fn series(h: &BTreeMap<String, Vec<f64>>, x: &str, y: &str) -> Vec<(f64, f64)> {
    match (h.get(x), h.get(y)) {
        (Some(xs), Some(ys)) => xs.iter().copied().zip(ys.iter().copied()).collect(),
        _ => Vec::new(),
    }
}

fn render_all(
    train: &Path,
    evaluate: &Path,
    gradcam_dir: &Path,
    out: &Path,
    p: &ChartParams,
) -> anyhow::Result<Vec<ChartFile>> {
    fonts();
    let mut files = Vec::new();
    let history = read_columns(&train.join(HISTORY))?;
    let summary = TrainSummary::load(train)?;
    let best_it = summary.best.as_ref().map(|b| b.iteration as f64);
    let monitor = summary.monitor.to_string();
    let last_it = history
        .get("iteration")
        .and_then(|v| v.last().copied())
        .unwrap_or(1.0);
    let x = 0.0..last_it.max(1.0) * 1.02;
    let rules: Vec<(String, f64)> = best_it
        .map(|b| vec![(format!("best validation {monitor} (iteration {b})"), b)])
        .unwrap_or_default();
    let max_loss = ["train_loss", "val_loss"]
        .iter()
        .filter_map(|k| history.get(*k))
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    let line = |name: &str, pts: Vec<(f64, f64)>, color: RGBColor| Line {
        name: name.into(),
        points: pts,
        color,
        dashed: false,
    };
    files.push(save_chart(
        &Chart {
            title: "Training and validation loss".into(),
            x_label: "iteration".into(),
            y_label: "BCE loss (mean per image)".into(),
            x: x.clone(),
            y: 0.0..(max_loss * 1.1).max(0.1),
            lines: vec![
                line(
                    "train (since previous evaluation)",
                    series(&history, "iteration", "train_loss"),
                    BLUE,
                ),
                line(
                    "validation",
                    series(&history, "iteration", "val_loss"),
                    ORANGE,
                ),
            ],
            marks: vec![],
            rules: rules.clone(),
        },
        out,
        "training-loss",
        "Loss against iteration; the dashed rule marks the checkpoint kept.",
        p,
    )?);
    files.push(save_chart(
        &Chart {
            title: "Validation metrics during training".into(),
            x_label: "iteration".into(),
            y_label: "value at the training threshold".into(),
            x: x.clone(),
            y: 0.0..1.0,
            lines: vec![
                line(
                    "accuracy",
                    series(&history, "iteration", "val_accuracy"),
                    BLUE,
                ),
                line(
                    "precision",
                    series(&history, "iteration", "val_precision"),
                    ORANGE,
                ),
                line("recall", series(&history, "iteration", "val_recall"), GREEN),
                line("F1", series(&history, "iteration", "val_f1"), RED),
                line("ROC AUC", series(&history, "iteration", "val_auc"), PURPLE),
            ],
            marks: vec![],
            rules,
        },
        out,
        "training-metrics",
        "Validation accuracy, precision, recall, F1 and ROC AUC at each evaluation.",
        p,
    )?);

    let metrics: Metrics = serde_json::from_slice(&fs::read(evaluate.join(METRICS))?)?;
    let preds = read_predictions(evaluate)?;
    let role_colors = [("val", BLUE), ("test", ORANGE)];
    let mut roc_lines = vec![Line {
        name: "chance".into(),
        points: vec![(0.0, 0.0), (1.0, 1.0)],
        color: GREY,
        dashed: true,
    }];
    let (mut roc_marks, mut pr_lines, mut pr_marks) = (Vec::new(), Vec::new(), Vec::new());
    let mut reliability = None;
    for (role, color) in role_colors {
        let Some(m) = metrics.roles.get(role) else {
            continue;
        };
        let (probs, labels): (Vec<f32>, Vec<f32>) = preds
            .iter()
            .filter(|r| r.role == role)
            .map(|r| {
                (
                    r.probability as f32,
                    if r.label == "PNEUMONIA" { 1.0 } else { 0.0 },
                )
            })
            .unzip();
        let r = &m.report;
        roc_lines.push(line(
            &format!("{role} (AUC {})", defined_3(r.roc_auc)),
            stats::roc_curve(&probs, &labels)
                .iter()
                .map(|c| (c.x, c.y))
                .collect(),
            color,
        ));
        roc_marks.push((
            format!("{role} at threshold {:.3}", r.threshold),
            (1.0 - r.specificity, r.binary.recall),
            color,
        ));
        pr_lines.push(line(
            &format!("{role} (AP {})", defined_3(r.pr_auc)),
            stats::pr_curve(&probs, &labels)
                .iter()
                .map(|c| (c.x, c.y))
                .collect(),
            color,
        ));
        pr_marks.push((
            format!("{role} at threshold {:.3}", r.threshold),
            (r.binary.recall, r.binary.precision),
            color,
        ));
        if role == "test" || reliability.is_none() {
            reliability = Some((role, stats::reliability(&probs, &labels, 10), r.ece));
        }
    }
    files.push(save_chart(
        &Chart {
            title: "ROC curve".into(),
            x_label: "false positive rate (1 - specificity)".into(),
            y_label: "true positive rate (sensitivity)".into(),
            x: 0.0..1.0,
            y: 0.0..1.0,
            lines: roc_lines,
            marks: roc_marks,
            rules: vec![],
        },
        out,
        "roc",
        "ROC curves; dots are the operating points at the chosen threshold.",
        p,
    )?);
    files.push(save_chart(
        &Chart {
            title: "Precision-recall curve".into(),
            x_label: "recall (sensitivity)".into(),
            y_label: "precision (PPV)".into(),
            x: 0.0..1.0,
            y: 0.0..1.02,
            lines: pr_lines,
            marks: pr_marks,
            rules: vec![],
        },
        out,
        "pr",
        "Precision-recall curves; dots are the operating points at the chosen threshold.",
        p,
    )?);
    if let Some((role, bins, ece)) = reliability {
        let pts: Vec<(f64, f64)> = bins
            .iter()
            .filter(|b| b.count > 0)
            .map(|b| (b.mean_probability, b.positive_rate))
            .collect();
        files.push(save_chart(
            &Chart {
                title: format!("Reliability ({role}, ECE {ece:.3})"),
                x_label: "mean predicted probability of pneumonia (10 bins)".into(),
                y_label: "observed share with pneumonia".into(),
                x: 0.0..1.0,
                y: 0.0..1.0,
                lines: vec![
                    Line {
                        name: "perfect calibration".into(),
                        points: vec![(0.0, 0.0), (1.0, 1.0)],
                        color: GREY,
                        dashed: true,
                    },
                    line(role, pts, RED),
                ],
                marks: vec![],
                rules: vec![],
            },
            out,
            "reliability",
            "Observed pneumonia rate against predicted probability, in ten equal-width bins.",
            p,
        )?);
    }
    files.push(confusion(&metrics, out, p)?);

    let g: GradcamSummary = serde_json::from_slice(&fs::read(gradcam_dir.join(gradcam::SUMMARY))?)?;
    files.push(mean_cams(&g, gradcam_dir, out, p)?);
    let deletion = read_columns(&gradcam_dir.join("deletion.csv"))?;
    if g.deletion_images > 0 {
        files.push(save_chart(
            &Chart {
                title: format!(
                    "Deletion test ({} {} images predicted pneumonia)",
                    g.deletion_images, g.role
                ),
                x_label: "fraction of the image blanked (whole cells)".into(),
                y_label: "mean probability of pneumonia".into(),
                x: 0.0..1.0,
                y: 0.0..1.0,
                lines: vec![
                    line(
                        &format!("most salient first (area {:.3})", g.deletion_auc_salient),
                        series(&deletion, "fraction_removed", "probability_salient_first"),
                        RED,
                    ),
                    line(
                        &format!("random order (area {:.3})", g.deletion_auc_random),
                        series(&deletion, "fraction_removed", "probability_random"),
                        GREY,
                    ),
                ],
                marks: vec![],
                rules: vec![],
            },
            out,
            "deletion",
            "Probability as image cells are blanked to the image mean, most salient first versus random order; a faithful map falls faster.",
            p,
        )?);
    }
    Ok(files)
}

/// `v` at 3 decimals, or "undefined".
fn defined_3(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.3}")
    } else {
        "undefined".into()
    }
}
