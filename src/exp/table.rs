//! What `exp show`, `exp diff`, `params diff` and `metrics diff` print, as pure functions of
//! the records (snapshot-tested): a table of experiments, and differences between two.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::bail;
use serde_json::Value;

use super::ExpRecord;

/// Rows of text under a header.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// The metrics `exp show` lists by default.
const SHOWN: &[&str] = &["roc_auc", "accuracy", "specificity"];

/// One row per experiment: its name, what it changed, then the shown metrics of every
/// evaluate and ensemble stage; sorted by `sort` (a metric column, highest first).
pub fn show(records: &[ExpRecord], sort: Option<&str>, all: bool) -> anyhow::Result<Table> {
    let columns: BTreeSet<&str> = records
        .iter()
        .flat_map(|r| r.metrics.keys())
        .map(String::as_str)
        .filter(|k| all || SHOWN.iter().any(|m| k.ends_with(&format!(":{m}"))))
        .collect();
    let mut order: Vec<&ExpRecord> = records.iter().collect();
    if let Some(col) = sort {
        if !records.iter().any(|r| r.metrics.contains_key(col)) {
            bail!(
                "no metric `{col}` to sort by (columns: {})",
                columns.iter().copied().collect::<Vec<_>>().join(", ")
            );
        }
        let value = |r: &ExpRecord| r.metrics.get(col).copied().unwrap_or(f64::NEG_INFINITY);
        order.sort_by(|a, b| value(b).total_cmp(&value(a)));
    }
    let mut header = vec!["experiment".to_string(), "changes".to_string()];
    header.extend(columns.iter().map(|c| c.to_string()));
    let rows = order
        .iter()
        .map(|r| {
            let mut row = vec![
                r.name.clone(),
                if r.changes.is_empty() {
                    "-".into()
                } else {
                    r.changes.join(" ")
                },
            ];
            row.extend(columns.iter().map(|c| number(r.metrics.get(*c).copied())));
            row
        })
        .collect();
    Ok(Table { header, rows })
}

fn number(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.4}"),
        Some(_) => "undefined".into(),
        None => "-".into(),
    }
}

/// Params as `stage.key.sub` -> value text.
fn flat_params(r: &ExpRecord) -> BTreeMap<String, String> {
    fn walk(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    walk(&format!("{prefix}.{k}"), v, out);
                }
            }
            Value::String(s) => {
                out.insert(prefix.to_string(), s.clone());
            }
            other => {
                out.insert(prefix.to_string(), other.to_string());
            }
        }
    }
    let mut out = BTreeMap::new();
    for (stage, p) in &r.params {
        walk(stage, p, &mut out);
    }
    out
}

/// The params that differ between `a` and `b` (a stage only one of them has shows `-`).
pub fn params_diff(a: &ExpRecord, b: &ExpRecord) -> Table {
    let (pa, pb) = (flat_params(a), flat_params(b));
    let keys: BTreeSet<&String> = pa.keys().chain(pb.keys()).collect();
    let rows = keys
        .into_iter()
        .filter(|k| pa.get(*k) != pb.get(*k))
        .map(|k| {
            let get = |m: &BTreeMap<String, String>| m.get(k).cloned().unwrap_or("-".into());
            vec![k.clone(), get(&pa), get(&pb)]
        })
        .collect();
    Table {
        header: vec!["param".into(), a.name.clone(), b.name.clone()],
        rows,
    }
}

/// Every metric of either, with the change from `a` to `b`.
pub fn metrics_diff(a: &ExpRecord, b: &ExpRecord) -> Table {
    let keys: BTreeSet<&String> = a.metrics.keys().chain(b.metrics.keys()).collect();
    let rows = keys
        .into_iter()
        .map(|k| {
            let (x, y) = (a.metrics.get(k).copied(), b.metrics.get(k).copied());
            let change = match (x, y) {
                (Some(x), Some(y)) if (y - x).is_finite() => format!("{:+.4}", y - x),
                _ => "-".into(),
            };
            vec![k.clone(), number(x), number(y), change]
        })
        .collect();
    Table {
        header: vec![
            "metric".into(),
            a.name.clone(),
            b.name.clone(),
            "change".into(),
        ],
        rows,
    }
}

/// Columns padded to their widest cell.
pub fn text(t: &Table) -> String {
    // a record's text may hold control characters (a terminal escape in a `--set` value or a
    // hand-edited exp.json): shown escaped, never sent to the terminal raw
    let t = &Table {
        header: t.header.iter().map(|c| printable(c)).collect(),
        rows: t
            .rows
            .iter()
            .map(|r| r.iter().map(|c| printable(c)).collect())
            .collect(),
    };
    let n = t.header.len();
    let width: Vec<usize> = (0..n)
        .map(|i| {
            std::iter::once(&t.header)
                .chain(&t.rows)
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |r: &Vec<String>| {
        r.iter()
            .zip(&width)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = line(&t.header) + "\n";
    for r in &t.rows {
        out += &(line(r) + "\n");
    }
    out
}

/// RFC 4180 CSV.
pub fn csv(t: &Table) -> String {
    let cell = |c: &String| {
        if c.contains([',', '"', '\n']) {
            format!("\"{}\"", c.replace('"', "\"\""))
        } else {
            c.clone()
        }
    };
    std::iter::once(&t.header)
        .chain(&t.rows)
        .map(|r| r.iter().map(cell).collect::<Vec<_>>().join(",") + "\n")
        .collect()
}

/// `s` with each control character written as its escape (`\u{1b}`).
fn printable(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str, lr: f64, auc: f64, acc: f64) -> ExpRecord {
        ExpRecord {
            format: 1,
            name: name.into(),
            created: 0,
            changes: vec![format!("train.lr={lr}")],
            params: [(
                "train".to_string(),
                serde_json::json!({"lr": lr, "optimizer": "adamw", "augment": {"rotate": 7.0}}),
            )]
            .into(),
            keys: BTreeMap::new(),
            metrics: [
                ("evaluate:val:roc_auc".to_string(), auc),
                ("evaluate:val:accuracy".to_string(), acc),
                ("evaluate:val:f1".to_string(), 0.9),
                ("evaluate:test:roc_auc".to_string(), f64::NAN),
            ]
            .into(),
        }
    }

    #[test]
    fn exp_show_table() {
        let recs = [
            record("slow", 0.0003, 0.9812, 0.9401),
            record("fast", 0.01, 0.9934, 0.9588),
        ];
        let t = show(&recs, Some("evaluate:val:roc_auc"), false).unwrap();
        insta::assert_snapshot!("exp_show", text(&t));
        assert_eq!(
            csv(&t).lines().next().unwrap(),
            "experiment,changes,evaluate:test:roc_auc,evaluate:val:accuracy,evaluate:val:roc_auc"
        );
        let err = show(&recs, Some("auc"), false).unwrap_err().to_string();
        assert!(err.contains("columns: evaluate:test:roc_auc"), "{err}");
        assert_eq!(show(&recs, None, true).unwrap().header.len(), 2 + 4);
    }

    #[test]
    fn diffs_list_what_changed() {
        let (a, b) = (
            record("a", 0.001, 0.98, 0.94),
            record("b", 0.01, 0.99, 0.95),
        );
        let p = params_diff(&a, &b);
        assert_eq!(p.rows, [["train.lr", "0.001", "0.01"]]);
        let m = metrics_diff(&a, &b);
        assert!(m.rows.contains(&vec![
            "evaluate:val:roc_auc".into(),
            "0.9800".into(),
            "0.9900".into(),
            "+0.0100".into()
        ]));
        insta::assert_snapshot!("metrics_diff", text(&m));
    }
}
