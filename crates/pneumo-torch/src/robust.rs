//! Training's robustness options beyond augmentation: mixup (drawn on the host from the
//! seed and the iteration, like the batches, so a resumed run mixes what an uninterrupted
//! one would), label smoothing and the focal loss.

use tch::{Kind, Tensor};

use pneumo_contract::choices::Loss;
use pneumo_contract::train::TrainParams;
use pneumo_core::data::rng::SplitMix64;

use crate::batches::mix;

/// One batch's mixup: every image `j` becomes `lambda * x[j] + (1 - lambda) * x[perm[j]]`,
/// its target likewise.
#[derive(Debug, Clone, PartialEq)]
pub struct Mixup {
    pub lambda: f64,
    pub perm: Vec<i64>,
}

impl Mixup {
    /// Iteration `i`'s mixup of a batch of `n`, or `None` when `alpha` is 0.
    pub fn draw(alpha: f64, seed: u64, i: usize, n: usize) -> Option<Mixup> {
        if alpha <= 0.0 {
            return None;
        }
        let mut rng = SplitMix64::new(mix(seed, i as u64, 4));
        let (a, b) = (gamma(&mut rng, alpha), gamma(&mut rng, alpha));
        let lambda = if a + b > 0.0 { a / (a + b) } else { 0.5 };
        let mut perm: Vec<i64> = (0..n as i64).collect();
        rng.shuffle(&mut perm);
        Some(Mixup { lambda, perm })
    }

    /// `(x, y)` mixed; both on the same device, the batch in dimension 0.
    pub fn apply(&self, x: &Tensor, y: &Tensor) -> (Tensor, Tensor) {
        let perm = Tensor::from_slice(&self.perm).to_device(x.device());
        let l = self.lambda;
        (
            x * l + x.index_select(0, &perm) * (1.0 - l),
            y * l + y.index_select(0, &perm) * (1.0 - l),
        )
    }
}

/// A Gamma(`shape`, 1) draw (Marsaglia and Tsang; shapes below 1 through `G(a+1) U^(1/a)`).
fn gamma(rng: &mut SplitMix64, shape: f64) -> f64 {
    if shape < 1.0 {
        let u = rng.uniform().max(f64::MIN_POSITIVE);
        return gamma(rng, shape + 1.0) * u.powf(1.0 / shape);
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = normal(rng);
        let v = (1.0 + c * x).powi(3);
        if v <= 0.0 {
            continue;
        }
        let u = rng.uniform().max(f64::MIN_POSITIVE);
        if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

/// A standard normal draw (Box-Muller).
fn normal(rng: &mut SplitMix64) -> f64 {
    let u1 = rng.uniform().max(f64::MIN_POSITIVE);
    let u2 = rng.uniform();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// The training loss, mean over the batch: binary cross-entropy on the logits against
/// targets smoothed by `label_smoothing`, weighted by `pos_weight`, scaled by
/// `(1 - p_t)^focal_gamma` for the focal loss. Float32 throughout.
pub fn loss(p: &TrainParams, logits: &Tensor, y: &Tensor, pos_weight: &Tensor) -> Tensor {
    let e = p.label_smoothing;
    let target = if e > 0.0 {
        y * (1.0 - e) + e / 2.0
    } else {
        y.shallow_clone()
    };
    match p.loss {
        Loss::Bce => logits.binary_cross_entropy_with_logits::<&Tensor>(
            &target,
            None,
            Some(pos_weight),
            tch::Reduction::Mean,
        ),
        Loss::Focal => {
            let bce = logits.binary_cross_entropy_with_logits::<&Tensor>(
                &target,
                None,
                Some(pos_weight),
                tch::Reduction::None,
            );
            let prob = logits.sigmoid();
            let p_t = &prob * &target + (prob.neg() + 1.0) * (target.neg() + 1.0);
            ((p_t.neg() + 1.0).pow_tensor_scalar(p.focal_gamma) * bce).mean(Kind::Float)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> TrainParams {
        serde_json::from_value(serde_json::json!({})).unwrap()
    }

    #[test]
    fn mixup_is_a_function_of_seed_and_iteration() {
        let a = Mixup::draw(0.4, 7, 12, 32).unwrap();
        assert_eq!(Some(a.clone()), Mixup::draw(0.4, 7, 12, 32));
        assert_ne!(Some(a.clone()), Mixup::draw(0.4, 7, 13, 32));
        assert!((0.0..=1.0).contains(&a.lambda));
        let mut sorted = a.perm.clone();
        sorted.sort();
        assert_eq!(sorted, (0..32).collect::<Vec<i64>>());
        assert!(Mixup::draw(0.0, 7, 12, 32).is_none());
        // Beta(0.4, 0.4) is U-shaped with mean 1/2
        let ls: Vec<f64> = (0..4000)
            .map(|i| Mixup::draw(0.4, 1, i, 2).unwrap().lambda)
            .collect();
        let mean = ls.iter().sum::<f64>() / ls.len() as f64;
        let tails = ls.iter().filter(|l| **l < 0.1 || **l > 0.9).count() as f64 / 4000.0;
        assert!((mean - 0.5).abs() < 0.02, "mean {mean}");
        // P(lambda < 0.1 or > 0.9) for Beta(0.4, 0.4) is about 0.44
        assert!((0.38..0.50).contains(&tails), "tails {tails}");
    }

    #[test]
    fn mixup_mixes_images_and_targets_alike() {
        let m = Mixup {
            lambda: 0.25,
            perm: vec![1, 0],
        };
        let x = Tensor::from_slice(&[0.0f32, 4.0]).view([2, 1]);
        let y = Tensor::from_slice(&[0.0f32, 1.0]).view([2, 1]);
        let (xm, ym) = m.apply(&x, &y);
        assert_eq!(Vec::<f32>::try_from(xm.flatten(0, -1)).unwrap(), [3.0, 1.0]);
        assert_eq!(
            Vec::<f32>::try_from(ym.flatten(0, -1)).unwrap(),
            [0.75, 0.25]
        );
    }

    #[test]
    fn smoothing_and_focal_loss_match_their_formulas() {
        let logits = Tensor::from_slice(&[2.0f32, -1.0, 0.5]).view([3, 1]);
        let y = Tensor::from_slice(&[1.0f32, 0.0, 0.0]).view([3, 1]);
        let w = Tensor::from_slice(&[0.5f32]);
        let sig = |z: f64| 1.0 / (1.0 + (-z).exp());
        let bce =
            |z: f64, t: f64, pw: f64| -(pw * t * sig(z).ln() + (1.0 - t) * (1.0 - sig(z)).ln());
        let zs = [2.0, -1.0, 0.5];
        let ys = [1.0, 0.0, 0.0];

        let mut p = params();
        p.label_smoothing = 0.1;
        let got = loss(&p, &logits, &y, &w).double_value(&[]);
        let want: f64 = zs
            .iter()
            .zip(ys)
            .map(|(z, t)| bce(*z, t * 0.9 + 0.05, 0.5))
            .sum::<f64>()
            / 3.0;
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");

        let mut p = params();
        p.loss = Loss::Focal;
        p.focal_gamma = 2.0;
        let got = loss(&p, &logits, &y, &w).double_value(&[]);
        let want: f64 = zs
            .iter()
            .zip(ys)
            .map(|(z, t)| {
                let pt = if t == 1.0 { sig(*z) } else { 1.0 - sig(*z) };
                (1.0 - pt).powi(2) * bce(*z, t, 0.5)
            })
            .sum::<f64>()
            / 3.0;
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        // gamma 0 is plain BCE
        p.focal_gamma = 0.0;
        let plain = loss(&params(), &logits, &y, &w).double_value(&[]);
        assert!((loss(&p, &logits, &y, &w).double_value(&[]) - plain).abs() < 1e-6);
    }
}
