//! The recalibration map fitted on validation (`pneumo_core::model::recalibrate` fits it):
//! `p' = sigmoid(a * logit(p) + b)`, stored in the model card and applied by `evaluate` and
//! `predict`.

use serde::{Deserialize, Serialize};

/// The fitted map, stored in the model card and applied by `evaluate` and `predict`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calibrator {
    /// `temperature` or `platt`.
    pub method: Method,
    pub a: f64,
    pub b: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Temperature,
    Platt,
}

impl Method {
    /// Every value, as pipeline.yaml spells it (a test checks each against serde).
    pub const ALL: &'static [&'static str] = &["temperature", "platt"];
}

/// Probabilities this close to 0 or 1 are clamped before the logit.
const EPS: f64 = 1e-7;

pub fn logit(p: f64) -> f64 {
    let p = p.clamp(EPS, 1.0 - EPS);
    (p / (1.0 - p)).ln()
}

pub fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

impl Calibrator {
    pub fn apply(&self, p: f64) -> f64 {
        sigmoid(self.a * logit(p) + self.b)
    }

    /// The temperature `T = 1 / a`.
    pub fn temperature(&self) -> f64 {
        1.0 / self.a
    }
}
