//! What training leaves besides the weights: `summary.json` ([`TrainSummary`]) and
//! `history.csv` (one [`Evaluation`] per row).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::{load, save, versioned};
use crate::choices::Monitor;
use crate::defined;
use crate::metrics::Binary;

pub const FILE: &str = "summary.json";
pub const HISTORY: &str = "history.csv";
/// 2: `format` field, `monitor` an enum; 1 (no `format`): the untyped summary.
pub const FORMAT: u32 = 2;

/// One evaluation on the validation role during training: a row of history.csv.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub iteration: usize,
    #[serde(deserialize_with = "defined::f64")]
    pub train_loss: f64,
    #[serde(deserialize_with = "defined::f64")]
    pub train_accuracy: f64,
    #[serde(deserialize_with = "defined::f64")]
    pub val_loss: f64,
    #[serde(flatten)]
    pub val: Binary,
    /// NaN (`null`) when validation holds one class only.
    #[serde(deserialize_with = "defined::f64")]
    pub val_auc: f64,
    pub seconds: f64,
}

/// summary.json: how a training run went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSummary {
    #[serde(default = "format_one")]
    pub format: u32,
    pub iterations: usize,
    pub stop_reason: String,
    /// The evaluation whose weights were kept.
    pub best: Option<Evaluation>,
    /// The metric `best` maximises.
    pub monitor: Monitor,
    pub device: String,
    pub seconds: f64,
    /// The checkpoint's iteration when this run resumed a killed one.
    pub resumed_from: Option<usize>,
}

fn format_one() -> u32 {
    1
}

versioned!(TrainSummary, "training summary", FORMAT);

impl TrainSummary {
    pub fn load(dir: &Path) -> anyhow::Result<TrainSummary> {
        load(&dir.join(FILE))
    }

    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        save(&dir.join(FILE), self)
    }
}

/// history.csv's columns, in order (charts and the report read them by these names).
pub const HISTORY_COLUMNS: &str = "iteration,train_loss,train_accuracy,val_loss,val_accuracy,val_precision,val_recall,val_f1,val_auc,tp,fp,tn,fn,seconds";

/// Writes `rows` as history.csv into `dir`.
pub fn write_history(dir: &Path, rows: &[Evaluation]) -> anyhow::Result<()> {
    let mut csv = format!("{HISTORY_COLUMNS}\n");
    for e in rows {
        let v = &e.val;
        writeln!(
            csv,
            "{},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6},{},{},{},{},{:.3}",
            e.iteration,
            e.train_loss,
            e.train_accuracy,
            e.val_loss,
            v.accuracy,
            v.precision,
            v.recall,
            v.f1,
            e.val_auc,
            v.tp,
            v.fp,
            v.tn,
            v.fn_,
            e.seconds
        )?;
    }
    let path = dir.join(HISTORY);
    fs_err::write(&path, csv).with_context(|| format!("writing {}", path.display()))
}

/// Reads history.csv from `dir`, one [`Evaluation`] per row (through [`write_history`]'s
/// columns; a bad cell is an error naming its line).
pub fn read_history(dir: &Path) -> anyhow::Result<Vec<Evaluation>> {
    let rows = crate::csv::read_numeric(&dir.join(HISTORY), HISTORY_COLUMNS, "training history")?;
    let count = |v: f64| v as usize;
    Ok(rows
        .into_iter()
        .map(|r| Evaluation {
            iteration: count(r[0]),
            train_loss: r[1],
            train_accuracy: r[2],
            val_loss: r[3],
            val: Binary {
                accuracy: r[4],
                precision: r[5],
                recall: r[6],
                f1: r[7],
                tp: count(r[9]),
                fp: count(r[10]),
                tn: count(r[11]),
                fn_: count(r[12]),
            },
            val_auc: r[8],
            seconds: r[13],
        })
        .collect())
}
