//! The index stage's manifest: one row per file in the dataset folder.

use std::path::Path;

use polars::prelude::*;

use super::table::{read_parquet, required_strings, strings, u32s, write_parquet};

/// One file of the dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestRow {
    /// Relative to the dataset folder, `/`-separated.
    pub path: String,
    /// Official split folder (`train`, `val`, `test`).
    pub split: String,
    /// `NORMAL` or `PNEUMONIA`.
    pub label: String,
    pub patient_id: String,
    /// `normal`, `bacteria`, `virus` or `unknown`.
    pub subtype: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub channels: Option<u32>,
    pub bit_depth: Option<u32>,
    pub bytes: u64,
    /// blake3 of the file, hex.
    pub hash: String,
    /// Why the file is not a usable image; `None` when it is.
    pub error: Option<String>,
}

pub const FILE: &str = "manifest.parquet";

pub fn write(path: &Path, rows: &[ManifestRow]) -> anyhow::Result<()> {
    let col = |name: &str, v: Vec<String>| Column::new(name.into(), v);
    let opt = |name: &str, v: Vec<Option<u32>>| Column::new(name.into(), v);
    let mut df = DataFrame::new_infer_height(vec![
        col("path", rows.iter().map(|r| r.path.clone()).collect()),
        col("split", rows.iter().map(|r| r.split.clone()).collect()),
        col("label", rows.iter().map(|r| r.label.clone()).collect()),
        col(
            "patient_id",
            rows.iter().map(|r| r.patient_id.clone()).collect(),
        ),
        col("subtype", rows.iter().map(|r| r.subtype.clone()).collect()),
        opt("width", rows.iter().map(|r| r.width).collect()),
        opt("height", rows.iter().map(|r| r.height).collect()),
        opt("channels", rows.iter().map(|r| r.channels).collect()),
        opt("bit_depth", rows.iter().map(|r| r.bit_depth).collect()),
        Column::new(
            "bytes".into(),
            rows.iter().map(|r| r.bytes).collect::<Vec<u64>>(),
        ),
        col("hash", rows.iter().map(|r| r.hash.clone()).collect()),
        Column::new(
            "error".into(),
            rows.iter()
                .map(|r| r.error.clone())
                .collect::<Vec<Option<String>>>(),
        ),
    ])?;
    write_parquet(path, &mut df)
}

pub fn read(path: &Path) -> anyhow::Result<Vec<ManifestRow>> {
    let df = read_parquet(path)?;
    let paths = required_strings(&df, "path")?;
    let splits = required_strings(&df, "split")?;
    let labels = required_strings(&df, "label")?;
    let patients = required_strings(&df, "patient_id")?;
    let subtypes = required_strings(&df, "subtype")?;
    let widths = u32s(&df, "width")?;
    let heights = u32s(&df, "height")?;
    let channels = u32s(&df, "channels")?;
    let depths = u32s(&df, "bit_depth")?;
    let bytes: Vec<u64> = df
        .column("bytes")?
        .u64()?
        .iter()
        .map(|v| v.unwrap_or(0))
        .collect();
    let hashes = required_strings(&df, "hash")?;
    let errors = strings(&df, "error")?;
    Ok((0..df.height())
        .map(|i| ManifestRow {
            path: paths[i].clone(),
            split: splits[i].clone(),
            label: labels[i].clone(),
            patient_id: patients[i].clone(),
            subtype: subtypes[i].clone(),
            width: widths[i],
            height: heights[i],
            channels: channels[i],
            bit_depth: depths[i],
            bytes: bytes[i],
            hash: hashes[i].clone(),
            error: errors[i].clone(),
        })
        .collect())
}
