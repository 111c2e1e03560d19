//! The work the engine hands to the `pneumo-torch` worker: one [`WorkerTask`] in a JSON
//! file, run by `pneumo-torch exec FILE`. The stage writes it into its scratch folder, so a
//! failed one can be rerun by hand.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{load, save, versioned};
use crate::choices::{Device, Role};
use crate::gradcam::GradcamParams;
use crate::train::TrainParams;

pub const FORMAT: u32 = 1;

/// Threads the worker's libtorch uses, when the stage has `resources: {cpus}`.
pub const THREADS_ENV: &str = "PNEUMO_THREADS";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkerTask {
    /// Train on the split's train role, evaluating on its val role; writes the weights,
    /// model.json, summary.json, history.csv and runtime.json into `out`, checkpoints into
    /// `resume` (and resumes from the newest one there).
    Train {
        workspace: PathBuf,
        split: PathBuf,
        cache: PathBuf,
        out: PathBuf,
        resume: PathBuf,
        /// Boxed: the largest variant by far (serde writes it as the plain params).
        params: Box<TrainParams>,
    },
    /// Scores `roles` of the split with the model in `model`, writing the scores to `out`
    /// and runtime.json beside it.
    Score {
        split: PathBuf,
        cache: PathBuf,
        model: PathBuf,
        device: Device,
        roles: Vec<Role>,
        out: PathBuf,
    },
    /// Grad-CAM maps and the deletion check for the images in `predictions`, into `out`;
    /// overlays drawn on the original films under `originals` (the dataset folder).
    Gradcam {
        split: PathBuf,
        originals: PathBuf,
        cache: PathBuf,
        model: PathBuf,
        predictions: PathBuf,
        params: GradcamParams,
        out: PathBuf,
    },
}

/// The file: a format number and the task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskFile {
    pub format: u32,
    pub task: WorkerTask,
}

versioned!(TaskFile, "worker task", FORMAT);

impl WorkerTask {
    /// A short name (`train`, `score`, `gradcam`), for file names and messages.
    pub fn name(&self) -> &'static str {
        match self {
            WorkerTask::Train { .. } => "train",
            WorkerTask::Score { .. } => "score",
            WorkerTask::Gradcam { .. } => "gradcam",
        }
    }

    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        save(
            path,
            &TaskFile {
                format: FORMAT,
                task: self.clone(),
            },
        )
    }

    pub fn load(path: &Path) -> anyhow::Result<WorkerTask> {
        Ok(load::<TaskFile>(path)?.task)
    }
}
