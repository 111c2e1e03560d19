//! `gradcam`'s params (the worker runs them) and its `gradcam.json`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::choices::{Device, Role};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
/// The deletion curve, one [`DeletionPoint`] a row.
pub const DELETION: &str = "deletion.csv";
const DELETION_COLUMNS: &str = "fraction_removed,probability_salient_first,probability_random";

/// One point of the deletion test's curves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeletionPoint {
    pub fraction_removed: f64,
    /// Mean probability with the most salient cells blanked first.
    pub salient_first: f64,
    /// Mean probability with cells blanked in a seeded random order.
    pub random: f64,
}

/// Writes `deletion.csv` into `dir`.
pub fn write_deletion(dir: &Path, points: &[DeletionPoint]) -> anyhow::Result<()> {
    let mut csv = format!("{DELETION_COLUMNS}\n");
    for p in points {
        writeln!(
            csv,
            "{:.4},{:.6},{:.6}",
            p.fraction_removed, p.salient_first, p.random
        )?;
    }
    crate::atomic::write_atomic(&dir.join(DELETION), csv.as_bytes())
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", dir.join(DELETION).display()))
}

/// Reads `deletion.csv` from `dir`.
pub fn read_deletion(dir: &Path) -> anyhow::Result<Vec<DeletionPoint>> {
    let rows = crate::csv::read_numeric(&dir.join(DELETION), DELETION_COLUMNS, "deletion curve")?;
    Ok(rows
        .into_iter()
        .map(|r| DeletionPoint {
            fraction_removed: r[0],
            salient_first: r[1],
            random: r[2],
        })
        .collect())
}

/// Mean quadrant shares over a group of images.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Regions {
    pub images: usize,
    /// Images whose map is zero everywhere (no positive evidence): left out of `shares`.
    pub empty: usize,
    /// Mean over the other images; sums to 1 when any image has a map.
    pub shares: Quadrants,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overlay {
    /// Relative to the stage's output folder.
    pub file: String,
    pub path: String,
    pub outcome: crate::label::Outcome,
    pub label: crate::label::Label,
    pub probability: f64,
    pub quadrants: Quadrants,
}

/// gradcam.json.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GradcamSummary {
    /// The file's format ([`FORMAT`]); absent in files written before it had one (1).
    #[serde(default = "crate::format_one")]
    pub format: u32,
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

/// gradcam.json. 2: `format`, unknown fields refused; 1: without them.
pub const FORMAT: u32 = 2;

crate::versioned!(GradcamSummary, "Grad-CAM summary", FORMAT);

/// Shares of a map's mass in each image quadrant; they sum to 1 (0 for an all-zero map).
/// Image-left is the patient's right on a standard frontal (PA/AP) film.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Quadrants {
    pub upper_left: f64,
    pub upper_right: f64,
    pub lower_left: f64,
    pub lower_right: f64,
}

impl Quadrants {
    pub fn of(cam: &[f32], side: usize) -> Quadrants {
        let half = side / 2;
        let mut q = [0.0f64; 4];
        for y in 0..side {
            for x in 0..side {
                let i = usize::from(y >= half) * 2 + usize::from(x >= half);
                q[i] += f64::from(cam[y * side + x]);
            }
        }
        let total: f64 = q.iter().sum();
        if total <= 0.0 {
            return Quadrants::default();
        }
        Quadrants {
            upper_left: q[0] / total,
            upper_right: q[1] / total,
            lower_left: q[2] / total,
            lower_right: q[3] / total,
        }
    }

    pub fn add(&mut self, o: &Quadrants) {
        self.upper_left += o.upper_left;
        self.upper_right += o.upper_right;
        self.lower_left += o.lower_left;
        self.lower_right += o.lower_right;
    }

    pub fn scaled(&self, k: f64) -> Quadrants {
        Quadrants {
            upper_left: self.upper_left * k,
            upper_right: self.upper_right * k,
            lower_left: self.lower_left * k,
            lower_right: self.lower_right * k,
        }
    }
}
