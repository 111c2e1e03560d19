//! `calibrate`: how far evaluate's probabilities can be read as probabilities, per scored
//! role: a reliability table in bins of equal count (every bin measured, where equal-width bins
//! leave the middle of a well-separated model empty), each observed rate with its Wilson
//! interval, the ECE over those bins, and the calibration slope and intercept. Reads only
//! evaluate's predictions; runs no network.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::contract::calibrate::{
    Binning, CalibrationTable, FILE, FORMAT, ReliabilityBin, RoleCalibration,
};
use crate::contract::predictions::Prediction;
use crate::model::recalibrate::{self, Method};
use crate::model::stats::wilson;
use crate::pipeline::stage::{Choice, StageContext, TypedStage};
use crate::stages::Evaluate;
use crate::tables::predictions::read_predictions;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CalibrateParams {
    /// Bins per role (2 to 100).
    #[serde(default = "d_bins")]
    pub bins: usize,
    /// `quantile` (equal counts, the default) or `uniform` (equal widths).
    #[serde(default = "d_binning")]
    pub binning: Binning,
}

fn d_bins() -> usize {
    10
}
fn d_binning() -> Binning {
    Binning::Quantile
}

pub struct Calibrate;

impl TypedStage for Calibrate {
    type Params = CalibrateParams;
    const KIND: &'static str = "calibrate";
    const VERSION: u32 = 1;
    const UPSTREAMS: &'static [&'static str] = &[Evaluate::KIND];
    const USES_ALL_CORES: bool = false;
    const CHOICES: &'static [Choice] = &[("binning", Binning::ALL)];

    fn check(&self, p: &mut CalibrateParams) -> Result<(), String> {
        if !(2..=100).contains(&p.bins) {
            return Err(format!(
                "invalid value `bins`: {}, must be 2 to 100",
                p.bins
            ));
        }
        Ok(())
    }

    fn run(&self, ctx: &StageContext<'_>, p: CalibrateParams) -> anyhow::Result<()> {
        let preds = read_predictions(ctx.upstream_of::<Evaluate>()?)?;
        let table = table(&preds, &p);
        crate::contract::save(&ctx.out_dir.join(FILE), &table)?;
        for (role, r) in &table.roles {
            ctx.reporter.info(&format!(
                "calibrate: {role} ({} images): ECE {:.3} over {} {} bins, slope {:.2}, intercept {:.2}",
                r.n,
                r.ece,
                r.bins.len(),
                binning_words(p.binning),
                r.slope,
                r.intercept
            ));
        }
        Ok(())
    }
}

/// How the log names the binning.
pub fn binning_words(b: Binning) -> &'static str {
    match b {
        Binning::Quantile => "equal-count",
        Binning::Uniform => "equal-width",
    }
}

/// The table of every role in `preds`.
pub fn table(preds: &[Prediction], p: &CalibrateParams) -> CalibrationTable {
    let mut by_role: BTreeMap<&str, Vec<(f32, f32)>> = BTreeMap::new();
    for r in preds {
        by_role
            .entry(r.role.as_str())
            .or_default()
            .push((r.probability as f32, r.label.target()));
    }
    let roles = by_role
        .into_iter()
        .map(|(role, mut scored)| {
            scored.sort_by(|a, b| a.0.total_cmp(&b.0));
            (role.to_string(), of_role(&scored, p))
        })
        .collect();
    CalibrationTable {
        format: FORMAT,
        binning: p.binning,
        roles,
    }
}

/// `scored`: (probability, target) sorted by probability.
fn of_role(scored: &[(f32, f32)], p: &CalibrateParams) -> RoleCalibration {
    let n = scored.len();
    let (probs, labels): (Vec<f32>, Vec<f32>) = scored.iter().copied().unzip();
    let bin = |lower: f64, upper: f64, part: &[(f32, f32)]| {
        let count = part.len();
        let positives = part.iter().filter(|(_, y)| *y >= 0.5).count();
        let mean = part.iter().map(|(q, _)| f64::from(*q)).sum::<f64>() / count.max(1) as f64;
        ReliabilityBin {
            lower,
            upper,
            count,
            mean_probability: if count == 0 { f64::NAN } else { mean },
            observed: if count == 0 {
                f64::NAN
            } else {
                positives as f64 / count as f64
            },
            ci: wilson(positives, count),
        }
    };
    let bins: Vec<ReliabilityBin> = match p.binning {
        Binning::Quantile => {
            let k = p.bins.min(n.max(1));
            (0..k)
                .map(|b| &scored[b * n / k..(b + 1) * n / k])
                .filter(|part| !part.is_empty())
                .map(|part| {
                    bin(
                        f64::from(part[0].0),
                        f64::from(part[part.len() - 1].0),
                        part,
                    )
                })
                .collect()
        }
        Binning::Uniform => {
            // each film in bin floor(p * bins), the last one closed at 1, as the charts'
            let mut parts: Vec<Vec<(f32, f32)>> = vec![Vec::new(); p.bins];
            for &(q, y) in scored {
                parts[((f64::from(q) * p.bins as f64) as usize).min(p.bins - 1)].push((q, y));
            }
            parts
                .iter()
                .enumerate()
                .map(|(i, part)| {
                    let width = 1.0 / p.bins as f64;
                    bin(i as f64 * width, (i + 1) as f64 * width, part)
                })
                .collect()
        }
    };
    let ece = bins
        .iter()
        .filter(|b| b.count > 0)
        .map(|b| b.count as f64 / n.max(1) as f64 * (b.observed - b.mean_probability).abs())
        .sum();
    let fit = (n > 0).then(|| recalibrate::fit(Method::Platt, &probs, &labels));
    RoleCalibration {
        n,
        ece,
        slope: fit.map_or(f64::NAN, |c| c.a),
        intercept: fit.map_or(f64::NAN, |c| c.b),
        bins,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::label::{Label, Outcome};

    fn pred(role: &str, label: Label, probability: f64) -> Prediction {
        Prediction {
            path: format!("{role}/{label}/{probability}.jpeg"),
            role: role.into(),
            patient_id: "p".into(),
            label,
            subtype: String::new(),
            probability,
            prediction: u8::from(probability >= 0.5),
            outcome: Outcome::of(probability >= 0.5, label),
        }
    }

    #[test]
    fn equal_count_bins_hold_every_film_and_measure_each_bin() {
        // 20 films: probabilities 0.025..0.975, pneumonia exactly when p > 0.5
        let preds: Vec<Prediction> = (0..20)
            .map(|i| {
                let p = (f64::from(i) + 0.5) / 20.0;
                pred(
                    "val",
                    if p > 0.5 {
                        Label::Pneumonia
                    } else {
                        Label::Normal
                    },
                    p,
                )
            })
            .collect();
        let p = CalibrateParams {
            bins: 4,
            binning: Binning::Quantile,
        };
        let t = table(&preds, &p);
        let r = &t.roles["val"];
        assert_eq!(r.n, 20);
        assert_eq!(r.bins.iter().map(|b| b.count).collect::<Vec<_>>(), [5; 4]);
        assert_eq!(
            r.bins.iter().map(|b| b.observed).collect::<Vec<_>>(),
            [0.0, 0.0, 1.0, 1.0]
        );
        assert!((r.bins[0].lower - 0.025).abs() < 1e-6 && (r.bins[3].upper - 0.975).abs() < 1e-6);
        // separable: a steep but finite slope (Platt's targets keep the fit finite)
        assert!(r.slope.is_finite() && r.slope > 1.0, "{}", r.slope);
        let (lo, hi) = r.bins[2].ci;
        assert!(lo > 0.4 && hi == 1.0, "{lo} {hi}");

        let uniform = table(
            &preds,
            &CalibrateParams {
                bins: 10,
                binning: Binning::Uniform,
            },
        );
        let u = &uniform.roles["val"];
        assert_eq!(u.bins.len(), 10);
        assert_eq!(u.bins.iter().map(|b| b.count).sum::<usize>(), 20);
    }

    #[test]
    fn a_role_is_its_own_table() {
        let preds = vec![
            pred("val", Label::Normal, 0.1),
            pred("val", Label::Pneumonia, 0.9),
            pred("test", Label::Pneumonia, 0.2),
        ];
        let t = table(
            &preds,
            &CalibrateParams {
                bins: 10,
                binning: Binning::Quantile,
            },
        );
        assert_eq!(t.roles.keys().collect::<Vec<_>>(), ["test", "val"]);
        assert_eq!(t.roles["test"].bins.len(), 1, "no more bins than films");
        assert!((t.roles["test"].ece - 0.8).abs() < 1e-6);
    }
}
