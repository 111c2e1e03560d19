//! Training checkpoints: what survives a kill, written at every evaluation into
//! `<resume>/ckpt-<iteration>/` and found again by the next run.

use fs_err as fs;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tch::nn::VarStore;

use pneumo_contract::train::BEST;

use crate::optim::Optimizer;
use crate::train::Evaluation;
use crate::weights;

/// What survives a kill: written at every evaluation into `<resume>/ckpt-<iteration>/`
/// (complete folders appear by rename, so any such folder is whole).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Resume {
    pub(crate) iteration: usize,
    pub(crate) history: Vec<Evaluation>,
    pub(crate) best: Option<Evaluation>,
    pub(crate) since_gain: usize,
    /// The params the checkpoint was written under; a different set never resumes from it.
    pub(crate) params: serde_json::Value,
}

pub(crate) const WEIGHTS: &str = "weights.safetensors";
pub(crate) const OPTIMIZER: &str = "optimizer.safetensors";
pub(crate) const STATE: &str = "state.json";

/// The newest complete checkpoint under `dir`, if any.
pub(crate) fn latest_checkpoint(dir: &Path) -> Option<(usize, PathBuf)> {
    fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let n = name.strip_prefix("ckpt-")?.parse::<usize>().ok()?;
            Some((n, e.path()))
        })
        .max_by_key(|(n, _)| *n)
}

/// Removes every checkpoint in `dir` (one that cannot be resumed must not be found again);
/// the rest of the scratch folder (the worker's task) stays.
pub(crate) fn drop_checkpoints(dir: &Path) {
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("ckpt-") || name == "tmp" {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

pub(crate) fn write_checkpoint(
    dir: &Path,
    vs: &VarStore,
    opt: &Optimizer,
    state: &Resume,
    best_changed: bool,
) -> anyhow::Result<()> {
    let previous = latest_checkpoint(dir);
    let tmp = dir.join("tmp");
    if tmp.exists() {
        fs::remove_dir_all(&tmp)?;
    }
    fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    weights::save(vs, &tmp.join(WEIGHTS))?;
    opt.save(&tmp.join(OPTIMIZER))?;
    match (&previous, best_changed) {
        (Some((_, prev)), false) if prev.join(BEST).exists() => {
            fs::hard_link(prev.join(BEST), tmp.join(BEST))
                .or_else(|_| fs::copy(prev.join(BEST), tmp.join(BEST)).map(|_| ()))?
        }
        _ => fs::copy(tmp.join(WEIGHTS), tmp.join(BEST)).map(|_| ())?,
    }
    fs::write(tmp.join(STATE), serde_json::to_vec_pretty(state)?)?;
    let done = dir.join(format!("ckpt-{}", state.iteration));
    fs::rename(&tmp, &done).with_context(|| format!("renaming to {}", done.display()))?;
    if let Some((_, prev)) = previous {
        let _ = fs::remove_dir_all(prev);
    }
    Ok(())
}
