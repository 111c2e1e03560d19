//! The confusion counts and metrics at a threshold (computed by
//! `pneumo_core::model::metrics::binary`), as every metrics file writes them.

use serde::{Deserialize, Serialize};

/// Confusion counts and the metrics the write-up reports.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Binary {
    pub tp: usize,
    pub fp: usize,
    pub tn: usize,
    #[serde(rename = "fn")]
    pub fn_: usize,
    #[serde(deserialize_with = "crate::defined::f64")]
    pub accuracy: f64,
    #[serde(deserialize_with = "crate::defined::f64")]
    pub precision: f64,
    #[serde(deserialize_with = "crate::defined::f64")]
    pub recall: f64,
    #[serde(deserialize_with = "crate::defined::f64")]
    pub f1: f64,
}
