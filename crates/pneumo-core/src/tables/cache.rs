//! `preprocess`'s `images.parquet` and `meta.json`, written and read here (the types:
//! [`pneumo_contract::preprocess`]).

use fs_err as fs;
use std::path::Path;

use anyhow::Context;
use polars::prelude::*;

use pneumo_contract::preprocess::{CacheMeta, CachedImage, IMAGES, INDEX, META};

use crate::data::manifest::ManifestRow;
use crate::data::table::{read_parquet, required_strings, required_words, write_parquet};

/// Writes `images.parquet`: one row per cached image, in `images.u8` order.
pub fn write_index(path: &Path, rows: &[ManifestRow]) -> anyhow::Result<()> {
    let col = |name: &str, f: &dyn Fn(&ManifestRow) -> String| {
        Column::new(name.into(), rows.iter().map(f).collect::<Vec<String>>())
    };
    let mut df = DataFrame::new_infer_height(vec![
        Column::new("row".into(), (0..rows.len() as u32).collect::<Vec<u32>>()),
        col("path", &|r| r.path.clone()),
        col("split", &|r| r.split.clone()),
        col("label", &|r| r.label.clone()),
        col("patient_id", &|r| r.patient_id.clone()),
        col("subtype", &|r| r.subtype.clone()),
        col("hash", &|r| r.hash.clone()),
    ])?;
    write_parquet(path, &mut df)
}

/// The cache's meta.json.
pub fn read_meta(dir: &Path) -> anyhow::Result<CacheMeta> {
    pneumo_contract::load(&dir.join(META))
}

/// Reads a preprocess output folder: its metadata, rows and pixels.
pub fn read_cache(dir: &Path) -> anyhow::Result<(CacheMeta, Vec<CachedImage>, Vec<u8>)> {
    let meta = read_meta(dir)?;
    let df = read_parquet(&dir.join(INDEX))?;
    let paths = required_strings(&df, "path")?;
    let labels = required_words(&df, "label")
        .map_err(|e| e.context(format!("reading {}", dir.join(INDEX).display())))?;
    let rows = paths
        .into_iter()
        .zip(labels)
        .enumerate()
        .map(|(row, (path, label))| CachedImage { row, path, label })
        .collect::<Vec<_>>();
    let pixels = fs::read(dir.join(IMAGES))
        .with_context(|| format!("reading {}", dir.join(IMAGES).display()))?;
    let want = meta.count * meta.height as usize * meta.width as usize;
    if pixels.len() != want || rows.len() != meta.count {
        anyhow::bail!(
            "{}: {} bytes and {} rows, meta.json says {} images",
            dir.display(),
            pixels.len(),
            rows.len(),
            meta.count
        );
    }
    Ok((meta, rows, pixels))
}
