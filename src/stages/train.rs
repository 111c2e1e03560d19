//! `train`: fits the network (ResNet-18 unless `arch` says otherwise) on the preprocess cache
//! and the split. The work runs in the `pneumo-torch` worker binary (crates/pneumo-torch), so
//! this binary never loads libtorch; this stage owns the params, the key and the hand-off.

use anyhow::Context;

use super::worker;
pub use crate::contract::augment::Augment;
use crate::contract::augment::d_elastic_sigma;
use crate::contract::choices::{
    Arch, Device, Loss, Monitor, Optimizer, Precision, Sampler, Schedule,
};
use crate::contract::summary::TrainSummary;
use crate::contract::task::WorkerTask;
use crate::pipeline::stage::{Choice, StageContext, TypedStage};
use crate::stages::{Preprocess, Split};

/// A real-valued param's name, value, test and what the test asks for.
type Rule<'a> = (&'a str, f64, fn(f64) -> bool, &'a str);
const POSITIVE: &str = "must be positive and finite";
const UNIT: &str = "must be in [0, 1)";
const AT_LEAST_0: &str = "must be finite and 0 or more";
const RANGE: &str = "ranges must be finite and 0 or more";
fn positive(v: f64) -> bool {
    v.is_finite() && v > 0.0
}
fn unit(v: f64) -> bool {
    (0.0..1.0).contains(&v)
}
fn at_least_0(v: f64) -> bool {
    v.is_finite() && v >= 0.0
}
use crate::contract::train::d_focal_gamma;
pub use crate::contract::train::{BEST, LATEST, TrainParams};

pub struct Train;

impl TypedStage for Train {
    type Params = TrainParams;
    const KIND: &'static str = "train";

    // 2: own optimizer step, per-epoch permutations, resume checkpoints; 3: runtime.json;
    // 4: model.json and summary.json carry their format (crate::contract)
    // 5: runtime.json names the precision training ran in (`precision: auto`)
    // 6: the optimizer steps through libtorch's fused kernels (float rounding differs)
    // 7: runtime.json carries its format
    const VERSION: u32 = 7;

    const UPSTREAMS: &'static [&'static str] = &[Split::KIND, Preprocess::KIND];
    /// Its output is a model folder (weights and model.json) `predict` can load.
    const MODEL_DIR: Option<&'static str> = Some("");

    fn needs_gpu(&self, p: &TrainParams) -> bool {
        p.device == Device::Cuda
    }

    const CHOICES: &'static [Choice] = &[
        ("arch", Arch::ALL),
        ("device", Device::ALL),
        ("optimizer", Optimizer::ALL),
        ("schedule", Schedule::ALL),
        ("sampler", Sampler::ALL),
        ("monitor", Monitor::ALL),
        ("precision", Precision::ALL),
        ("loss", Loss::ALL),
    ];

    fn check(&self, p: &mut TrainParams) -> Result<(), String> {
        // each message names the one key at fault, which the config error is located at
        for (key, v) in [
            ("batch_size", p.batch_size),
            ("eval_every", p.eval_every),
            ("max_iterations", p.max_iterations),
        ] {
            if v == 0 {
                return Err(format!("invalid value `{key}`: 0, must be positive"));
            }
        }
        // `.nan` and `.inf` are YAML floats: every real number here must be finite
        let a = &p.augment;
        let rules: [Rule; 22] = [
            ("epochs", p.epochs.unwrap_or(1.0), positive, POSITIVE),
            ("pos_weight", p.pos_weight, positive, POSITIVE),
            ("lr", p.lr, positive, POSITIVE),
            ("label_smoothing", p.label_smoothing, unit, UNIT),
            ("dropout", p.dropout, unit, UNIT),
            ("momentum", p.momentum, unit, UNIT),
            ("mixup", p.mixup, at_least_0, AT_LEAST_0),
            ("focal_gamma", p.focal_gamma, at_least_0, AT_LEAST_0),
            ("weight_decay", p.weight_decay, at_least_0, AT_LEAST_0),
            (
                "monitor_from_epoch",
                p.monitor_from_epoch,
                at_least_0,
                AT_LEAST_0,
            ),
            ("augment.rotate", a.rotate, at_least_0, RANGE),
            ("augment.shift", a.shift, at_least_0, RANGE),
            ("augment.brightness", a.brightness, at_least_0, RANGE),
            ("augment.contrast", a.contrast, at_least_0, RANGE),
            ("augment.gamma", a.gamma, at_least_0, RANGE),
            ("augment.blur", a.blur, at_least_0, RANGE),
            ("augment.noise", a.noise, at_least_0, RANGE),
            ("augment.elastic", a.elastic, at_least_0, RANGE),
            ("augment.scale", a.scale, unit, "a fraction in [0, 1)"),
            (
                "augment.crop",
                a.crop,
                |v| (0.0..=1.0).contains(&v),
                "an area fraction in (0, 1] (0: off)",
            ),
            (
                "augment.perspective",
                a.perspective,
                |v| (0.0..=0.25).contains(&v),
                "a fraction of the side in [0, 0.25] (0: off; beyond, corners could cross)",
            ),
            (
                "augment.elastic_sigma",
                a.elastic_sigma,
                |v| v > 0.0 && v <= 64.0,
                "pixels in (0, 64] (torchvision's default is 5)",
            ),
        ];
        for (key, v, ok, must) in rules {
            if !ok(v) {
                return Err(format!("invalid value `{key}`: {v}, {must}"));
            }
        }
        if a.elastic == 0.0 {
            // only the elastic field reads it: unset, it would re-train for nothing
            p.augment.elastic_sigma = d_elastic_sigma();
        }
        if p.loss != Loss::Focal {
            p.focal_gamma = d_focal_gamma();
        }
        Ok(())
    }

    fn inputs(&self, p: &TrainParams) -> Vec<String> {
        match p.weights.as_str() {
            "none" => Vec::new(),
            w => vec![w.to_string()],
        }
    }

    fn run(&self, ctx: &StageContext<'_>, p: TrainParams) -> anyhow::Result<()> {
        worker::run(
            ctx,
            "training",
            &WorkerTask::Train {
                workspace: ctx.workspace.to_path_buf(),
                split: ctx.upstream_of::<Split>()?.to_path_buf(),
                cache: ctx.upstream_of::<Preprocess>()?.to_path_buf(),
                out: ctx.out_dir.to_path_buf(),
                resume: ctx.scratch_dir.to_path_buf(),
                params: Box::new(p),
            },
        )?;
        let summary = TrainSummary::load(ctx.out_dir)
            .context("the training worker wrote no usable summary.json")?;
        if let Some(best) = &summary.best {
            ctx.reporter.info(&format!(
                "train: {} iterations, {}; kept iteration {} (validation F1 {:.4}, AUC {:.4}; monitored: {})",
                summary.iterations,
                summary.stop_reason,
                best.iteration,
                best.val.f1,
                best.val_auc,
                summary.monitor,
            ));
        }
        Ok(())
    }
}
