//! `report`: the study's write-up regenerated from the artifacts alone, as Markdown and as
//! one self-contained HTML file (images embedded). The text is built as a small document
//! model ([`Block`]) by [`document`], a pure function of [`Artifacts`], and rendered twice;
//! every number is formatted at a fixed precision, so snapshots are stable.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;

use anyhow::Context;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::charts::{self, ChartFile, read_columns};
use super::evaluate::{METRICS, Metrics, RoleMetrics};
use super::gradcam::{self, GradcamSummary, Regions};
use super::index::{IndexSummary, SUMMARY as INDEX_SUMMARY};
use super::split::{COUNTS, Protocol, SplitCounts};
use super::train::{HISTORY, MODEL, SUMMARY as TRAIN_SUMMARY};
use crate::model::defined;
use crate::model::explain::Quadrants;
use crate::pipeline::runtime::Runtime;
use crate::pipeline::stage::{Stage, StageContext, canonical_params};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportParams {
    #[serde(default = "d_title")]
    pub title: String,
}

fn d_title() -> String {
    "Pneumonia on pediatric chest X-rays: a ResNet-18 classifier, reproduced and measured".into()
}

pub const MARKDOWN: &str = "report.md";
pub const HTML: &str = "report.html";

/// Everything the report reads, loaded from the upstream stages' outputs.
#[derive(Debug, Clone)]
pub struct Artifacts {
    pub title: String,
    pub index: IndexSummary,
    pub split: SplitCounts,
    pub preprocess: Value,
    pub train_summary: Value,
    pub train_card: Value,
    pub history: BTreeMap<String, Vec<f64>>,
    pub metrics: Metrics,
    pub gradcam: GradcamSummary,
    pub charts: Vec<ChartFile>,
    pub config_hash: String,
    pub tool_version: String,
    /// Where the network stages ran (`runtime.json`): train's, then evaluate's.
    pub runtime: Vec<(&'static str, Runtime)>,
}

impl Artifacts {
    /// Reads the upstream outputs; `dir_of(kind)` is the output folder of that upstream.
    pub fn read(
        dir_of: &dyn Fn(&str) -> anyhow::Result<PathBuf>,
        title: String,
        config: &[u8],
    ) -> anyhow::Result<Artifacts> {
        let read = |kind: &str, file: &str| -> anyhow::Result<Vec<u8>> {
            let path = dir_of(kind)?.join(file);
            fs::read(&path).with_context(|| format!("reading {}", path.display()))
        };
        let json = |kind: &str, file: &str| -> anyhow::Result<Value> {
            Ok(serde_json::from_slice(&read(kind, file)?)?)
        };
        let mut runtime = Vec::new();
        for kind in ["train", "evaluate"] {
            if let Some(r) = Runtime::read(&dir_of(kind)?) {
                runtime.push((kind, r));
            }
        }
        Ok(Artifacts {
            title,
            index: serde_json::from_slice(&read("index", INDEX_SUMMARY)?)?,
            split: serde_json::from_slice(&read("split", COUNTS)?)?,
            preprocess: json("preprocess", "meta.json")?,
            train_summary: json("train", TRAIN_SUMMARY)?,
            train_card: json("train", MODEL)?,
            history: read_columns(&dir_of("train")?.join(HISTORY))?,
            metrics: serde_json::from_slice(&read("evaluate", METRICS)?)?,
            gradcam: serde_json::from_slice(&read("gradcam", gradcam::SUMMARY)?)?,
            charts: serde_json::from_slice(&read("charts", charts::INDEX)?)?,
            config_hash: blake3::hash(config).to_hex()[..16].to_string(),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            runtime,
        })
    }
}

/// A piece of the document. Text is plain (renderers escape it); `**x**` is not interpreted.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Heading(u8, String),
    Para(String),
    List(Vec<String>),
    Table(Vec<String>, Vec<Vec<String>>),
    /// Image files (relative to the report) with captions, shown side by side.
    Figures(Vec<(String, String)>),
    Code(String),
}

pub struct Report;

impl Stage for Report {
    fn kind(&self) -> &'static str {
        "report"
    }

    fn version(&self) -> u32 {
        // 2: figures on a grid (a lone last figure no longer stretches to full width);
        // 3: the region table's header names its all-zero-maps column; 4: where the
        // network stages ran, and what that means for the digits
        4
    }

    fn upstream_kinds(&self) -> &'static [&'static str] {
        &[
            "index",
            "split",
            "preprocess",
            "train",
            "evaluate",
            "gradcam",
            "charts",
        ]
    }

    fn params(&self, raw: &Value) -> Result<Value, String> {
        canonical_params::<ReportParams>(raw)
    }

    /// The config's hash goes into the report, so the config is an input.
    fn inputs(&self, _params: &Value) -> Vec<String> {
        vec!["pipeline.yaml".into()]
    }

    fn run(&self, ctx: &StageContext<'_>) -> anyhow::Result<()> {
        let p: ReportParams = ctx.params()?;
        let read = |kind: &str, file: &str| -> anyhow::Result<Vec<u8>> {
            let path = ctx.upstream(kind)?.join(file);
            fs::read(&path).with_context(|| format!("reading {}", path.display()))
        };
        let config =
            fs::read(ctx.workspace.join("pipeline.yaml")).context("reading pipeline.yaml")?;
        let a = Artifacts::read(
            &|kind| Ok(ctx.upstream(kind)?.to_path_buf()),
            p.title,
            &config,
        )?;
        // images beside the Markdown, embedded in the HTML
        let images = ctx.out_dir.join("images");
        fs::create_dir_all(&images)?;
        let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for c in &a.charts {
            files.insert(c.png.clone(), read("charts", &c.png)?);
        }
        for o in &a.gradcam.overlays {
            files.insert(o.file.clone(), read("gradcam", &o.file)?);
        }
        for (name, bytes) in &files {
            let dest = images.join(name);
            if let Some(parent) = dest.parent() {
                fs::create_dir_all(parent)?;
            }
            fs::write(&dest, bytes)?;
        }
        let doc = document(&a);
        fs::write(ctx.out_dir.join(MARKDOWN), markdown(&doc))?;
        fs::write(
            ctx.out_dir.join(HTML),
            html(&a.title, &doc, &|f: &str| {
                let name = f.strip_prefix("images/").unwrap_or(f);
                files.get(name).map(|b| {
                    format!(
                        "data:image/png;base64,{}",
                        base64::engine::general_purpose::STANDARD.encode(b)
                    )
                })
            }),
        )?;
        ctx.reporter.info(&format!(
            "report: {} and {} ({} images)",
            MARKDOWN,
            HTML,
            files.len()
        ));
        Ok(())
    }
}

fn pct(v: f64) -> String {
    if v.is_finite() {
        format!("{:.2}%", v * 100.0)
    } else {
        "undefined".into()
    }
}

fn num(v: f64, d: usize) -> String {
    if v.is_finite() {
        format!("{v:.d$}")
    } else {
        "undefined".into()
    }
}

fn ci_pct(v: f64, ci: (f64, f64)) -> String {
    if ci.0.is_finite() {
        format!("{} ({:.1}–{:.1})", pct(v), ci.0 * 100.0, ci.1 * 100.0)
    } else {
        pct(v)
    }
}

fn ci_num(v: f64, ci: (f64, f64)) -> String {
    if ci.0.is_finite() {
        format!("{} ({:.3}–{:.3})", num(v, 3), ci.0, ci.1)
    } else {
        num(v, 3)
    }
}

/// The write-up's figures on the official test split, and its confusion matrix (recomputed
/// from its four numbers: TP 350, FN 40, FP 51, TN 183).
const WRITEUP: [(&str, f64); 4] = [
    ("accuracy", 0.8542),
    ("precision", 0.8728),
    ("recall", 0.8974),
    ("F1", 0.8850),
];

/// The role holding the dataset's `test/` folder (on the Kaggle download, the official test
/// split: where the write-up's numbers were measured).
fn official_test_role(split: &SplitCounts) -> &'static str {
    match split.protocol {
        Protocol::Writeup => "val",
        Protocol::Patient => "test",
    }
}

fn quadrant_row(name: String, r: &Regions) -> Vec<String> {
    let q = &r.shares;
    vec![
        name,
        r.images.to_string(),
        r.empty.to_string(),
        pct(q.upper_left),
        pct(q.upper_right),
        pct(q.lower_left),
        pct(q.lower_right),
    ]
}

fn top_quadrant(q: &Quadrants) -> (&'static str, f64) {
    [
        (
            "upper image-left (patient's right upper zone)",
            q.upper_left,
        ),
        (
            "upper image-right (patient's left upper zone)",
            q.upper_right,
        ),
        (
            "lower image-left (patient's right lower zone)",
            q.lower_left,
        ),
        (
            "lower image-right (patient's left lower zone)",
            q.lower_right,
        ),
    ]
    .into_iter()
    .fold(
        ("", f64::NEG_INFINITY),
        |b, x| if x.1 > b.1 { x } else { b },
    )
}

/// The report as blocks: a pure function of the artifacts.
pub fn document(a: &Artifacts) -> Vec<Block> {
    use Block::*;
    let mut d = Vec::new();
    let s = |x: &str| x.to_string();
    let official = official_test_role(&a.split);
    let m = &a.metrics;
    let headline = m.roles.get(official);
    let params = &a.train_card["params"];
    let protocol = match a.split.protocol {
        Protocol::Writeup => "write-up",
        Protocol::Patient => "patient",
    };

    d.push(Heading(1, a.title.clone()));
    if let Some(h) = headline {
        let r = &h.report;
        d.push(Para(format!(
            "Protocol: {protocol}. On the dataset's `test/` folder ({} images, the `{official}` role here) \
             the classifier reaches accuracy {}, sensitivity {}, specificity {}, F1 {} and ROC AUC {} \
             at threshold {} ({}). Brackets are 95% intervals.",
            r.n,
            ci_pct(r.binary.accuracy, r.ci.accuracy),
            ci_pct(r.binary.recall, r.ci.recall),
            ci_pct(r.specificity, r.ci.specificity),
            ci_pct(r.binary.f1, r.ci.f1),
            ci_num(r.roc_auc, r.ci.roc_auc),
            num(r.threshold, 3),
            m.threshold.rule
        )));
    }

    d.push(Heading(2, s("Introduction")));
    d.push(Para(s(
        "This report is generated by pneumo-pipeline from the artifacts of one pipeline run. The task \
         is binary: a frontal chest radiograph of a child is labelled NORMAL or PNEUMONIA. The study it \
         reproduces fine-tuned a ResNet-18 and reported four metrics measured on the same images it used \
         to choose its checkpoint; this pipeline repeats that recipe and also offers an honest protocol \
         (patient-level validation, a threshold fixed on validation, a test set scored once), with \
         intervals on every figure and Grad-CAM measurements in place of impressions.",
    )));

    d.push(Heading(2, s("Dataset")));
    let i = &a.index;
    d.push(Para(format!(
        "The index stage found {} usable images in `{}`; {} files were unusable and {} were outside the \
         expected layout. {} groups of byte-identical files were found ({} redundant copies). Patients \
         seen in more than one official folder: {}.",
        i.images,
        i.data,
        i.bad_files.len(),
        i.ignored_files.len(),
        i.duplicate_groups.len(),
        i.duplicate_groups.iter().map(|g| g.len() - 1).sum::<usize>(),
        i.cross_split_patients.len()
    )));
    let roles = ["train", "val", "test", "unused"];
    let mut rows = Vec::new();
    for role in roles {
        if let Some(c) = a.split.images.get(role) {
            let n = c.get("NORMAL").copied().unwrap_or(0);
            let p = c.get("PNEUMONIA").copied().unwrap_or(0);
            rows.push(vec![
                s(role),
                n.to_string(),
                p.to_string(),
                (n + p).to_string(),
                a.split.patients.get(role).copied().unwrap_or(0).to_string(),
            ]);
        }
    }
    d.push(Table(
        vec![
            s("role"),
            s("NORMAL"),
            s("PNEUMONIA"),
            s("images"),
            s("patients"),
        ],
        rows,
    ));
    d.push(Para(match a.split.protocol {
        Protocol::Writeup => s(
            "Write-up protocol: train is the official train folder balanced by dropping pneumonia images; \
             `val` is the `test/` folder, used (as in the study) both to pick the checkpoint and to \
             report, so its figures are optimistic; `test` is the 16-image `val/` folder.",
        ),
        Protocol::Patient => format!(
            "Patient protocol: validation is {} of the patients of the official train and val folders, \
             drawn per label with seed {}; `test` is the `test/` folder, scored once with the \
             threshold fixed on validation.",
            a.split.val_fraction.map(pct).unwrap_or_else(|| s("a share")),
            a.split.seed
        ),
    }));
    d.push(Para(format!(
        "Leak check: the roles are {}patient-disjoint ({} patients shared).",
        if a.split.patient_disjoint { "" } else { "NOT " },
        a.split.shared_patients.len()
    )));

    d.push(Heading(2, s("Preprocessing")));
    let pp = &a.preprocess;
    d.push(List(vec![
        format!(
            "Grayscale: {}.",
            pp["grayscale"].as_str().unwrap_or("luma")
        ),
        format!(
            "Resized to {} x {} pixels: {}.",
            pp["width"], pp["height"],
            pp["resize"].as_str().unwrap_or("bilinear")
        ),
        format!(
            "Scaled to [0, 1], repeated to three channels and normalised with mean {} and std {} (ImageNet).",
            pp["mean"], pp["std"]
        ),
        format!(
            "Dataset pixel mean {} and std {} after scaling.",
            num(pp["pixel_mean"].as_f64().unwrap_or(f64::NAN), 3),
            num(pp["pixel_std"].as_f64().unwrap_or(f64::NAN), 3)
        ),
    ]));

    d.push(Heading(2, s("Model")));
    d.push(Para(format!(
        "ResNet-18 as torchvision builds it, with one output logit (the pneumonia score) trained with \
         binary cross-entropy on logits. Initial weights: {}. It runs on libtorch through tch; the \
         checkpoint is saved under torchvision's parameter names.",
        match params["weights"].as_str() {
            Some("none") | None => s("random (seeded); no ImageNet weights were used"),
            Some(w) => format!("`{w}`"),
        }
    )));

    d.push(Heading(2, s("Training")));
    let t = &a.train_summary;
    let aug = &params["augment"];
    let aug_text = if ["rotate", "scale", "shift", "brightness", "contrast"]
        .iter()
        .all(|k| aug[*k].as_f64().unwrap_or(0.0) == 0.0)
        && aug["hflip"] != Value::Bool(true)
    {
        s("none")
    } else {
        format!(
            "rotation ±{}°, scale ±{}, shift ±{}, brightness ±{}, contrast ±{}, horizontal flip {}",
            aug["rotate"],
            aug["scale"],
            aug["shift"],
            aug["brightness"],
            aug["contrast"],
            aug["hflip"]
        )
    };
    d.push(Table(
        vec![s("setting"), s("value")],
        vec![
            vec![
                s("optimizer"),
                format!(
                    "{} (lr {}, momentum {}, weight decay {})",
                    params["optimizer"].as_str().unwrap_or("sgd"),
                    params["lr"],
                    params["momentum"],
                    params["weight_decay"]
                ),
            ],
            vec![
                s("schedule"),
                params["schedule"]
                    .as_str()
                    .unwrap_or("constant")
                    .to_string(),
            ],
            vec![s("batch size"), params["batch_size"].to_string()],
            vec![
                s("sampler"),
                params["sampler"].as_str().unwrap_or("shuffle").to_string(),
            ],
            vec![s("pos_weight"), params["pos_weight"].to_string()],
            vec![s("augmentation"), aug_text],
            vec![
                s("evaluation"),
                format!(
                    "every {} iterations on the validation role",
                    params["eval_every"]
                ),
            ],
            vec![
                s("early stopping"),
                format!(
                    "{} evaluations without gain in validation {}",
                    params["patience"],
                    params["monitor"].as_str().unwrap_or("f1")
                ),
            ],
            vec![s("seed"), params["seed"].to_string()],
            vec![s("device"), t["device"].as_str().unwrap_or("?").to_string()],
            vec![
                s("precision"),
                params["precision"].as_str().unwrap_or("fp32").to_string(),
            ],
        ],
    ));
    d.push(Para(format!(
        "Training ran {} iterations in {} s and stopped because: {}. The checkpoint kept is the one of \
         iteration {} (best validation {}).",
        t["iterations"],
        num(t["seconds"].as_f64().unwrap_or(f64::NAN), 0),
        t["stop_reason"].as_str().unwrap_or("?"),
        t["best"]["iteration"],
        t["monitor"].as_str().unwrap_or("f1")
    )));
    let h = &a.history;
    let col = |k: &str, i: usize| h.get(k).and_then(|v| v.get(i)).copied().unwrap_or(f64::NAN);
    let n_evals = h.get("iteration").map_or(0, Vec::len);
    let evals: Vec<Vec<String>> = (0..n_evals)
        .map(|i| {
            vec![
                num(col("iteration", i), 0),
                num(col("train_loss", i), 4),
                num(col("train_accuracy", i), 4),
                num(col("val_loss", i), 4),
                num(col("val_accuracy", i), 4),
                num(col("val_precision", i), 4),
                num(col("val_recall", i), 4),
                num(col("val_f1", i), 4),
                num(col("val_auc", i), 4),
            ]
        })
        .collect();
    d.push(Table(
        [
            "iteration",
            "train loss",
            "train acc",
            "val loss",
            "val acc",
            "precision",
            "recall",
            "F1",
            "AUC",
        ]
        .map(s)
        .to_vec(),
        evals,
    ));
    let figs = |names: &[&str]| -> Block {
        Figures(
            a.charts
                .iter()
                .filter(|c| names.contains(&c.name.as_str()))
                .map(|c| (format!("images/{}", c.png), c.caption.clone()))
                .collect(),
        )
    };
    d.push(figs(&["training-loss", "training-metrics"]));

    d.push(Heading(2, s("Evaluation")));
    d.push(Para(format!(
        "Checkpoint: {}. Decision threshold {} ({}; chosen on: {}). Proportions carry Wilson 95% \
         intervals; F1 and the AUCs carry stratified bootstrap intervals ({} resamples).",
        m.checkpoint,
        num(m.threshold.value, 4),
        m.threshold.rule,
        m.threshold.chosen_on,
        m.bootstrap
    )));
    let order: Vec<(&String, &RoleMetrics)> = ["val", "test"]
        .iter()
        .filter_map(|r| m.roles.get_key_value(*r))
        .collect();
    let mut header = vec![s("metric")];
    header.extend(
        order
            .iter()
            .map(|(r, rm)| format!("{r} (n = {})", rm.report.n)),
    );
    let metric_rows: Vec<(&str, Cell)> = vec![
        (
            "accuracy",
            Box::new(|r| ci_pct(r.report.binary.accuracy, r.report.ci.accuracy)),
        ),
        (
            "precision (PPV)",
            Box::new(|r| ci_pct(r.report.binary.precision, r.report.ci.precision)),
        ),
        (
            "recall (sensitivity)",
            Box::new(|r| ci_pct(r.report.binary.recall, r.report.ci.recall)),
        ),
        (
            "specificity",
            Box::new(|r| ci_pct(r.report.specificity, r.report.ci.specificity)),
        ),
        ("NPV", Box::new(|r| ci_pct(r.report.npv, r.report.ci.npv))),
        (
            "F1",
            Box::new(|r| ci_pct(r.report.binary.f1, r.report.ci.f1)),
        ),
        (
            "ROC AUC",
            Box::new(|r| ci_num(r.report.roc_auc, r.report.ci.roc_auc)),
        ),
        (
            "PR AUC (average precision)",
            Box::new(|r| ci_num(r.report.pr_auc, r.report.ci.pr_auc)),
        ),
        ("ECE (10 bins)", Box::new(|r| num(r.report.ece, 4))),
        ("Brier score", Box::new(|r| num(r.report.brier, 4))),
        (
            "TP / FN / FP / TN",
            Box::new(|r| {
                let b = &r.report.binary;
                format!("{} / {} / {} / {}", b.tp, b.fn_, b.fp, b.tn)
            }),
        ),
    ];
    let table_rows = metric_rows
        .iter()
        .map(|(name, f)| {
            let mut row = vec![s(name)];
            row.extend(order.iter().map(|(_, rm)| f(rm)));
            row
        })
        .collect();
    d.push(Table(header, table_rows));
    let undefined: Vec<String> = order
        .iter()
        .flat_map(|(role, rm)| {
            defined::reasons(&rm.report.binary)
                .into_iter()
                .map(move |(metric, why)| format!("{metric} on {role}: {why}"))
        })
        .collect();
    if !undefined.is_empty() {
        d.push(Para(format!(
            "Undefined here, because a count they divide by is zero: {}.",
            undefined.join("; ")
        )));
    }
    let mut sub_rows = Vec::new();
    for (role, rm) in &order {
        for (sub, r) in &rm.subtypes {
            sub_rows.push(vec![
                role.to_string(),
                sub.clone(),
                format!("{} of {}", r.detected, r.n),
                ci_pct(r.recall, r.ci),
            ]);
        }
    }
    if !sub_rows.is_empty() {
        d.push(Para(s(
            "Sensitivity by pneumonia subtype (from the file names):",
        )));
        d.push(Table(
            vec![s("role"), s("subtype"), s("detected"), s("sensitivity")],
            sub_rows,
        ));
    }
    if let Some(h) = headline {
        let b = &h.report.binary;
        let ours = [b.accuracy, b.precision, b.recall, b.f1];
        d.push(Para(format!(
            "Against the write-up, on the `test/` folder (the `{official}` role; the write-up used the official \
             624-image test split, which is this folder on the Kaggle download). Its four numbers \
             follow from a confusion matrix of TP 350, FN 40, FP 51, TN 183; ours are recomputed from \
             TP {}, FN {}, FP {}, TN {}: accuracy = (TP + TN) / n, precision = TP / (TP + FP), recall = \
             TP / (TP + FN), F1 = 2PR / (P + R).",
            b.tp, b.fn_, b.fp, b.tn
        )));
        d.push(Table(
            vec![
                s("metric"),
                s("write-up"),
                s("this run"),
                s("difference (points)"),
            ],
            WRITEUP
                .iter()
                .zip(ours)
                .map(|((name, w), o)| {
                    vec![s(name), pct(*w), pct(o), format!("{:+.2}", (o - w) * 100.0)]
                })
                .collect(),
        ));
        d.push(Para(s(
            "Differences of about 3 points or less are within sampling noise on 624 images. Under the \
             write-up protocol these figures are optimistic for both the study and this run, because the \
             same images chose the checkpoint.",
        )));
    }
    d.push(figs(&["roc", "pr"]));
    d.push(figs(&["confusion", "reliability"]));

    d.push(Heading(2, s("Grad-CAM")));
    let g = &a.gradcam;
    d.push(Para(format!(
        "Grad-CAM of the pneumonia logit on the last residual block ({}): channel weights are the spatial \
         mean of the gradient, the map is the ReLU of the weighted sum of activations, upsampled \
         bilinearly to {} px and scaled to [0, 1] per image. Computed for all {} images of the `{}` role. \
         Left panels are the film, right panels the map over it (viridis: yellow = high). On a standard \
         frontal film image-left is the patient's right.",
        g.layer, g.side, g.images, g.role
    )));
    let mut overlays: Vec<(String, String)> = g
        .overlays
        .iter()
        .map(|o| {
            (
                format!("images/{}", o.file),
                format!(
                    "{} · true {} · p = {} · {}",
                    o.outcome.to_uppercase(),
                    o.label,
                    num(o.probability, 3),
                    o.path
                ),
            )
        })
        .collect();
    overlays.sort();
    d.push(Figures(overlays));
    d.push(Para(s(
        "Share of map mass per image quadrant, averaged over the images whose map is not zero \
         everywhere (each such image's shares sum to 100%); an all-zero map means no evidence for \
         pneumonia anywhere:",
    )));
    let mut q_rows: Vec<Vec<String>> = ["tp", "tn", "fp", "fn"]
        .iter()
        .filter_map(|o| {
            g.by_outcome
                .get(*o)
                .map(|r| quadrant_row(o.to_uppercase(), r))
        })
        .collect();
    q_rows.extend(
        g.by_label
            .iter()
            .map(|(l, r)| quadrant_row(format!("true {l}"), r)),
    );
    d.push(Table(
        [
            "group",
            "images",
            "all-zero maps",
            "upper image-left",
            "upper image-right",
            "lower image-left",
            "lower image-right",
        ]
        .map(s)
        .to_vec(),
        q_rows,
    ));
    if let Some(tp) = g.by_outcome.get("tp") {
        let (name, share) = top_quadrant(&tp.shares);
        d.push(Para(format!(
            "The write-up said its model looks at the upper left of the lungs. Measured here, true positives \
             put the largest share of their map, {}, in the {} quadrant; an even spread would be 25% each.",
            pct(share),
            name
        )));
    }
    d.push(figs(&["mean-cam"]));
    if g.deletion_images > 0 {
        let faithful = g.deletion_auc_salient < g.deletion_auc_random - 0.02;
        let verdict = if faithful {
            "The maps point at regions the model relies on more than random cells do."
        } else {
            "The maps do no better than random cells here: do not read them as what the model uses."
        };
        d.push(Para(format!(
            "Faithfulness (deletion test on {} images predicted pneumonia, {} steps): the image is cut \
             into {} x {} cells, which are set to the image's mean grey one by one. Most salient cells \
             first gives a mean-probability area of {}, random order {}. With every cell blanked the \
             mean probability is {} (intact: {}), so blanking itself moves the score; the comparison \
             with random order is what carries information. {verdict}",
            g.deletion_images,
            g.deletion_steps,
            g.deletion_grid,
            g.deletion_grid,
            num(g.deletion_auc_salient, 3),
            num(g.deletion_auc_random, 3),
            num(g.deletion_end, 3),
            num(g.deletion_start, 3),
        )));
        d.push(figs(&["deletion"]));
    }

    d.push(Heading(2, s("Limitations")));
    d.push(List(vec![
        s("One hospital's films (Guangzhou Women and Children's Medical Center), children aged one to five: performance on other sites, scanners, ages or adult films is unknown, and the shift between the official train and test folders already lowers it."),
        s("Labels come from the dataset's folders and file names; subtype labels (bacterial, viral) are not independently verified."),
        s("Grad-CAM shows where evidence for the pneumonia score sits at 7 x 7 resolution; it is not a localisation of disease and was not checked against annotations."),
        s("Intended use: research on frontal pediatric chest radiographs. It is not a medical device and must not be used for diagnosis."),
        s("Byte-identical duplicates in the dataset are reported, not removed; under the write-up protocol the checkpoint is chosen on the images that are reported."),
    ]));

    d.push(Heading(2, s("How to reproduce")));
    d.push(Code(s(
        "scripts/quickstart.sh            # or: pneumo-pipeline run\npneumo-pipeline status\npneumo-pipeline predict IMAGE... --heatmap out/",
    )));
    d.push(Table(
        vec![s("item"), s("value")],
        vec![
            vec![
                s("pipeline.yaml (blake3, first 16 hex)"),
                a.config_hash.clone(),
            ],
            vec![s("pneumo-pipeline version"), a.tool_version.clone()],
            vec![
                s("split protocol / seed"),
                format!("{protocol} / {}", a.split.seed),
            ],
            vec![s("training seed"), params["seed"].to_string()],
            vec![s("device"), t["device"].as_str().unwrap_or("?").to_string()],
            vec![s("decision threshold"), num(m.threshold.value, 4)],
        ]
        .into_iter()
        .chain(a.runtime.iter().map(|(kind, r)| {
            let what = if *kind == "train" {
                "trained"
            } else {
                "scored"
            };
            vec![format!("{what} on"), r.describe()]
        }))
        .collect(),
    ));
    d.push(Para(s(
        "Figures from training and scoring depend on the machine as well as on the inputs: libtorch picks its kernels by CPU and splits sums by thread count, so another machine reproduces them to about the third decimal, not to the last digit. The same machine reproduces them exactly.",
    )));
    d
}

/// How one metric row formats a role's metrics.
type Cell = Box<dyn Fn(&RoleMetrics) -> String>;

fn md_escape_cell(s: &str) -> String {
    s.replace('|', "\\|")
}

/// The blocks as Markdown.
pub fn markdown(doc: &[Block]) -> String {
    let mut out = String::new();
    for b in doc {
        match b {
            Block::Heading(level, text) => {
                let _ = writeln!(out, "{} {text}\n", "#".repeat(*level as usize));
            }
            Block::Para(text) => {
                let _ = writeln!(out, "{text}\n");
            }
            Block::List(items) => {
                for i in items {
                    let _ = writeln!(out, "- {i}");
                }
                out.push('\n');
            }
            Block::Table(header, rows) => {
                let _ = writeln!(
                    out,
                    "| {} |",
                    header
                        .iter()
                        .map(|h| md_escape_cell(h))
                        .collect::<Vec<_>>()
                        .join(" | ")
                );
                let _ = writeln!(out, "|{}", "---|".repeat(header.len()));
                for r in rows {
                    let _ = writeln!(
                        out,
                        "| {} |",
                        r.iter()
                            .map(|c| md_escape_cell(c))
                            .collect::<Vec<_>>()
                            .join(" | ")
                    );
                }
                out.push('\n');
            }
            Block::Figures(figs) => {
                for (file, caption) in figs {
                    let _ = writeln!(out, "![{caption}]({file})\n\n*{caption}*\n");
                }
            }
            Block::Code(text) => {
                let _ = writeln!(out, "```sh\n{text}\n```\n");
            }
        }
    }
    out
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Inline code spans (`x`) as <code>.
fn inline(s: &str) -> String {
    let mut out = String::new();
    for (i, part) in esc(s).split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{part}</code>");
        } else {
            out.push_str(part);
        }
    }
    out
}

const CSS: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#222}\
h1{font-size:1.7rem}h2{margin-top:2.2rem;border-bottom:1px solid #ddd}\
table{border-collapse:collapse;margin:1rem 0;font-size:.92rem;display:block;overflow-x:auto;max-width:100%}\
th,td{border:1px solid #ccc;padding:.3rem .55rem;text-align:left;vertical-align:top}th{background:#f3f3f3}\
.figs{display:grid;grid-template-columns:repeat(auto-fill,minmax(18rem,1fr));gap:1rem;margin:1rem 0}figure{margin:0;min-width:0}figure:only-child{grid-column:1/-1;max-width:52rem}\
figure img{width:100%;height:auto;border:1px solid #e5e5e5;image-rendering:auto}figcaption{font-size:.85rem;color:#555;overflow-wrap:anywhere}\
pre{background:#f6f6f6;padding:.8rem;overflow-x:auto}code{font-size:.9em}";

/// The blocks as one HTML page; `embed` turns an image path into a `src` (a data URI).
pub fn html(title: &str, doc: &[Block], embed: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        esc(title)
    );
    for b in doc {
        match b {
            Block::Heading(level, text) => {
                let _ = writeln!(out, "<h{level}>{}</h{level}>", inline(text));
            }
            Block::Para(text) => {
                let _ = writeln!(out, "<p>{}</p>", inline(text));
            }
            Block::List(items) => {
                out.push_str("<ul>\n");
                for i in items {
                    let _ = writeln!(out, "<li>{}</li>", inline(i));
                }
                out.push_str("</ul>\n");
            }
            Block::Table(header, rows) => {
                out.push_str("<table>\n<thead><tr>");
                for h in header {
                    let _ = write!(out, "<th>{}</th>", inline(h));
                }
                out.push_str("</tr></thead>\n<tbody>\n");
                for r in rows {
                    out.push_str("<tr>");
                    for c in r {
                        let _ = write!(out, "<td>{}</td>", inline(c));
                    }
                    out.push_str("</tr>\n");
                }
                out.push_str("</tbody>\n</table>\n");
            }
            Block::Figures(figs) => {
                out.push_str("<div class=\"figs\">\n");
                for (file, caption) in figs {
                    let src = embed(file).unwrap_or_else(|| esc(file));
                    let _ = writeln!(
                        out,
                        "<figure><img src=\"{src}\" alt=\"{}\"><figcaption>{}</figcaption></figure>",
                        esc(caption),
                        inline(caption)
                    );
                }
                out.push_str("</div>\n");
            }
            Block::Code(text) => {
                let _ = writeln!(out, "<pre><code>{}</code></pre>", esc(text));
            }
        }
    }
    out.push_str("</body>\n</html>\n");
    out
}
