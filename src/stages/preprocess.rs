//! `preprocess`: decode every usable image once, convert to grayscale, resize, and write
//! one u8 tensor file the trainer reads without decoding JPEGs again.
//!
//! Output: `images.u8` (`[N, H, W]` u8, row-major), `images.parquet` (row order, path,
//! split, label, patient, subtype, hash) and `meta.json` (shape, normalisation).

use fs_err::{self as fs, File};
use std::io::{BufWriter, Write};

use anyhow::Context;
use polars::prelude::*;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::decode::decode_gray;
use crate::data::manifest::{self, ManifestRow};
use crate::data::resize::resize;
use crate::data::table::write_parquet;
use crate::pipeline::stage::{StageContext, TypedStage};
use crate::stages::index::{IndexSummary, SUMMARY};

/// ImageNet statistics, the write-up's normalisation.
pub const IMAGENET_MEAN: [f64; 3] = [0.485, 0.456, 0.406];
pub const IMAGENET_STD: [f64; 3] = [0.229, 0.224, 0.225];

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreprocessParams {
    /// Output side in pixels (square, aspect ratio not kept, as in the write-up).
    #[serde(default = "default_size")]
    pub size: u32,
    /// Per-channel mean applied at load time (the gray image is repeated to 3 channels).
    #[serde(default = "default_mean")]
    pub mean: [f64; 3],
    #[serde(default = "default_std")]
    pub std: [f64; 3],
}

fn default_size() -> u32 {
    224
}
fn default_mean() -> [f64; 3] {
    IMAGENET_MEAN
}
fn default_std() -> [f64; 3] {
    IMAGENET_STD
}

/// `meta.json`: everything a reader needs to turn `images.u8` into network input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheMeta {
    pub count: usize,
    pub height: u32,
    pub width: u32,
    pub dtype: String,
    pub layout: String,
    /// Normalisation to apply at load: `(x / 255 - mean[c]) / std[c]` per channel.
    pub mean: [f64; 3],
    pub std: [f64; 3],
    pub grayscale: String,
    pub resize: String,
    /// Mean and standard deviation of all cached pixels, scaled to [0, 1].
    pub pixel_mean: f64,
    pub pixel_std: f64,
    /// The dataset folder the images were read from, workspace-relative (the index's):
    /// where Grad-CAM finds the original films. Empty in caches written before version 2.
    #[serde(default)]
    pub data: String,
}

pub const IMAGES: &str = "images.u8";
pub const INDEX: &str = "images.parquet";
pub const META: &str = "meta.json";

/// Images decoded per parallel batch: bounds memory on full-size originals.
const BATCH: usize = 256;

pub struct Preprocess;

impl TypedStage for Preprocess {
    type Params = PreprocessParams;
    const KIND: &'static str = "preprocess";

    // 2: meta.json names the dataset folder (Grad-CAM draws on the original films)
    const VERSION: u32 = 2;

    const UPSTREAMS: &'static [&'static str] = &["index"];

    fn check(&self, p: &mut PreprocessParams) -> Result<(), String> {
        if !(8..=4096).contains(&p.size) {
            return Err(format!(
                "invalid value `size`: {} (expected 8 to 4096)",
                p.size
            ));
        }
        if p.std.iter().any(|x| *x <= 0.0) {
            return Err("invalid value `std`: every entry must be positive".into());
        }
        Ok(())
    }

    fn run(&self, ctx: &StageContext<'_>, p: PreprocessParams) -> anyhow::Result<()> {
        let index_dir = ctx.upstream("index")?;
        let summary: IndexSummary = serde_json::from_slice(
            &fs::read(index_dir.join(SUMMARY)).context("reading the index summary")?,
        )?;
        let root = ctx.workspace.join(&summary.data);
        let rows: Vec<ManifestRow> = manifest::read(&index_dir.join(manifest::FILE))?
            .into_iter()
            .filter(|r| r.error.is_none())
            .collect();
        let side = p.size;
        let bar = ctx.reporter.progress("preprocess", rows.len() as u64);
        let path = ctx.out_dir.join(IMAGES);
        let mut out = BufWriter::new(
            File::create(&path).with_context(|| format!("creating {}", path.display()))?,
        );
        let (mut sum, mut sum_sq) = (0u64, 0u64);
        for chunk in rows.chunks(BATCH) {
            let pixels: Vec<Vec<u8>> = chunk
                .par_iter()
                .map(|r| {
                    let file = root.join(&r.path);
                    let bytes =
                        fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
                    let (_, gray) = decode_gray(&bytes, u64::MAX)
                        .with_context(|| format!("decoding {}", file.display()))?;
                    let px = resize(&gray, side, side)
                        .map_err(|e| anyhow::anyhow!("resizing {}: {e}", file.display()))?;
                    bar.inc(1);
                    Ok(px)
                })
                .collect::<anyhow::Result<_>>()?;
            for px in &pixels {
                out.write_all(px)?;
                for &v in px {
                    sum += v as u64;
                    sum_sq += (v as u64) * (v as u64);
                }
            }
        }
        out.flush()?;
        drop(bar);
        let n = (rows.len() as u64 * side as u64 * side as u64).max(1) as f64;
        let mean = sum as f64 / n;
        let var = (sum_sq as f64 / n - mean * mean).max(0.0);
        let meta = CacheMeta {
            count: rows.len(),
            height: side,
            width: side,
            dtype: "u8".into(),
            layout: "NHW".into(),
            mean: p.mean,
            std: p.std,
            grayscale: "ITU-R 601-2 luma (Pillow convert(\"L\")); 16-bit scaled to 8".into(),
            resize: "bilinear, antialiased (Pillow resize(BILINEAR) / torchvision Resize)".into(),
            pixel_mean: mean / 255.0,
            pixel_std: var.sqrt() / 255.0,
            data: summary.data.clone(),
        };
        fs::write(ctx.out_dir.join(META), serde_json::to_vec_pretty(&meta)?)?;
        write_index(&ctx.out_dir.join(INDEX), &rows)?;
        ctx.reporter.info(&format!(
            "preprocess: {} images at {side}x{side} ({:.1} MB), pixel mean {:.3}, std {:.3}",
            rows.len(),
            n / 1e6,
            meta.pixel_mean,
            meta.pixel_std
        ));
        Ok(())
    }
}

fn write_index(path: &std::path::Path, rows: &[ManifestRow]) -> anyhow::Result<()> {
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

/// One cached image: its row in `images.u8` and what the index says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedImage {
    pub row: usize,
    pub path: String,
    pub label: String,
}

/// Reads a preprocess output folder: its metadata, rows and pixels.
/// The cache's meta.json.
pub fn read_meta(dir: &std::path::Path) -> anyhow::Result<CacheMeta> {
    crate::contract::read_json(&dir.join(META), "preprocess cache description")
}

pub fn read_cache(dir: &std::path::Path) -> anyhow::Result<(CacheMeta, Vec<CachedImage>, Vec<u8>)> {
    let meta = read_meta(dir)?;
    let df = crate::data::table::read_parquet(&dir.join(INDEX))?;
    let paths = crate::data::table::required_strings(&df, "path")?;
    let labels = crate::data::table::required_strings(&df, "label")?;
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
