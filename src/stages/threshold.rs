//! How evaluate (and ensemble) choose the decision threshold, always on validation only:
//! a fixed number, Youden's J, a target sensitivity, or the minimum expected cost given
//! stated costs (and a stated prevalence) on calibrated probabilities; and how fragile the
//! chosen point is on validation.

use serde::{Deserialize, Serialize};

use crate::model::stats::ThresholdRule;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Threshold {
    Fixed(f64),
    Rule(String),
    Sensitivity {
        sensitivity: f64,
    },
    /// `{cost: {fn: 3, fp: 1}, prior: 0.6}`: the Bayes decision for these costs of a missed
    /// pneumonia and a false alarm, with PNEUMONIA's prevalence where the model is used
    /// (default: validation's). Meant for calibrated probabilities (`calibration:`).
    Cost {
        cost: Costs,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prior: Option<f64>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Costs {
    /// A missed pneumonia.
    #[serde(rename = "fn")]
    pub fn_: f64,
    /// A NORMAL film called pneumonia.
    pub fp: f64,
}

impl Default for Threshold {
    fn default() -> Self {
        Threshold::Fixed(0.5)
    }
}

impl Threshold {
    pub fn rule(&self) -> Result<ThresholdRule, String> {
        let positive = |x: f64| x.is_finite() && x > 0.0;
        match self {
            Threshold::Fixed(t) if (0.0..=1.0).contains(t) => Ok(ThresholdRule::Fixed(*t)),
            Threshold::Rule(r) if r == "youden" => Ok(ThresholdRule::Youden),
            Threshold::Sensitivity { sensitivity: s } if *s > 0.0 && *s <= 1.0 => {
                Ok(ThresholdRule::Sensitivity(*s))
            }
            Threshold::Cost { cost, prior }
                if positive(cost.fn_)
                    && positive(cost.fp)
                    && prior.is_none_or(|p| p > 0.0 && p < 1.0) =>
            {
                Ok(ThresholdRule::Cost {
                    fn_cost: cost.fn_,
                    fp_cost: cost.fp,
                    prior: *prior,
                })
            }
            other => Err(format!(
                "invalid value `threshold`: {other:?} (expected a number in [0, 1], `youden`, `{{sensitivity: 0.95}}`, or `{{cost: {{fn: 3, fp: 1}}}}` with an optional `prior` in (0, 1))"
            )),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Threshold::Fixed(t) => format!("fixed at {t}"),
            Threshold::Rule(_) => "Youden's J on validation".into(),
            Threshold::Sensitivity { sensitivity } => {
                format!("highest reaching sensitivity {sensitivity} on validation")
            }
            Threshold::Cost { cost, prior } => {
                let prior = match prior {
                    Some(p) => format!("PNEUMONIA prevalence {p}"),
                    None => "validation's PNEUMONIA prevalence".into(),
                };
                format!(
                    "minimum expected cost (a missed pneumonia costs {}, a false alarm {}; {prior})",
                    cost.fn_, cost.fp
                )
            }
        }
    }
}

/// How far the chosen threshold can move before any validation prediction changes, and how
/// crowded it is: a threshold that hugs one class's extreme tail (every validation NORMAL
/// below 0.072, threshold 0.074) will not survive a shift in that tail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fragility {
    /// Every threshold in (low, high] gives validation's predictions at the chosen one.
    pub low: f64,
    pub high: f64,
    /// Validation images scoring within [`NEAR`] of the threshold, by class.
    pub normal_near: usize,
    pub pneumonia_near: usize,
    /// The highest-scoring validation NORMAL and the lowest-scoring PNEUMONIA.
    #[serde(deserialize_with = "crate::model::defined::f64")]
    pub max_normal: f64,
    #[serde(deserialize_with = "crate::model::defined::f64")]
    pub min_pneumonia: f64,
}

/// "Near the threshold", in probability.
pub const NEAR: f64 = 0.05;

/// The fragility of threshold `t` on (`probs`, `labels`), positives at `p >= t`.
pub fn fragility(t: f64, probs: &[f32], labels: &[f32]) -> Fragility {
    let mut f = Fragility {
        low: 0.0,
        high: 1.0,
        normal_near: 0,
        pneumonia_near: 0,
        max_normal: f64::NAN,
        min_pneumonia: f64::NAN,
    };
    for (&score, &y) in probs.iter().zip(labels) {
        // the comparison evaluate classifies with
        let p = f64::from(score);
        if score < t as f32 {
            f.low = f.low.max(p);
        } else {
            f.high = f.high.min(p);
        }
        let near = (p - t).abs() <= NEAR;
        if y > 0.5 {
            f.pneumonia_near += usize::from(near);
            f.min_pneumonia = if f.min_pneumonia.is_nan() {
                p
            } else {
                f.min_pneumonia.min(p)
            };
        } else {
            f.normal_near += usize::from(near);
            f.max_normal = if f.max_normal.is_nan() {
                p
            } else {
                f.max_normal.max(p)
            };
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_threshold_hugging_the_normal_tail_shows_it() {
        let p = [0.01f32, 0.03, 0.072, 0.3, 0.9, 0.95];
        let y = [0.0f32, 0.0, 0.0, 1.0, 1.0, 1.0];
        let f = fragility(0.074, &p, &y);
        assert!(
            (f.low - 0.072).abs() < 1e-6 && (f.high - 0.3).abs() < 1e-6,
            "{f:?}"
        );
        assert_eq!((f.normal_near, f.pneumonia_near), (2, 0));
        assert!((f.max_normal - 0.072).abs() < 1e-6);
        assert!((f.min_pneumonia - 0.3).abs() < 1e-6);
    }

    #[test]
    fn a_cost_threshold_is_arithmetic_on_costs_and_the_prevalence_shift() {
        use crate::model::stats::choose_threshold;
        // validation: 3 PNEUMONIA of 4; the scores themselves play no part
        let y = [1.0f32, 1.0, 1.0, 0.0];
        let p = [0.9f32, 0.8, 0.2, 0.1];
        let rule = |fn_cost, prior| ThresholdRule::Cost {
            fn_cost,
            fp_cost: 1.0,
            prior,
        };
        // equal costs at validation's prevalence: 0.5; a missed pneumonia 3x as costly: 0.25
        assert!((choose_threshold(&rule(1.0, None), &p, &y) - 0.5).abs() < 1e-12);
        assert!((choose_threshold(&rule(3.0, None), &p, &y) - 0.25).abs() < 1e-12);
        // used where pneumonia is rarer (50% rather than 75%): the odds needed triple, 0.75
        assert!((choose_threshold(&rule(1.0, Some(0.5)), &p, &y) - 0.75).abs() < 1e-12);
    }

    #[test]
    fn costs_are_parsed_and_checked() {
        let t: Threshold = serde_yaml_ng::from_str("{cost: {fn: 3, fp: 1}, prior: 0.6}").unwrap();
        assert!(matches!(
            t.rule(),
            Ok(ThresholdRule::Cost { fn_cost, fp_cost, prior: Some(p) }) if fn_cost == 3.0 && fp_cost == 1.0 && p == 0.6
        ));
        let bad: Threshold = serde_yaml_ng::from_str("{cost: {fn: 0, fp: 1}}").unwrap();
        assert!(bad.rule().is_err());
        let bad: Threshold = serde_yaml_ng::from_str("{cost: {fn: 1, fp: 1}, prior: 1}").unwrap();
        assert!(bad.rule().is_err());
    }
}
