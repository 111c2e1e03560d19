//! Numbers over the members of a matrix: each member's headline metrics per role, their
//! mean ± SD (sample, n - 1) and min–max, and the ensemble's own row. The ensemble stage
//! writes it as `summary.json` and `summary.md`.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::evaluate::Metrics;

/// The metrics each row shows, with their labels.
pub const COLUMNS: [(&str, &str); 6] = [
    ("roc_auc", "ROC AUC"),
    ("accuracy", "accuracy"),
    ("sensitivity", "sensitivity"),
    ("specificity", "specificity"),
    ("f1", "F1"),
    ("threshold", "threshold"),
];

/// One role's table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleSummary {
    pub role: String,
    /// Member name and its values, in [`COLUMNS`] order.
    pub members: Vec<(String, Vec<f64>)>,
    pub mean: Vec<f64>,
    pub sd: Vec<f64>,
    pub min: Vec<f64>,
    pub max: Vec<f64>,
    pub ensemble: Vec<f64>,
}

fn values(m: &Metrics, role: &str) -> Option<Vec<f64>> {
    let r = &m.roles.get(role)?.report;
    Some(vec![
        r.roc_auc,
        r.binary.accuracy,
        r.binary.recall,
        r.specificity,
        r.binary.f1,
        r.threshold,
    ])
}

/// Per role (val, then test), the members' rows and their summary.
pub fn summarise(members: &[(String, Metrics)], ensemble: &Metrics) -> Vec<RoleSummary> {
    let mut out = Vec::new();
    for role in ["val", "test"] {
        let rows: Vec<(String, Vec<f64>)> = members
            .iter()
            .filter_map(|(n, m)| values(m, role).map(|v| (n.clone(), v)))
            .collect();
        let Some(ens) = values(ensemble, role) else {
            continue;
        };
        if rows.is_empty() {
            continue;
        }
        let col = |i: usize| rows.iter().map(|(_, v)| v[i]).collect::<Vec<f64>>();
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
        .map(|(name, v)| row(name.clone(), v.iter().map(|x| f(*x)).collect()))
        .collect();
    out.push(row(
        format!("mean ± SD ({} members)", s.members.len()),
        pairs(&s.mean, &s.sd, " ± "),
    ));
    out.push(row("min – max".into(), pairs(&s.min, &s.max, " – ")));
    out.push(row(
        ensemble_label.into(),
        s.ensemble.iter().map(|x| f(*x)).collect(),
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
    }
}
