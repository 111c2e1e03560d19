//! `train`: fits the network (ResNet-18 unless `arch` says otherwise) on the preprocess cache
//! and the split. The work runs in the `pneumo-torch` worker binary (crates/pneumo-torch), so
//! this binary never loads libtorch; this stage owns the params, the key and the hand-off.

use anyhow::Context;
use serde::{Deserialize, Serialize};

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

/// Random per-image changes, uniform in +-value. Horizontal flip is off by default: it moves
/// the heart to the other side, which no real frontal film shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Augment {
    /// Rotation, degrees.
    #[serde(default)]
    pub rotate: f64,
    /// Zoom, as a fraction (0.1: 0.9x to 1.1x).
    #[serde(default)]
    pub scale: f64,
    /// Translation, as a fraction of the side.
    #[serde(default)]
    pub shift: f64,
    /// Brightness offset, in [0, 1] intensity units.
    #[serde(default)]
    pub brightness: f64,
    /// Contrast, as a fraction (0.1: 0.9x to 1.1x).
    #[serde(default)]
    pub contrast: f64,
    #[serde(default)]
    pub hflip: bool,
    /// Gamma: intensity raised to `exp(u)`, `u` uniform in +-value (0.3: 0.74 to 1.35).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub gamma: f64,
    /// Gaussian blur with sigma uniform in [0, value] pixels (of the cached side).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub blur: f64,
    /// Gaussian noise with a standard deviation uniform in [0, value] intensity units.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub noise: f64,
    /// Random resized crop: the crop's area uniform in [value, 1] of the image, its aspect
    /// ratio log-uniform in [3/4, 4/3], placed uniformly, resized back to the side; 0 is off.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub crop: f64,
    /// Perspective: each corner of the image moved by up to this fraction of the side, in x
    /// and y independently (a film taken with the detector tilted); 0 is off, 0.05 gentle.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub perspective: f64,
    /// Elastic deformation, as torchvision's `ElasticTransform(alpha, sigma)`: a displacement
    /// field uniform in +-1 per pixel and axis, smoothed by a Gaussian of `elastic_sigma`
    /// pixels, times `elastic / side` in grid units (the side spans 2); 0 is off, torchvision's
    /// default alpha is 50.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub elastic: f64,
    /// The elastic field's smoothing, in pixels of the cached side (torchvision's 5); only
    /// read when `elastic` is on.
    #[serde(
        default = "d_elastic_sigma",
        skip_serializing_if = "is_elastic_sigma_default"
    )]
    pub elastic_sigma: f64,
}

impl Default for Augment {
    fn default() -> Self {
        Augment {
            rotate: 0.0,
            scale: 0.0,
            shift: 0.0,
            brightness: 0.0,
            contrast: 0.0,
            hflip: false,
            gamma: 0.0,
            blur: 0.0,
            noise: 0.0,
            crop: 0.0,
            perspective: 0.0,
            elastic: 0.0,
            elastic_sigma: d_elastic_sigma(),
        }
    }
}

fn d_elastic_sigma() -> f64 {
    5.0
}
fn is_elastic_sigma_default(s: &f64) -> bool {
    *s == d_elastic_sigma()
}

impl Augment {
    pub fn is_off(&self) -> bool {
        *self == Augment::default()
    }
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
        if p.batch_size == 0 || p.eval_every == 0 || p.max_iterations == 0 {
            return Err(
                "invalid value `batch_size`/`eval_every`/`max_iterations`: must be positive".into(),
            );
        }
        // `.nan` and `.inf` are YAML floats: every real number here must be finite
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if p.epochs.is_some_and(|e| !positive(e)) || !positive(p.pos_weight) || !positive(p.lr) {
            return Err(
                "invalid value `epochs`/`pos_weight`/`lr`: must be positive and finite".into(),
            );
        }
        let unit = |v: f64| (0.0..1.0).contains(&v);
        if !unit(p.label_smoothing) || !unit(p.dropout) || !unit(p.momentum) {
            return Err(
                "invalid value `label_smoothing`/`dropout`/`momentum`: must be in [0, 1)".into(),
            );
        }
        if [p.mixup, p.focal_gamma, p.weight_decay, p.monitor_from_epoch]
            .iter()
            .any(|v| !v.is_finite() || *v < 0.0)
        {
            return Err(
                "invalid value `mixup`/`focal_gamma`/`weight_decay`/`monitor_from_epoch`: must be finite and 0 or more"
                    .into(),
            );
        }
        let a = &p.augment;
        if [
            a.rotate,
            a.scale,
            a.shift,
            a.brightness,
            a.contrast,
            a.gamma,
            a.blur,
            a.noise,
            a.elastic,
        ]
        .iter()
        .any(|v| !v.is_finite() || *v < 0.0)
        {
            return Err("invalid value in `augment`: ranges must be finite and 0 or more".into());
        }
        if !(0.0..=1.0).contains(&a.crop) || a.scale >= 1.0 {
            return Err(
                "invalid value `augment.crop`/`augment.scale`: crop is an area fraction in (0, 1] (0: off), scale below 1".into(),
            );
        }
        if !(0.0..=0.25).contains(&a.perspective) {
            return Err(
                "invalid value `augment.perspective`: a fraction of the side in [0, 0.25] (0: off; beyond, corners could cross)".into(),
            );
        }
        if !(a.elastic_sigma > 0.0 && a.elastic_sigma <= 64.0) {
            return Err(
                "invalid value `augment.elastic_sigma`: pixels in (0, 64] (torchvision's default is 5)".into(),
            );
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
