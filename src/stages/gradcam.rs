//! `gradcam`: Grad-CAM of the pneumonia logit on the last convolutional block (ResNet's
//! layer4, DenseNet's features.norm5) for every image of a role (in the pneumo-torch worker): overlays
//! for a seeded pick of TP/TN/FP/FN, the mean map per label,
//! the share of map mass per image quadrant, and a deletion test against random order.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::choices::{Device, Role};
use super::evaluate::{MODEL_DIR, PREDICTIONS};
use super::{preprocess, worker};
use crate::contract::task::WorkerTask;
use crate::model::explain::Quadrants;
use crate::pipeline::stage::{Choice, StageContext, TypedStage};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GradcamParams {
    /// Which role's images (`test` or `val`).
    #[serde(default = "d_role")]
    pub role: Role,
    /// Overlays written for each of TP, TN, FP, FN.
    #[serde(default = "d_per_outcome")]
    pub per_outcome: usize,
    /// Images (predicted pneumonia) in the deletion test; 0 skips it.
    #[serde(default = "d_deletion_images")]
    pub deletion_images: usize,
    /// Points on the deletion curve after the intact image.
    #[serde(default = "d_deletion_steps")]
    pub deletion_steps: usize,
    #[serde(default)]
    pub seed: u64,
    #[serde(default = "d_device")]
    pub device: Device,
}

fn d_role() -> Role {
    Role::Test
}
fn d_per_outcome() -> usize {
    3
}
fn d_deletion_images() -> usize {
    48
}
fn d_deletion_steps() -> usize {
    20
}
fn d_device() -> Device {
    Device::Cpu
}

pub const SUMMARY: &str = "gradcam.json";

/// Mean quadrant shares over a group of images.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Regions {
    pub images: usize,
    /// Images whose map is zero everywhere (no positive evidence): left out of `shares`.
    pub empty: usize,
    /// Mean over the other images; sums to 1 when any image has a map.
    pub shares: Quadrants,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Overlay {
    /// Relative to the stage's output folder.
    pub file: String,
    pub path: String,
    pub outcome: String,
    pub label: String,
    pub probability: f64,
    pub quadrants: Quadrants,
}

/// gradcam.json.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GradcamSummary {
    pub role: String,
    pub images: usize,
    pub side: usize,
    pub layer: String,
    pub by_outcome: BTreeMap<String, Regions>,
    pub by_label: BTreeMap<String, Regions>,
    /// Label -> (file of `side * side` little-endian f32, images averaged).
    pub mean_maps: BTreeMap<String, (String, usize)>,
    pub overlays: Vec<Overlay>,
    pub deletion_images: usize,
    pub deletion_steps: usize,
    /// The deletion test blanks the cells of a `grid x grid` tiling, to the image's mean.
    pub deletion_grid: usize,
    /// Mean probability over the deletion curve (lower: the map found what the model uses).
    pub deletion_auc_salient: f64,
    /// Mean probability of the intact images and of the fully blanked ones.
    pub deletion_start: f64,
    pub deletion_end: f64,
    pub deletion_auc_random: f64,
}

pub struct Gradcam;

impl TypedStage for Gradcam {
    type Params = GradcamParams;
    const KIND: &'static str = "gradcam";

    // 2: the deletion test blanks 14 x 14 cells, not single pixels; 3: all-zero maps
    // are counted apart from the quadrant shares; 4: runtime.json; 5: overlays on the
    // original film, 512 px on its long side; 6: `layer` named from the architecture
    // (DenseNet-121's `features.norm5`, not ResNet's `layer4`)
    const VERSION: u32 = 6;

    const UPSTREAMS: &'static [&'static str] = &["split", "preprocess", "evaluate"];

    const CHOICES: &'static [Choice] = &[("role", Role::ALL), ("device", Device::ALL)];

    fn check(&self, p: &mut GradcamParams) -> Result<(), String> {
        if p.deletion_steps == 0 {
            return Err("invalid value `deletion_steps`: must be positive".into());
        }
        Ok(())
    }

    fn run(&self, ctx: &StageContext<'_>, p: GradcamParams) -> anyhow::Result<()> {
        let evaluate = ctx.upstream("evaluate")?;
        worker::run(
            ctx,
            "Grad-CAM",
            &WorkerTask::Gradcam {
                split: ctx.upstream("split")?.to_path_buf(),
                originals: ctx
                    .workspace
                    .join(preprocess::read_meta(ctx.upstream("preprocess")?)?.data),
                cache: ctx.upstream("preprocess")?.to_path_buf(),
                model: evaluate.join(MODEL_DIR),
                predictions: evaluate.join(PREDICTIONS),
                params: p,
                out: ctx.out_dir.to_path_buf(),
            },
        )?;
        let s: GradcamSummary =
            crate::contract::read_json(&ctx.out_dir.join(SUMMARY), "Grad-CAM summary")?;
        ctx.reporter.info(&format!(
            "gradcam: {} {} images, {} overlays; deletion area {:.3} (most salient first) vs {:.3} (random)",
            s.images,
            s.role,
            s.overlays.len(),
            s.deletion_auc_salient,
            s.deletion_auc_random
        ));
        Ok(())
    }
}
