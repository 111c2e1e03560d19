//! How the report writes numbers and small shared pieces.

use super::Artifacts;
use super::document::Block;
use crate::model::explain::Quadrants;
use crate::stages::evaluate::RoleMetrics;
use crate::stages::gradcam::Regions;
use crate::stages::split::{Protocol, SplitCounts};

pub fn s(x: &str) -> String {
    x.to_string()
}

/// The charts named `names`, side by side.
pub fn figs(a: &Artifacts, names: &[&str]) -> Block {
    Block::Figures(
        a.charts
            .iter()
            .filter(|c| names.contains(&c.name.as_str()))
            .map(|c| (format!("images/{}", c.png), c.caption.clone()))
            .collect(),
    )
}

/// The protocol as the report names it.
pub fn protocol_name(p: &Protocol) -> &'static str {
    match p {
        Protocol::Writeup => "write-up",
        Protocol::Patient => "patient",
    }
}

pub fn pct(v: f64) -> String {
    if v.is_finite() {
        format!("{:.2}%", v * 100.0)
    } else {
        "undefined".into()
    }
}

/// A param as pipeline.yaml's JSON form writes it (`1.0`, `0.001`).
pub fn json_num(v: f64) -> String {
    serde_json::Value::from(v).to_string()
}

pub fn num(v: f64, d: usize) -> String {
    if v.is_finite() {
        format!("{v:.d$}")
    } else {
        "undefined".into()
    }
}

pub fn ci_pct(v: f64, ci: (f64, f64)) -> String {
    if ci.0.is_finite() {
        format!("{} ({:.1}–{:.1})", pct(v), ci.0 * 100.0, ci.1 * 100.0)
    } else {
        pct(v)
    }
}

pub fn ci_num(v: f64, ci: (f64, f64)) -> String {
    if ci.0.is_finite() {
        format!("{} ({:.3}–{:.3})", num(v, 3), ci.0, ci.1)
    } else {
        num(v, 3)
    }
}

/// The write-up's figures on the official test split, and its confusion matrix (recomputed
/// from its four numbers: TP 350, FN 40, FP 51, TN 183).
pub const WRITEUP: [(&str, f64); 4] = [
    ("accuracy", 0.8542),
    ("precision", 0.8728),
    ("recall", 0.8974),
    ("F1", 0.8850),
];

/// The role holding the dataset's `test/` folder (on the Kaggle download, the official test
/// split: where the write-up's numbers were measured).
pub fn official_test_role(split: &SplitCounts) -> &'static str {
    match split.protocol {
        Protocol::Writeup => "val",
        Protocol::Patient => "test",
    }
}

pub fn quadrant_row(name: String, r: &Regions) -> Vec<String> {
    let q = &r.shares;
    vec![
        name,
        r.images.to_string(),
        r.empty.to_string(),
        pct(q.upper_left),
        pct(q.upper_right),
        pct(q.lower_left),
        pct(q.lower_right),
    ]
}

pub fn top_quadrant(q: &Quadrants) -> (&'static str, f64) {
    [
        (
            "upper image-left (patient's right upper zone)",
            q.upper_left,
        ),
        (
            "upper image-right (patient's left upper zone)",
            q.upper_right,
        ),
        (
            "lower image-left (patient's right lower zone)",
            q.lower_left,
        ),
        (
            "lower image-right (patient's left lower zone)",
            q.lower_right,
        ),
    ]
    .into_iter()
    .fold(
        ("", f64::NEG_INFINITY),
        |b, x| if x.1 > b.1 { x } else { b },
    )
}

/// How one metric row formats a role's metrics.
pub type Cell = Box<dyn Fn(&RoleMetrics) -> String>;
