//! A stage run as a self-contained file: everything one run of a built-in stage needs, and
//! nothing else from the driver. The engine writes one per run into `.pneumo/jobs/<key>.json`
//! and runs it in process; `pneumo-pipeline exec-stage JOB.json` runs the same file in a
//! fresh process (the unit a cluster executor submits), writing the same bytes.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::contract::{load, save, versioned};
use crate::pipeline::inputs::InputSet;

pub const FORMAT: u32 = 1;

/// Where the engine keeps job files, relative to the workspace.
pub const JOBS_DIR: &str = ".pneumo/jobs";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageJob {
    pub format: u32,
    /// The stage's name in pipeline.yaml.
    pub name: String,
    /// Its built-in kind.
    pub kind: String,
    /// The kind's implementation version the key was computed with; a build whose kind has
    /// another version refuses the job instead of writing different bytes under this key.
    pub version: u32,
    /// The stage key (its digest): what the outputs are committed under.
    pub key: String,
    /// Canonical params (defaults filled).
    pub params: Value,
    /// The workspace, absolute.
    pub workspace: PathBuf,
    /// The input files as hashed for the key (workspace-relative).
    pub inputs: InputSet,
    /// The upstream stages, in `needs` order.
    pub upstreams: Vec<JobUpstream>,
    /// Empty folder for the outputs.
    pub out_dir: PathBuf,
    /// Folder that survives a failed run (resume checkpoints); may not exist yet.
    pub scratch_dir: PathBuf,
    /// Threads the stage runs with (`resources: {cpus}`); `None`: the libraries' defaults
    /// (every core).
    #[serde(default)]
    pub threads: Option<usize>,
    /// Information lines and bars off (`run -q`).
    #[serde(default)]
    pub quiet: bool,
}

/// One upstream stage as a job sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobUpstream {
    pub name: String,
    pub kind: String,
    /// Its output folder (a cache entry's `out`).
    pub dir: PathBuf,
}

versioned!(StageJob, "stage job", FORMAT);

impl StageJob {
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        save(path, self)
    }

    pub fn load(path: &Path) -> anyhow::Result<StageJob> {
        load(path)
    }

    /// Where the engine writes the job of the run with `key`.
    pub fn path(workspace: &Path, key: &str) -> PathBuf {
        workspace.join(JOBS_DIR).join(format!("{key}.json"))
    }
}
