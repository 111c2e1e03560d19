//! What the charts show, as data: [`figures`] turns the upstream artifacts into a list of
//! [`Figure`]s (line charts fully specified: titles, axes, ranges, points, colours), with no
//! drawing. `draw.rs` and `panels.rs` render them; the specs are snapshot-tested.

use super::*;

/// Everything the charts read, from the train, evaluate and gradcam outputs.
#[derive(Debug, Clone)]
pub struct ChartInputs {
    /// history.csv.
    pub history: Vec<Evaluation>,
    pub summary: TrainSummary,
    pub metrics: Metrics,
    pub predictions: Vec<Prediction>,
    pub gradcam: GradcamSummary,
    /// deletion.csv.
    pub deletion: Vec<DeletionPoint>,
}

impl ChartInputs {
    pub fn read(train: &Path, evaluate: &Path, gradcam_dir: &Path) -> anyhow::Result<Self> {
        Ok(ChartInputs {
            history: read_history(train)?,
            summary: TrainSummary::load(train)?,
            metrics: crate::contract::load(&evaluate.join(METRICS))?,
            predictions: read_predictions(evaluate)?,
            gradcam: crate::contract::load(&gradcam_dir.join(gradcam::SUMMARY))?,
            deletion: read_deletion(gradcam_dir)?,
        })
    }
}

/// One figure of the charts stage, in display order.
#[derive(Debug, Clone, Serialize)]
pub enum Figure {
    Line(Box<LineSpec>),
    /// The confusion matrices of `metrics.json`, one panel per role.
    Confusion,
    /// The mean Grad-CAM maps of gradcam.json, one per class.
    MeanCams,
}

/// A line chart with its file name and caption.
#[derive(Debug, Clone, Serialize)]
pub struct LineSpec {
    pub name: String,
    pub caption: String,
    pub chart: Chart,
}

/// `(x, y)` of every row.
fn series<T>(rows: &[T], xy: impl Fn(&T) -> (f64, f64)) -> Vec<(f64, f64)> {
    rows.iter().map(xy).collect()
}

/// A history series against the iteration.
fn by_iteration(h: &[Evaluation], y: impl Fn(&Evaluation) -> f64) -> Vec<(f64, f64)> {
    series(h, |e| (e.iteration as f64, y(e)))
}

pub(super) fn line(name: &str, points: Vec<(f64, f64)>, color: Rgb) -> Line {
    Line {
        name: name.into(),
        points,
        color,
        dashed: false,
    }
}

pub(super) fn diagonal(name: &str) -> Line {
    Line {
        name: name.into(),
        points: vec![(0.0, 0.0), (1.0, 1.0)],
        color: GREY,
        dashed: true,
    }
}

pub(super) fn spec(name: &str, caption: &str, chart: Chart) -> Figure {
    Figure::Line(Box::new(LineSpec {
        name: name.into(),
        caption: caption.into(),
        chart,
    }))
}

/// The figures, in display order.
pub fn figures(i: &ChartInputs) -> Vec<Figure> {
    let mut out = training(i);
    out.extend(super::scoring::scoring(i));
    out.push(super::scoring::scores(i));
    out.push(Figure::Confusion);
    out.push(Figure::MeanCams);
    out.extend(deletion(i));
    out
}

fn training(i: &ChartInputs) -> Vec<Figure> {
    let h = &i.history;
    let last_it = h.last().map_or(1.0, |e| e.iteration as f64);
    let x = 0.0..last_it.max(1.0) * 1.02;
    let monitor = i.summary.monitor;
    let rules: Vec<(String, f64)> = i
        .summary
        .best
        .as_ref()
        .map(|b| {
            vec![(
                format!("best validation {monitor} (iteration {})", b.iteration),
                b.iteration as f64,
            )]
        })
        .unwrap_or_default();
    let max_loss = h
        .iter()
        .flat_map(|e| [e.train_loss, e.val_loss])
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    vec![
        spec(
            "training-loss",
            "Loss against iteration; the dashed rule marks the checkpoint kept.",
            Chart {
                title: "Training and validation loss".into(),
                x_label: "iteration".into(),
                y_label: "BCE loss (mean per image)".into(),
                x: x.clone(),
                y: 0.0..(max_loss * 1.1).max(0.1),
                lines: vec![
                    line(
                        "train (since previous evaluation)",
                        by_iteration(h, |e| e.train_loss),
                        BLUE,
                    ),
                    line("validation", by_iteration(h, |e| e.val_loss), ORANGE),
                ],
                marks: vec![],
                rules: rules.clone(),
            },
        ),
        spec(
            "training-metrics",
            "Validation accuracy, precision, recall, F1 and ROC AUC at each evaluation.",
            Chart {
                title: "Validation metrics during training".into(),
                x_label: "iteration".into(),
                y_label: "value at the training threshold".into(),
                x,
                y: 0.0..1.0,
                lines: vec![
                    line("accuracy", by_iteration(h, |e| e.val.accuracy), BLUE),
                    line("precision", by_iteration(h, |e| e.val.precision), ORANGE),
                    line("recall", by_iteration(h, |e| e.val.recall), GREEN),
                    line("F1", by_iteration(h, |e| e.val.f1), RED),
                    line("ROC AUC", by_iteration(h, |e| e.val_auc), PURPLE),
                ],
                marks: vec![],
                rules,
            },
        ),
    ]
}

/// ROC, precision-recall and reliability, from the predictions of each role.
fn deletion(i: &ChartInputs) -> Option<Figure> {
    let g = &i.gradcam;
    (g.deletion_images > 0).then(|| {
        spec(
            "deletion",
            "Probability as image cells are blanked to the image mean, most salient first versus random order; a faithful map falls faster.",
            Chart {
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
                        series(&i.deletion, |p| (p.fraction_removed, p.salient_first)),
                        RED,
                    ),
                    line(
                        &format!("random order (area {:.3})", g.deletion_auc_random),
                        series(&i.deletion, |p| (p.fraction_removed, p.random)),
                        GREY,
                    ),
                ],
                marks: vec![],
                rules: vec![],
            },
        )
    })
}

/// `v` at 3 decimals, or "undefined".
pub(super) fn defined_3(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.3}")
    } else {
        "undefined".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The report fixture's train, evaluate and gradcam outputs (tests/fixtures/report), with
    /// a few predictions and a short deletion curve made up here: every number below is
    /// computed without libtorch, so the snapshot holds on any machine.
    fn inputs() -> ChartInputs {
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/report");
        let pred = |role: &str, label: &str, probability: f64| Prediction {
            path: format!("{role}/{label}/x.jpeg"),
            role: role.into(),
            patient_id: "p".into(),
            label: label.parse().unwrap(),
            subtype: String::new(),
            probability,
            prediction: u8::from(probability >= 0.5),
            outcome: crate::contract::label::Outcome::of(
                probability >= 0.5,
                label.parse().unwrap(),
            ),
        };
        ChartInputs {
            history: read_history(&fixture.join("train")).unwrap(),
            summary: TrainSummary::load(&fixture.join("train")).unwrap(),
            metrics: serde_json::from_slice(
                &fs::read(fixture.join("evaluate").join(METRICS)).unwrap(),
            )
            .unwrap(),
            predictions: vec![
                pred("val", "NORMAL", 0.2),
                pred("val", "NORMAL", 0.6),
                pred("val", "PNEUMONIA", 0.7),
                pred("val", "PNEUMONIA", 0.4),
                pred("val", "PNEUMONIA", 0.9),
                pred("test", "NORMAL", 0.1),
                pred("test", "PNEUMONIA", 0.8),
                pred("test", "PNEUMONIA", 0.3),
            ],
            gradcam: serde_json::from_slice(
                &fs::read(fixture.join("gradcam").join(gradcam::SUMMARY)).unwrap(),
            )
            .unwrap(),
            deletion: [(0.0, 0.8, 0.8), (0.5, 0.4, 0.7), (1.0, 0.3, 0.3)]
                .map(|(fraction_removed, salient_first, random)| DeletionPoint {
                    fraction_removed,
                    salient_first,
                    random,
                })
                .to_vec(),
        }
    }

    #[test]
    fn chart_specs_from_fixed_artifacts() {
        insta::assert_yaml_snapshot!("chart_specs", figures(&inputs()));
    }

    #[test]
    fn no_deletion_chart_without_deletion_images() {
        let mut i = inputs();
        i.gradcam.deletion_images = 0;
        let names: Vec<String> = figures(&i)
            .iter()
            .map(|f| match f {
                Figure::Line(s) => s.name.clone(),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            names,
            [
                "training-loss",
                "training-metrics",
                "roc",
                "pr",
                "reliability",
                "scores",
                "Confusion",
                "MeanCams"
            ]
        );
    }
}
