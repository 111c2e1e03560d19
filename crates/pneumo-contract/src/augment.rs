//! `train.augment`: the random per-image changes training draws for each batch (applied by the
//! worker, crates/pneumo-torch/src/augment.rs).

use serde::{Deserialize, Serialize};

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

/// Random per-image changes, uniform in +-value. Horizontal flip is off by default: it moves
/// the heart to the other side, which no real frontal film shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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

pub fn d_elastic_sigma() -> f64 {
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
