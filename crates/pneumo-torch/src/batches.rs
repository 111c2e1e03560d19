//! Which images and which augmentation each training iteration gets: pure functions of the
//! seed and the iteration, so a resumed run draws exactly the batches an uninterrupted one
//! would.

use pneumo_contract::choices;
use pneumo_contract::{augment::Augment, train::TrainParams};
use pneumo_core::data::rng::SplitMix64;

use crate::augment::{Augmentation, Elastic};

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
        if a.perspective > 0.0 {
            // each corner of [-1, 1]^2 moved by up to `perspective` of the side (2 units)
            let moved =
                CORNERS.map(|(x, y)| (x + sym(2.0 * a.perspective), y + sym(2.0 * a.perspective)));
            out.homography
                .extend(homography(CORNERS, moved).map(|v| v as f32));
        }
    }
    if a.elastic > 0.0 {
        // its own stream: the field is drawn per pixel, once the side is known
        out.elastic = Some(Elastic {
            alpha: a.elastic as f32,
            sigma: a.elastic_sigma as f32,
            seed: mix(seed, i as u64, 6),
        });
    }
    Some(out)
}

/// The corners of the sampling square, in grid coordinates.
const CORNERS: [(f64, f64); 4] = [(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)];

/// The projective map taking each point of `from` to the same-numbered point of `to`, as a
/// row-major 3x3 matrix with its last entry 1: the four-point direct linear transform, an
/// 8x8 system solved by Gaussian elimination with partial pivoting.
pub(crate) fn homography(from: [(f64, f64); 4], to: [(f64, f64); 4]) -> [f64; 9] {
    // rows: x' (g x + h y + 1) = a x + b y + c, and the same for y'
    let mut m = [[0.0f64; 9]; 8];
    for (k, (&(x, y), &(u, v))) in from.iter().zip(&to).enumerate() {
        m[2 * k] = [x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y, u];
        m[2 * k + 1] = [0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y, v];
    }
    for col in 0..8 {
        let pivot = (col..8)
            .max_by(|&a, &b| m[a][col].abs().total_cmp(&m[b][col].abs()))
            .expect("rows left");
        m.swap(col, pivot);
        let p = m[col];
        for (r, row) in m.iter_mut().enumerate() {
            if r != col {
                let f = row[col] / p[col];
                for (x, pc) in row[col..].iter_mut().zip(&p[col..]) {
                    *x -= f * pc;
                }
            }
        }
    }
    let h: Vec<f64> = (0..8).map(|i| m[i][8] / m[i][i]).collect();
    [h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], 1.0]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(h: &[f64; 9], (x, y): (f64, f64)) -> (f64, f64) {
        let w = h[6] * x + h[7] * y + h[8];
        (
            (h[0] * x + h[1] * y + h[2]) / w,
            (h[3] * x + h[4] * y + h[5]) / w,
        )
    }

    #[test]
    fn the_homography_moves_each_corner_where_it_was_drawn_and_unmoved_is_the_identity() {
        let to = [(-0.9, -1.05), (1.1, -0.95), (0.92, 1.0), (-1.08, 0.9)];
        let h = homography(CORNERS, to);
        for (c, t) in CORNERS.iter().zip(&to) {
            let p = project(&h, *c);
            assert!(
                (p.0 - t.0).abs() < 1e-12 && (p.1 - t.1).abs() < 1e-12,
                "{c:?} -> {p:?}"
            );
        }
        // straight lines stay straight: the centre goes to the crossing of the diagonals
        let id = homography(CORNERS, CORNERS);
        for (a, b) in id.iter().zip([1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]) {
            assert!((a - b).abs() < 1e-15);
        }
    }

    #[test]
    fn perspective_draws_after_every_older_option() {
        let older = Augment {
            rotate: 5.0,
            crop: 0.7,
            noise: 0.05,
            ..Default::default()
        };
        let newer = Augment {
            perspective: 0.05,
            ..older.clone()
        };
        let (a, b) = (
            augmentation(&older, 3, 7, 4).unwrap(),
            augmentation(&newer, 3, 7, 4).unwrap(),
        );
        // the first image's draws are unchanged; later images shift (one stream per batch)
        assert_eq!(a.theta[..6], b.theta[..6]);
        assert!(a.homography.is_empty());
        assert_eq!(b.homography.len(), 4 * 9);
    }

    #[test]
    fn elastic_draws_from_its_own_stream() {
        let older = Augment {
            rotate: 5.0,
            perspective: 0.05,
            ..Default::default()
        };
        let newer = Augment {
            elastic: 30.0,
            ..older.clone()
        };
        let (a, b) = (
            augmentation(&older, 3, 7, 4).unwrap(),
            augmentation(&newer, 3, 7, 4).unwrap(),
        );
        assert_eq!((&a.theta, &a.homography), (&b.theta, &b.homography));
        let e = b.elastic.expect("on");
        assert_eq!((e.alpha, e.sigma), (30.0, 5.0));
        let next = augmentation(&newer, 3, 8, 4).unwrap().elastic.unwrap();
        assert_ne!(e.seed, next.seed, "a new field each iteration");
    }
}
