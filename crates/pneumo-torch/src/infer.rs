//! The trained network at work: scoring images, Grad-CAM maps and their measurements, and
//! `predict` on image files. Everything here is eval mode.

use fs_err as fs;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, bail};
use tch::Device;
use tch::nn::VarStore;

use pneumo_contract::card::FILE as MODEL;
use pneumo_contract::gradcam::{
    DeletionPoint, GradcamParams, GradcamSummary, Overlay, Regions, write_deletion,
};
use pneumo_contract::label::Outcome;
use pneumo_contract::predictions::Prediction;
use pneumo_contract::scores::{ScoreRow, write_scores};
use pneumo_core::data::decode::decode_gray;
use pneumo_core::data::rng::SplitMix64;
use pneumo_core::model::explain::{
    Quadrants, area, cell_orders, deletion_series, overlay, readable_overlay,
};
use pneumo_core::tables::predictions::read_predictions;

use crate::augment::Augmentation;
use crate::batches::mix;
use crate::dataset::{Dataset, Host};
use crate::gradcam::{grad_cam, upsample_normalised};
use crate::net::{self, Network, to_channels_last};
use crate::train::device;
use crate::weights;
pub use pneumo_contract::card::ModelCard as Card;

/// View `v` of test-time augmentation for `n` images: one gentle affine transform drawn from
/// (`seed`, `v`), the same for every image, intensity unchanged.
fn tta_view(seed: u64, v: usize, n: usize) -> Augmentation {
    let mut rng = SplitMix64::new(mix(seed, v as u64, 3));
    let mut sym = |m: f64| (rng.uniform() * 2.0 - 1.0) * m;
    let angle = sym(5.0).to_radians();
    let zoom = 1.0 + sym(0.05);
    let (tx, ty) = (sym(0.03) * 2.0, sym(0.03) * 2.0);
    let (c, s) = (angle.cos() / zoom, angle.sin() / zoom);
    let theta = [c, -s, tx, s, c, ty].map(|x| x as f32);
    Augmentation {
        theta: theta.repeat(n),
        intensity: [1.0f32, 0.0].repeat(n),
        ..Default::default()
    }
}

/// A trained network with its preprocessing and threshold.
pub struct Model {
    pub net: Box<dyn Network>,
    pub card: Card,
    pub device: Device,
    /// Whether probabilities are computed under bf16 autocast (the card's precision as
    /// resolved here); Grad-CAM maps never are.
    pub bf16: bool,
    _vs: VarStore,
}

impl Model {
    /// Loads `dir/model.json` and the weights it names.
    pub fn load(
        dir: &Path,
        device_choice: pneumo_contract::choices::Device,
    ) -> anyhow::Result<Model> {
        let card_path = dir.join(MODEL);
        let card = Card::load(&card_path)?;
        let device = device(device_choice)?;
        let mut vs = VarStore::new(device);
        let net = net::build(card.params.arch, &vs.root(), 1);
        to_channels_last(&vs);
        weights::load(&mut vs, &dir.join(&card.weights))?;
        let bf16 = card
            .precision
            .is_some_and(|p| crate::precision::resolve(p, device));
        Ok(Model {
            net,
            card,
            device,
            bf16,
            _vs: vs,
        })
    }

    /// Pneumonia probabilities of gathered images, one per image.
    /// With test-time augmentation in the card, the mean over the image and its views.
    pub fn probabilities(&self, ds: &Dataset, host: &Host) -> anyhow::Result<Vec<f32>> {
        let n = host.labels.len();
        let mut views: Vec<Option<Augmentation>> = vec![None];
        if let Some(t) = &self.card.tta {
            views.extend((1..=t.views).map(|v| Some(tta_view(t.seed, v, n))));
        }
        let probs = tch::no_grad(|| {
            let mut sum: Option<tch::Tensor> = None;
            for aug in &views {
                let (x, _) = ds.tensors(host, self.device, aug.as_ref());
                let logits = crate::precision::autocast_bf16(self.device, self.bf16, || {
                    self.net.forward_t(&x, false)
                });
                let p = logits.to_kind(tch::Kind::Float).sigmoid().flatten(0, -1);
                sum = Some(match sum {
                    None => p,
                    Some(s) => s + p,
                });
            }
            let mean = sum.expect("at least the image itself") / views.len() as f64;
            Vec::<f32>::try_from(mean.to_device(Device::Cpu))
        })
        .context("reading the network's probabilities")?;
        anyhow::ensure!(
            probs.len() == host.labels.len(),
            "the network gave {} probabilities for {} images",
            probs.len(),
            host.labels.len()
        );
        Ok(probs)
    }

    /// Normalised Grad-CAM maps at the input side, one `side * side` vector per image.
    pub fn cams(&self, ds: &Dataset, host: &Host) -> anyhow::Result<Vec<Vec<f32>>> {
        let (x, _) = ds.tensors(host, self.device, None);
        let cam = grad_cam(self.net.as_ref(), &x)?;
        let up = upsample_normalised(&cam, ds.side, ds.side).to_device(Device::Cpu);
        let n = host.labels.len();
        let flat = Vec::<f32>::try_from(up.flatten(0, -1))?;
        let per = flat.len() / n.max(1);
        Ok(flat.chunks(per).map(<[f32]>::to_vec).collect())
    }
}

/// Writes `probability,path` lines for every image of `roles`.
pub fn score(model: &Model, ds: &Dataset, roles: &[&str], out: &Path) -> anyhow::Result<usize> {
    let mut rows = Vec::new();
    for role in roles {
        if model.card.adabn {
            // transductive: this role's own images set the batch-norm statistics
            crate::adabn::adapt(model.net.as_ref(), ds, ds.role(role), model.device)?;
        }
        for chunk in ds.role(role).chunks(64) {
            let probs = model.probabilities(ds, &ds.gather(chunk))?;
            for (&(row, _), probability) in chunk.iter().zip(probs) {
                rows.push(ScoreRow {
                    path: ds.paths[row].clone(),
                    probability,
                });
            }
        }
    }
    write_scores(out, &rows)?;
    Ok(rows.len())
}

/// Pixels an original film may have to be drawn under its map (as `index`'s default limit).
pub(crate) const FILM_PIXELS: u64 = 64_000_000;

/// The map over the original film at a readable size; over the model's input (with a
/// warning) when the film cannot be read.
fn readable_or_small(film: &Path, input: &[u8], cam: &[f32], side: usize) -> image::RgbImage {
    let readable = fs::read(film)
        .map_err(|e| e.to_string())
        .and_then(|b| decode_gray(&b, FILM_PIXELS).map_err(|e| e.to_string()))
        .and_then(|(_, gray)| readable_overlay(&gray, cam, side));
    readable.unwrap_or_else(|e| {
        crate::say::warn(&format!(
            "gradcam: {} could not be read ({e}); its overlay is drawn at the model's {side} px",
            film.display()
        ));
        overlay(input, cam, side)
    })
}

/// Cells per side in the deletion test (16 px cells at 224 px; the CAM itself is 7 x 7).
pub const DELETION_GRID: usize = 14;

/// The gradcam stage: overlays, mean maps, region shares and the deletion test on `role`.
pub fn gradcam(
    model: &Model,
    ds: &Dataset,
    predictions: &Path,
    originals: &Path,
    p: &GradcamParams,
    out: &Path,
) -> anyhow::Result<GradcamSummary> {
    let preds: Vec<Prediction> = read_predictions(predictions)?
        .into_iter()
        .filter(|r| r.role == p.role.as_str())
        .collect();
    if preds.is_empty() {
        bail!(
            "role `{}` has no images to explain (the split left it empty; see split's counts.json): set `role:` of the gradcam stage to a role with images, such as `val`",
            p.role
        );
    }
    let row_of: BTreeMap<&str, usize> = ds
        .paths
        .iter()
        .enumerate()
        .map(|(i, path)| (path.as_str(), i))
        .collect();
    let side = ds.side as usize;
    let rows: Vec<(usize, f32)> = preds
        .iter()
        .map(|r| {
            row_of
                .get(r.path.as_str())
                .map(|&row| (row, r.label.target()))
                .with_context(|| format!("{} is predicted but not cached", r.path))
        })
        .collect::<anyhow::Result<_>>()?;

    // which images get an overlay: per outcome, a seeded draw
    let mut chosen: BTreeSet<usize> = BTreeSet::new();
    for outcome in Outcome::EACH {
        let mut idx: Vec<usize> = (0..preds.len())
            .filter(|&i| preds[i].outcome == outcome)
            .collect();
        SplitMix64::new(p.seed).shuffle(&mut idx);
        for &i in idx.iter().take(p.per_outcome) {
            chosen.insert(i);
        }
    }
    if model.card.adabn {
        // the statistics evaluate scored this role with: its images in the cache's order
        let mut role_order = rows.clone();
        role_order.sort_unstable_by_key(|r| r.0);
        crate::adabn::adapt(model.net.as_ref(), ds, &role_order, model.device)?;
    }
    let dir = out.join("gradcam");
    fs::create_dir_all(&dir)?;

    let mut sum_by_label: BTreeMap<String, (Vec<f64>, usize)> = BTreeMap::new();
    // group -> (sum of shares, images, all-zero maps)
    let mut by_outcome: BTreeMap<String, (Quadrants, usize, usize)> = BTreeMap::new();
    let mut by_label: BTreeMap<String, (Quadrants, usize, usize)> = BTreeMap::new();
    let mut overlays = Vec::new();
    let mut deletion_pool: Vec<(usize, Vec<f32>)> = Vec::new();
    // deletion test images: predicted pneumonia, seeded draw
    let mut positives: Vec<usize> = (0..preds.len())
        .filter(|&i| preds[i].prediction == 1)
        .collect();
    SplitMix64::new(p.seed ^ 0xde1e7e).shuffle(&mut positives);
    positives.truncate(p.deletion_images);
    positives.sort_unstable();

    for (start, chunk) in rows.chunks(32).enumerate().map(|(k, c)| (k * 32, c)) {
        let maps = model.cams(ds, &ds.gather(chunk))?;
        for (j, cam) in maps.into_iter().enumerate() {
            let i = start + j;
            let pr = &preds[i];
            let q = Quadrants::of(&cam, side);
            let empty = usize::from(cam.iter().all(|&c| c <= 0.0));
            for (map, key) in [
                (&mut by_outcome, pr.outcome.as_str()),
                (&mut by_label, pr.label.as_str()),
            ] {
                let e = map.entry(key.to_string()).or_default();
                e.0.add(&q);
                e.1 += 1;
                e.2 += empty;
            }
            let (sum, count) = sum_by_label
                .entry(pr.label.to_string())
                .or_insert_with(|| (vec![0.0; side * side], 0));
            for (s, &c) in sum.iter_mut().zip(&cam) {
                *s += f64::from(c);
            }
            *count += 1;
            if chosen.contains(&i) {
                let stem = Path::new(&pr.path)
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| format!("image{i}"));
                let file = format!("gradcam/{}-{stem}.png", pr.outcome);
                readable_or_small(&originals.join(&pr.path), ds.pixels(chunk[j].0), &cam, side)
                    .save(out.join(&file))
                    .with_context(|| format!("writing {file}"))?;
                overlays.push(Overlay {
                    file,
                    path: pr.path.clone(),
                    outcome: pr.outcome,
                    label: pr.label,
                    probability: pr.probability,
                    quadrants: q,
                });
            }
            if positives.binary_search(&i).is_ok() {
                deletion_pool.push((chunk[j].0, cam));
            }
        }
    }

    // mean maps, as little-endian f32 for the charts stage
    let mut mean_maps = BTreeMap::new();
    for (label, (sum, count)) in &sum_by_label {
        let mean: Vec<f32> = sum.iter().map(|&s| (s / *count as f64) as f32).collect();
        let file = format!("mean_cam_{label}.f32");
        let bytes: Vec<u8> = mean.iter().flat_map(|v| v.to_le_bytes()).collect();
        fs::write(out.join(&file), bytes)?;
        mean_maps.insert(label.clone(), (file, *count));
    }

    // deletion: probability as the most salient (or random) cells are blanked
    let steps = p.deletion_steps;
    let mut salient_sum = vec![0.0f64; steps + 1];
    let mut random_sum = vec![0.0f64; steps + 1];
    for (k, (row, cam)) in deletion_pool.iter().enumerate() {
        let gray = ds.pixels(*row);
        let fill = (gray.iter().map(|&g| u64::from(g)).sum::<u64>() / gray.len() as u64) as u8;
        let (salient, random) =
            cell_orders(cam, side, DELETION_GRID, p.seed.wrapping_add(k as u64));
        for (order, sums) in [(salient, &mut salient_sum), (random, &mut random_sum)] {
            let series = deletion_series(gray, &order, steps, fill);
            let host = Host {
                pixels: series,
                labels: vec![1.0; steps + 1],
            };
            for (s, prob) in sums.iter_mut().zip(model.probabilities(ds, &host)?) {
                *s += f64::from(prob);
            }
        }
    }
    let n_del = deletion_pool.len().max(1) as f64;
    let salient: Vec<f64> = salient_sum.iter().map(|s| s / n_del).collect();
    let random: Vec<f64> = random_sum.iter().map(|s| s / n_del).collect();
    let points: Vec<DeletionPoint> = (0..=steps)
        .map(|k| DeletionPoint {
            fraction_removed: k as f64 / steps as f64,
            salient_first: salient[k],
            random: random[k],
        })
        .collect();
    write_deletion(out, &points)?;

    let mean_q = |m: BTreeMap<String, (Quadrants, usize, usize)>| -> BTreeMap<String, Regions> {
        m.into_iter()
            .map(|(k, (q, n, empty))| {
                (
                    k,
                    Regions {
                        images: n,
                        empty,
                        shares: q.scaled(1.0 / (n - empty).max(1) as f64),
                    },
                )
            })
            .collect()
    };
    let summary = GradcamSummary {
        format: pneumo_contract::gradcam::FORMAT,
        role: p.role.to_string(),
        images: preds.len(),
        side: ds.side as usize,
        layer: model.card.params.arch.cam_layer().into(),
        by_outcome: mean_q(by_outcome),
        by_label: mean_q(by_label),
        mean_maps,
        overlays,
        deletion_images: deletion_pool.len(),
        deletion_steps: steps,
        deletion_grid: DELETION_GRID,
        deletion_auc_salient: area(&salient),
        deletion_start: salient.first().copied().unwrap_or(f64::NAN),
        deletion_end: salient.last().copied().unwrap_or(f64::NAN),
        deletion_auc_random: area(&random),
    };
    pneumo_contract::save(&out.join(pneumo_contract::gradcam::SUMMARY), &summary)?;
    Ok(summary)
}
