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
use serde_json::Value;

use super::evaluate::{METRICS, Metrics, read_predictions};
use super::gradcam::{self, GradcamSummary};
use super::train::{HISTORY, SUMMARY};
use crate::model::explain::viridis;
use crate::model::stats;
use crate::pipeline::stage::{Stage, StageContext, canonical_params};

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

impl Stage for Charts {
    fn kind(&self) -> &'static str {
        "charts"
    }

    fn version(&self) -> u32 {
        1
    }

    fn upstream_kinds(&self) -> &'static [&'static str] {
        &["train", "evaluate", "gradcam"]
    }

    fn params(&self, raw: &Value) -> Result<Value, String> {
        let v = canonical_params::<ChartParams>(raw)?;
        let p: ChartParams = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
        if !(200..=4000).contains(&p.width) || !(150..=4000).contains(&p.height) {
            return Err("invalid value `width`/`height`: 200..4000 by 150..4000 pixels".into());
        }
        Ok(v)
    }

    fn run(&self, ctx: &StageContext<'_>) -> anyhow::Result<()> {
        let p: ChartParams = ctx.params()?;
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

fn fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
        for style in [FontStyle::Normal, FontStyle::Bold] {
            let _ = register_font("sans-serif", style, bytes);
        }
    });
}

const BLUE: RGBColor = RGBColor(31, 119, 180);
const ORANGE: RGBColor = RGBColor(255, 127, 14);
const GREEN: RGBColor = RGBColor(44, 160, 44);
const RED: RGBColor = RGBColor(214, 39, 40);
const PURPLE: RGBColor = RGBColor(148, 103, 189);
const GREY: RGBColor = RGBColor(127, 127, 127);

struct Line {
    name: String,
    points: Vec<(f64, f64)>,
    color: RGBColor,
    dashed: bool,
}

struct Chart {
    title: String,
    x_label: String,
    y_label: String,
    x: Range<f64>,
    y: Range<f64>,
    lines: Vec<Line>,
    /// Labelled markers (operating points).
    marks: Vec<(String, (f64, f64), RGBColor)>,
    /// Labelled vertical rules (the early-stopping point).
    rules: Vec<(String, f64)>,
}

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, c: &Chart) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("drawing `{}`: {e:?}", c.title);
    root.fill(&WHITE).map_err(e)?;
    let mut chart = ChartBuilder::on(root)
        .caption(&c.title, ("sans-serif", 22))
        .margin(14)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d(c.x.clone(), c.y.clone())
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc(&c.x_label)
        .y_desc(&c.y_label)
        .axis_desc_style(("sans-serif", 16))
        .label_style(("sans-serif", 13))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(e)?;
    for (name, x) in &c.rules {
        let (x, y0, y1) = (*x, c.y.start, c.y.end);
        chart
            .draw_series(DashedLineSeries::new(
                [(x, y0), (x, y1)],
                6,
                4,
                GREY.stroke_width(2),
            ))
            .map_err(e)?
            .label(name.clone())
            .legend(move |(px, py)| PathElement::new([(px, py), (px + 18, py)], GREY));
    }
    // an undefined metric (NaN) has no place on a chart: its point is left out, not drawn
    let finite = |&(x, y): &(f64, f64)| x.is_finite() && y.is_finite();
    for l in &c.lines {
        let points: Vec<(f64, f64)> = l.points.iter().copied().filter(finite).collect();
        let style = l.color.stroke_width(if l.dashed { 1 } else { 2 });
        let color = l.color;
        let series = if l.dashed {
            chart.draw_series(DashedLineSeries::new(points, 5, 5, style))
        } else {
            chart.draw_series(LineSeries::new(points, style))
        };
        series
            .map_err(e)?
            .label(l.name.clone())
            .legend(move |(px, py)| {
                PathElement::new([(px, py), (px + 18, py)], color.stroke_width(2))
            });
    }
    for (name, pt, color) in c.marks.iter().filter(|m| finite(&m.1)) {
        let color = *color;
        chart
            .draw_series([Circle::new(*pt, 6, color.filled())])
            .map_err(e)?
            .label(name.clone())
            .legend(move |(px, py)| Circle::new((px + 9, py), 5, color.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .label_font(("sans-serif", 14))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(200, 200, 200))
        .draw()
        .map_err(e)?;
    root.present().map_err(e)?;
    Ok(())
}

fn save_chart(
    c: &Chart,
    out: &Path,
    name: &str,
    caption: &str,
    p: &ChartParams,
) -> anyhow::Result<ChartFile> {
    let png = format!("{name}.png");
    draw(
        &BitMapBackend::new(&out.join(&png), (p.width, p.height)).into_drawing_area(),
        c,
    )?;
    let svg = if p.svg {
        let svg = format!("{name}.svg");
        draw(
            &SVGBackend::new(&out.join(&svg), (p.width, p.height)).into_drawing_area(),
            c,
        )?;
        Some(svg)
    } else {
        None
    };
    Ok(ChartFile {
        name: name.into(),
        png,
        svg,
        caption: caption.into(),
    })
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
    let summary: Value = serde_json::from_slice(&fs::read(train.join(SUMMARY))?)?;
    let best_it = summary["best"]["iteration"].as_f64();
    let monitor = summary["monitor"].as_str().unwrap_or("f1").to_string();
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

fn confusion(metrics: &Metrics, out: &Path, p: &ChartParams) -> anyhow::Result<ChartFile> {
    let png = "confusion.png".to_string();
    let path = out.join(&png);
    let root = BitMapBackend::new(&path, (p.width, p.height)).into_drawing_area();
    let e = |e: DrawingAreaErrorKind<_>| anyhow!("drawing the confusion matrix: {e:?}");
    root.fill(&WHITE).map_err(e)?;
    let roles: Vec<(&String, _)> = metrics.roles.iter().collect();
    let panels = root.split_evenly((1, roles.len().max(1)));
    for (area, (role, m)) in panels.iter().zip(roles) {
        let b = &m.report.binary;
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!(
                    "{role} (n = {}, threshold {:.3})",
                    m.report.n, m.report.threshold
                ),
                ("sans-serif", 18),
            )
            .margin(18)
            .x_label_area_size(44)
            .y_label_area_size(90)
            .build_cartesian_2d(0.0..2.0f64, 0.0..2.0f64)
            .map_err(e)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(0)
            .y_labels(0)
            .x_desc("predicted: NORMAL | PNEUMONIA")
            .y_desc("true: PNEUMONIA | NORMAL")
            .axis_desc_style(("sans-serif", 14))
            .draw()
            .map_err(e)?;
        // rows from the top: true NORMAL (y 1..2), true PNEUMONIA (y 0..1)
        let cells = [
            ((0.0, 1.0), b.tn, "TN"),
            ((1.0, 1.0), b.fp, "FP"),
            ((0.0, 0.0), b.fn_, "FN"),
            ((1.0, 0.0), b.tp, "TP"),
        ];
        let max = cells.iter().map(|c| c.1).max().unwrap_or(1).max(1) as f32;
        for ((x, y), count, name) in cells {
            let t = 0.15 + 0.75 * count as f32 / max;
            let [r, g, bl] = viridis(t);
            chart
                .draw_series([Rectangle::new(
                    [(x, y), (x + 1.0, y + 1.0)],
                    RGBColor(r, g, bl).filled(),
                )])
                .map_err(e)?;
            let text_color = if t > 0.6 { BLACK } else { WHITE };
            chart
                .draw_series([Text::new(
                    format!("{name} {count}"),
                    (x + 0.32, y + 0.55),
                    ("sans-serif", 22).into_font().color(&text_color),
                )])
                .map_err(e)?;
        }
    }
    root.present().map_err(e)?;
    Ok(ChartFile {
        name: "confusion".into(),
        png,
        svg: None,
        caption: "Confusion matrices at the chosen threshold (rows: truth, columns: prediction)."
            .into(),
    })
}

fn mean_cams(
    g: &GradcamSummary,
    dir: &Path,
    out: &Path,
    p: &ChartParams,
) -> anyhow::Result<ChartFile> {
    let png = "mean-cam.png".to_string();
    let height = p.height.max(320);
    let path = out.join(&png);
    let root = BitMapBackend::new(&path, (p.width, height)).into_drawing_area();
    let e = |e: DrawingAreaErrorKind<_>| anyhow!("drawing the mean Grad-CAM: {e:?}");
    root.fill(&WHITE).map_err(e)?;
    let (body, bar) = root.split_vertically(height - 40);
    let panels = body.split_evenly((1, g.mean_maps.len().max(1)));
    let side = g.side;
    for (area, (label, (file, count))) in panels.iter().zip(&g.mean_maps) {
        let bytes = fs::read(dir.join(file))?;
        let map: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let max = map.iter().copied().fold(0.0f32, f32::max).max(1e-6);
        let area = area
            .titled(
                &format!("mean Grad-CAM, true {label} ({count} images)"),
                ("sans-serif", 18),
            )
            .map_err(e)?;
        let (w, h) = area.dim_in_pixel();
        let scale = ((w.min(h) as f32 - 30.0) / side as f32).max(0.1);
        let off_x = (w as f32 - side as f32 * scale) / 2.0;
        for y in 0..(side as f32 * scale) as i32 {
            for x in 0..(side as f32 * scale) as i32 {
                let (sx, sy) = ((x as f32 / scale) as usize, (y as f32 / scale) as usize);
                let v = map[sy.min(side - 1) * side + sx.min(side - 1)] / max;
                let [r, gg, b] = viridis(v);
                area.draw_pixel((off_x as i32 + x, 10 + y), &RGBColor(r, gg, b))
                    .map_err(e)?;
            }
        }
        area.draw_text(
            "image left = patient's right",
            &("sans-serif", 13).into_font().color(&BLACK),
            (off_x as i32, (side as f32 * scale) as i32 + 12),
        )
        .map_err(e)?;
    }
    // colour bar
    let (w, _) = bar.dim_in_pixel();
    let (x0, x1) = (w as i32 / 4, 3 * w as i32 / 4);
    for x in x0..x1 {
        let [r, gg, b] = viridis((x - x0) as f32 / (x1 - x0) as f32);
        bar.draw(&Rectangle::new(
            [(x, 4), (x + 1, 18)],
            RGBColor(r, gg, b).filled(),
        ))
        .map_err(e)?;
    }
    let font = ("sans-serif", 13).into_font().color(&BLACK);
    bar.draw_text("0", &font, (x0 - 14, 4)).map_err(e)?;
    bar.draw_text("max of the mean map", &font, (x1 + 6, 4))
        .map_err(e)?;
    root.present().map_err(e)?;
    Ok(ChartFile {
        name: "mean-cam".into(),
        png,
        svg: None,
        caption: format!(
            "Mean normalised Grad-CAM over the {} images by true label, each scaled to its maximum.",
            g.role
        ),
    })
}

/// `v` at 3 decimals, or "undefined".
fn defined_3(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.3}")
    } else {
        "undefined".into()
    }
}
