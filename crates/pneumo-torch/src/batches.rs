//! Which images and which augmentation each training iteration gets: pure functions of the
//! seed and the iteration, so a resumed run draws exactly the batches an uninterrupted one
//! would.

use pneumo_pipeline::data::rng::SplitMix64;
use pneumo_pipeline::stages::choices;
use pneumo_pipeline::stages::train::{Augment, TrainParams};

use crate::dataset::Augmentation;

/// Indices of the train role for iteration `i` (0-based): a function of the seed and `i`
/// alone, so a resumed run draws exactly the batches an uninterrupted one would.
pub(crate) struct Sampler<'a> {
    pub(crate) items: &'a [(usize, f32)],
    pub(crate) positives: Vec<(usize, f32)>,
    pub(crate) negatives: Vec<(usize, f32)>,
    pub(crate) batch: usize,
    pub(crate) seed: u64,
    pub(crate) balanced: bool,
    pub(crate) epoch_cache: Option<(usize, Vec<(usize, f32)>)>,
}

impl<'a> Sampler<'a> {
    pub(crate) fn new(items: &'a [(usize, f32)], p: &TrainParams) -> Self {
        Sampler {
            items,
            positives: items.iter().copied().filter(|x| x.1 >= 0.5).collect(),
            negatives: items.iter().copied().filter(|x| x.1 < 0.5).collect(),
            batch: p.batch_size.min(items.len()),
            seed: p.seed,
            balanced: p.sampler == choices::Sampler::Balanced,
            epoch_cache: None,
        }
    }

    pub(crate) fn per_epoch(&self) -> usize {
        (self.items.len() / self.batch).max(1)
    }

    pub(crate) fn batch(&mut self, i: usize) -> Vec<(usize, f32)> {
        if self.balanced && !self.positives.is_empty() && !self.negatives.is_empty() {
            let mut rng = SplitMix64::new(mix(self.seed, i as u64, 1));
            return (0..self.batch)
                .map(|_| {
                    let class = if rng.below(2) == 1 {
                        &self.positives
                    } else {
                        &self.negatives
                    };
                    class[rng.below(class.len() as u64) as usize]
                })
                .collect();
        }
        let (epoch, k) = (i / self.per_epoch(), i % self.per_epoch());
        if self.epoch_cache.as_ref().is_none_or(|(e, _)| *e != epoch) {
            let mut order = self.items.to_vec();
            SplitMix64::new(mix(self.seed, epoch as u64, 0)).shuffle(&mut order);
            self.epoch_cache = Some((epoch, order));
        }
        let order = &self.epoch_cache.as_ref().expect("just set").1;
        order[k * self.batch..(k + 1) * self.batch].to_vec()
    }
}

pub(crate) fn mix(seed: u64, a: u64, b: u64) -> u64 {
    let mut r = SplitMix64::new(seed ^ a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (b << 56));
    r.next_u64()
}

/// The augmentation of iteration `i`'s batch of `n`, or `None` when augmentation is off.
/// Options added later draw after the earlier ones, and only when set, so a recipe without
/// them draws what it always drew.
pub(crate) fn augmentation(a: &Augment, seed: u64, i: usize, n: usize) -> Option<Augmentation> {
    if a.is_off() {
        return None;
    }
    let mut rng = SplitMix64::new(mix(seed, i as u64, 2));
    let mut sym = |m: f64| (rng.uniform() * 2.0 - 1.0) * m;
    let mut out = Augmentation::default();
    for _ in 0..n {
        let angle = sym(a.rotate).to_radians();
        let zoom = 1.0 + sym(a.scale);
        let (tx, ty) = (sym(a.shift) * 2.0, sym(a.shift) * 2.0);
        let flip = if a.hflip && sym(1.0) > 0.0 { -1.0 } else { 1.0 };
        let (c, s) = (angle.cos() / zoom, angle.sin() / zoom);
        let mut theta = [c * flip, -s, tx, s * flip, c, ty];
        out.intensity
            .extend([(1.0 + sym(a.contrast)) as f32, sym(a.brightness) as f32]);
        if a.crop > 0.0 {
            // u in [-1, 1] -> area in [crop, 1], log aspect in +-ln(4/3), centre in the room left
            let area = a.crop + (1.0 - a.crop) * (sym(1.0) + 1.0) / 2.0;
            let ratio = sym((4.0f64 / 3.0).ln()).exp();
            let (w, h) = (
                (area * ratio).sqrt().min(1.0),
                (area / ratio).sqrt().min(1.0),
            );
            let (cx, cy) = (sym(1.0 - w), sym(1.0 - h));
            theta = [
                theta[0] * w,
                theta[1] * w,
                theta[2] * w + cx,
                theta[3] * h,
                theta[4] * h,
                theta[5] * h + cy,
            ];
        }
        out.theta.extend(theta.map(|v| v as f32));
        if a.gamma > 0.0 {
            out.gamma.push(sym(a.gamma).exp() as f32);
        }
        if a.blur > 0.0 {
            out.blur.push(((sym(1.0) + 1.0) / 2.0 * a.blur) as f32);
        }
        if a.noise > 0.0 {
            out.noise.push(((sym(1.0) + 1.0) / 2.0 * a.noise) as f32);
        }
    }
    Some(out)
}
