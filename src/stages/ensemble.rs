//! `ensemble`: combines the scores of several evaluate stages (a matrix of seeds, say) into
//! one model's scores, chooses the threshold on validation with evaluate's rules, and writes
//! evaluate's files (`metrics.json`, predictions), so its numbers read like any model's.
//! It needs every member of an evaluate matrix (`Stage::combines`).

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use super::aggregate::{self, RoleSummary};
use super::charts;
use super::evaluate::{self, EvaluateParams, METRICS, Metrics, Threshold, read_predictions};
use super::split;
use crate::contract::choices::{Checkpoint, Combine, Device};
use crate::contract::{load, save};
use crate::model::recalibrate::Method;
use crate::pipeline::stage::{Choice, StageContext, TypedStage};
use crate::stages::{Evaluate, Split};
use crate::tables::predictions::write_predictions;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnsembleParams {
    /// `probability` (mean of the members' probabilities) or `logit`.
    #[serde(default = "d_combine")]
    pub combine: Combine,
    /// As evaluate's: a number, `youden` or `{sensitivity: x}`, chosen on validation only.
    #[serde(default)]
    pub threshold: Threshold,
    #[serde(default = "d_bootstrap")]
    pub bootstrap: usize,
    #[serde(default)]
    pub seed: u64,
    /// As evaluate's: recalibration of the combined probabilities, fitted on validation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Method>,
}

fn d_combine() -> Combine {
    Combine::Probability
}
fn d_bootstrap() -> usize {
    2000
}

/// The members' metrics, their mean ± SD and range, and the ensemble's ([`aggregate`]).
pub const SUMMARY_JSON: &str = "summary.json";
pub const SUMMARY_MD: &str = "summary.md";

/// The forest plot of one role's members and ensemble: `members-val.png`, `members-test.png`.
pub fn forest_png(role: &str) -> String {
    format!("members-{role}.png")
}

/// members.json: which evaluate stages were combined, and how.
pub const MEMBERS: &str = "members.json";

/// members.json (for people and other tools; nothing here reads it back).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Members {
    pub format: u32,
    pub combine: Combine,
    pub members: Vec<String>,
}

/// The ensemble's summary.json: the members' and the ensemble's figures per role, which the
/// report's seeds section shows. 2: an object with `format` and `roles`; 1: a bare array.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnsembleSummary {
    pub format: u32,
    pub roles: Vec<RoleSummary>,
}

/// The format of members.json and summary.json.
pub const FORMAT: u32 = 2;

crate::contract::versioned!(Members, "ensemble members file", FORMAT);
crate::contract::versioned!(EnsembleSummary, "ensemble summary", FORMAT);

pub struct Ensemble;

impl TypedStage for Ensemble {
    type Params = EnsembleParams;
    const USES_ALL_CORES: bool = false;
    const KIND: &'static str = "ensemble";
    // 2: summary.json / summary.md (members, mean ± SD, range)
    // 3: intervals in the summary, and a forest plot of members and ensemble per role
    // 4: evaluate's threshold fragility and recalibration in metrics.json
    // 5: transductive when a member is (evaluate's `adabn`); 6: metrics.json, members.json
    // and summary.json carry their format (summary.json an object)
    const VERSION: u32 = 6;
    const UPSTREAMS: &'static [&'static str] = &[Split::KIND, Evaluate::KIND];
    const COMBINES: &'static [&'static str] = &[Evaluate::KIND];
    const METRICS_FILE: Option<&'static str> = Some(METRICS);
    const CHOICES: &'static [Choice] = &[("combine", Combine::ALL), ("calibration", Method::ALL)];

    fn check(&self, p: &mut EnsembleParams) -> Result<(), String> {
        p.threshold.rule().map(|_| ())
    }

    fn run(&self, ctx: &StageContext<'_>, p: EnsembleParams) -> anyhow::Result<()> {
        let members = ctx.upstreams_of(Evaluate::KIND);
        if members.is_empty() {
            bail!("stage `{}` combines no evaluate stage", ctx.name);
        }
        let mut per_path: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        let mut member_metrics = Vec::new();
        for m in &members {
            let path = m.dir.join(METRICS);
            member_metrics.push((m.name.to_string(), load::<Metrics>(&path)?));
            let preds = read_predictions(&m.dir)
                .with_context(|| format!("reading the predictions of `{}`", m.name))?;
            for r in preds {
                per_path.entry(r.path).or_default().push(r.probability);
            }
        }
        if let Some((path, got)) = per_path.iter().find(|(_, v)| v.len() != members.len()) {
            bail!(
                "`{path}` is scored by {} of the {} members: members must score the same images (the same split)",
                got.len(),
                members.len()
            );
        }
        let probs: BTreeMap<String, f64> = per_path
            .into_iter()
            .map(|(path, v)| (path, combine(&v, p.combine)))
            .collect();
        let rows = split::read_rows(&ctx.upstream_of::<Split>()?.join(split::FILE))?;
        let as_evaluate = EvaluateParams {
            checkpoint: Checkpoint::Best,
            threshold: p.threshold.clone(),
            bootstrap: p.bootstrap,
            seed: p.seed,
            calibration: p.calibration,
            tta: None,
            device: Device::Cpu,
            precision: crate::contract::choices::Precision::Fp32,
            adabn: false,
        };
        let (mut metrics, preds) = evaluate::evaluate(&rows, &probs, &as_evaluate)?;
        metrics.checkpoint = format!(
            "ensemble of {} (mean {})",
            members.len(),
            match p.combine {
                Combine::Probability => "probability",
                Combine::Logit => "logit",
            }
        );
        // scores that saw their own role's images make the combination transductive too
        let transductive: Vec<&str> = member_metrics
            .iter()
            .filter(|(_, m)| m.transductive.is_some())
            .map(|(name, _)| name.as_str())
            .collect();
        if !transductive.is_empty() {
            metrics.transductive = Some(format!(
                "members scored with AdaBN ({}): {}",
                transductive.join(", "),
                evaluate::TRANSDUCTIVE
            ));
        }
        save(&ctx.out_dir.join(METRICS), &metrics)?;
        write_predictions(ctx.out_dir, &preds)?;
        save(
            &ctx.out_dir.join(MEMBERS),
            &Members {
                format: FORMAT,
                combine: p.combine,
                members: members.iter().map(|m| m.name.to_string()).collect(),
            },
        )?;
        let summary = EnsembleSummary {
            format: FORMAT,
            roles: aggregate::summarise(&member_metrics, &metrics),
        };
        save(&ctx.out_dir.join(SUMMARY_JSON), &summary)?;
        fs_err::write(
            ctx.out_dir.join(SUMMARY_MD),
            aggregate::markdown(&summary.roles, p.combine.as_str()),
        )?;
        for s in &summary.roles {
            let what = if s.role == "val" {
                "where every threshold was chosen"
            } else {
                "scored once"
            };
            charts::forest::save(
                &aggregate::forest(s, what),
                &ctx.out_dir.join(forest_png(&s.role)),
                1100,
                120 + 34 * (s.members.len() as u32 + 2),
            )?;
        }
        for (role, m) in &metrics.roles {
            let r = &m.report;
            ctx.reporter.info(&format!(
                "ensemble: {role} ({} images, {} members) at threshold {:.3}: accuracy {:.4}, specificity {:.4}, ROC AUC {:.4}",
                r.n,
                members.len(),
                r.threshold,
                r.binary.accuracy,
                r.specificity,
                r.roc_auc
            ));
        }
        Ok(())
    }
}

/// The members' scores of one image, combined.
pub fn combine(scores: &[f64], how: Combine) -> f64 {
    let n = scores.len() as f64;
    match how {
        Combine::Probability => scores.iter().sum::<f64>() / n,
        Combine::Logit => {
            // clamped so that a member certain to the last bit does not decide alone
            let logit = |p: f64| {
                let p = p.clamp(1e-7, 1.0 - 1e-7);
                (p / (1.0 - p)).ln()
            };
            let mean = scores.iter().map(|&p| logit(p)).sum::<f64>() / n;
            1.0 / (1.0 + (-mean).exp())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_score_is_itself_and_logits_pull_toward_the_confident() {
        assert_eq!(combine(&[0.3], Combine::Probability), 0.3);
        assert!((combine(&[0.3], Combine::Logit) - 0.3).abs() < 1e-12);
        assert!((combine(&[0.2, 0.6], Combine::Probability) - 0.4).abs() < 1e-12);
        // logit mean of 0.5 and 0.99 is above their probability mean's log-odds midpoint
        let l = combine(&[0.5, 0.99], Combine::Logit);
        assert!(l > 0.5 && l < 0.99, "{l}");
        assert!((combine(&[0.1, 0.9], Combine::Logit) - 0.5).abs() < 1e-12);
    }
}
