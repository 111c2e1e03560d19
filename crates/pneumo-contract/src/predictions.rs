//! `evaluate`'s outputs: one [`Prediction`] per scored image in `predictions.parquet` and
//! `predictions.csv` (written and read by `pneumo_core::tables::predictions`), `metrics.json`,
//! and the model folder `model/` (the model card and the scored checkpoint).

/// The predictions, for the stages after evaluate.
pub const PREDICTIONS: &str = "predictions.parquet";
/// The same rows, for people and other tools.
pub const PREDICTIONS_CSV: &str = "predictions.csv";
pub const METRICS: &str = "metrics.json";
/// The folder holding the model card and the checkpoint evaluate scored.
pub const MODEL_DIR: &str = "model";

use crate::label::{Label, Outcome};

/// One scored image.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    pub path: String,
    pub role: String,
    pub patient_id: String,
    pub label: Label,
    pub subtype: String,
    pub probability: f64,
    /// 1 = pneumonia.
    pub prediction: u8,
    pub outcome: Outcome,
}
