//! `train`: fine-tunes ResNet-18 on the preprocess cache and the split. The work runs in the
//! `pneumo-torch` worker binary (crates/pneumo-torch), so this binary never loads libtorch;
//! this stage owns the params, the key and the hand-off.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::pipeline::stage::{Stage, StageContext, canonical_params};

/// The write-up's recipe is the default: SGD lr 0.001, batch 32, BCE-with-logits, evaluate
/// every 20 iterations, stop after 2 evaluations without F1 gain.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainParams {
    #[serde(default = "d_batch")]
    pub batch_size: usize,
    #[serde(default = "d_lr")]
    pub lr: f64,
    #[serde(default)]
    pub momentum: f64,
    #[serde(default)]
    pub weight_decay: f64,
    #[serde(default = "d_eval_every")]
    pub eval_every: usize,
    /// Evaluations without F1 gain before stopping.
    #[serde(default = "d_patience")]
    pub patience: usize,
    #[serde(default = "d_max_iterations")]
    pub max_iterations: usize,
    #[serde(default)]
    pub seed: u64,
    /// `none` (random init) or a workspace path to a torchvision `.pth` / safetensors file.
    #[serde(default = "d_weights")]
    pub weights: String,
    /// `cpu`, `cuda` or `auto`.
    #[serde(default = "d_device")]
    pub device: String,
    /// Decision threshold on the pneumonia probability for validation metrics.
    #[serde(default = "d_threshold")]
    pub threshold: f64,
}

fn d_batch() -> usize {
    32
}
fn d_lr() -> f64 {
    0.001
}
fn d_eval_every() -> usize {
    20
}
fn d_patience() -> usize {
    2
}
fn d_max_iterations() -> usize {
    2000
}
fn d_weights() -> String {
    "none".into()
}
fn d_device() -> String {
    "cpu".into()
}
fn d_threshold() -> f64 {
    0.5
}

/// Outputs of the worker.
pub const HISTORY: &str = "history.csv";
pub const SUMMARY: &str = "summary.json";
pub const BEST: &str = "best.safetensors";
pub const LATEST: &str = "latest.safetensors";
pub const MODEL: &str = "model.json";

pub struct Train;

impl Stage for Train {
    fn kind(&self) -> &'static str {
        "train"
    }

    fn version(&self) -> u32 {
        1
    }

    fn upstream_kinds(&self) -> &'static [&'static str] {
        &["split", "preprocess"]
    }

    fn params(&self, raw: &Value) -> Result<Value, String> {
        let v = canonical_params::<TrainParams>(raw)?;
        let p: TrainParams = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
        if p.batch_size == 0 || p.eval_every == 0 || p.max_iterations == 0 {
            return Err(
                "invalid value `batch_size`/`eval_every`/`max_iterations`: must be positive".into(),
            );
        }
        if !["cpu", "cuda", "auto"].contains(&p.device.as_str()) {
            return Err(format!(
                "invalid value `device`: `{}` (expected cpu, cuda or auto)",
                p.device
            ));
        }
        Ok(v)
    }

    fn inputs(&self, params: &Value) -> Vec<String> {
        match params.get("weights").and_then(Value::as_str) {
            Some(w) if w != "none" => vec![w.to_string()],
            _ => Vec::new(),
        }
    }

    fn run(&self, ctx: &StageContext<'_>) -> anyhow::Result<()> {
        let worker = worker_binary()?;
        let status = Command::new(&worker)
            .arg("train")
            .arg("--workspace")
            .arg(ctx.workspace)
            .arg("--split")
            .arg(ctx.upstream("split")?)
            .arg("--cache")
            .arg(ctx.upstream("preprocess")?)
            .arg("--out")
            .arg(ctx.out_dir)
            .arg("--params")
            .arg(serde_json::to_string(ctx.params)?)
            .stdout(std::io::stderr())
            .status()
            .with_context(|| format!("starting {}", worker.display()))?;
        if !status.success() {
            bail!("the training worker failed ({status})");
        }
        let summary: Value = serde_json::from_slice(
            &std::fs::read(ctx.out_dir.join(SUMMARY))
                .context("the training worker wrote no summary.json")?,
        )?;
        ctx.reporter.info(&format!(
            "train: {} iterations, {}; best validation F1 {:.4} at iteration {}",
            summary["iterations"],
            summary["stop_reason"].as_str().unwrap_or("?"),
            summary["best"]["f1"].as_f64().unwrap_or(f64::NAN),
            summary["best"]["iteration"]
        ));
        Ok(())
    }
}

/// `pneumo-torch`, beside this binary (or `$PNEUMO_TORCH`).
fn worker_binary() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("PNEUMO_TORCH") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().context("locating pneumo-pipeline")?;
    let worker = exe.with_file_name("pneumo-torch");
    if !worker.exists() {
        bail!(
            "the train stage needs the pneumo-torch worker beside {} (build the workspace: scripts/setup.sh && cargo build --release)",
            exe.display()
        );
    }
    Ok(worker)
}
