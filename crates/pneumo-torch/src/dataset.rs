//! The preprocess cache joined with a split: u8 pixels in memory, normalised batches on demand.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use tch::{Device, Kind, Tensor};

use pneumo_pipeline::stages::{preprocess, split};

use crate::resnet::channels_last;

/// Cached images by role, each with its row in the pixel buffer and its label (1 = pneumonia).
pub struct Dataset {
    pixels: Vec<u8>,
    pub side: i64,
    pub mean: [f64; 3],
    pub std: [f64; 3],
    pub roles: BTreeMap<String, Vec<(usize, f32)>>,
}

impl Dataset {
    /// Joins the cache with the split by image path; images the split leaves unused are dropped.
    pub fn load(cache_dir: &Path, split_dir: &Path) -> anyhow::Result<Dataset> {
        let (meta, rows, pixels) = preprocess::read_cache(cache_dir)?;
        let roles_by_path: BTreeMap<String, String> =
            split::read_roles(&split_dir.join(split::FILE))?
                .into_iter()
                .collect();
        let mut roles: BTreeMap<String, Vec<(usize, f32)>> = BTreeMap::new();
        for r in &rows {
            let role = roles_by_path
                .get(&r.path)
                .with_context(|| format!("{} is cached but not in the split", r.path))?;
            if role != "unused" {
                let y = if r.label == "PNEUMONIA" { 1.0 } else { 0.0 };
                roles.entry(role.clone()).or_default().push((r.row, y));
            }
        }
        Ok(Dataset {
            pixels,
            side: meta.height as i64,
            mean: meta.mean,
            std: meta.std,
            roles,
        })
    }

    pub fn role(&self, role: &str) -> &[(usize, f32)] {
        self.roles.get(role).map(Vec::as_slice).unwrap_or(&[])
    }

    /// `x`: `[B, 3, side, side]` float, normalised, channels-last strides; `y`: `[B, 1]`.
    pub fn batch(&self, items: &[(usize, f32)], device: Device) -> (Tensor, Tensor) {
        let n = (self.side * self.side) as usize;
        let mut buf = Vec::with_capacity(items.len() * n);
        for &(row, _) in items {
            buf.extend_from_slice(&self.pixels[row * n..(row + 1) * n]);
        }
        let b = items.len() as i64;
        let gray = Tensor::from_slice(&buf)
            .view([b, 1, self.side, self.side])
            .to_device(device)
            .to_kind(Kind::Float)
            / 255.0;
        let mean = Tensor::from_slice(&self.mean.map(|v| v as f32))
            .view([1, 3, 1, 1])
            .to_device(device);
        let std = Tensor::from_slice(&self.std.map(|v| v as f32))
            .view([1, 3, 1, 1])
            .to_device(device);
        let x = (gray.expand([b, 3, self.side, self.side], false) - mean) / std;
        let y: Vec<f32> = items.iter().map(|&(_, y)| y).collect();
        (
            channels_last(&x),
            Tensor::from_slice(&y).view([b, 1]).to_device(device),
        )
    }
}
