//! Recalibration fitted on validation: a monotone map `p' = sigmoid(a * logit(p) + b)` of the
//! network's probabilities. Temperature scaling fits `a = 1/T` with `b = 0` (Guo et al. 2017);
//! Platt scaling fits both. Both fit Platt's smoothed targets, `(N+ + 1) / (N+ + 2)` for a
//! positive and `1 / (N- + 2)` for a negative, rather than 0 and 1: on a validation set the
//! network separates perfectly (this dataset's often is), plain maximum likelihood sends `a`
//! to infinity and calls every score certain; the smoothed targets keep the fit finite and
//! say no more than `N` examples can. Monotone, so ROC AUC and the ranking are unchanged; what
//! changes is what a probability means, and so where a cost-based threshold falls.

pub use pneumo_contract::calibrator::{Calibrator, Method, logit, sigmoid};

/// Mean cross-entropy of `sigmoid(a z + b)` against the targets.
fn loss(z: &[f64], t: &[f64], a: f64, b: f64) -> f64 {
    z.iter()
        .zip(t)
        .map(|(&z, &t)| {
            let s = a * z + b;
            // log(1 + e^s) - t s, stable for large |s|
            let softplus = if s > 0.0 {
                s + (-s).exp().ln_1p()
            } else {
                s.exp().ln_1p()
            };
            softplus - t * s
        })
        .sum::<f64>()
        / z.len().max(1) as f64
}

fn targets(labels: &[f32]) -> Vec<f64> {
    let pos = labels.iter().filter(|&&y| y > 0.5).count() as f64;
    let neg = labels.len() as f64 - pos;
    let (hi, lo) = ((pos + 1.0) / (pos + 2.0), 1.0 / (neg + 2.0));
    labels
        .iter()
        .map(|&y| if y > 0.5 { hi } else { lo })
        .collect()
}

/// Fits `method` on (`probs`, `labels`) (validation).
pub fn fit(method: Method, probs: &[f32], labels: &[f32]) -> Calibrator {
    let z: Vec<f64> = probs.iter().map(|&p| logit(f64::from(p))).collect();
    let t = targets(labels);
    let (a, b) = match method {
        Method::Temperature => (golden(|u| loss(&z, &t, u.exp(), 0.0), -6.0, 6.0).exp(), 0.0),
        Method::Platt => newton(&z, &t),
    };
    Calibrator { method, a, b }
}

/// The minimum of a convex `f` on [lo, hi], by golden-section search.
fn golden(f: impl Fn(f64) -> f64, mut lo: f64, mut hi: f64) -> f64 {
    let r = (5f64.sqrt() - 1.0) / 2.0;
    let (mut x1, mut x2) = (hi - r * (hi - lo), lo + r * (hi - lo));
    let (mut f1, mut f2) = (f(x1), f(x2));
    for _ in 0..200 {
        if f1 <= f2 {
            hi = x2;
            (x2, f2) = (x1, f1);
            x1 = hi - r * (hi - lo);
            f1 = f(x1);
        } else {
            lo = x1;
            (x1, f1) = (x2, f2);
            x2 = lo + r * (hi - lo);
            f2 = f(x2);
        }
    }
    (lo + hi) / 2.0
}

/// Logistic regression of the targets on `z` (slope and intercept), by Newton's method with
/// step halving; the smoothed targets make the minimum finite.
fn newton(z: &[f64], t: &[f64]) -> (f64, f64) {
    let (mut a, mut b) = (1.0, 0.0);
    let mut current = loss(z, t, a, b);
    for _ in 0..100 {
        let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (&z, &t) in z.iter().zip(t) {
            let p = sigmoid(a * z + b);
            let w = (p * (1.0 - p)).max(1e-12);
            ga += (p - t) * z;
            gb += p - t;
            haa += w * z * z;
            hab += w * z;
            hbb += w;
        }
        let det = haa * hbb - hab * hab;
        if det.abs() < 1e-18 {
            break;
        }
        let (da, db) = ((hbb * ga - hab * gb) / det, (haa * gb - hab * ga) / det);
        let mut step = 1.0;
        let mut improved = false;
        while step > 1e-6 {
            let (na, nb) = (a - step * da, b - step * db);
            let l = loss(z, t, na, nb);
            if l <= current {
                (a, b, improved) = (na, nb, l < current - 1e-15);
                current = l;
                break;
            }
            step /= 2.0;
        }
        if !improved {
            break;
        }
    }
    (a, b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::rng::SplitMix64;

    /// Scores drawn from a known logistic model with slope 0.5 and intercept 1 on the logit.
    fn sample(n: usize) -> (Vec<f32>, Vec<f32>) {
        let mut rng = SplitMix64::new(7);
        let mut probs = Vec::new();
        let mut labels = Vec::new();
        for _ in 0..n {
            let z = rng.uniform() * 12.0 - 6.0;
            let truth = sigmoid(0.5 * z + 1.0);
            probs.push(sigmoid(z) as f32);
            labels.push(if rng.uniform() < truth { 1.0 } else { 0.0 });
        }
        (probs, labels)
    }

    #[test]
    fn platt_recovers_a_known_map_and_temperature_its_slope() {
        let (p, y) = sample(20_000);
        let c = fit(Method::Platt, &p, &y);
        assert!(
            (c.a - 0.5).abs() < 0.05 && (c.b - 1.0).abs() < 0.08,
            "{c:?}"
        );
        let t = fit(Method::Temperature, &p, &y);
        assert_eq!(t.b, 0.0);
        assert!(t.a > 0.2 && t.a < 0.8, "{t:?}");
        // monotone: the ranking, and so the AUC, is unchanged
        let mut last = 0.0;
        for i in 1..100 {
            let q = c.apply(f64::from(i) / 100.0);
            assert!(q > last);
            last = q;
        }
    }

    #[test]
    fn separable_validation_gives_a_finite_fit_that_does_not_claim_certainty() {
        let p = [0.01f32, 0.02, 0.05, 0.07, 0.6, 0.9, 0.95, 0.99];
        let y = [0.0f32, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0];
        for m in [Method::Temperature, Method::Platt] {
            let c = fit(m, &p, &y);
            assert!(c.a.is_finite() && c.b.is_finite() && c.a > 0.0, "{c:?}");
            // with 4 examples a side, nothing is called more certain than about 1/6 error
            assert!(c.apply(0.99) < 0.95, "{m:?}: {}", c.apply(0.99));
            assert!(c.apply(0.01) > 0.05, "{m:?}: {}", c.apply(0.01));
        }
    }
}
