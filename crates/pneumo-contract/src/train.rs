//! `train`'s params (the worker runs them) and the checkpoints it writes beside
//! `summary.json`, `history.csv` and `model.json`.

use serde::{Deserialize, Serialize};

use crate::augment::Augment;
use crate::choices::{Arch, Device, Loss, Monitor, Optimizer, Precision, Sampler, Schedule};

/// The write-up's recipe is the default: SGD lr 0.001, batch 32, BCE-with-logits, evaluate
/// every 20 iterations, stop after 2 evaluations without F1 gain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
pub fn d_focal_gamma() -> f64 {
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

/// Checkpoints the worker writes.
pub const BEST: &str = "best.safetensors";
pub const LATEST: &str = "latest.safetensors";
