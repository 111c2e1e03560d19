//! model.json as the worker reads it (train writes it, evaluate rewrites its threshold),
//! checked field by field on load: a card is a file anyone can hand to `predict`, so a size
//! of 0 or 100000, a zero std (NaN probabilities labelled NORMAL) or weights outside the
//! model folder are errors naming the file, never a panic, a 20 GB allocation or a silent NaN.

use fs_err as fs;
use std::collections::BTreeMap;
use std::path::{Component, Path};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// Input sides the network takes: ResNet-18 halves the image five times (32 px gives a 1 x 1
/// layer4); above 4096 px one image alone would need gigabytes.
pub const SIDES: std::ops::RangeInclusive<i64> = 32..=4096;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Card {
    pub weights: String,
    pub threshold: f64,
    pub input_side: i64,
    pub mean: [f64; 3],
    pub std: [f64; 3],
    #[serde(flatten)]
    pub rest: BTreeMap<String, serde_json::Value>,
}

impl Card {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> anyhow::Result<Card> {
        let bytes = fs::read(path).with_context(|| {
            format!(
                "reading {} (train the model first: pneumo-pipeline run)",
                path.display()
            )
        })?;
        let card: Card = serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not a model card", path.display()))?;
        card.check()
            .with_context(|| format!("{} is not a usable model card", path.display()))?;
        Ok(card)
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

    fn card(edit: &str) -> anyhow::Result<Card> {
        let dir = tempfile::tempdir().unwrap();
        let good = serde_json::json!({
            "weights": "best.safetensors", "threshold": 0.5, "input_side": 64,
            "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "architecture": "x"
        });
        let mut v = good;
        if !edit.is_empty() {
            let (k, val) = edit.split_once('=').unwrap();
            v[k] = serde_json::from_str(val).unwrap();
        }
        let path = dir.path().join("model.json");
        fs::write(&path, v.to_string()).unwrap();
        Card::load(&path)
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
        ] {
            let err = format!("{:#}", card(edit).unwrap_err());
            assert!(
                err.contains(says) && err.contains("model.json"),
                "{edit}: {err}"
            );
        }
    }
}
