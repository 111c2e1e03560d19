//! The preprocess cache joined with a split: u8 pixels in memory, normalised batches on demand.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use tch::{Device, Kind, Tensor};

use pneumo_contract::split;
use pneumo_core::data::equalize::Equalization;
use pneumo_core::data::scaled::Decode;
use pneumo_core::tables::{cache, split as split_table};

use crate::augment::Augmentation;
use crate::net::channels_last;

/// Cached images by role, each with its row in the pixel buffer and its label (1 = pneumonia).
pub struct Dataset {
    pixels: Vec<u8>,
    pub side: i64,
    pub mean: [f64; 3],
    pub std: [f64; 3],
    /// The cache's per-image normalisation, which `predict` repeats on new files.
    pub equalize: Option<Equalization>,
    /// How the cache decoded its files, which `predict` repeats too.
    pub decode: Decode,
    pub roles: BTreeMap<String, Vec<(usize, f32)>>,
    /// Dataset-relative path of each cached row.
    pub paths: Vec<String>,
}

impl Dataset {
    /// Joins the cache with the split by image path; images the split leaves unused are dropped.
    pub fn load(cache_dir: &Path, split_dir: &Path) -> anyhow::Result<Dataset> {
        let (meta, rows, pixels) = cache::read_cache(cache_dir)?;
        let roles_by_path: BTreeMap<String, String> =
            split_table::read_roles(&split_dir.join(split::FILE))?
                .into_iter()
                .collect();
        let mut roles: BTreeMap<String, Vec<(usize, f32)>> = BTreeMap::new();
        for r in &rows {
            let role = roles_by_path
                .get(&r.path)
                .with_context(|| format!("{} is cached but not in the split", r.path))?;
            if role != "unused" {
                let y = r.label.target();
                roles.entry(role.clone()).or_default().push((r.row, y));
            }
        }
        Ok(Dataset {
            paths: {
                let mut paths = vec![String::new(); rows.len()];
                for r in &rows {
                    if let Some(p) = paths.get_mut(r.row) {
                        p.clone_from(&r.path);
                    }
                }
                paths
            },
            pixels,
            side: meta.height as i64,
            mean: meta.mean,
            std: meta.std,
            equalize: meta.equalize,
            decode: meta.decode,
            roles,
        })
    }

    /// A dataset holding no images, for preprocessing batches of new files.
    pub fn for_inference(side: i64, mean: [f64; 3], std: [f64; 3]) -> Dataset {
        Dataset {
            pixels: Vec::new(),
            side,
            mean,
            std,
            equalize: None,
            decode: Decode::Full,
            roles: BTreeMap::new(),
            paths: Vec::new(),
        }
    }

    /// The u8 pixels of cached row `row`.
    pub fn pixels(&self, row: usize) -> &[u8] {
        let n = (self.side * self.side) as usize;
        &self.pixels[row * n..(row + 1) * n]
    }

    pub fn role(&self, role: &str) -> &[(usize, f32)] {
        self.roles.get(role).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The u8 pixels and labels of `items`, gathered into one buffer (CPU only, so a loader
    /// thread can do it ahead of the network).
    pub fn gather(&self, items: &[(usize, f32)]) -> Host {
        Host {
            pixels: items
                .iter()
                .flat_map(|&(row, _)| self.pixels(row))
                .copied()
                .collect(),
            labels: items.iter().map(|&(_, y)| y).collect(),
        }
    }

    /// `x`: `[B, 3, side, side]` float, normalised, channels-last strides; `y`: `[B, 1]`.
    pub fn batch(&self, items: &[(usize, f32)], device: Device) -> (Tensor, Tensor) {
        self.tensors(&self.gather(items), device, None)
    }

    /// Tensors of a gathered batch on `device`, augmented when `augment` is given.
    pub fn tensors(
        &self,
        host: &Host,
        device: Device,
        augment: Option<&Augmentation>,
    ) -> (Tensor, Tensor) {
        let b = host.labels.len() as i64;
        let mut gray = Tensor::from_slice(&host.pixels)
            .view([b, 1, self.side, self.side])
            .to_device(device)
            .to_kind(Kind::Float)
            / 255.0;
        if let Some(a) = augment {
            gray = a.apply(&gray);
        }
        let mean = Tensor::from_slice(&self.mean.map(|v| v as f32))
            .view([1, 3, 1, 1])
            .to_device(device);
        let std = Tensor::from_slice(&self.std.map(|v| v as f32))
            .view([1, 3, 1, 1])
            .to_device(device);
        let x = (gray.expand([b, 3, self.side, self.side], false) - mean) / std;
        (
            channels_last(&x),
            Tensor::from_slice(&host.labels)
                .view([b, 1])
                .to_device(device),
        )
    }
}

/// A batch gathered on the host: `B * side * side` u8 pixels and `B` labels.
pub struct Host {
    pub pixels: Vec<u8>,
    pub labels: Vec<f32>,
}
