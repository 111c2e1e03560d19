//! `train`: fits the network (ResNet-18 unless `arch` says otherwise) on the preprocess cache
//! and the split. The work runs in the `pneumo-torch` worker binary (crates/pneumo-torch), so
//! this binary never loads libtorch; this stage owns the params, the key and the hand-off.

use anyhow::Context;
use serde::{Deserialize, Serialize};

pub use super::augment::Augment;
use super::augment::d_elastic_sigma;
use super::choices::{Arch, Device, Loss, Monitor, Optimizer, Precision, Sampler, Schedule};
use super::worker;
use crate::contract::summary::TrainSummary;
use crate::contract::task::WorkerTask;
use crate::pipeline::stage::{Choice, StageContext, TypedStage};

/// The write-up's recipe is the default: SGD lr 0.001, batch 32, BCE-with-logits, evaluate
/// every 20 iterations, stop after 2 evaluations without F1 gain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainParams {
    #[serde(default = "d_batch")]
    pub batch_size: usize,
    #[serde(default = "d_lr")]
    pub lr: f64,
    #[serde(default)]
    pub momentum: f64,
    #[serde(default)]
    pub weight_decay: f64,
    #[serde(default = "d_eval_every")]
    pub eval_every: usize,
    /// Evaluations without F1 gain before stopping.
    #[serde(default = "d_patience")]
    pub patience: usize,
    #[serde(default = "d_max_iterations")]
    pub max_iterations: usize,
    /// Epochs before the best checkpoint and early stopping start to count (Keras's
    /// `start_from_epoch`): earlier evaluations are recorded but neither kept nor counted
    /// against `patience`. Under `onecycle`, whose learning rate peaks at 30% of the run, it
    /// keeps a checkpoint taken at the peak from ending the run; 0 (the default) is off. The
    /// run's last evaluation always counts.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub monitor_from_epoch: f64,
    #[serde(default)]
    pub seed: u64,
    /// The network: `resnet18` (the write-up's, the default), `resnet34`, `resnet50` or
    /// `densenet121`, each as torchvision builds it with one logit.
    #[serde(default, skip_serializing_if = "is_default_arch")]
    pub arch: Arch,
    /// `none` (random init) or a workspace path to a torchvision `.pth` / safetensors file of
    /// the same `arch` (its ImageNet head is replaced by the one-logit head).
    #[serde(default = "d_weights")]
    pub weights: String,
    /// `cpu`, `cuda` or `auto`.
    #[serde(default = "d_device")]
    pub device: Device,
    /// Decision threshold on the pneumonia probability for validation metrics.
    #[serde(default = "d_threshold")]
    pub threshold: f64,
    /// `sgd` (the write-up) or `adamw` (betas 0.9, 0.999; eps 1e-8; decoupled weight decay).
    #[serde(default = "d_optimizer")]
    pub optimizer: Optimizer,
    /// Learning-rate schedule over the run: `constant`, `cosine` (to 0) or `onecycle`
    /// (PyTorch's OneCycleLR defaults: 30% warm-up from lr/25, cosine down to lr/25e4).
    #[serde(default = "d_schedule")]
    pub schedule: Schedule,
    /// Bound in passes over the train role; the run stops at whichever of this and
    /// `max_iterations` comes first. `null`: no epoch bound.
    #[serde(default)]
    pub epochs: Option<f64>,
    /// Weight of the pneumonia term in the loss (BCE's pos_weight); below 1 counters the
    /// 3:1 pneumonia majority (n_normal / n_pneumonia balances it).
    #[serde(default = "d_one")]
    pub pos_weight: f64,
    /// `shuffle` (each epoch a permutation) or `balanced` (each image drawn from either class
    /// with probability 1/2, with replacement).
    #[serde(default = "d_sampler")]
    pub sampler: Sampler,
    /// Validation metric for best checkpoint and early stopping: `f1` (the write-up) or `auc`.
    #[serde(default = "d_monitor")]
    pub monitor: Monitor,
    /// `fp32` (the default), `bf16`: autocast to bfloat16 for convolutions and matmuls
    /// (weights, gradients and the loss stay float32), or `auto`: bf16 where the device runs
    /// it natively (CUDA; CPUs with AMX or AVX512-BF16), fp32 elsewhere, where it is slower.
    #[serde(default = "d_precision")]
    pub precision: Precision,
    /// Light augmentation on each training batch; all zero (the default) is none.
    #[serde(default)]
    pub augment: Augment,
    /// Targets pulled toward 1/2 by this much (`y (1 - e) + e / 2`); 0 (the default) is none.
    /// Unset robustness options are left out of the canonical params, so keys made before
    /// they existed still hold.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub label_smoothing: f64,
    /// Dropout probability before the classifier head (training only).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropout: f64,
    /// Mixup's alpha: each batch mixed with a permutation of itself, weight ~ Beta(a, a)
    /// (images and targets alike); 0 (the default) is off. 0.2–0.4 is the usual range.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub mixup: f64,
    /// `bce` or `focal` (binary cross-entropy scaled by `(1 - p_t)^focal_gamma`, with
    /// `pos_weight` as the class weight).
    #[serde(default, skip_serializing_if = "is_bce")]
    pub loss: Loss,
    #[serde(default = "d_focal_gamma", skip_serializing_if = "is_focal_default")]
    pub focal_gamma: f64,
}

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
fn is_zero(v: &f64) -> bool {
    *v == 0.0
}
fn is_default_arch(a: &Arch) -> bool {
    *a == Arch::default()
}
fn is_bce(l: &Loss) -> bool {
    *l == Loss::Bce
}
fn d_focal_gamma() -> f64 {
    2.0
}
fn is_focal_default(g: &f64) -> bool {
    *g == d_focal_gamma()
}

fn d_batch() -> usize {
    32
}
fn d_lr() -> f64 {
    0.001
}
fn d_eval_every() -> usize {
    20
}
fn d_patience() -> usize {
    2
}
fn d_max_iterations() -> usize {
    2000
}
fn d_weights() -> String {
    "none".into()
}
fn d_device() -> Device {
    Device::Cpu
}
fn d_threshold() -> f64 {
    0.5
}
fn d_one() -> f64 {
    1.0
}
fn d_optimizer() -> Optimizer {
    Optimizer::Sgd
}
fn d_schedule() -> Schedule {
    Schedule::Constant
}
fn d_sampler() -> Sampler {
    Sampler::Shuffle
}
fn d_precision() -> Precision {
    Precision::Fp32
}
fn d_monitor() -> Monitor {
    Monitor::F1
}

/// Outputs of the worker (with summary.json, history.csv and model.json: `crate::contract`).
pub const BEST: &str = "best.safetensors";
pub const LATEST: &str = "latest.safetensors";

pub struct Train;

impl TypedStage for Train {
    type Params = TrainParams;
    const KIND: &'static str = "train";

    // 2: own optimizer step, per-epoch permutations, resume checkpoints; 3: runtime.json;
    // 4: model.json and summary.json carry their format (crate::contract)
    // 5: runtime.json names the precision training ran in (`precision: auto`)
    // 6: the optimizer steps through libtorch's fused kernels (float rounding differs)
    const VERSION: u32 = 6;

    const UPSTREAMS: &'static [&'static str] = &["split", "preprocess"];

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
                split: ctx.upstream("split")?.to_path_buf(),
                cache: ctx.upstream("preprocess")?.to_path_buf(),
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
