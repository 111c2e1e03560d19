//! `split`'s `split.parquet`, written and read here (the row type:
//! [`pneumo_contract::split::SplitRow`]).

use std::path::Path;

use polars::prelude::*;

use pneumo_contract::split::SplitRow;

use crate::data::manifest::ManifestRow;
use crate::data::table::{read_parquet, required_strings, required_words, write_parquet};

/// Writes the split: every manifest row with its role.
pub fn write_split(path: &Path, rows: &[ManifestRow], roles: &[&str]) -> anyhow::Result<()> {
    let col = |name: &str, f: &dyn Fn(&ManifestRow) -> String| {
        Column::new(name.into(), rows.iter().map(f).collect::<Vec<String>>())
    };
    let mut df = DataFrame::new_infer_height(vec![
        col("path", &|r| r.path.clone()),
        Column::new(
            "role".into(),
            roles.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
        ),
        col("split", &|r| r.split.clone()),
        col("label", &|r| r.label.clone()),
        col("patient_id", &|r| r.patient_id.clone()),
        col("subtype", &|r| r.subtype.clone()),
    ])?;
    write_parquet(path, &mut df)
}

/// Every row of a split file, `unused` ones included.
pub fn read_rows(path: &Path) -> anyhow::Result<Vec<SplitRow>> {
    let df = read_parquet(path)?;
    let labels = required_words(&df, "label")
        .map_err(|e| e.context(format!("reading {}", path.display())))?;
    let cols = ["path", "role", "patient_id", "subtype"]
        .map(|c| required_strings(&df, c))
        .into_iter()
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok((0..df.height())
        .map(|i| SplitRow {
            path: cols[0][i].clone(),
            role: cols[1][i].clone(),
            label: labels[i],
            patient_id: cols[2][i].clone(),
            subtype: cols[3][i].clone(),
        })
        .collect())
}

/// (path, role) pairs of a split file.
pub fn read_roles(path: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let df = read_parquet(path)?;
    Ok(required_strings(&df, "path")?
        .into_iter()
        .zip(required_strings(&df, "role")?)
        .collect())
}
