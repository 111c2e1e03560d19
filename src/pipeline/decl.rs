//! The checked pipeline: its stages as declared and validated. Read by the DAG functions,
//! the runner and the executors; made by `validate.rs` (neither imports the other).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a stage is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageKind {
    /// A registered built-in kind.
    Builtin(&'static str),
    /// An external command with declared outputs.
    Cmd { cmd: String, outs: Vec<String> },
}

impl StageKind {
    pub fn name(&self) -> &str {
        match self {
            StageKind::Builtin(k) => k,
            StageKind::Cmd { .. } => "cmd",
        }
    }
}

/// One checked stage.
#[derive(Debug, Clone)]
pub struct StageDecl {
    pub name: String,
    pub kind: StageKind,
    /// Canonical params (defaults filled, keys sorted); `{"cmd": ...}` for external stages.
    pub params: Value,
    /// Upstream stage names.
    pub needs: Vec<String>,
    /// Workspace-relative paths hashed into the key.
    pub inputs: Vec<String>,
    /// Workspace-relative folder a built-in stage's output is linked at.
    pub out: Option<String>,
    /// What it occupies (`resources:`; `cpus: None`: its kind's default).
    pub resources: Resources,
    pub desc: Option<String>,
}

impl StageDecl {
    /// Every workspace path this stage writes.
    pub fn written_paths(&self) -> Vec<&str> {
        match &self.kind {
            StageKind::Cmd { outs, .. } => outs.iter().map(String::as_str).collect(),
            StageKind::Builtin(_) => self.out.iter().map(String::as_str).collect(),
        }
    }
}

/// `resources:` of a stage, the executor's defaults filled in. Not part of any key: where a
/// stage runs does not change what it computes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    /// Cores: the stage's threads, what `run -j` reserves, what a cluster job asks for.
    pub cpus: Option<usize>,
    pub mem: Option<String>,
    pub gpus: Option<u32>,
    pub time: Option<String>,
    pub partition: Option<String>,
}

impl Resources {
    /// `self`, with what it leaves unset taken from `defaults`.
    pub fn or(self, defaults: &Resources) -> Resources {
        Resources {
            cpus: self.cpus.or(defaults.cpus),
            mem: self.mem.or_else(|| defaults.mem.clone()),
            gpus: self.gpus.or(defaults.gpus),
            time: self.time.or_else(|| defaults.time.clone()),
            partition: self.partition.or_else(|| defaults.partition.clone()),
        }
    }
}

/// Where the stages of a run execute.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutorKind {
    /// In this process (built-in stages) and its children (commands, the torch worker).
    #[default]
    Local,
    /// One Slurm job per stage run (`slurm/`).
    Slurm,
}

/// `executor:` of pipeline.yaml, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Executor {
    pub kind: ExecutorKind,
    /// Seconds between looks at the queue.
    pub poll: f64,
    pub sbatch_args: Vec<String>,
}

impl Default for Executor {
    fn default() -> Self {
        Executor {
            kind: ExecutorKind::Local,
            poll: 5.0,
            sbatch_args: Vec::new(),
        }
    }
}

/// A checked pipeline, stages in declaration order.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub stages: Vec<StageDecl>,
    pub executor: Executor,
    /// The remote cache's URL (`cache: {remote}`).
    pub remote: Option<String>,
    /// Stage name -> index in `stages` (a lookup per stage, not a scan: 100k stages plan in
    /// about a second).
    index: BTreeMap<String, usize>,
}

impl Pipeline {
    pub fn new(stages: Vec<StageDecl>) -> Pipeline {
        let index = stages
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.clone(), i))
            .collect();
        Pipeline {
            stages,
            index,
            executor: Executor::default(),
            remote: None,
        }
    }

    pub fn stage(&self, name: &str) -> Option<&StageDecl> {
        self.index.get(name).map(|&i| &self.stages[i])
    }
}
