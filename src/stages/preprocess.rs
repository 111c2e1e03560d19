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

use crate::data::equalize::{Equalization, Method};
use crate::data::manifest::{self, ManifestRow};
use crate::data::resize::resize;
use crate::data::scaled::Decode;
use crate::data::table::write_parquet;
use crate::pipeline::stage::{Choice, StageContext, TypedStage};
use crate::stages::index::{BadFile, IndexSummary, SUMMARY};

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
    /// Per-image intensity normalisation after resizing: `none`, `histogram` (Pillow's
    /// `ImageOps.equalize`) or `clahe` (OpenCV's, with `clahe_clip` and `clahe_tiles`).
    /// Unset ones stay out of the stage's key, so older caches keep theirs.
    #[serde(default, skip_serializing_if = "Method::is_none")]
    pub equalize: Method,
    #[serde(default = "default_clip", skip_serializing_if = "is_default_clip")]
    pub clahe_clip: f64,
    #[serde(default = "default_tiles", skip_serializing_if = "is_default_tiles")]
    pub clahe_tiles: u32,
    /// `full` (Pillow's pixels) or `scaled` (JPEGs decoded at 1/2 to 1/8 size in the DCT
    /// domain, as Pillow's `draft`; needs libjpeg-turbo). `full` stays out of the key.
    #[serde(default, skip_serializing_if = "Decode::is_full")]
    pub decode: Decode,
}

fn default_clip() -> f64 {
    2.0
}
fn is_default_clip(v: &f64) -> bool {
    *v == default_clip()
}
fn default_tiles() -> u32 {
    8
}
fn is_default_tiles(v: &u32) -> bool {
    *v == default_tiles()
}

impl PreprocessParams {
    /// The normalisation these params ask for, if any.
    pub fn equalization(&self) -> Option<Equalization> {
        (!self.equalize.is_none()).then_some(Equalization {
            method: self.equalize,
            clip: self.clahe_clip,
            tiles: self.clahe_tiles,
        })
    }
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
    /// The per-image normalisation applied after resizing (absent: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equalize: Option<Equalization>,
    /// How files were decoded (absent: in full).
    #[serde(default, skip_serializing_if = "Decode::is_full")]
    pub decode: Decode,
    /// Files the index accepted whose pixels failed to decode: not cached, so in no role.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejected: Vec<BadFile>,
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

    // 2: meta.json names the dataset folder (Grad-CAM draws on the original films); 3: a
    // file whose pixels fail to decode is a rejected row in meta.json, not a failed run
    const VERSION: u32 = 3;

    const UPSTREAMS: &'static [&'static str] = &["index"];

    const CHOICES: &'static [Choice] = &[("equalize", Method::ALL), ("decode", Decode::ALL)];

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
        if p.clahe_clip.is_nan() || p.clahe_clip < 0.0 || p.clahe_clip > 256.0 {
            return Err(format!(
                "invalid value `clahe_clip`: {} (expected 0 to 256; 0 turns clipping off)",
                p.clahe_clip
            ));
        }
        if !(1..=64).contains(&p.clahe_tiles) || p.clahe_tiles > p.size {
            return Err(format!(
                "invalid value `clahe_tiles`: {} (expected 1 to 64, and at most `size`)",
                p.clahe_tiles
            ));
        }
        if p.equalize != Method::Clahe {
            // only CLAHE reads them: elsewhere they would re-run preprocess for nothing
            p.clahe_clip = default_clip();
            p.clahe_tiles = default_tiles();
        }
        Ok(())
    }

    fn run(&self, ctx: &StageContext<'_>, p: PreprocessParams) -> anyhow::Result<()> {
        let index_dir = ctx.upstream("index")?;
        let summary: IndexSummary =
            crate::contract::read_json(&index_dir.join(SUMMARY), "index summary")?;
        let root = ctx.workspace.join(&summary.data);
        let rows: Vec<ManifestRow> = manifest::read(&index_dir.join(manifest::FILE))?
            .into_iter()
            .filter(|r| r.error.is_none())
            .collect();
        let side = p.size;
        let equalize = p.equalization();
        p.decode.ready().map_err(anyhow::Error::msg)?;
        let bar = ctx.reporter.progress("preprocess", rows.len() as u64);
        let path = ctx.out_dir.join(IMAGES);
        let mut out = BufWriter::new(
            File::create(&path).with_context(|| format!("creating {}", path.display()))?,
        );
        let (mut sum, mut sum_sq) = (0u64, 0u64);
        let (mut cached, mut rejected) = (Vec::with_capacity(rows.len()), Vec::new());
        for chunk in rows.chunks(BATCH) {
            // Ok(Err(why)): the index passed its header but its pixels do not decode
            let pixels: Vec<Result<Vec<u8>, String>> = chunk
                .par_iter()
                .map(|r| {
                    let file = root.join(&r.path);
                    let bytes =
                        fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
                    let gray = match p.decode.gray(&bytes, u64::MAX, side) {
                        Ok(gray) => gray,
                        Err(e) => {
                            bar.inc(1);
                            return Ok(Err(e.to_string()));
                        }
                    };
                    let mut px = resize(&gray, side, side)
                        .map_err(|e| anyhow::anyhow!("resizing {}: {e}", file.display()))?;
                    if let Some(eq) = &equalize {
                        eq.apply(&mut px, side as usize, side as usize);
                    }
                    bar.inc(1);
                    Ok(Ok(px))
                })
                .collect::<anyhow::Result<_>>()?;
            for (row, px) in chunk.iter().zip(&pixels) {
                let px = match px {
                    Ok(px) => {
                        cached.push(row.clone());
                        px
                    }
                    Err(why) => {
                        rejected.push(BadFile {
                            path: row.path.clone(),
                            error: why.clone(),
                        });
                        continue;
                    }
                };
                out.write_all(px)?;
                for &v in px {
                    sum += v as u64;
                    sum_sq += (v as u64) * (v as u64);
                }
            }
        }
        out.flush()?;
        drop(bar);
        let rows = cached;
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
            equalize,
            decode: p.decode,
            rejected,
        };
        fs::write(ctx.out_dir.join(META), serde_json::to_vec_pretty(&meta)?)?;
        write_index(&ctx.out_dir.join(INDEX), &rows)?;
        for b in &meta.rejected {
            ctx.reporter.info(&format!(
                "preprocess: {} failed to decode and is left out of every role: {}",
                b.path, b.error
            ));
        }
        ctx.reporter.info(&format!(
            "preprocess: {} images at {side}x{side}{}{} ({:.1} MB), pixel mean {:.3}, std {:.3}",
            rows.len(),
            if p.decode.is_full() {
                ""
            } else {
                ", JPEGs decoded scaled"
            },
            equalize
                .map(|e| format!(", {}", e.describe()))
                .unwrap_or_default(),
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
