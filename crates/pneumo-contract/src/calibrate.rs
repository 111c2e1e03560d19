//! `calibrate`'s `calibration.json`: per scored role, the reliability of evaluate's
//! probabilities in bins of equal count (or width), each observed rate with its Wilson
//! interval, and the calibration slope and intercept (a logistic fit of the label on the
//! probability's log-odds: 1 and 0 for a calibrated model).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::defined;

pub const FILE: &str = "calibration.json";
/// 1: the first.
pub const FORMAT: u32 = 1;

/// How the probability range is cut into bins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Binning {
    /// Bins holding equal numbers of films: every bin is measured (the default).
    Quantile,
    /// Equal-width bins over [0, 1], as the charts' reliability diagram.
    Uniform,
}

impl Binning {
    /// Every value, as pipeline.yaml spells it.
    pub const ALL: &'static [&'static str] = &["quantile", "uniform"];
}

/// One bin: the films whose probability lies in `[lower, upper]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReliabilityBin {
    pub lower: f64,
    pub upper: f64,
    pub count: usize,
    #[serde(deserialize_with = "defined::f64")]
    pub mean_probability: f64,
    /// The share of PNEUMONIA films, with its 95% Wilson interval.
    #[serde(deserialize_with = "defined::f64")]
    pub observed: f64,
    #[serde(deserialize_with = "defined::pair")]
    pub ci: (f64, f64),
}

/// One role's table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleCalibration {
    pub n: usize,
    /// Count-weighted mean |observed - mean probability| over these bins.
    #[serde(deserialize_with = "defined::f64")]
    pub ece: f64,
    /// The logistic fit's slope on logit(p) (below 1: overconfident) and intercept
    /// (calibration in the large), on Platt's smoothed targets so a separable role stays finite.
    #[serde(deserialize_with = "defined::f64")]
    pub slope: f64,
    #[serde(deserialize_with = "defined::f64")]
    pub intercept: f64,
    pub bins: Vec<ReliabilityBin>,
}

/// calibration.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalibrationTable {
    pub format: u32,
    pub binning: Binning,
    /// Role -> its table (roles evaluate scored).
    pub roles: BTreeMap<String, RoleCalibration>,
}

crate::versioned!(CalibrationTable, "calibration table", FORMAT);
