//! Augmentation applied on the device: each batch's affine (and perspective) warp, elastic
//! field, blur, gamma, contrast, brightness and noise, from parameters `batches.rs` drew on
//! the host.

use tch::{Device, Kind, Tensor};

use pneumo_core::data::rng::SplitMix64;

/// Per-image affine warps and intensity changes, drawn on the host from the run's seed.
#[derive(Debug, Clone, Default)]
pub struct Augmentation {
    /// `[B, 2, 3]` row-major: output -> input sampling coordinates in [-1, 1].
    pub theta: Vec<f32>,
    /// `[B, 2]`: contrast factor, brightness offset (in [0, 1] intensity units).
    pub intensity: Vec<f32>,
    /// `[B]` gamma exponents, or empty (none).
    pub gamma: Vec<f32>,
    /// `[B]` blur sigmas in pixels, or empty (none).
    pub blur: Vec<f32>,
    /// `[B]` noise standard deviations, or empty (none); the noise itself comes from
    /// libtorch's generator, which the training loop seeds per iteration.
    pub noise: Vec<f32>,
    /// `[B, 3, 3]` row-major projective maps applied to the output grid before `theta`, or
    /// empty (none).
    pub homography: Vec<f32>,
    /// An elastic displacement added to the sampling grid, or none.
    pub elastic: Option<Elastic>,
}

/// torchvision's `ElasticTransform`: per pixel and axis a uniform draw in +-1, smoothed by a
/// Gaussian of `sigma` pixels, times `alpha / side` grid units; drawn on the host from `seed`,
/// so the field is the same on every device and after a resume. The Gaussian is `blur`'s
/// (±3 sigma, edges replicated; torchvision takes ±4 sigma and reflects): the same spread
/// away from the border.
#[derive(Debug, Clone, Copy)]
pub struct Elastic {
    pub alpha: f32,
    pub sigma: f32,
    pub seed: u64,
}

impl Elastic {
    /// `[B, H, W, 2]` displacements in grid units, on `device`.
    fn field(&self, b: i64, h: i64, w: i64, device: Device) -> Tensor {
        let mut rng = SplitMix64::new(self.seed);
        let raw: Vec<f32> = (0..2 * b * h * w)
            .map(|_| (rng.uniform() * 2.0 - 1.0) as f32)
            .collect();
        let raw = Tensor::from_slice(&raw)
            .view([2 * b, 1, h, w])
            .to_device(device);
        let smooth = blur(&raw, &vec![self.sigma; 2 * b as usize]);
        (smooth * f64::from(self.alpha) / h as f64)
            .view([b, 2, h, w])
            .permute([0, 2, 3, 1])
    }
}

impl Augmentation {
    pub(crate) fn apply(&self, gray: &Tensor) -> Tensor {
        let size = gray.size();
        let (b, h, w) = (size[0], size[2], size[3]);
        let device = gray.device();
        let per_image = |v: &[f32]| Tensor::from_slice(v).view([b, 1, 1, 1]).to_device(device);
        let theta = Tensor::from_slice(&self.theta)
            .view([b, 2, 3])
            .to_device(device);
        let grid = if self.homography.is_empty() {
            Tensor::affine_grid_generator(&theta, &size, false)
        } else {
            // the output grid through the homography (divided by w), then through theta
            let identity = Tensor::from_slice(&[1f32, 0., 0., 0., 1., 0.])
                .view([1, 2, 3])
                .expand([b, 2, 3], false)
                .to_device(device);
            let base = Tensor::affine_grid_generator(&identity, &size, false).view([b, -1, 2]);
            let ones = base.ones_like().narrow(2, 0, 1);
            let hom = Tensor::from_slice(&self.homography)
                .view([b, 3, 3])
                .to_device(device);
            let p = Tensor::cat(&[&base, &ones], 2).bmm(&hom.transpose(1, 2)); // [B, HW, 3]
            let uv = p.narrow(2, 0, 2) / p.narrow(2, 2, 1);
            Tensor::cat(&[uv, ones], 2)
                .bmm(&theta.transpose(1, 2)) // [B, HW, 2]
                .view([b, h, w, 2])
        };
        let grid = match &self.elastic {
            None => grid,
            Some(e) => grid + e.field(b, h, w, device),
        };
        // bilinear, zeros outside (a black border, as on many films), align_corners false
        let mut x = gray.grid_sampler(&grid, 0, 0, false);
        if !self.blur.is_empty() {
            x = blur(&x, &self.blur);
        }
        if !self.gamma.is_empty() {
            x = x.clamp(0.0, 1.0).pow(&per_image(&self.gamma));
        }
        let ib = Tensor::from_slice(&self.intensity)
            .view([b, 2, 1, 1])
            .to_device(device);
        let contrast = ib.narrow(1, 0, 1);
        let brightness = ib.narrow(1, 1, 1);
        let mean = x.mean_dim(&[2i64, 3][..], true, Kind::Float);
        let mut x = (x - &mean) * contrast + mean + brightness;
        if !self.noise.is_empty() {
            x = &x + x.randn_like() * per_image(&self.noise);
        }
        x.clamp(0.0, 1.0)
    }
}

/// A separable Gaussian blur of `[B, 1, H, W]` with one sigma (pixels) per image; edges
/// replicated. Sigma 0 leaves an image as it is.
fn blur(x: &Tensor, sigmas: &[f32]) -> Tensor {
    let b = sigmas.len() as i64;
    let radius = (sigmas.iter().fold(0f32, |m, s| m.max(*s)) * 3.0)
        .ceil()
        .max(1.0) as i64;
    let k = 2 * radius + 1;
    let mut weights = Vec::with_capacity((b * k) as usize);
    for &s in sigmas {
        let row: Vec<f32> = (-radius..=radius)
            .map(|d| {
                if s <= 0.0 {
                    f32::from(d == 0)
                } else {
                    (-(d * d) as f32 / (2.0 * s * s)).exp()
                }
            })
            .collect();
        let total: f32 = row.iter().sum();
        weights.extend(row.iter().map(|w| w / total));
    }
    let w = Tensor::from_slice(&weights).to_device(x.device());
    let size = x.size();
    let (h, wd) = (size[2], size[3]);
    // the batch as channels of one image, so each gets its own kernel (groups = B)
    let x = x
        .view([1, b, h, wd])
        .replication_pad2d([radius, radius, radius, radius]);
    let x = x.conv2d(
        &w.view([b, 1, 1, k]),
        None::<Tensor>,
        [1, 1],
        [0, 0],
        [1, 1],
        b,
    );
    let x = x.conv2d(
        &w.view([b, 1, k, 1]),
        None::<Tensor>,
        [1, 1],
        [0, 0],
        [1, 1],
        b,
    );
    x.view([b, 1, h, wd])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_identity_homography_samples_as_the_affine_grid_alone() {
        let side = 16i64;
        let gray = (Tensor::arange(2 * side * side, (Kind::Float, Device::Cpu)) * 0.37)
            .sin()
            .abs()
            .view([2, 1, side, side]);
        let (c, s) = (0.3f32.cos(), 0.3f32.sin());
        let plain = Augmentation {
            theta: vec![c, -s, 0.1, s, c, -0.05, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
            intensity: vec![1.0, 0.0, 1.0, 0.0],
            ..Default::default()
        };
        let identity = Augmentation {
            homography: [1f32, 0., 0., 0., 1., 0., 0., 0., 1.].repeat(2),
            ..plain.clone()
        };
        let d = (plain.apply(&gray) - identity.apply(&gray))
            .abs()
            .max()
            .double_value(&[]);
        assert!(d < 1e-5, "{d}");
        // a real one moves pixels
        let tilted = Augmentation {
            homography: [1f32, 0., 0., 0., 1., 0., 0.2, -0.1, 1.].repeat(2),
            ..plain.clone()
        };
        let d = (plain.apply(&gray) - tilted.apply(&gray))
            .abs()
            .max()
            .double_value(&[]);
        assert!(d > 0.05, "{d}");
    }

    #[test]
    fn the_elastic_field_has_torchvisions_spread_and_is_a_function_of_its_seed() {
        let (alpha, sigma, side) = (50f32, 5f32, 96i64);
        let e = Elastic {
            alpha,
            sigma,
            seed: 11,
        };
        let f = e.field(4, side, side, Device::Cpu);
        assert_eq!(f.size(), [4, side, side, 2]);
        assert!(f.equal(&e.field(4, side, side, Device::Cpu)));
        let other = Elastic { seed: 12, ..e }.field(4, side, side, Device::Cpu);
        assert!(!f.equal(&other));
        // uniform(+-1) has variance 1/3; a unit-sum Gaussian keeps 1 / (4 pi sigma^2) of it
        // in 2-D, so the displacement's SD is alpha / side * sqrt(1/3) / (2 sigma sqrt(pi))
        // grid units, away from the replicated border
        let inner = f.narrow(1, 20, side - 40).narrow(2, 20, side - 40);
        let sd = inner.std(true).double_value(&[]);
        let want = f64::from(alpha) / side as f64 * (1.0f64 / 3.0).sqrt()
            / (2.0 * f64::from(sigma) * std::f64::consts::PI.sqrt());
        assert!((sd / want - 1.0).abs() < 0.15, "{sd} vs {want}");
    }

    #[test]
    fn an_elastic_warp_moves_pixels_and_zero_alpha_moves_none() {
        let side = 32i64;
        let gray = (Tensor::arange(side * side, (Kind::Float, Device::Cpu)) * 0.21)
            .sin()
            .abs()
            .view([1, 1, side, side]);
        let plain = Augmentation {
            theta: vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
            intensity: vec![1.0, 0.0],
            ..Default::default()
        };
        let warped = |alpha: f32| Augmentation {
            elastic: Some(Elastic {
                alpha,
                sigma: 3.0,
                seed: 5,
            }),
            ..plain.clone()
        };
        let diff = |a: &Augmentation| {
            (plain.apply(&gray) - a.apply(&gray))
                .abs()
                .max()
                .double_value(&[])
        };
        assert!(diff(&warped(0.0)) < 1e-6);
        assert!(diff(&warped(50.0)) > 0.05);
    }
}
