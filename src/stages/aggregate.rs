//! Numbers over the members of a matrix: each member's headline metrics per role, their
//! mean ± SD (sample, n - 1) and min–max, and the ensemble's own row. The ensemble stage
//! writes it as `summary.json` and `summary.md`.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::charts::forest::{Forest, ForestPanel, ForestRow};
use super::evaluate::Metrics;
use crate::model::defined;

/// The metrics each row shows, with their labels.
pub const COLUMNS: [(&str, &str); 6] = [
    ("roc_auc", "ROC AUC"),
    ("accuracy", "accuracy"),
    ("sensitivity", "sensitivity"),
    ("specificity", "specificity"),
    ("f1", "F1"),
    ("threshold", "threshold"),
];

/// One model's row: its values in [`COLUMNS`] order and their 95% intervals (NaN where a
/// column has none: the threshold).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub name: String,
    #[serde(deserialize_with = "defined::f64s")]
    pub values: Vec<f64>,
    #[serde(deserialize_with = "defined::pairs")]
    pub ci: Vec<(f64, f64)>,
}

/// One role's table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleSummary {
    pub role: String,
    pub members: Vec<Row>,
    #[serde(deserialize_with = "defined::f64s")]
    pub mean: Vec<f64>,
    /// Sample SD (n - 1); undefined for one member.
    #[serde(deserialize_with = "defined::f64s")]
    pub sd: Vec<f64>,
    #[serde(deserialize_with = "defined::f64s")]
    pub min: Vec<f64>,
    #[serde(deserialize_with = "defined::f64s")]
    pub max: Vec<f64>,
    pub ensemble: Row,
}

fn row(name: &str, m: &Metrics, role: &str) -> Option<Row> {
    let r = &m.roles.get(role)?.report;
    let none = (f64::NAN, f64::NAN);
    Some(Row {
        name: name.into(),
        values: vec![
            r.roc_auc,
            r.binary.accuracy,
            r.binary.recall,
            r.specificity,
            r.binary.f1,
            r.threshold,
        ],
        ci: vec![
            r.ci.roc_auc,
            r.ci.accuracy,
            r.ci.recall,
            r.ci.specificity,
            r.ci.f1,
            none,
        ],
    })
}

/// Per role (val, then test), the members' rows and their summary.
pub fn summarise(members: &[(String, Metrics)], ensemble: &Metrics) -> Vec<RoleSummary> {
    let mut out = Vec::new();
    for role in ["val", "test"] {
        let rows: Vec<Row> = members
            .iter()
            .filter_map(|(n, m)| row(n, m, role))
            .collect();
        let Some(ens) = row("ensemble", ensemble, role) else {
            continue;
        };
        if rows.is_empty() {
            continue;
        }
        let col = |i: usize| rows.iter().map(|r| r.values[i]).collect::<Vec<f64>>();
        let n = rows.len() as f64;
        let stat = |f: &dyn Fn(&[f64]) -> f64| (0..COLUMNS.len()).map(|i| f(&col(i))).collect();
        let mean = |v: &[f64]| v.iter().sum::<f64>() / n;
        out.push(RoleSummary {
            role: role.into(),
            mean: stat(&mean),
            sd: stat(&|v| {
                if v.len() < 2 {
                    return f64::NAN;
                }
                let m = mean(v);
                (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
            }),
            min: stat(&|v| v.iter().copied().fold(f64::INFINITY, f64::min)),
            max: stat(&|v| v.iter().copied().fold(f64::NEG_INFINITY, f64::max)),
            members: rows,
            ensemble: ens,
        });
    }
    out
}

/// The first four columns as a forest plot: each member with its 95% interval, the
/// members' mean ± SD, and the ensemble with its interval.
pub fn forest(s: &RoleSummary, what: &str) -> Forest {
    use super::charts::forest::{ENSEMBLE, MEAN, MEMBER};
    let panels = COLUMNS[..4]
        .iter()
        .enumerate()
        .map(|(i, (_, label))| {
            let one = |r: &Row, color| ForestRow {
                label: r.name.clone(),
                value: r.values[i],
                low: r.ci[i].0,
                high: r.ci[i].1,
                color,
            };
            let mut rows: Vec<ForestRow> = s.members.iter().map(|r| one(r, MEMBER)).collect();
            rows.push(ForestRow {
                label: "members: mean ± SD".into(),
                value: s.mean[i],
                low: s.mean[i] - s.sd[i],
                high: s.mean[i] + s.sd[i],
                color: MEAN,
            });
            rows.push(one(&s.ensemble, ENSEMBLE));
            ForestPanel {
                metric: label.to_string(),
                rows,
            }
        })
        .collect();
    Forest {
        title: format!("{} role: {what} (95% intervals)", s.role),
        panels,
    }
}

fn f(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.4}")
    } else {
        "undefined".into()
    }
}

/// One role's rows, a label then a cell per [`COLUMNS`]: every member, mean ± SD, min – max,
/// and the ensemble under `ensemble_label`.
pub fn rows(s: &RoleSummary, ensemble_label: &str) -> Vec<Vec<String>> {
    let row = |label: String, cells: Vec<String>| std::iter::once(label).chain(cells).collect();
    let pairs = |a: &[f64], b: &[f64], sep: &str| -> Vec<String> {
        a.iter()
            .zip(b)
            .map(|(x, y)| format!("{}{sep}{}", f(*x), f(*y)))
            .collect()
    };
    let mut out: Vec<Vec<String>> = s
        .members
        .iter()
        .map(|r| row(r.name.clone(), r.values.iter().map(|x| f(*x)).collect()))
        .collect();
    out.push(row(
        format!("mean ± SD ({} members)", s.members.len()),
        pairs(&s.mean, &s.sd, " ± "),
    ));
    out.push(row("min – max".into(), pairs(&s.min, &s.max, " – ")));
    // the ensemble is one model: its own sampling intervals, not a spread over seeds
    out.push(row(
        ensemble_label.into(),
        s.ensemble
            .values
            .iter()
            .zip(&s.ensemble.ci)
            .map(|(x, (lo, hi))| {
                if lo.is_finite() && hi.is_finite() {
                    format!("{} ({}–{})", f(*x), f(*lo), f(*hi))
                } else {
                    f(*x)
                }
            })
            .collect(),
    ));
    out
}

/// The tables as Markdown, saying which role chose anything and which was scored once.
pub fn markdown(summary: &[RoleSummary], combine: &str) -> String {
    let mut md = String::new();
    for s in summary {
        let what = if s.role == "val" {
            "where each member's checkpoint and threshold, and the ensemble's threshold, were chosen"
        } else {
            "scored once, at the thresholds chosen on validation"
        };
        let _ = writeln!(md, "### `{}`: {what}\n", s.role);
        let header: Vec<&str> = COLUMNS.iter().map(|(_, l)| *l).collect();
        let _ = writeln!(md, "| model | {} |", header.join(" | "));
        let _ = writeln!(md, "|---|{}", "---:|".repeat(COLUMNS.len()));
        for r in rows(s, &format!("ensemble (mean {combine})")) {
            let _ = writeln!(md, "| {} |", r.join(" | "));
        }
        md.push('\n');
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_mean_sd_range_and_the_ensemble() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/report/evaluate/metrics.json");
        let base: Metrics = serde_json::from_slice(&fs_err::read(path).unwrap()).unwrap();
        let with_auc = |auc: f64| {
            let mut m = base.clone();
            for r in m.roles.values_mut() {
                r.report.roc_auc = auc;
            }
            m
        };
        let members = vec![
            ("evaluate@seed=0".to_string(), with_auc(0.90)),
            ("evaluate@seed=1".to_string(), with_auc(0.92)),
            ("evaluate@seed=2".to_string(), with_auc(0.94)),
        ];
        let s = summarise(&members, &with_auc(0.95));
        assert_eq!(s.len(), 2);
        assert!((s[0].mean[0] - 0.92).abs() < 1e-12);
        assert!((s[0].sd[0] - 0.02).abs() < 1e-12);
        assert_eq!((s[0].min[0], s[0].max[0]), (0.90, 0.94));
        let md = markdown(&s, "probability");
        insta::assert_snapshot!("aggregate", md);
        // one panel per headline metric; members, mean ± SD and the ensemble in each
        let f = forest(&s[1], "scored once");
        assert_eq!(f.panels.len(), 4);
        assert!(f.panels.iter().all(|p| p.rows.len() == 5));
        let mean = &f.panels[0].rows[3];
        assert!((mean.high - mean.low - 0.04).abs() < 1e-12);
        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("members-test.png");
        crate::stages::charts::forest::save(&f, &png, 1100, 290).unwrap();
        assert_eq!(image::image_dimensions(&png).unwrap(), (1100, 290));
    }
}
