//! The evaluate stage's predictions, one row per scored image: written as CSV (for people)
//! and Parquet (for the stages after it), read back from Parquet.

use fs_err as fs;
use std::fmt::Write as _;
use std::path::Path;

use polars::prelude::*;

use pneumo_contract::predictions::{PREDICTIONS, PREDICTIONS_CSV, Prediction};

use pneumo_contract::label::{Label, Outcome};

use crate::data::table::{read_parquet, required_strings, required_words, write_parquet};

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

pub fn write_predictions(dir: &Path, preds: &[Prediction]) -> anyhow::Result<()> {
    let mut csv = String::from("file,role,patient,label,subtype,probability,prediction,outcome\n");
    for p in preds {
        writeln!(
            csv,
            "{},{},{},{},{},{:.6},{},{}",
            csv_field(&p.path),
            p.role,
            csv_field(&p.patient_id),
            p.label,
            p.subtype,
            p.probability,
            if p.prediction == 1 {
                "PNEUMONIA"
            } else {
                "NORMAL"
            },
            p.outcome
        )?;
    }
    fs::write(dir.join(PREDICTIONS_CSV), csv)?;
    let s = |name: &str, f: &dyn Fn(&Prediction) -> String| {
        Column::new(name.into(), preds.iter().map(f).collect::<Vec<String>>())
    };
    let mut df = DataFrame::new_infer_height(vec![
        s("path", &|p| p.path.clone()),
        s("role", &|p| p.role.clone()),
        s("patient_id", &|p| p.patient_id.clone()),
        s("label", &|p| p.label.to_string()),
        s("subtype", &|p| p.subtype.clone()),
        Column::new(
            "probability".into(),
            preds.iter().map(|p| p.probability).collect::<Vec<f64>>(),
        ),
        Column::new(
            "prediction".into(),
            preds
                .iter()
                .map(|p| u32::from(p.prediction))
                .collect::<Vec<u32>>(),
        ),
        s("outcome", &|p| p.outcome.to_string()),
    ])?;
    write_parquet(&dir.join(PREDICTIONS), &mut df)
}

/// Reads predictions.parquet (or the folder holding it).
pub fn read_predictions(path: &Path) -> anyhow::Result<Vec<Prediction>> {
    let file = if path.is_dir() {
        path.join(PREDICTIONS)
    } else {
        path.to_path_buf()
    };
    let df = read_parquet(&file)?;
    let in_file = |e: anyhow::Error| e.context(format!("reading {}", file.display()));
    let labels = required_words::<Label>(&df, "label").map_err(in_file)?;
    let outcomes = required_words::<Outcome>(&df, "outcome").map_err(in_file)?;
    let cols = ["path", "role", "patient_id", "subtype"]
        .map(|c| required_strings(&df, c))
        .into_iter()
        .collect::<anyhow::Result<Vec<_>>>()?;
    let prob: Vec<f64> = df
        .column("probability")?
        .f64()?
        .iter()
        .map(|v| v.unwrap_or(f64::NAN))
        .collect();
    let pred: Vec<u32> = df
        .column("prediction")?
        .u32()?
        .iter()
        .map(|v| v.unwrap_or(0))
        .collect();
    Ok((0..df.height())
        .map(|i| Prediction {
            path: cols[0][i].clone(),
            role: cols[1][i].clone(),
            patient_id: cols[2][i].clone(),
            label: labels[i],
            subtype: cols[3][i].clone(),
            outcome: outcomes[i],
            probability: prob[i],
            prediction: pred[i] as u8,
        })
        .collect())
}
