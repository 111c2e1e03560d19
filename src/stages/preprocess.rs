//! `preprocess`: decode every usable image once, convert to grayscale, resize, and write
//! one u8 tensor file the trainer reads without decoding JPEGs again.
//!
//! Output: `images.u8` (`[N, H, W]` u8, row-major), `images.parquet` (row order, path,
//! split, label, patient, subtype, hash) and `meta.json` (shape, normalisation).

use fs_err::{self as fs, File};
use std::io::{BufWriter, Write};

use anyhow::Context;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

pub use crate::contract::preprocess::{
    CacheMeta, CachedImage, IMAGENET_MEAN, IMAGENET_STD, IMAGES, INDEX, META,
};
use crate::data::equalize::{self, Equalization, Method};
use crate::data::manifest::{self, ManifestRow};
use crate::data::resize::resize;
use crate::data::scaled::{self, Decode};
use crate::pipeline::stage::{Choice, StageContext, TypedStage};
use crate::stages::Index;
use crate::stages::index::{BadFile, IndexSummary, SUMMARY};
use crate::tables::cache::write_index;
pub use crate::tables::cache::{read_cache, read_meta};

/// ImageNet statistics, the write-up's normalisation.

#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
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

/// Images decoded per parallel batch: bounds memory on full-size originals.
const BATCH: usize = 256;

pub struct Preprocess;

impl TypedStage for Preprocess {
    type Params = PreprocessParams;
    const KIND: &'static str = "preprocess";

    // 2: meta.json names the dataset folder (Grad-CAM draws on the original films); 3: a
    // file whose pixels fail to decode is a rejected row in meta.json, not a failed run;
    // 4: meta.json carries its format (crate::contract::preprocess)
    const VERSION: u32 = 4;

    const UPSTREAMS: &'static [&'static str] = &[Index::KIND];

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
        let index_dir = ctx.upstream_of::<Index>()?;
        let summary: IndexSummary = crate::contract::load(&index_dir.join(SUMMARY))?;
        let root = ctx.workspace.join(&summary.data);
        let rows: Vec<ManifestRow> = manifest::read(&index_dir.join(manifest::FILE))?
            .into_iter()
            .filter(|r| r.error.is_none())
            .collect();
        let side = p.size;
        let equalize = p.equalization();
        scaled::ready(p.decode).map_err(anyhow::Error::msg)?;
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
                    let gray = match scaled::gray(p.decode, &bytes, u64::MAX, side) {
                        Ok(gray) => gray,
                        Err(e) => {
                            bar.inc(1);
                            return Ok(Err(e.to_string()));
                        }
                    };
                    let mut px = resize(&gray, side, side)
                        .map_err(|e| anyhow::anyhow!("resizing {}: {e}", file.display()))?;
                    if let Some(eq) = &equalize {
                        equalize::apply(eq, &mut px, side as usize, side as usize);
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
            format: crate::contract::preprocess::FORMAT,
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
        crate::contract::save(&ctx.out_dir.join(META), &meta)?;
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
