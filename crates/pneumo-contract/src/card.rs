//! `model.json`: what scoring and `predict` need besides the weights. The worker's train
//! writes it; evaluate writes its own copy with the threshold it chose; the report and
//! `predict` read it. A card is a file anyone can hand to `predict`, so it is checked field
//! by field on load: a size of 0 or 100000, a zero std (NaN probabilities labelled NORMAL) or
//! weights outside the model folder are errors naming the file, never a panic, a 20 GB
//! allocation or a silent NaN.

use std::path::{Component, Path};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use super::{load, save, versioned};
use crate::train::TrainParams;

pub const FILE: &str = "model.json";
/// 2: typed card with `format`, `threshold_rule`; 1 (no `format` field): the untyped card.
pub const FORMAT: u32 = 2;

/// Input sides the network takes: every `arch` halves the image five times (32 px gives a 1 x 1
/// final block); above 4096 px one image alone would need gigabytes.
pub const SIDES: std::ops::RangeInclusive<i64> = 32..=4096;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelCard {
    #[serde(default = "format_one")]
    pub format: u32,
    pub architecture: String,
    /// The weights file, inside the model folder.
    pub weights: String,
    /// The training params the weights came from.
    pub params: TrainParams,
    /// Decision threshold on the pneumonia probability.
    pub threshold: f64,
    /// How evaluate chose `threshold` (absent on train's card: the params' threshold).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold_rule: Option<String>,
    /// The recalibration evaluate fitted on validation; `threshold` is on its scale, and
    /// `predict` applies it before comparing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<crate::calibrator::Calibrator>,
    /// Test-time augmentation: the probability is the mean over the image and these seeded
    /// views (evaluate's `tta`); `predict` does the same, so its probabilities are evaluate's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tta: Option<Tta>,
    /// The precision to score in (evaluate's `precision`; `auto` resolves on the machine
    /// that scores). Absent (train's card): fp32.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<crate::choices::Precision>,
    /// Transductive scoring (evaluate's `adabn`): batch-norm statistics recomputed on each
    /// scored role's own images before scoring it. `predict` cannot repeat it on a few files
    /// and says so; it scores with the training statistics.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adabn: bool,
    pub input_side: i64,
    pub mean: [f64; 3],
    pub std: [f64; 3],
    /// The per-image normalisation of the cache the model was trained on; `predict`
    /// applies it after resizing, as `preprocess` did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equalize: Option<crate::preprocess::Equalization>,
    /// How the cache decoded its files (absent: in full); `predict` decodes the same way.
    #[serde(default, skip_serializing_if = "crate::preprocess::Decode::is_full")]
    pub decode: crate::preprocess::Decode,
}

/// Test-time augmentation: `views` affine views (rotation up to ±5°, zoom ±5%, shift ±3% of
/// the side, no flip: a chest film is not symmetric), drawn from `seed`, the same for every
/// image, averaged with the image itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tta {
    pub views: usize,
    pub seed: u64,
}

fn format_one() -> u32 {
    1
}

versioned!(ModelCard, "model card", FORMAT);

impl ModelCard {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> anyhow::Result<ModelCard> {
        if !path.exists() {
            bail!(
                "{} does not exist (train the model first: pneumo-pipeline run)",
                path.display()
            );
        }
        let card: ModelCard = load(path)?;
        card.check()
            .with_context(|| format!("{} is not a usable model card", path.display()))?;
        Ok(card)
    }

    /// Writes `dir/model.json` (always in the current format).
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        save(&dir.join(FILE), self)
    }

    fn check(&self) -> anyhow::Result<()> {
        if !SIDES.contains(&self.input_side) {
            bail!(
                "input_side {} is outside {}..={} pixels",
                self.input_side,
                SIDES.start(),
                SIDES.end()
            );
        }
        if !(self.threshold.is_finite() && (0.0..=1.0).contains(&self.threshold)) {
            bail!(
                "threshold {} is not a probability in [0, 1]",
                self.threshold
            );
        }
        if let Some(m) = self.mean.iter().find(|m| !m.is_finite()) {
            bail!("mean {m} is not a finite number");
        }
        if let Some(s) = self.std.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            bail!("std {s} must be a positive number (it divides every pixel)");
        }
        if let Some(eq) = &self.equalize
            && (!(1..=64).contains(&eq.tiles)
                || i64::from(eq.tiles) > self.input_side
                || !(eq.clip.is_finite() && (0.0..=256.0).contains(&eq.clip)))
        {
            bail!(
                "equalize: clip {} and tiles {} must lie in 0..=256 and 1..=min(64, input_side)",
                eq.clip,
                eq.tiles
            );
        }
        if self.architecture != self.params.arch.describe() {
            bail!(
                "architecture `{}` is not the `{}` its params name (cards are written by train, not by hand)",
                self.architecture,
                self.params.arch.describe()
            );
        }
        let plain = Path::new(&self.weights)
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
        if self.weights.is_empty() || !plain {
            bail!(
                "weights `{}` must name a file inside the model folder",
                self.weights
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(edit: &str) -> anyhow::Result<ModelCard> {
        let dir = tempfile::tempdir().unwrap();
        let params = serde_json::to_value(
            serde_json::from_value::<TrainParams>(serde_json::json!({})).unwrap(),
        )
        .unwrap();
        let mut v = serde_json::json!({
            "format": 2, "weights": "best.safetensors", "threshold": 0.5, "input_side": 64,
            "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "architecture": "torchvision resnet18, num_classes=1",
            "params": params
        });
        if !edit.is_empty() {
            let (k, val) = edit.split_once('=').unwrap();
            v[k] = serde_json::from_str(val).unwrap();
        }
        let path = dir.path().join("model.json");
        fs_err::write(&path, v.to_string()).unwrap();
        ModelCard::load(&path)
    }

    #[test]
    fn every_field_is_checked() {
        assert!(card("").is_ok());
        for (edit, says) in [
            ("input_side=0", "input_side 0"),
            ("input_side=-5", "input_side -5"),
            ("input_side=100000", "input_side 100000"),
            ("std=[0, 0.2, 0.2]", "std 0 must be a positive"),
            ("threshold=1.5", "threshold 1.5"),
            ("weights=\"../../etc/passwd\"", "inside the model folder"),
            ("weights=\"/etc/passwd\"", "inside the model folder"),
            ("format=99", "newer than this build reads"),
            (
                r#"architecture="torchvision resnet50, num_classes=1""#,
                "is not the `torchvision resnet18",
            ),
            ("colour=\"blue\"", "unknown field `colour`"),
            (
                r#"equalize={"method": "clahe", "clip": 2, "tiles": 100000}"#,
                "tiles 100000",
            ),
            (
                r#"equalize={"method": "clahe", "clip": 1e9, "tiles": 8}"#,
                "clip 1000000000",
            ),
            (
                r#"equalize={"method": "sharpen", "clip": 2, "tiles": 8}"#,
                "unknown variant `sharpen`",
            ),
        ] {
            let err = format!("{:#}", card(edit).unwrap_err());
            assert!(
                err.contains(says) && err.contains("model.json"),
                "{edit}: {err}"
            );
        }
    }

    #[test]
    fn written_and_read_through_the_same_type() {
        let dir = tempfile::tempdir().unwrap();
        let c = ModelCard {
            format: 1,
            architecture: "torchvision resnet18, num_classes=1".into(),
            weights: "best.safetensors".into(),
            params: serde_json::from_value(serde_json::json!({"seed": 3})).unwrap(),
            threshold: 0.25,
            threshold_rule: Some("youden".into()),
            calibration: Some(crate::calibrator::Calibrator {
                method: crate::calibrator::Method::Platt,
                a: 0.5,
                b: -1.0,
            }),
            tta: Some(Tta { views: 4, seed: 1 }),
            precision: Some(crate::choices::Precision::Auto),
            adabn: true,
            input_side: 128,
            mean: [0.5; 3],
            std: [0.25; 3],
            equalize: Some(crate::preprocess::Equalization {
                method: crate::preprocess::Method::Clahe,
                clip: 2.0,
                tiles: 8,
            }),
            decode: crate::preprocess::Decode::Scaled,
        };
        c.write(dir.path()).unwrap();
        let back = ModelCard::load(&dir.path().join(FILE)).unwrap();
        assert_eq!(
            back,
            ModelCard {
                format: FORMAT,
                ..c
            }
        );
    }
}
