//! `evaluate`: scores a checkpoint on the validation and test roles (in the pneumo-torch
//! worker), chooses the decision threshold on validation only, and reports metrics with 95%
//! intervals, per-subtype sensitivity and calibration. Writes metrics.json, predictions.csv
//! (and .parquet), and a model folder (`model.json` + weights) carrying the chosen threshold,
//! which `predict` uses.

use fs_err as fs;
use std::collections::BTreeMap;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use super::split::{self, SplitRow};
use super::threshold::fragility;
pub use super::threshold::{Fragility, Threshold};
use super::train::{BEST, LATEST};
use super::worker;
use crate::contract::card::{self, ModelCard, Tta};
use crate::contract::choices::{Checkpoint, Device, Precision, Role};
use crate::contract::label::{Label, Outcome};
use crate::contract::scores::read_scores;
use crate::contract::task::WorkerTask;
use crate::model::recalibrate::{self, Calibrator, Method};
use crate::model::stats::{self, Report, ThresholdRule, wilson};
use crate::pipeline::stage::{Choice, StageContext, TypedStage};
use crate::stages::{Preprocess, Split, Train};

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EvaluateParams {
    /// `best` (the early-stopping choice) or `latest`.
    #[serde(default = "d_checkpoint")]
    pub checkpoint: Checkpoint,
    /// `0.5` (any number: fixed), `youden`, or `{sensitivity: 0.95}`; rules look at the
    /// validation role only, and the test role is scored once at the chosen value.
    #[serde(default)]
    pub threshold: Threshold,
    /// Bootstrap resamples for the F1 and AUC intervals.
    #[serde(default = "d_bootstrap")]
    pub bootstrap: usize,
    #[serde(default)]
    pub seed: u64,
    /// Recalibration fitted on validation before the threshold is chosen: `temperature` or
    /// `platt` (absent: the network's probabilities as they are).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Method>,
    /// Test-time augmentation: the mean probability over the image and this many seeded affine
    /// views (1 to 16; absent: the image alone). Recorded in the model card for `predict`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tta: Option<usize>,
    /// `cpu`, `cuda` or `auto`.
    #[serde(default = "d_device")]
    pub device: Device,
    /// Scoring in `fp32` (the default, as train's), `bf16` autocast, or `auto` (bf16 where
    /// the device runs it natively, as train's `precision`). Recorded in the model card, so
    /// `predict` scores alike; Grad-CAM maps stay fp32 whatever this says.
    #[serde(default = "d_precision")]
    pub precision: Precision,
    /// AdaBN, transductive and off by default: before scoring a role, recompute the
    /// network's batch-norm statistics on that role's own images (no labels), a remedy for a
    /// shift between sites. metrics.json, the model card and the report mark the figures
    /// as transductive.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adabn: bool,
}

/// What metrics.json and the report say of AdaBN'd figures.
pub const TRANSDUCTIVE: &str = "AdaBN: batch-norm statistics recomputed on each role's own \
    images (not their labels) before scoring it; transductive, not comparable with inductive \
    figures";

fn d_precision() -> Precision {
    Precision::Fp32
}

fn d_checkpoint() -> Checkpoint {
    Checkpoint::Best
}
fn d_bootstrap() -> usize {
    2000
}
fn d_device() -> Device {
    Device::Cpu
}

pub use crate::contract::predictions::{
    METRICS, MODEL_DIR, PREDICTIONS, PREDICTIONS_CSV, Prediction,
};
pub use crate::tables::predictions::read_predictions;
use crate::tables::predictions::write_predictions;

/// Sensitivity on one pneumonia subtype.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubtypeRecall {
    pub n: usize,
    pub detected: usize,
    #[serde(deserialize_with = "crate::model::defined::f64")]
    pub recall: f64,
    #[serde(deserialize_with = "crate::model::defined::pair")]
    pub ci: (f64, f64),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoleMetrics {
    #[serde(flatten)]
    pub report: Report,
    pub subtypes: BTreeMap<String, SubtypeRecall>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChosenThreshold {
    pub rule: String,
    pub value: f64,
    pub chosen_on: String,
    /// How far it can move before a validation prediction changes, and what lies near it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fragility: Option<Fragility>,
}

/// metrics.json (evaluate's and ensemble's).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    /// The file's format ([`METRICS_FORMAT`]); absent in files written before it had one (1).
    #[serde(default = "crate::contract::format_one")]
    pub format: u32,
    pub checkpoint: String,
    /// The recalibration fitted on validation, applied to every probability below.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibrator>,
    pub threshold: ChosenThreshold,
    /// Set when the scores are transductive (evaluate's `adabn`): how.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transductive: Option<String>,
    pub bootstrap: usize,
    pub roles: BTreeMap<String, RoleMetrics>,
}

/// metrics.json. 2: `format`, unknown fields refused; 1: without them.
pub const METRICS_FORMAT: u32 = 2;

crate::contract::versioned!(Metrics, "metrics file", METRICS_FORMAT);

pub struct Evaluate;

impl TypedStage for Evaluate {
    type Params = EvaluateParams;
    const KIND: &'static str = "evaluate";

    // 2: runtime.json (where the scores were computed); 3: a metric with an empty
    // denominator is null (undefined), not 0; 4: model.json through the typed card (format 2)
    // 5: the threshold's fragility in metrics.json; recalibration and cost-based thresholds,
    // test-time augmentation; 6: `precision` (bf16 scoring where native), `adabn`;
    // 7: metrics.json and runtime.json carry their format
    const VERSION: u32 = 7;

    const UPSTREAMS: &'static [&'static str] = &[Split::KIND, Preprocess::KIND, Train::KIND];
    /// `model/`: train's model with the threshold and recalibration chosen here.
    const MODEL_DIR: Option<&'static str> = Some(MODEL_DIR);
    const METRICS_FILE: Option<&'static str> = Some(METRICS);

    fn needs_gpu(&self, p: &EvaluateParams) -> bool {
        p.device == Device::Cuda
    }

    const CHOICES: &'static [Choice] = &[
        ("calibration", Method::ALL),
        ("checkpoint", Checkpoint::ALL),
        ("device", Device::ALL),
        ("precision", Precision::ALL),
    ];

    fn check(&self, p: &mut EvaluateParams) -> Result<(), String> {
        if p.tta.is_some_and(|v| !(1..=16).contains(&v)) {
            return Err(format!(
                "invalid value `{}` for `tta` (expected 1 to 16 views; leave it out for none)",
                p.tta.unwrap_or(0)
            ));
        }
        p.threshold.rule().map(|_| ())
    }

    fn run(&self, ctx: &StageContext<'_>, p: EvaluateParams) -> anyhow::Result<()> {
        let train_dir = ctx.upstream_of::<Train>()?;
        let weights = if p.checkpoint == Checkpoint::Latest {
            LATEST
        } else {
            BEST
        };
        // the model folder: the train card with this stage's threshold, and the weights
        let model_dir = ctx.out_dir.join(MODEL_DIR);
        fs::create_dir_all(&model_dir)?;
        fs::copy(train_dir.join(weights), model_dir.join(weights))
            .with_context(|| format!("copying {weights} from the train stage"))?;
        let mut card = ModelCard::load(&train_dir.join(card::FILE))?;
        card.weights = weights.into();
        card.tta = p.tta.map(|views| Tta {
            views,
            seed: p.seed,
        });
        card.precision = Some(p.precision);
        card.adabn = p.adabn;
        card.write(&model_dir)?;

        let scores = ctx.out_dir.join("scores.csv");
        worker::run(
            ctx,
            "scoring",
            &WorkerTask::Score {
                split: ctx.upstream_of::<Split>()?.to_path_buf(),
                cache: ctx.upstream_of::<Preprocess>()?.to_path_buf(),
                model: model_dir.clone(),
                device: p.device,
                roles: vec![Role::Val, Role::Test],
                out: scores.clone(),
            },
        )?;
        let probs = read_scores(&scores)?;
        fs::remove_file(&scores)?;
        let rows = split::read_rows(&ctx.upstream_of::<Split>()?.join(split::FILE))?;
        let (metrics, preds) = evaluate(&rows, &probs, &p)?;

        card.threshold = metrics.threshold.value;
        card.threshold_rule = Some(p.threshold.describe());
        card.calibration = metrics.calibration;
        card.write(&model_dir)?;
        crate::contract::save(&ctx.out_dir.join(METRICS), &metrics)?;
        write_predictions(ctx.out_dir, &preds)?;
        for (role, m) in &metrics.roles {
            let r = &m.report;
            ctx.reporter.info(&format!(
                "evaluate: {role} ({} images) at threshold {:.3}: accuracy {:.4}, precision {:.4}, recall {:.4}, specificity {:.4}, F1 {:.4}, ROC AUC {:.4}",
                r.n,
                r.threshold,
                r.binary.accuracy,
                r.binary.precision,
                r.binary.recall,
                r.specificity,
                r.binary.f1,
                r.roc_auc
            ));
        }
        Ok(())
    }
}

/// Metrics and per-image predictions from split rows and probabilities by path.
pub fn evaluate(
    rows: &[SplitRow],
    probs: &BTreeMap<String, f64>,
    p: &EvaluateParams,
) -> anyhow::Result<(Metrics, Vec<Prediction>)> {
    fn of_role<'a>(
        rows: &'a [SplitRow],
        probs: &BTreeMap<String, f64>,
        role: &str,
    ) -> Vec<(&'a SplitRow, f64)> {
        rows.iter()
            .filter(|r| r.role == role)
            .filter_map(|r| probs.get(&r.path).map(|&pr| (r, pr)))
            .collect()
    }
    let as_vectors = |d: &[(&SplitRow, f64)]| -> (Vec<f32>, Vec<f32>) {
        d.iter()
            .map(|(r, pr)| (*pr as f32, r.label.target()))
            .unzip()
    };
    let val = of_role(rows, probs, "val");
    if val.is_empty() {
        bail!("the validation role has no scored images");
    }
    let rule = p.threshold.rule().map_err(anyhow::Error::msg)?;
    // recalibrated on validation first: every probability below, val's and test's, is the
    // calibrated one, and the rule reads calibrated validation scores
    let calibrator = p.calibration.map(|m| {
        let (vp, vy) = as_vectors(&val);
        recalibrate::fit(m, &vp, &vy)
    });
    let calibrated: BTreeMap<String, f64>;
    let probs = match &calibrator {
        Some(c) => {
            calibrated = probs
                .iter()
                .map(|(k, &v)| (k.clone(), c.apply(v)))
                .collect();
            &calibrated
        }
        None => probs,
    };
    let role_data = |role: &str| of_role(rows, probs, role);
    let val = role_data("val");
    let (vp, vy) = as_vectors(&val);
    let threshold = stats::choose_threshold(&rule, &vp, &vy);
    let mut roles = BTreeMap::new();
    let mut preds = Vec::new();
    for role in ["val", "test"] {
        let data = role_data(role);
        if data.is_empty() {
            continue;
        }
        let (pp, yy) = as_vectors(&data);
        let report = stats::report(&pp, &yy, threshold, p.bootstrap, p.seed);
        let mut subtypes = BTreeMap::new();
        for sub in ["bacteria", "virus"] {
            let of: Vec<f32> = data
                .iter()
                .filter(|(r, _)| r.label == Label::Pneumonia && r.subtype == sub)
                .map(|(_, pr)| *pr as f32)
                .collect();
            if of.is_empty() {
                continue;
            }
            let detected = of.iter().filter(|&&x| x >= threshold as f32).count();
            subtypes.insert(
                sub.to_string(),
                SubtypeRecall {
                    n: of.len(),
                    detected,
                    recall: detected as f64 / of.len() as f64,
                    ci: wilson(detected, of.len()),
                },
            );
        }
        for (r, pr) in &data {
            let positive = *pr as f32 >= threshold as f32;
            preds.push(Prediction {
                path: r.path.clone(),
                role: role.to_string(),
                patient_id: r.patient_id.clone(),
                label: r.label,
                subtype: r.subtype.clone(),
                probability: *pr,
                prediction: u8::from(positive),
                outcome: Outcome::of(positive, r.label),
            });
        }
        roles.insert(role.to_string(), RoleMetrics { report, subtypes });
    }
    let metrics = Metrics {
        format: METRICS_FORMAT,
        checkpoint: p.checkpoint.to_string(),
        calibration: calibrator,
        threshold: ChosenThreshold {
            rule: p.threshold.describe(),
            value: threshold,
            chosen_on: match rule {
                ThresholdRule::Fixed(_) => "fixed in pipeline.yaml".into(),
                ThresholdRule::Cost { prior: None, .. } => {
                    "costs in pipeline.yaml, validation's prevalence".into()
                }
                ThresholdRule::Cost { .. } => "costs and prevalence in pipeline.yaml".into(),
                _ => "val".into(),
            },
            fragility: Some(fragility(threshold, &vp, &vy)),
        },
        transductive: p.adabn.then(|| TRANSDUCTIVE.to_string()),
        bootstrap: p.bootstrap,
        roles,
    };
    Ok((metrics, preds))
}
